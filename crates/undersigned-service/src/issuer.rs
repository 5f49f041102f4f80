//! The deployment's issuer: mailing sign-in codes, and issuing blind credentials for every
//! issuable epoch against a valid code. The HTTP layer parses the request and renders the
//! answer; what is checked, stored, signed and mailed is decided here. Its statement log is
//! `issuer_log.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use rand_core::OsRng;
use undersigned_core::credential::{Attributes, IssuanceRequest, IssuanceResponse};
use undersigned_core::ids::{AgeBand, Email, Epoch, IssuerId, Role};
use undersigned_core::issuer::{address_tag, code_tag};
use undersigned_store::CodeCheck;
use zeroize::Zeroizing;

use crate::config::IssuerEpochs;
use crate::error::{Error, Result};
use crate::issuers::{IssuerDescription, OrgInfo, DESCRIPTION_FORMAT};
use crate::letters::token_hash;
use crate::platform::Platform;

/// The one answer to every failed code check (wrong, expired, out of attempts, never asked,
/// already used, unknown request): a probe learns nothing about the state of someone's code.
pub const CODE_REFUSED: &str =
    "that code does not match this request, or it expired or was used up; ask for a new code";

/// At most this many epochs in one credential request; far more than ever issuable at once.
pub const MAX_EPOCHS_PER_REQUEST: usize = 32;

/// Exactly the address syntax `openapi.json` documents: no surrounding spaces either.
fn parse_email(raw: &str) -> Result<Email> {
    (raw.trim() == raw)
        .then(|| Email::parse(raw).ok())
        .flatten()
        .ok_or_else(|| Error::Invalid("that is not a valid email address".into()))
}

/// A code request that reached the mail step (sent, or silent because the address has its
/// live codes: the two look the same).
pub struct CodeSent {
    /// This request's token, base64url, to send back with the code.
    pub request_token: String,
    pub expires_in_secs: u64,
}

impl std::fmt::Debug for CodeSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeSent(<redacted>)")
    }
}

/// Everything of a code request but the time of its answer (the HTTP layer holds that back,
/// `answer_at`): checks the address and its organization's hourly limit, stores the code and
/// mails it to the address as typed.
pub async fn send_code(s: &Platform, email: &str) -> Result<CodeSent> {
    check_own_issuer(s)?;
    let typed = Zeroizing::new(email.trim().to_owned());
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
        ));
    }
    let code = Zeroizing::new(format!("{:08}", OsRng.gen_range(0..100_000_000u32)));
    let mut request = Zeroizing::new([0u8; 32]);
    OsRng.fill(&mut request[..]);
    let sent = CodeSent {
        request_token: URL_SAFE_NO_PAD.encode(&request[..]),
        expires_in_secs: s.config.code_ttl_secs,
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
        // The HTTP layer answers at the same time as a sent one.
        Err(undersigned_store::StoreError::RateLimited) => {
            if s.code_mail_time.failing() {
                return Err(code_not_sent(s));
            }
            return Ok(sent);
        }
        Err(e) => return Err(e.into()),
    }
    mail_code(s, &typed, &code).await?;
    Ok(sent)
}

async fn mail_code(s: &Platform, typed: &str, code: &str) -> Result<()> {
    let body = format!(
        "Your undersigned code is {}\n\nIt expires in {} minutes. Enter it where you asked for it.\n\nThis message tells your mail provider that you asked for a credential; it does not say which letters you sign, and nobody can learn that.\nIf you did not ask for a code, ignore this message.\n",
        code,
        s.config.code_ttl_secs / 60
    );
    // The mail goes to the address as typed: that is the mailbox the person reads, and the
    // normalized form may not be deliverable.
    let started = std::time::Instant::now();
    s.mailer
        .send(typed, "Your undersigned verification code", &body)
        .await
        .map_err(|e| {
            // The relay's words go to the log only: the answer must read the same as the one
            // a request that sends nothing gets while the relay is down.
            tracing::warn!("a code mail could not be sent: {e}");
            if e.is_transient() || matches!(e, crate::mailer::MailError::Config(_)) {
                s.code_mail_time.record_failure();
            }
            code_not_sent(s)
        })?;
    s.code_mail_time.record(started.elapsed());
    s.metrics.code_mail_sent();
    Ok(())
}

/// The one answer to a code that was not mailed, whether the send failed or nothing was sent:
/// it depends only on deployment-wide facts, never on the address.
fn code_not_sent(s: &Platform) -> Error {
    Error::Unavailable(if s.mailer.has_relay() {
        "the code could not be sent: the mail relay is unavailable; try again shortly".into()
    } else {
        "the code could not be sent: no mail relay is configured; start the server with --smtp HOST:PORT (or --dev)".into()
    })
}

/// A credential request as the holder sends it (strings from the wire, checked here).
pub struct CredentialAsk<'a> {
    pub email: String,
    pub code: String,
    pub request_token: &'a str,
    /// `(epoch, base64url commitment)`, one per issuable epoch.
    pub commitments: Vec<(&'a str, &'a str)>,
    pub role: &'a str,
    pub age_band: &'a str,
}

impl std::fmt::Debug for CredentialAsk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialAsk(<redacted>)")
    }
}

/// What was issued: one blind signature per newly issued epoch (epochs the address held are
/// left out).
#[derive(Debug)]
pub struct Issued {
    pub issuer_id: IssuerId,
    pub credentials: Vec<(Epoch, IssuanceResponse)>,
}

/// Parses the request's commitments: distinct valid epochs, well-formed commitments, and every
/// issuable epoch present. Epochs no longer issuable (a letter closed meanwhile) are dropped.
fn issuable_commitments(
    commitments: &[(&str, &str)],
    issuable: &[Epoch],
) -> Result<Vec<(Epoch, IssuanceRequest)>> {
    if commitments.len() > MAX_EPOCHS_PER_REQUEST {
        return Err(Error::Invalid(format!(
            "at most {MAX_EPOCHS_PER_REQUEST} commitments per request"
        )));
    }
    let mut out: Vec<(Epoch, IssuanceRequest)> = Vec::new();
    for (epoch, commitment) in commitments {
        let epoch =
            Epoch::parse(epoch).map_err(|_| Error::Invalid(format!("invalid epoch {epoch:?}")))?;
        // Malformed base64 or a wrong length is outside the documented schema (400); bytes
        // of the right length that are not a commitment with a valid proof are refused (422).
        let bytes = URL_SAFE_NO_PAD
            .decode(commitment.as_bytes())
            .ok()
            .filter(|b| b.len() == undersigned_core::bbs::COMMITMENT_LEN)
            .ok_or_else(|| Error::Invalid(format!("malformed commitment for {epoch}")))?;
        let commitment = IssuanceRequest::from_slice(&bytes)
            .map_err(|_| Error::Refused(format!("invalid commitment for {epoch}")))?;
        if out.iter().any(|(e, _)| e == &epoch) {
            return Err(Error::Refused(format!("two commitments for epoch {epoch}")));
        }
        out.push((epoch, commitment));
    }
    if let Some(missing) = issuable.iter().find(|e| !out.iter().any(|(o, _)| &o == e)) {
        return Err(Error::Conflict(format!(
            "ask for every issuable epoch at once: epoch {missing} is missing (see GET /api/v1/issuance/epochs)"
        )));
    }
    out.retain(|(e, _)| issuable.contains(e));
    Ok(out)
}

/// Issues a credential for every issuable epoch the address does not hold yet, once the code
/// checks out; records the issuance (the counts the issuer log publishes).
pub async fn issue(s: &Platform, ask: CredentialAsk<'_>) -> Result<Issued> {
    check_own_issuer(s)?;
    let email = s
        .membership
        .normalize(&parse_email(&Zeroizing::new(ask.email))?)?;
    let org = s.membership.check_address(&email)?;
    let role = Role::parse(ask.role).map_err(|e| Error::Invalid(e.to_string()))?;
    s.membership.check_role(&role)?;
    let age = AgeBand::parse(ask.age_band).map_err(|e| Error::Invalid(e.to_string()))?;
    let requests = issuable_commitments(&ask.commitments, &issuable_epochs(s).await?)?;
    let issuer_id = s.issuer.id();
    // Checked once for the whole request: the code's tag names no epoch.
    let ctag = code_tag(&s.tag_secret, &issuer_id, &email);
    let code = Zeroizing::new(ask.code);
    let check = s
        .store
        .check_code(
            &token_hash(ask.request_token.trim()),
            &ctag,
            &token_hash(code.trim()),
            s.clock.now(),
            s.config.code_max_attempts,
        )
        .await?;
    if check != CodeCheck::Valid {
        return Err(Error::Refused(CODE_REFUSED.into()));
    }
    // Sign before recording: a failure here must not use up the person's credentials. What
    // the store reports as already held is signed too but never leaves this function.
    let mut signed = Vec::with_capacity(requests.len());
    for (epoch, commitment) in &requests {
        let attributes =
            Attributes::of_member(org.clone(), email.clone(), epoch.clone(), role.clone(), age);
        let response = s.issuer.blind_sign(commitment, &attributes, &mut OsRng)?;
        signed.push((epoch.clone(), response));
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
    signed.retain(|(e, _)| recorded.iter().any(|r| r == e.as_str()));
    Ok(Issued {
        issuer_id,
        credentials: signed,
    })
}

/// A letters deployment that names independent issuers runs none of its own: its issuance and
/// issuer log answer 404, so no holder gets a credential no letter of it accepts.
pub fn check_own_issuer(s: &Platform) -> Result<()> {
    if s.remote_issuers.is_empty() {
        Ok(())
    } else {
        Err(Error::NotFound(
            "this server's own issuer (the deployment's issuers are independent services: GET /api/v1/deployment lists them)",
        ))
    }
}

/// The epochs this issuer issues now, sorted (`Config::issuer_epochs`): inside a letters
/// server every epoch an open letter accepts; on its own the current and the next quarter, or
/// the epochs it was given.
pub async fn issuable_epochs(s: &Platform) -> Result<Vec<Epoch>> {
    check_own_issuer(s)?;
    let mut epochs = match &s.config.issuer_epochs {
        IssuerEpochs::Letters => return s.issuable_epochs().await,
        IssuerEpochs::CurrentAndNext => {
            let current = s.epoch();
            let next = crate::config::next_quarter(&current);
            std::iter::once(current).chain(next).collect::<Vec<_>>()
        }
        IssuerEpochs::Fixed(list) => list.clone(),
    };
    epochs.sort();
    epochs.dedup();
    Ok(epochs)
}

/// This issuer's description (`GET /api/v1/issuer`): its key, host, statement log and
/// witnesses, the organizations it attests with their address rules, and the epochs it issues.
pub async fn describe(s: &Platform) -> Result<IssuerDescription> {
    let id = s.issuer.id();
    let epochs = issuable_epochs(s).await?;
    Ok(IssuerDescription {
        format: DESCRIPTION_FORMAT.into(),
        issuer_id: id,
        name: s.issuer.name.clone(),
        public_key: URL_SAFE_NO_PAD.encode(s.issuer.public_key().to_bytes()),
        host: s.config.host.clone(),
        log_origin: undersigned_core::statement::issuer_log_origin(&s.config.host, &id),
        log_public_key: s.ledger.public_key_hex(),
        witnesses: s.cosigning.specs().into_iter().map(|w| w.vkey).collect(),
        witness_quorum: s.cosigning.quorum(),
        k: s.config.k,
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
        roles: s.config.roles.iter().map(ToString::to_string).collect(),
        age_bands: AgeBand::ALL.iter().map(ToString::to_string).collect(),
        epochs: epochs.iter().map(ToString::to_string).collect(),
        current_epoch: s.epoch().to_string(),
    })
}
