//! Blind issuance from the browser: commit to a fresh nym secret, then finish and check the
//! issuer's blind signature against the deployment's published key.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use undersigned_core::bbs::{PublicKey, PUBLIC_KEY_LEN, SCALAR_LEN, SIGNATURE_LEN};
use undersigned_core::credential::{self, issuer_id, IssuanceResponse, PendingIssuance};
use undersigned_core::encoding::{b64url, from_b64url};
use undersigned_core::ids::{AddressRules, AgeBand, Email, Epoch, Role};
use zeroize::Zeroizing;

use crate::json;

#[derive(Serialize)]
struct Requested<'a> {
    /// The holder's secret halves, one per epoch, as one opaque JSON string for the page.
    pending: &'a str,
    commitments: Vec<Commitment>,
}

#[derive(Serialize, Deserialize)]
struct Commitment {
    epoch: String,
    commitment: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingEpoch {
    epoch: Epoch,
    pending: PendingIssuance,
}

/// `GET /api/v1/issuance/epochs`: every epoch issuable now.
#[derive(Deserialize)]
struct Issuable {
    epochs: Vec<Epoch>,
}

/// The issuer's answer as the server sends it (`CredentialIssued` in the server's API). The
/// wasm crate depends on core only, so it reads the few fields it needs itself.
#[derive(Deserialize)]
struct Issued {
    issuer_public_key: String,
    credentials: Vec<BlindCredential>,
}

#[derive(Deserialize)]
struct BlindCredential {
    epoch: String,
    signature: String,
    nym_entropy: String,
}

/// One issuer as the letters deployment lists it (an element of `issuers` in
/// `GET /api/v1/deployment`): the key holders pin, and the address rules it signs under.
#[derive(Deserialize)]
pub(crate) struct IssuerDoc {
    issuer_id: undersigned_core::ids::IssuerId,
    public_key: String,
    #[serde(default)]
    orgs: Vec<DeploymentOrg>,
}

/// The part of `GET /api/v1/deployment` the log checks need: its host and log key.
#[derive(Deserialize)]
pub(crate) struct Deployment {
    #[serde(default)]
    pub(crate) host: Option<String>,
    #[serde(default)]
    pub(crate) log_public_key: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct DeploymentOrg {
    domain: String,
    #[serde(default)]
    subdomains: bool,
    #[serde(default)]
    address_rules: AddressRules,
}

impl IssuerDoc {
    fn membership(&self) -> undersigned_core::issuer::Membership {
        undersigned_core::issuer::Membership::for_addresses(
            self.orgs
                .iter()
                .map(|o| (o.domain.as_str(), o.address_rules, o.subdomains)),
        )
    }
}

/// One commitment per issuable epoch (`epochs_json` is the answer of
/// `GET /api/v1/issuance/epochs`), never one epoch alone: the issuer sees the epochs asked for.
/// Returns `{"pending": <secret JSON, opaque to the page>, "commitments": [{epoch, commitment}]}`.
pub fn request_credentials(
    rng: &mut impl CryptoRngCore,
    epochs_json: &str,
) -> Result<String, String> {
    let issuable: Issuable = json::parse(epochs_json, "the issuable epochs")?;
    if issuable.epochs.is_empty() {
        return Err("the deployment names no issuable epoch".into());
    }
    let mut pending = Vec::new();
    let mut commitments = Vec::new();
    for epoch in issuable.epochs {
        let (request, p) = credential::request_credential(rng).map_err(|e| e.to_string())?;
        commitments.push(Commitment {
            epoch: epoch.to_string(),
            commitment: b64url(&request.commitment),
        });
        pending.push(PendingEpoch { epoch, pending: p });
    }
    let pending = Zeroizing::new(json::to_string(&pending)?);
    json::to_string(&Requested {
        pending: &pending,
        commitments,
    })
}

/// Finishes issuance with one issuer and returns a JSON array of credentials, one per epoch it
/// answered for; they never leave the device. `issuer_json` is that issuer as the letters
/// deployment lists it, so the key is the one the deployment pinned, not the answer's.
pub fn receive_credentials(
    pending: &str,
    issued_json: &str,
    issuer_json: &str,
    email: &str,
    role: &str,
    age_band: &str,
) -> Result<String, String> {
    let mut pending: Vec<PendingEpoch> = json::parse_secret(pending, "the pending issuance")?;
    let issued: Issued = json::parse(issued_json, "the issuer's answer")?;
    let issuer: IssuerDoc = json::parse(issuer_json, "the issuer")?;
    // Pin the key the deployment publishes, not whatever key the answer names.
    if issued.issuer_public_key != issuer.public_key {
        return Err(
            "the issuer key in the answer differs from the deployment's published key".into(),
        );
    }
    let pk_bytes = from_b64url(
        &issued.issuer_public_key,
        PUBLIC_KEY_LEN,
        "issuer public key",
    )
    .map_err(|e| e.to_string())?;
    let pk = PublicKey::from_slice(&pk_bytes).map_err(|_| "malformed issuer public key")?;
    if issuer_id(&pk) != issuer.issuer_id {
        return Err("the deployment's issuer id does not match its key".into());
    }
    // The issuer signed the address as the deployment normalizes it (lowercase, no +tag, and
    // its own domain's rules), with the organization it belongs to (a subdomain's parent).
    let membership = issuer.membership();
    let email = Email::parse(email).map_err(|_| "not a valid email address")?;
    let role = Role::parse(role).map_err(|e| e.to_string())?;
    let age_band = AgeBand::parse(age_band).map_err(|e| e.to_string())?;
    if issued.credentials.is_empty() {
        return Err("the issuer answered with no credential".into());
    }
    let mut out = Vec::new();
    for blind in issued.credentials {
        let epoch = Epoch::parse(&blind.epoch).map_err(|e| e.to_string())?;
        let at = pending
            .iter()
            .position(|p| p.epoch == epoch)
            .ok_or("the issuer answered for an epoch it was not asked")?;
        let p = pending.swap_remove(at);
        let response = IssuanceResponse::from_slices(
            &from_b64url(&blind.signature, SIGNATURE_LEN, "signature")
                .map_err(|e| e.to_string())?,
            &from_b64url(&blind.nym_entropy, SCALAR_LEN, "nym entropy")
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let attributes = membership
            .attributes(&email, epoch, role.clone(), age_band)
            .map_err(|e| e.to_string())?;
        out.push(
            credential::receive_credential(p.pending, &response, &pk, attributes)
                .map_err(|e| e.to_string())?,
        );
    }
    json::to_string(&out)
}
