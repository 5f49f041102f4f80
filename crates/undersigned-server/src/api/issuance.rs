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
use undersigned_core::credential::{Attributes, IssuanceRequest};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use undersigned_core::issuer::{address_tag, code_tag};
use undersigned_service::Error;
use undersigned_store::CodeCheck;
use zeroize::Zeroizing;

use super::access::{token_hash, ApiJson};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Serialize, Deserialize, Debug)]
pub struct OrgInfo {
    pub domain: String,
    pub name: String,
    /// Mailboxes at its subdomains belong to it (`ann@eu.acme.com` is a member of `acme.com`,
    /// and keeps its own address: `address_rules` apply to the organization's own domain only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subdomains: bool,
    /// Spellings its mail system delivers to one mailbox, which the one-credential rule folds
    /// (holders normalize with them, or the issuer's signature would not match their address).
    #[serde(default, skip_serializing_if = "is_default_rules")]
    pub address_rules: undersigned_core::ids::AddressRules,
}

fn is_default_rules(r: &undersigned_core::ids::AddressRules) -> bool {
    *r == undersigned_core::ids::AddressRules::default()
}

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
}

pub async fn deployment(State(s): State<AppState>) -> AppResult<Json<DeploymentInfo>> {
    let epoch = s.epoch();
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
        issuer: s.bundle_issuer(&[epoch]).await?,
        log_public_key: s.ledger.public_key_hex(),
        issuer_log_origin: undersigned_core::statement::issuer_log_origin(
            &s.config.host,
            &s.issuer.id(),
        ),
        witnesses: s.cosigning.specs().into_iter().map(|w| w.vkey).collect(),
        witness_urls: s.cosigning.specs().into_iter().map(|w| w.url).collect(),
        witness_quorum: s.cosigning.quorum(),
        witness_logs_under: s.ledger.witness_prefixes()?,
        dev: s.config.dev,
    }))
}

#[derive(Deserialize, Debug)]
pub struct EpochQuery {
    pub epoch: Option<String>,
}

pub async fn anonymity_sets(
    State(s): State<AppState>,
    Query(q): Query<EpochQuery>,
) -> AppResult<Json<undersigned_core::anonymity::PublishedSets>> {
    let epoch = match q.epoch {
        Some(e) => Epoch::parse(&e).map_err(|e| Error::Invalid(e.to_string()))?,
        None => s.epoch(),
    };
    Ok(Json(s.published_sets(&epoch).await?))
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

/// The one answer to every failed code check (wrong, expired, out of attempts, never asked,
/// already used, unknown request): a probe learns nothing about the state of someone's code.
pub const CODE_REFUSED: &str =
    "that code does not match this request, or it expired or was used up; ask for a new code";

/// Exactly the address syntax `openapi.json` documents: no surrounding spaces either.
fn parse_email(raw: &str) -> AppResult<Email> {
    (raw.trim() == raw)
        .then(|| Email::parse(raw).ok())
        .flatten()
        .ok_or_else(|| Error::Invalid("that is not a valid email address".into()).into())
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
        epochs: s
            .issuable_epochs()
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

/// Everything of a code request but the time of its answer.
async fn code_attempt(s: &AppState, req: CodeRequest) -> AppResult<(StatusCode, Json<CodeSent>)> {
    let typed = Zeroizing::new(req.email.trim().to_owned());
    let email = s.membership.normalize(&parse_email(&typed)?)?;
    let org = s.membership.check_address(&email)?;
    // The code and its rate limit belong to the normalized address: aliases share them.
    let tag = code_tag(&s.tag_secret, &s.issuer.id(), &email);
    let now = s.clock.now();
    // Counted before the address's own limit: mail to one organization is bounded however many
    // addresses someone tries.
    if !s.code_mails.try_take(org.as_str(), now) {
        return Err(Error::RateLimited(
            "too many codes were mailed to this organization in the last hour; try again later"
                .into(),
        )
        .into());
    }
    let code = Zeroizing::new(format!("{:08}", OsRng.gen_range(0..100_000_000u32)));
    let mut request = Zeroizing::new([0u8; 32]);
    OsRng.fill(&mut request[..]);
    let request_token = URL_SAFE_NO_PAD.encode(&request[..]);
    let sent = CodeSent {
        sent: true,
        expires_in_secs: s.config.code_ttl_secs,
        request_token,
    };
    match s
        .store
        .put_code(
            &tag,
            &token_hash(&sent.request_token),
            &token_hash(&code),
            now,
            now + s.config.code_ttl_secs,
            s.config.code_max_live,
        )
        .await
    {
        Ok(()) => {}
        // The address already has its live codes. Saying so (a 429, as before) would tell a
        // prober that someone asked for codes for it; so the answer is the one a sent code
        // gets, after about as long as a mail takes, and no mail goes out. The owner signs in
        // with any of the codes already mailed (each keeps its own attempts), and the request
        // token returned here names no code, so it can only be refused like a wrong code.
        // `request_code` answers at the same time as a sent one.
        Err(undersigned_store::StoreError::RateLimited) => {
            if s.code_mail_time.failing() {
                return Err(code_not_sent(s));
            }
            return Ok((StatusCode::ACCEPTED, Json(sent)));
        }
        Err(e) => return Err(e.into()),
    }
    let body = format!(
        "Your undersigned code is {}\n\nIt expires in {} minutes. Enter it where you asked for it.\n\nThis message tells your mail provider that you asked for a credential; it does not say which letters you sign, and nobody can learn that.\nIf you did not ask for a code, ignore this message.\n",
        code.as_str(),
        s.config.code_ttl_secs / 60
    );
    // The mail goes to the address as typed: that is the mailbox the person reads, and the
    // normalized form may not be deliverable.
    let started = std::time::Instant::now();
    s.mailer
        .send(typed.as_str(), "Your undersigned verification code", &body)
        .await
        .map_err(|e| {
            // The relay's words go to the log only: the answer must read the same as the one
            // a request that sends nothing gets while the relay is down.
            tracing::warn!("a code mail could not be sent: {e}");
            if e.is_transient() || matches!(e, undersigned_service::mailer::MailError::Config(_)) {
                s.code_mail_time.record_failure();
            }
            code_not_sent(s)
        })?;
    s.code_mail_time.record(started.elapsed());
    s.metrics.code_mail_sent();
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// The one answer to a code that was not mailed, whether the send failed or nothing was sent:
/// it depends only on deployment-wide facts, never on the address.
fn code_not_sent(s: &AppState) -> AppError {
    AppError(Error::Unavailable(if s.mailer.has_relay() {
        "the code could not be sent: the mail relay is unavailable; try again shortly".into()
    } else {
        "the code could not be sent: no mail relay is configured; start the server with --smtp HOST:PORT (or --dev)".into()
    }))
}

/// At most this many epochs in one credential request; far more than ever issuable at once.
pub const MAX_EPOCHS_PER_REQUEST: usize = 32;

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

/// Parses the request's commitments: distinct valid epochs, well-formed commitments, and every
/// issuable epoch present. Epochs no longer issuable (a letter closed meanwhile) are dropped.
fn issuable_commitments(
    commitments: &[EpochCommitment],
    issuable: &[Epoch],
) -> AppResult<Vec<(Epoch, IssuanceRequest)>> {
    if commitments.len() > MAX_EPOCHS_PER_REQUEST {
        return Err(Error::Invalid(format!(
            "at most {MAX_EPOCHS_PER_REQUEST} commitments per request"
        ))
        .into());
    }
    let mut out: Vec<(Epoch, IssuanceRequest)> = Vec::new();
    for c in commitments {
        let epoch = Epoch::parse(&c.epoch)
            .map_err(|_| Error::Invalid(format!("invalid epoch {:?}", c.epoch)))?;
        // Malformed base64 or a wrong length is outside the documented schema (400); bytes
        // of the right length that are not a commitment with a valid proof are refused (422).
        let bytes = URL_SAFE_NO_PAD
            .decode(c.commitment.as_bytes())
            .ok()
            .filter(|b| b.len() == undersigned_core::bbs::COMMITMENT_LEN)
            .ok_or_else(|| Error::Invalid(format!("malformed commitment for {epoch}")))?;
        let commitment = IssuanceRequest::from_slice(&bytes)
            .map_err(|_| Error::Refused(format!("invalid commitment for {epoch}")))?;
        if out.iter().any(|(e, _)| e == &epoch) {
            return Err(Error::Refused(format!("two commitments for epoch {epoch}")).into());
        }
        out.push((epoch, commitment));
    }
    if let Some(missing) = issuable.iter().find(|e| !out.iter().any(|(o, _)| &o == e)) {
        return Err(Error::Conflict(format!(
            "ask for every issuable epoch at once: epoch {missing} is missing (see GET /api/v1/issuance/epochs)"
        )).into());
    }
    out.retain(|(e, _)| issuable.contains(e));
    Ok(out)
}

pub async fn issue_credential(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CredentialRequest>,
) -> AppResult<Json<CredentialIssued>> {
    let email = s
        .membership
        .normalize(&parse_email(&Zeroizing::new(req.email))?)?;
    let org = s.membership.check_address(&email)?;
    let role = Role::parse(&req.role).map_err(|e| Error::Invalid(e.to_string()))?;
    s.membership.check_role(&role)?;
    let age = AgeBand::parse(&req.age_band).map_err(|e| Error::Invalid(e.to_string()))?;
    let requests = issuable_commitments(&req.commitments, &s.issuable_epochs().await?)?;
    let issuer_id = s.issuer.id();
    // Checked once for the whole request: the code's tag names no epoch.
    let ctag = code_tag(&s.tag_secret, &issuer_id, &email);
    let code = Zeroizing::new(req.code);
    let check = s
        .store
        .check_code(
            &token_hash(req.request_token.trim()),
            &ctag,
            &token_hash(code.trim()),
            s.clock.now(),
            s.config.code_max_attempts,
        )
        .await?;
    if check != CodeCheck::Valid {
        return Err(Error::Refused(CODE_REFUSED.into()).into());
    }
    // Sign before recording: a failure here must not use up the person's credentials. What
    // the store reports as already held is signed too but never leaves this function.
    let mut signed = Vec::with_capacity(requests.len());
    for (epoch, commitment) in &requests {
        let attributes =
            Attributes::of_member(org.clone(), email.clone(), epoch.clone(), role.clone(), age);
        let response = s.issuer.blind_sign(commitment, &attributes, &mut OsRng)?;
        signed.push((epoch, response));
    }
    let tags: Vec<(&str, [u8; 32])> = requests
        .iter()
        .map(|(e, _)| {
            (
                e.as_str(),
                address_tag(&s.tag_secret, &issuer_id, e, &email),
            )
        })
        .collect();
    let recorded = s
        .store
        .record_issuance(
            &issuer_id.to_hex(),
            &ctag,
            &tags,
            (org.as_str(), role.as_str(), age.as_str()),
        )
        .await?;
    Ok(Json(CredentialIssued {
        issuer_id: issuer_id.to_hex(),
        issuer_public_key: URL_SAFE_NO_PAD.encode(s.issuer.public_key().to_bytes()),
        credentials: signed
            .into_iter()
            .filter(|(e, _)| recorded.iter().any(|r| r == e.as_str()))
            .map(|(e, r)| BlindCredential {
                epoch: e.to_string(),
                signature: URL_SAFE_NO_PAD.encode(r.signature),
                nym_entropy: URL_SAFE_NO_PAD.encode(r.nym_entropy),
            })
            .collect(),
    }))
}
