//! Counters and histograms for `/metrics` (Prometheus text, through `prometheus-client`).
//!
//! Every label value comes from a fixed set written here (an outcome, a refusal reason named
//! by its HTTP status): none can carry a letter's handle, an address, a token or anything
//! else a request sent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Query {
    query: &'static str,
}

/// The database queries that are timed: the ones on the paths every reader and signer takes.
#[derive(Clone, Copy, Debug)]
pub enum Timed {
    /// Looking a letter up by id or handle (every letter route).
    Letter,
    /// Making an accepted entry durable in the pool (every submission).
    AcceptEntry,
    /// The readiness probe's schema query.
    Schema,
}

impl Timed {
    fn label(self) -> &'static str {
        match self {
            Timed::Letter => "letter",
            Timed::AcceptEntry => "accept_entry",
            Timed::Schema => "schema_versions",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    db_seconds: Family<Query, Histogram>,
    registry: Registry,
    submissions: Family<Outcome, Counter>,
    verify_seconds: Histogram,
    batch_entries: Histogram,
    publish_lag_seconds: Histogram,
    deliveries: Family<Outcome, Counter>,
    code_mails: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("undersigned");
        let submissions = Family::<Outcome, Counter>::default();
        registry.register(
            "submissions",
            "Signature and withdrawal submissions, accepted or refused (reason: the refusal's kind)",
            submissions.clone(),
        );
        // 0.25 ms to about 1 s: one entry's proof check, off the async workers.
        let verify_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 13));
        registry.register(
            "verification_seconds",
            "Time to verify one submitted entry (proof and pairing check)",
            verify_seconds.clone(),
        );
        let batch_entries = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "batch_entries",
            "Entries appended to a letter's log per published batch",
            batch_entries.clone(),
        );
        let publish_lag_seconds = Histogram::new(exponential_buckets(0.5, 2.0, 12));
        registry.register(
            "publish_lag_seconds",
            "Seconds between a batch's due time and its publication",
            publish_lag_seconds.clone(),
        );
        let deliveries = Family::<Outcome, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Attempts to mail a closed letter to a recipient (outcome sent or failed)",
            deliveries.clone(),
        );
        let code_mails = Counter::default();
        registry.register(
            "code_mails_sent",
            "Mails with an issuance code handed to the relay",
            code_mails.clone(),
        );
        // 50 µs to about 1.6 s.
        let db_seconds = Family::<Query, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_05, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "database_seconds",
            "Latency of the timed database queries (query: which one)",
            db_seconds.clone(),
        );
        Self {
            db_seconds,
            registry,
            submissions,
            verify_seconds,
            batch_entries,
            publish_lag_seconds,
            deliveries,
            code_mails,
        }
    }
}

/// The refusal's kind, from the status the API answered with: a fixed set.
fn reason_of(status: u16) -> &'static str {
    match status {
        400 => "malformed",
        401 | 404 => "not_found",
        409 => "conflict",
        413 => "too_large",
        422 => "invalid_proof_or_policy",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "internal",
    }
}

impl Metrics {
    pub fn submission(&self, status: u16) {
        let label = if status == 202 {
            Outcome {
                outcome: "accepted",
                reason: "",
            }
        } else {
            Outcome {
                outcome: "refused",
                reason: reason_of(status),
            }
        };
        self.submissions.get_or_create(&label).inc();
    }

    pub fn verified(&self, d: std::time::Duration) {
        self.verify_seconds.observe(d.as_secs_f64());
    }

    /// One batch of `entries` entries, due at `due` and published at `now` (unix seconds).
    pub fn batch(&self, entries: u64, due: u64, now: u64) {
        self.batch_entries.observe(entries as f64);
        self.publish_lag_seconds
            .observe(now.saturating_sub(due) as f64);
    }

    pub fn delivery(&self, sent: bool) {
        let outcome = if sent { "sent" } else { "failed" };
        self.deliveries
            .get_or_create(&Outcome {
                outcome,
                reason: "",
            })
            .inc();
    }

    pub fn database(&self, query: Timed, d: std::time::Duration) {
        self.db_seconds
            .get_or_create(&Query {
                query: query.label(),
            })
            .observe(d.as_secs_f64());
    }

    pub fn code_mail_sent(&self) {
        self.code_mails.inc();
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(out, &self.registry);
    }
}
