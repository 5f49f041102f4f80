//! Blind issuance from the browser: commit to a fresh nym secret, then finish and check the
//! issuer's blind signature against the deployment's published key.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use undersigned_core::bbs::{PublicKey, PUBLIC_KEY_LEN, SCALAR_LEN, SIGNATURE_LEN};
use undersigned_core::bundle::BundleIssuer;
use undersigned_core::credential::{
    self, issuer_id, Attributes, IssuanceResponse, PendingIssuance,
};
use undersigned_core::encoding::{b64url, from_b64url};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use zeroize::Zeroizing;

use crate::json;

#[derive(Serialize)]
struct Requested<'a> {
    pending: &'a str,
    commitment: String,
}

/// The issuer's answer as the server sends it (`CredentialIssued` in the server's API). The
/// wasm crate depends on core only, so it reads the few fields it needs itself.
#[derive(Deserialize)]
struct Issued {
    issuer_public_key: String,
    epoch: String,
    signature: String,
    nym_entropy: String,
}

/// The part of `GET /api/v1/deployment` that issuance needs: the published issuer.
#[derive(Deserialize)]
pub(crate) struct Deployment {
    pub(crate) issuer: BundleIssuer,
    #[serde(default)]
    pub(crate) host: Option<String>,
    #[serde(default)]
    pub(crate) log_public_key: Option<String>,
}

/// Returns `{"pending": <secret JSON, opaque to the page>, "commitment": base64url}`.
pub fn request_credential(rng: &mut impl CryptoRngCore) -> Result<String, String> {
    let (request, pending) = credential::request_credential(rng).map_err(|e| e.to_string())?;
    let pending = Zeroizing::new(json::to_string(&pending)?);
    json::to_string(&Requested {
        pending: &pending,
        commitment: b64url(&request.commitment),
    })
}

/// Finishes issuance and returns the credential JSON, which never leaves the device.
pub fn receive_credential(
    pending: &str,
    issued_json: &str,
    deployment_json: &str,
    email: &str,
    role: &str,
    age_band: &str,
) -> Result<String, String> {
    let pending: PendingIssuance = json::parse_secret(pending, "the pending issuance")?;
    let issued: Issued = json::parse(issued_json, "the issuer's answer")?;
    let deployment: Deployment = json::parse(deployment_json, "the deployment info")?;
    // Pin the key the deployment publishes, not whatever key the answer names.
    if issued.issuer_public_key != deployment.issuer.public_key {
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
    if issuer_id(&pk) != deployment.issuer.id {
        return Err("the deployment's issuer id does not match its key".into());
    }
    let response = IssuanceResponse::from_slices(
        &from_b64url(&issued.signature, SIGNATURE_LEN, "signature").map_err(|e| e.to_string())?,
        &from_b64url(&issued.nym_entropy, SCALAR_LEN, "nym entropy").map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let email = Email::parse(email).map_err(|_| "not a valid email address")?;
    let role = Role::parse(role).map_err(|e| e.to_string())?;
    let age_band = AgeBand::parse(age_band).map_err(|e| e.to_string())?;
    let epoch = Epoch::parse(&issued.epoch).map_err(|e| e.to_string())?;
    let attributes = Attributes::new(email, epoch, role, age_band);
    let credential = credential::receive_credential(pending, &response, &pk, attributes)
        .map_err(|e| e.to_string())?;
    json::to_string(&credential)
}
