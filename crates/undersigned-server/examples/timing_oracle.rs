//! The issuance timing attack of issue 21, run against a relay with realistic delays: can a
//! prober tell, from how long a code request takes, whether someone already asked for codes
//! for an address? Prints the classifier's accuracy (50% is a coin toss). Not a test: run it
//! with `scripts/timing-oracle` (no timed assertion belongs in CI).
//!
//! The server runs in this process on SQLite in a temporary directory and mails to the dev
//! outbox, which accepts each message after a normal delay (mean and sd below, as a remote
//! relay with TLS and spam checks might). The victim's address is first given its live codes;
//! then the probes, in random order, ask for a code at the victim's address (mails nothing)
//! or at a fresh control address (mails). The classifier is the attacker's: a threshold on
//! the answer time, or on its distance from the median (for spreads that differ), whichever
//! does best on the first half of the probes, scored on the second half.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use rand::seq::SliceRandom;
use tower::ServiceExt;
use undersigned_outbox::{AcceptDelay, Outbox, OutboxConfig};
use undersigned_server::keys::DeploymentKeys;
use undersigned_server::mailer::{Mailer, MailerConfig};
use undersigned_server::{app, AppState, Config};
use undersigned_store::SqliteStore;

struct Args {
    probes: usize,
    mean_ms: u64,
    sd_ms: u64,
    deadline_ms: Option<u64>,
    parallel: usize,
}

fn args() -> Args {
    let mut a = Args {
        probes: 200,
        mean_ms: 150,
        sd_ms: 75,
        deadline_ms: None,
        parallel: 8,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = || pair.get(1).and_then(|v| v.parse().ok()).expect("a number");
        match pair[0].as_str() {
            "--probes" => a.probes = value() as usize,
            "--mean-ms" => a.mean_ms = value(),
            "--sd-ms" => a.sd_ms = value(),
            "--deadline-ms" => a.deadline_ms = Some(value()),
            "--parallel" => a.parallel = (value() as usize).max(1),
            other => panic!(
                "unknown argument {other}; use --probes N --mean-ms MS --sd-ms MS --deadline-ms MS --parallel N"
            ),
        }
    }
    a
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let relay = Outbox::start_with_config(
        "127.0.0.1:0".parse().unwrap(),
        OutboxConfig {
            accept_delay: Some(AcceptDelay {
                mean: Duration::from_millis(a.mean_ms),
                sd: Duration::from_millis(a.sd_ms),
            }),
            max_connections: 256,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut config = Config {
        code_mails_per_domain_hour: 100_000,
        ..Config::default()
    };
    if let Some(d) = a.deadline_ms {
        config.code_answer_millis = d;
    }
    let deadline = config.code_answer_millis;
    let store = SqliteStore::open(&dir.path().join("undersigned.db"))
        .await
        .unwrap();
    let keys = DeploymentKeys::load_or_create(
        &dir.path().join("keys.json"),
        &dir.path().join("tag.key"),
        "timing oracle",
    )
    .unwrap();
    let mailer = Mailer::new(MailerConfig::plain(
        relay.addr().ip().to_string(),
        relay.addr().port(),
        "undersigned <no-reply@localhost>",
    ))
    .unwrap();
    let state = AppState::new(config, Arc::new(store), keys, mailer, None).unwrap();
    let router = app(state.clone());
    let ask = |email: String| {
        let router = router.clone();
        async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/v1/issuance/code")
                .header("content-type", "application/json")
                .body(Body::from(format!("{{\"email\":\"{email}\"}}")))
                .unwrap();
            let started = Instant::now();
            let res = router.oneshot(req).await.unwrap();
            let took = started.elapsed();
            assert_eq!(res.status(), StatusCode::ACCEPTED, "{email}");
            took
        }
    };
    let victim = "victim@state.gov".to_owned();
    for _ in 0..state.config.code_max_live {
        ask(victim.clone()).await;
    }
    // true: the victim (silent); false: a fresh control address (sent).
    let mut kinds: Vec<bool> = (0..a.probes).map(|i| i % 2 == 0).collect();
    kinds.shuffle(&mut rand::thread_rng());
    println!(
        "{} probes against a relay of mean {} ms, sd {} ms; code deadline {deadline} ms; {} at a time",
        a.probes, a.mean_ms, a.sd_ms, a.parallel
    );
    let mut samples: Vec<(bool, f64)> = Vec::with_capacity(a.probes);
    for (batch_no, batch) in kinds.chunks(a.parallel).enumerate() {
        let tasks: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(i, &silent)| {
                let email = if silent {
                    victim.clone()
                } else {
                    format!("control{batch_no}x{i}@state.gov")
                };
                let fut = ask(email);
                tokio::spawn(async move { (silent, fut.await.as_secs_f64() * 1000.0) })
            })
            .collect();
        for t in tasks {
            samples.push(t.await.unwrap());
        }
    }
    report(&samples);
}

/// Each kind's times, and how well the best threshold tells the victim from the control.
fn report(samples: &[(bool, f64)]) {
    let stats = |silent: bool| {
        let v: Vec<f64> = samples
            .iter()
            .filter(|s| s.0 == silent)
            .map(|s| s.1)
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        (mean, sd)
    };
    let (sm, ss) = stats(true);
    let (cm, cs) = stats(false);
    println!("victim (mails nothing): mean {sm:7.1} ms  sd {ss:6.1} ms");
    println!("control (mails):        mean {cm:7.1} ms  sd {cs:6.1} ms");
    let (train, test) = samples.split_at(samples.len() / 2);
    let (name, classify) = best_classifier(train);
    let correct = test.iter().filter(|(s, t)| classify(*t) == *s).count();
    println!(
        "classifier ({name}, chosen on {} probes): {correct} of {} held-out probes right, accuracy {:.1}%",
        train.len(),
        test.len(),
        100.0 * correct as f64 / test.len() as f64
    );
    let (_, on_all) = best_classifier(samples);
    let all = samples.iter().filter(|(s, t)| on_all(*t) == *s).count();
    println!(
        "best threshold fitted on all {} probes (an upper bound): accuracy {:.1}%",
        samples.len(),
        100.0 * all as f64 / samples.len() as f64
    );
}

type Classifier = Box<dyn Fn(f64) -> bool>;

/// The threshold rule that classifies `train` best: on the time itself (either side meaning
/// "victim") or on its distance from the median (a narrower or wider spread).
fn best_classifier(train: &[(bool, f64)]) -> (String, Classifier) {
    let mut times: Vec<f64> = train.iter().map(|s| s.1).collect();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    let mut best: (usize, String, Classifier) = (0, String::new(), Box::new(|_| true));
    for feature in ["time", "distance from median"] {
        let f = move |t: f64| {
            if feature == "time" {
                t
            } else {
                (t - median).abs()
            }
        };
        let mut cuts: Vec<f64> = train.iter().map(|s| f(s.1)).collect();
        cuts.sort_by(f64::total_cmp);
        for &cut in &cuts {
            for below_is_victim in [true, false] {
                let rule = move |t: f64| (f(t) <= cut) == below_is_victim;
                let right = train.iter().filter(|(s, t)| rule(*t) == *s).count();
                if right > best.0 {
                    let side = if below_is_victim { "<=" } else { ">" };
                    best = (
                        right,
                        format!("victim when {feature} {side} {cut:.1} ms"),
                        Box::new(rule),
                    );
                }
            }
        }
    }
    (best.1, best.2)
}
