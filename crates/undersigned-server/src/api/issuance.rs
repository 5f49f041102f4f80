//! Issuance over HTTP: a code to the work address, then a blind-signed credential.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use undersigned_core::bundle::BundleIssuer;
use undersigned_core::ids::{AgeBand, Epoch, IssuerId};
use undersigned_service::issuers::IssuerDescription;
use undersigned_service::{issuer, Error};

use super::access::ApiJson;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub use undersigned_service::issuers::OrgInfo;

impl DeploymentInfo {
    /// The address normalization the issuer applies, for a holder.
    pub fn membership(&self) -> undersigned_core::issuer::Membership {
        undersigned_core::issuer::Membership::for_addresses(
            self.orgs
                .iter()
                .map(|o| (o.domain.as_str(), o.address_rules, o.subdomains)),
        )
    }
}

#[derive(Serialize, Deserialize, Debug)]
pub struct DeploymentInfo {
    pub host: String,
    pub k: u32,
    pub epoch: String,
    pub orgs: Vec<OrgInfo>,
    pub roles: Vec<String>,
    pub age_bands: Vec<String>,
    pub issuer: BundleIssuer,
    /// The deployment's Ed25519 log key, hex. Each letter's log signs under the name
    /// `<host>/letters/<letter id>` with this key.
    pub log_public_key: String,
    /// The issuer log's origin and key name, `<host>/issuers/<issuer id>`: its checkpoints are
    /// signed by `log_public_key` under this name. Save this whole answer to pin both keys
    /// (`undersigned verify --deployment FILE`).
    pub issuer_log_origin: String,
    /// The witnesses' signed-note verifier keys: every published checkpoint (letter logs and
    /// the issuer log) carries cosignatures from at least `witness_quorum` of them.
    pub witnesses: Vec<String>,
    pub witness_quorum: usize,
    /// Each witness's URL prefix, in the order of `witnesses`: monitors read what a witness
    /// cosigned at `<url>/<hex SHA-256 of the log origin>/checkpoint` (tlog-witness).
    #[serde(default)]
    pub witness_urls: Vec<String>,
    /// What a witness follows this deployment with: one `--logs-under` argument each for
    /// `undersigned witness serve` (the log key named by the origin prefixes `<host>/letters/`
    /// and `<host>/issuers/`), so it cosigns letters opened after it started.
    #[serde(default)]
    pub witness_logs_under: Vec<String>,
    pub dev: bool,
    /// Every issuer this deployment accepts, each with the URL holders ask it at for
    /// credentials (its own issuer at its own URL when it names none). `issuer` and
    /// `issuer_log_origin` above are the first of them.
    #[serde(default)]
    pub issuers: Vec<DeploymentIssuer>,
    /// The signer's client this deployment serves (`/static/`, the letter page's script,
    /// stylesheet and wasm): the SHA-256 of its release manifest, as `undersigned client
    /// export` writes it and a release log holds it. `monitor` holds the served bytes to it.
    #[serde(default)]
    pub client_release: String,
    /// The release log that release is in, as the deployment file names it (`[client]`):
    /// where it is served, its key (by default the one the binary ships) and its witnesses.
    #[serde(default)]
    pub client_release_log: undersigned_core::release::ReleaseLogClaim,
}

/// One issuer of the deployment: where holders ask it, its description, and how its last
/// fetch went.
#[derive(Serialize, Deserialize, Debug)]
pub struct DeploymentIssuer {
    pub url: String,
    #[serde(flatten)]
    pub description: IssuerDescription,
    /// The sequence number of its statement that bundles carry now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_sequence: Option<u64>,
    /// Why its last answer was refused; the last good one is kept meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Every issuer the deployment accepts: the named independent ones, else its own.
async fn deployment_issuers(s: &AppState) -> AppResult<Vec<DeploymentIssuer>> {
    if s.remote_issuers.is_empty() {
        return Ok(vec![DeploymentIssuer {
            url: s.config.public_url.clone(),
            description: issuer::describe(s).await?,
            statement_sequence: None,
            refused: None,
        }]);
    }
    let good = s.remote_issuers.list();
    Ok(s.remote_issuers
        .status()
        .into_iter()
        .filter_map(|st| {
            let r = good.iter().find(|g| g.url == st.url)?;
            Some(DeploymentIssuer {
                url: st.url,
                description: r.description.clone(),
                statement_sequence: Some(r.statement.signed.statement.sequence),
                refused: st.refused,
            })
        })
        .collect())
}

pub async fn deployment(State(s): State<AppState>) -> AppResult<Json<DeploymentInfo>> {
    let epoch = s.epoch();
    let issuers = deployment_issuers(&s).await?;
    let first = s
        .bundle_issuers(std::slice::from_ref(&epoch))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::Unavailable(
            "no issuer of this deployment has answered yet".into(),
        ))?;
    let issuer_log_origin = issuers
        .first()
        .map(|i| i.description.log_origin.clone())
        .unwrap_or_default();
    Ok(Json(DeploymentInfo {
        host: s.config.host.clone(),
        k: s.config.k,
        epoch: epoch.to_string(),
        orgs: s
            .config
            .orgs
            .iter()
            .map(|(d, n)| OrgInfo {
                domain: d.to_string(),
                name: n.clone(),
                subdomains: s.membership.subdomains.contains(d),
                address_rules: s
                    .membership
                    .address_rules
                    .get(d)
                    .copied()
                    .unwrap_or_default(),
            })
            .collect(),
        roles: s.config.roles.iter().map(|r| r.to_string()).collect(),
        age_bands: AgeBand::ALL.iter().map(|a| a.to_string()).collect(),
        issuer: first,
        log_public_key: s.ledger.public_key_hex(),
        issuer_log_origin,
        witnesses: s.cosigning.specs().into_iter().map(|w| w.vkey).collect(),
        witness_urls: s.cosigning.specs().into_iter().map(|w| w.url).collect(),
        witness_quorum: s.cosigning.quorum(),
        witness_logs_under: s.ledger.witness_prefixes()?,
        dev: s.config.dev,
        issuers,
        client_release: crate::pages::client::release_id().to_owned(),
        client_release_log: s.config.client_release.clone(),
    }))
}

#[derive(Deserialize, Debug)]
pub struct EpochQuery {
    pub epoch: Option<String>,
    /// On a deployment that names independent issuers: whose sets (default the first).
    pub issuer: Option<String>,
}

/// An epoch's published sets: this server's own issuer's, or a named issuer's from its last
/// good statement (what entries are verified against).
pub async fn anonymity_sets(
    State(s): State<AppState>,
    Query(q): Query<EpochQuery>,
) -> AppResult<Json<undersigned_core::anonymity::PublishedSets>> {
    let epoch = match q.epoch {
        Some(e) => Epoch::parse(&e).map_err(|e| Error::Invalid(e.to_string()))?,
        None => s.epoch(),
    };
    // An issuer id is 64 lowercase hex digits (its key's SHA-256), nothing else.
    let issuer = q
        .issuer
        .as_deref()
        .map(|id| {
            IssuerId::from_hex(id)
                .ok()
                .filter(|i| i.to_hex() == id)
                .ok_or_else(|| Error::Invalid("issuer: 64 lowercase hex digits".into()))
        })
        .transpose()?;
    if s.remote_issuers.is_empty() {
        if issuer.is_some_and(|i| i != s.issuer.id()) {
            return Err(AppError(Error::NotFound("issuer")));
        }
        return Ok(Json(s.published_sets(&epoch).await?));
    }
    s.bundle_issuers(std::slice::from_ref(&epoch))
        .await?
        .into_iter()
        .find(|b| issuer.is_none_or(|id| b.id == id))
        .and_then(|b| b.anonymity_sets.into_iter().next())
        .map(Json)
        .ok_or(AppError(Error::NotFound("issuer")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub email: String,
}

impl std::fmt::Debug for CodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeRequest(<redacted>)")
    }
}

#[derive(Serialize, Deserialize)]
pub struct CodeSent {
    pub sent: bool,
    pub expires_in_secs: u64,
    /// This request's token, base64url: send it back with the code. The code's attempts
    /// belong to this request alone, so guesses made without it touch nobody's code.
    pub request_token: String,
}

impl std::fmt::Debug for CodeSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeSent(<redacted>)")
    }
}

/// The epochs a credential can be issued for right now, in the order holders ask for them.
#[derive(Serialize, Deserialize, Debug)]
pub struct IssuableEpochs {
    /// The current epoch plus every epoch an open letter of this issuer accepts. A holder asks
    /// for all of them in one request, so the request says nothing about which letter it wants.
    pub epochs: Vec<String>,
    pub current: String,
}

pub async fn issuable_epochs(State(s): State<AppState>) -> AppResult<Json<IssuableEpochs>> {
    Ok(Json(IssuableEpochs {
        epochs: issuer::issuable_epochs(&s)
            .await?
            .iter()
            .map(|e| e.to_string())
            .collect(),
        current: s.epoch().to_string(),
    }))
}

/// When a code request may be answered: `deadline` after it arrived plus `jitter`, or
/// `jitter` after its mail attempt ended if that is later. Every request that reaches the
/// mail step answers at this time, whether it mailed, mailed nothing (the address has its
/// live codes) or failed; so the answer's time says nothing about which, unless a send
/// outlasts the deadline.
pub fn answer_at(
    arrived: tokio::time::Instant,
    attempt_ended: tokio::time::Instant,
    deadline: std::time::Duration,
    jitter: std::time::Duration,
) -> tokio::time::Instant {
    (arrived + deadline).max(attempt_ended) + jitter
}

pub async fn request_code(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> AppResult<(StatusCode, Json<CodeSent>)> {
    let arrived = tokio::time::Instant::now();
    let outcome = code_attempt(&s, req).await;
    // Refusals of the request itself (no valid address, an organization not accepted, its
    // hourly limit) say nothing about the address's codes, so they answer at once; whatever
    // reached the mail step (sent, silent, or not sent) answers at one time.
    if matches!(&outcome, Ok(_) | Err(AppError(Error::Unavailable(_)))) {
        let deadline = std::time::Duration::from_millis(s.config.code_answer_millis);
        let jitter = OsRng.gen_range(std::time::Duration::ZERO..=deadline / 10);
        let at = answer_at(arrived, tokio::time::Instant::now(), deadline, jitter);
        tokio::time::sleep_until(at).await;
    }
    outcome
}

/// Everything of a code request but the time of its answer (`issuer::send_code`).
async fn code_attempt(s: &AppState, req: CodeRequest) -> AppResult<(StatusCode, Json<CodeSent>)> {
    let sent = issuer::send_code(s, &req.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            sent: true,
            expires_in_secs: sent.expires_in_secs,
            request_token: sent.request_token,
        }),
    ))
}

pub use undersigned_service::issuer::{CODE_REFUSED, MAX_EPOCHS_PER_REQUEST};

#[derive(Deserialize, Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct EpochCommitment {
    pub epoch: String,
    /// The holder's commitment with proof to a fresh nym secret for this epoch, base64url.
    pub commitment: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    pub email: String,
    pub code: String,
    /// The `request_token` of the code request whose code this is.
    pub request_token: String,
    /// One commitment per issuable epoch (`GET /api/v1/issuance/epochs`), all of them.
    pub commitments: Vec<EpochCommitment>,
    pub role: String,
    pub age_band: String,
}

impl std::fmt::Debug for CredentialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialRequest(<redacted>)")
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BlindCredential {
    pub epoch: String,
    pub signature: String,
    pub nym_entropy: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct CredentialIssued {
    pub issuer_id: String,
    pub issuer_public_key: String,
    /// One blind signature per newly issued epoch; epochs the address held are left out.
    pub credentials: Vec<BlindCredential>,
}

pub async fn issue_credential(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CredentialRequest>,
) -> AppResult<Json<CredentialIssued>> {
    let ask = issuer::CredentialAsk {
        email: req.email,
        code: req.code,
        request_token: &req.request_token,
        commitments: req
            .commitments
            .iter()
            .map(|c| (c.epoch.as_str(), c.commitment.as_str()))
            .collect(),
        role: &req.role,
        age_band: &req.age_band,
    };
    let issued = issuer::issue(&s, ask).await?;
    Ok(Json(CredentialIssued {
        issuer_id: issued.issuer_id.to_hex(),
        issuer_public_key: URL_SAFE_NO_PAD.encode(s.issuer.public_key().to_bytes()),
        credentials: issued
            .credentials
            .into_iter()
            .map(|(e, r)| BlindCredential {
                epoch: e.to_string(),
                signature: URL_SAFE_NO_PAD.encode(r.signature),
                nym_entropy: URL_SAFE_NO_PAD.encode(r.nym_entropy),
            })
            .collect(),
    }))
}
