//! The platform: what every domain operation reads (configuration, store, keys, ledger,
//! cosigning, mailer, clock, metrics), built once and shared by the HTTP layer and the
//! background jobs. It knows nothing of HTTP.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use undersigned_core::anonymity::{IssuedCounts, PublishedSets};
use undersigned_core::bbs::PublicKey;
use undersigned_core::bundle::BundleIssuer;
use undersigned_core::entry::{IssuerDirectory, IssuerInfo};
use undersigned_core::ids::{AddressRules, AgeBand, Epoch, IssuerId, OrgId, Role};
use undersigned_core::issuer::{IssuerKeys, Membership};
use undersigned_store::Store;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::config::{epoch_at, Config};
use crate::error::{Error, Result};
use crate::keys::DeploymentKeys;
use crate::ledger::Ledger;
use crate::mailer::Mailer;
use crate::pairing::PairingBatcher;

/// The domain's shared context; cheap to clone.
#[derive(Clone, Debug)]
pub struct Platform(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub issuer: IssuerKeys,
    pub membership: Membership,
    pub tag_secret: Zeroizing<[u8; 32]>,
    pub ledger: Ledger,
    /// The witnesses and what they cosigned (also held by the ledger, which marks new
    /// checkpoints).
    pub cosigning: Arc<crate::witnesses::Cosigning>,
    /// The independent issuers this deployment accepts, with their last good statements;
    /// empty when the server runs its own issuer (`issuers.rs`).
    pub remote_issuers: Arc<crate::issuers::RemoteIssuers>,
    /// One issuer-log append at a time in this process.
    pub issuer_log_gate: crate::issuer_gate::IssuerLogGate,
    pub mailer: Mailer,
    /// Code mails per organization and hour (`Config::code_mails_per_domain_hour`).
    pub code_mails: crate::limits::CodeMailLimit,
    /// How long a code mail takes, for answers that send none.
    pub code_mail_time: crate::limits::MailTime,
    /// Submissions' pairing checks, batched across concurrent requests.
    pub pairings: PairingBatcher,
    /// Issuer keys and letter contexts kept across submissions (`api::entries`).
    pub verifiers: crate::verifiers::VerifierCache,
    /// The one wall clock every handler and background task reads (`clock.rs`).
    pub clock: Clock,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
    /// What the leader wrote to the tiles directory (`tiles.rs`).
    pub tiles: crate::tile_mirror::Mirror,
    /// This process's writes, counted, so that reads kept by the HTTP layer are dropped when
    /// one happens (`changes.rs`).
    pub changes: crate::changes::Changes,
}

impl Deref for Platform {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Platform {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        keys: DeploymentKeys,
        mailer: Mailer,
    ) -> Result<Self> {
        Self::with_clock(config, store, keys, mailer, Clock::system())
    }

    /// `new` with a given clock (tests pass `Clock::manual()` to move time).
    pub fn with_clock(
        config: Config,
        store: Arc<dyn Store>,
        keys: DeploymentKeys,
        mailer: Mailer,
        clock: Clock,
    ) -> Result<Self> {
        // The verifier's generators and their tables (about 80 ms, once per process) are built
        // now, not while the first signer waits.
        undersigned_core::bbs::fast::Generators::cached(
            undersigned_core::credential::MESSAGE_COUNT,
        )
        .map_err(|_| Error::Internal("the verifier's generators".into()))?;
        // Organization names and the issuer's name are shown on every page and in bundles.
        for name in config.orgs.values().chain([&config.issuer_name]) {
            undersigned_core::text::check_readable(
                "organization or issuer name",
                name,
                undersigned_core::text::Lines::One,
            )
            .map_err(|e| Error::Invalid(format!("deployment: {e}")))?;
        }
        let membership = Membership {
            orgs: config.orgs.clone(),
            roles: config.roles.iter().cloned().collect(),
            address_rules: config.address_rules.clone(),
            subdomains: config.subdomains.clone(),
        };
        let cosigning = Arc::new(crate::witnesses::Cosigning::new(
            &config.witnesses,
            config.witness_quorum,
            std::time::Duration::from_millis(config.witness_timeout_millis),
            config.witness_grace_secs,
        )?);
        let remote_issuers = Arc::new(crate::issuers::RemoteIssuers::new(
            config.issuers.clone(),
            std::time::Duration::from_millis(config.issuer_timeout_millis),
        ));
        let code_mails = crate::limits::CodeMailLimit::new(config.code_mails_per_domain_hour);
        let changes = crate::changes::Changes::default();
        Ok(Self(Arc::new(Inner {
            ledger: Ledger::new(
                store.clone(),
                keys.log_key,
                config.host.clone(),
                cosigning.clone(),
                changes.clone(),
            ),
            cosigning,
            remote_issuers,
            issuer_log_gate: Default::default(),
            config,
            store,
            issuer: keys.issuer,
            membership,
            tag_secret: keys.tag_secret,
            code_mails,
            code_mail_time: Default::default(),
            mailer,
            pairings: PairingBatcher::default(),
            verifiers: Default::default(),
            clock,
            metrics: Default::default(),
            tiles: Default::default(),
            changes,
        })))
    }

    pub fn epoch(&self) -> Epoch {
        self.config
            .epoch
            .clone()
            .unwrap_or_else(|| epoch_at(self.clock.now()))
    }

    /// The issuer's published anonymity sets for an epoch, from the stored counts.
    pub async fn published_sets(&self, epoch: &Epoch) -> Result<PublishedSets> {
        let cells = self
            .store
            .issued_counts(&self.issuer.id().to_hex(), epoch.as_str())
            .await?;
        let mut counts = IssuedCounts::default();
        for c in cells {
            let (Ok(org), Ok(role), Ok(age)) = (
                OrgId::parse(&c.org),
                Role::parse(&c.role),
                AgeBand::parse(&c.age_band),
            ) else {
                return Err(Error::Internal("malformed issued count".into()));
            };
            counts.record_n(&org, &role, age, c.count);
        }
        Ok(counts.publish(epoch, self.config.k))
    }

    pub async fn bundle_issuer(&self, epochs: &[Epoch]) -> Result<BundleIssuer> {
        let mut sets = Vec::new();
        for e in epochs {
            sets.push(self.published_sets(e).await?);
        }
        Ok(BundleIssuer::new(
            &self.issuer.name,
            self.issuer.public_key(),
            sets,
        ))
    }

    /// Every issuer this deployment accepts, with its published sets of these epochs: the
    /// named independent issuers (from their last good statements), else its own.
    pub async fn bundle_issuers(&self, epochs: &[Epoch]) -> Result<Vec<BundleIssuer>> {
        if self.remote_issuers.is_empty() {
            return Ok(vec![self.bundle_issuer(epochs).await?]);
        }
        Ok(self
            .remote_issuers
            .list()
            .iter()
            .map(|r| {
                let st = &r.statement.signed.statement;
                let sets = epochs
                    .iter()
                    .map(|e| {
                        st.sets_for(e)
                            .cloned()
                            .unwrap_or_else(|| IssuedCounts::default().publish(e, r.description.k))
                    })
                    .collect();
                BundleIssuer::new(&st.name, &r.public_key, sets)
            })
            .collect())
    }

    /// What each accepted issuer attests: the organizations of its statement (its own
    /// issuer's: the deployment's).
    pub fn issuer_orgs(
        &self,
    ) -> BTreeMap<IssuerId, BTreeMap<OrgId, undersigned_core::issuer::OrgRule>> {
        if self.remote_issuers.is_empty() {
            return BTreeMap::from([(self.issuer.id(), self.membership.org_rules())]);
        }
        self.remote_issuers
            .list()
            .into_iter()
            .map(|r| {
                // What it attests is what its signed statement counts; each organization's
                // address rule is what its description publishes (the default when absent).
                let rules: BTreeMap<String, (AddressRules, bool)> = r
                    .description
                    .orgs
                    .iter()
                    .map(|o| (o.domain.clone(), (o.address_rules, o.subdomains)))
                    .collect();
                let orgs = r
                    .statement
                    .signed
                    .statement
                    .orgs
                    .keys()
                    .map(|o| {
                        let rule = rules.get(o.as_str()).copied().unwrap_or_default();
                        (o.clone(), rule)
                    })
                    .collect();
                (r.pins.id, orgs)
            })
            .collect()
    }

    /// Each named issuer must issue the epoch a policy accepts from it (per its last good
    /// description), or no one could ever sign that letter with its credentials.
    pub fn check_named_issuers_issue(
        &self,
        policy: &undersigned_core::letter::Policy,
    ) -> Result<()> {
        for r in self.remote_issuers.list() {
            let Some(epoch) = policy.epoch_of(&r.pins.id) else {
                continue;
            };
            if !r.description.epochs.iter().any(|e| e == epoch.as_str()) {
                return Err(Error::Refused(format!(
                    "epoch {epoch} is not issued by the issuer at {}: it issues {}",
                    r.url,
                    r.description.epochs.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The keys and published sets of every accepted issuer (`bundle_issuers`), for verifying
    /// entries.
    pub async fn directory(&self, epochs: &[Epoch]) -> Result<IssuerDirectory> {
        let mut d = IssuerDirectory::new();
        let keys: BTreeMap<IssuerId, PublicKey> = if self.remote_issuers.is_empty() {
            BTreeMap::from([(self.issuer.id(), self.issuer.public_key().clone())])
        } else {
            self.remote_issuers
                .list()
                .into_iter()
                .map(|r| (r.pins.id, r.public_key))
                .collect()
        };
        for b in self.bundle_issuers(epochs).await? {
            let Some(public_key) = keys.get(&b.id) else {
                continue;
            };
            d.insert(
                b.id,
                IssuerInfo {
                    name: b.name,
                    public_key: public_key.clone(),
                    sets: b.anonymity_sets,
                },
            );
        }
        Ok(d)
    }
}
