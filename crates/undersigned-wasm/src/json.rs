//! Parsing JSON handed over by the page: size-checked first, and quiet about secrets.

use serde::de::DeserializeOwned;
use serde::Serialize;
use undersigned_core::credential::Credential;

/// Largest JSON argument accepted (letters with long bodies fit easily). Bundles have their
/// own, larger limit in core.
pub(crate) const MAX_INPUT_BYTES: usize = 1 << 20;

/// Parses `json` as `T`; `what` names the argument in the error.
pub(crate) fn parse<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, String> {
    if json.len() > MAX_INPUT_BYTES {
        return Err(format!("{what} is too large"));
    }
    serde_json::from_str(json).map_err(|e| format!("{what} is malformed: {e}"))
}

/// Like [`parse`] but without serde's detail, which can quote the offending value: for inputs
/// that hold secrets (credential, pending issuance) the message must not echo them.
pub(crate) fn parse_secret<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, String> {
    if json.len() > MAX_INPUT_BYTES {
        return Err(format!("{what} is too large"));
    }
    serde_json::from_str(json).map_err(|_| format!("{what} is malformed"))
}

pub(crate) fn credential(json: &str) -> Result<Credential, String> {
    parse_secret(json, "the credential")
}

pub(crate) fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| format!("could not encode the result: {e}"))
}
