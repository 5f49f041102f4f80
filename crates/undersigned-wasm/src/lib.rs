//! Browser glue for the holder: every function takes and returns JSON strings and calls
//! `undersigned-core` for every check, so the page holds no protocol logic of its own.
//!
//! Each `#[wasm_bindgen]` export below is a thin wrapper over a plain Rust function in one of
//! the modules, returning `Result<_, String>`. The native test suite calls those functions
//! directly, because `JsError` can only be built inside a JavaScript host. In JavaScript an
//! `Err` becomes a thrown `Error` whose message is the core error's text.
//!
//! `scripts/build-wasm` builds this crate into `crates/undersigned-server/static/wasm`
//! (`wasm-bindgen --target web`); a page loads it as an ES module:
//!
//! ```js
//! import init, { request_credentials } from "/static/wasm/undersigned_wasm.js";
//! await init();
//! const { pending, commitments } = JSON.parse(request_credentials(epochsJson));
//! ```
#![forbid(unsafe_code)]

pub mod backup;
pub mod bundle;
pub mod issuance;
mod json;
pub mod log;
pub mod sign;

use rand_core::OsRng;
use wasm_bindgen::prelude::*;

fn js<T>(r: Result<T, String>) -> Result<T, JsError> {
    r.map_err(|e| JsError::new(&e))
}

/// Step 1 of issuance, for every issuable epoch at once (`epochs_json` is the answer of
/// `GET /api/v1/issuance/epochs`). Returns `{"pending": string, "commitments": [...]}`: send
/// the commitments to the issuer, keep `pending` (in memory) for step 2.
#[wasm_bindgen]
pub fn request_credentials(epochs_json: &str) -> Result<String, JsError> {
    js(issuance::request_credentials(&mut OsRng, epochs_json))
}

/// Step 2 of issuance with one issuer: checks each of its blind signatures
/// (`POST <issuer>/api/v1/issuance/credential`) against its key as the letters deployment lists
/// it (`issuer_json`, one element of `issuers` in `GET /api/v1/deployment`) and returns a JSON
/// array of credentials, one per issued epoch.
#[wasm_bindgen]
pub fn receive_credentials(
    pending: &str,
    issued_json: &str,
    issuer_json: &str,
    email: &str,
    role: &str,
    age_band: &str,
) -> Result<String, JsError> {
    js(issuance::receive_credentials(
        pending,
        issued_json,
        issuer_json,
        email,
        role,
        age_band,
    ))
}

/// Of the credentials the holder keeps (a JSON array), the letter's threshold t of them:
/// distinct issuers it accepts, each with the one epoch it accepts, one address. Returns
/// `{"credentials": [...] | null, "threshold", "issuers", "held", "missing": [{"issuer_id",
/// "epochs"}]}`.
#[wasm_bindgen]
pub fn pick_credentials(credentials_json: &str, letter_json: &str) -> Result<String, JsError> {
    js(sign::pick_credentials(credentials_json, letter_json))
}

/// The small-cell guard for the signing form, at the issuer of every credential signed with
/// (`sets_json`: each issuer's sets keyed by its hex id). Returns
/// `{"ok": bool, "reason": string|null, "org_below_k": bool}`.
#[wasm_bindgen]
pub fn check_disclosure(
    sets_json: &str,
    credentials_json: &str,
    letter_k: u32,
    role: bool,
    age_band: bool,
) -> Result<String, JsError> {
    js(sign::check_disclosure(
        sets_json,
        credentials_json,
        letter_k,
        role,
        age_band,
    ))
}

/// Whether `org` has at least `letter_k` credential holders at every issuer whose sets are
/// given (keyed by hex issuer id): asked before the code mail, so the small-organization risk
/// is accepted before the step that cannot be undone.
#[wasm_bindgen]
pub fn org_at_least(sets_json: &str, org: &str, letter_k: u32) -> Result<bool, JsError> {
    js(sign::org_at_least(sets_json, org, letter_k))
}

/// The id (hex) of a letter as its canonical text defines it; compare with the server's.
#[wasm_bindgen]
pub fn letter_id(letter_json: &str) -> Result<String, JsError> {
    js(sign::letter_id(letter_json))
}

/// Builds a sign or withdraw entry (the JSON to POST to `/api/v1/letters/<id>/entries`) from
/// the credentials `pick_credentials` chose and each issuer's sets (keyed by hex issuer id).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)] // mirrors the form's fields one to one for JavaScript
pub fn present(
    credentials_json: &str,
    letter_json: &str,
    action: &str,
    disclose_role: bool,
    disclose_age_band: bool,
    disclose_email: bool,
    comment: Option<String>,
    sets_json: &str,
    consent_small_org: bool,
) -> Result<String, JsError> {
    js(sign::present(
        credentials_json,
        letter_json,
        action,
        sign::Disclose {
            role: disclose_role,
            age_band: disclose_age_band,
            email: disclose_email,
        },
        comment.as_deref(),
        sets_json,
        consent_small_org,
    ))
}

/// The letter's log key, accepted only if it is the deployment's log key under this letter's
/// origin. Returns the vkey to use with the receipt and checkpoint checks.
#[wasm_bindgen]
pub fn pinned_log_key(
    deployment_json: &str,
    vkey: &str,
    letter_id: &str,
) -> Result<String, JsError> {
    js(log::pinned_log_key(deployment_json, vkey, letter_id))
}

/// Checks a submission receipt: signed by `vkey`, for this letter and for exactly this entry.
#[wasm_bindgen]
pub fn verify_receipt(
    receipt_json: &str,
    vkey: &str,
    entry_json: &str,
    letter_id: &str,
) -> Result<(), JsError> {
    js(log::verify_receipt(
        receipt_json,
        vkey,
        entry_json,
        letter_id,
    ))
}

/// Checks that the receipt's entry is in the tree of a signed checkpoint. Returns
/// `{"index": number, "size": number, "root": hex}`.
#[wasm_bindgen]
pub fn check_inclusion(
    receipt_json: &str,
    vkey: &str,
    checkpoint_note: &str,
    inclusion_json: &str,
    letter_id: &str,
) -> Result<String, JsError> {
    js(log::check_inclusion(
        receipt_json,
        vkey,
        checkpoint_note,
        inclusion_json,
        letter_id,
    ))
}

/// With witnesses named in the deployment info, refuses a checkpoint without their quorum of
/// valid cosignatures. Returns `[{"name": string, "timestamp": number}]`.
#[wasm_bindgen]
pub fn check_cosignatures(deployment_json: &str, checkpoint_note: &str) -> Result<String, JsError> {
    js(log::check_cosignatures(deployment_json, checkpoint_note))
}

/// Every level-0 tile of a tree of `size` (from the checkpoint's second line), in order:
/// `[{"path", "full": string|null}]` under `/letters/<id>/`. Fetch them all.
#[wasm_bindgen]
pub fn leaf_tile_paths(size: f64) -> Result<String, JsError> {
    if !(size.is_finite() && size >= 0.0 && size.fract() == 0.0) {
        return Err(JsError::new("a tree size is a whole number"));
    }
    js(log::leaf_tile_paths(size as u64))
}

/// Checks every receipt (a JSON array) against the letter's log as everyone reads it: the
/// signed checkpoint and all its level-0 tiles (JSON array of hex bodies, in the order of
/// `leaf_tile_paths`), and that it extends `old_note` when given. Returns `{"size", "root",
/// "entries": [index | null], "consistent_from": number | null}`.
#[wasm_bindgen]
pub fn check_tiles(
    receipts_json: &str,
    vkey: &str,
    checkpoint_note: &str,
    tiles_hex_json: &str,
    old_note: Option<String>,
    letter_id: &str,
) -> Result<String, JsError> {
    js(log::check_tiles(
        receipts_json,
        vkey,
        checkpoint_note,
        tiles_hex_json,
        old_note.as_deref(),
        letter_id,
    ))
}

/// Checks that the new signed checkpoint extends the old one. Returns
/// `{"from": number, "to": number}`.
#[wasm_bindgen]
pub fn check_consistency(
    vkey: &str,
    old_note: &str,
    new_note: &str,
    consistency_json: &str,
) -> Result<String, JsError> {
    js(log::check_consistency(
        vkey,
        old_note,
        new_note,
        consistency_json,
    ))
}

/// Verifies a bundle offline. Returns the verification report plus a `statement` field.
#[wasm_bindgen]
pub fn verify_bundle(bundle_json: &str, now_secs: f64) -> Result<String, JsError> {
    // A clock before 1970 or a NaN becomes 0: only the "days since delivery" text depends on it.
    let now = if now_secs.is_finite() && now_secs > 0.0 {
        now_secs as u64
    } else {
        0
    };
    js(bundle::verify_bundle_at(bundle_json, now))
}

/// `verify_bundle`, calling `progress(done, total)` after each run of proofs checked (the
/// verify page's worker posts it to the page). The same checks as `verify_bundle`.
#[wasm_bindgen]
pub fn verify_bundle_observed(
    bundle_json: &str,
    now_secs: f64,
    progress: &js_sys::Function,
) -> Result<String, JsError> {
    let now = if now_secs.is_finite() && now_secs > 0.0 {
        now_secs as u64
    } else {
        0
    };
    let this = wasm_bindgen::JsValue::NULL;
    js(bundle::verify_bundle_observed(
        bundle_json,
        now,
        &mut |done, total| {
            // A progress callback that throws stops nothing: the verdict is the verifier's.
            let _ = progress.call2(&this, &(done as f64).into(), &(total as f64).into());
        },
    ))
}

/// One worker's share of a bundle's verification: every check, and the proofs of share
/// `index` of `of`, calling `progress(done, total)` for that share's proofs. Returns the
/// share's outcome (JSON); only `combine_shares` over all of them is the verdict.
#[wasm_bindgen]
pub fn verify_bundle_share(
    bundle_json: &str,
    now_secs: f64,
    index: u32,
    of: u32,
    progress: &js_sys::Function,
) -> Result<String, JsError> {
    let now = if now_secs.is_finite() && now_secs > 0.0 {
        now_secs as u64
    } else {
        0
    };
    let this = wasm_bindgen::JsValue::NULL;
    js(bundle::verify_bundle_share(
        bundle_json,
        now,
        index as usize,
        of as usize,
        &mut |done, total| {
            // A progress callback that throws stops nothing: the verdict is the verifier's.
            let _ = progress.call2(&this, &(done as f64).into(), &(total as f64).into());
        },
    ))
}

/// The bundle's verdict from the JSON array of every share's `verify_bundle_share` outcome:
/// the report (as `verify_bundle` returns it), or an error when the bundle fails or the
/// outcomes do not cover every proof exactly once.
#[wasm_bindgen]
pub fn combine_shares(outcomes_json: &str) -> Result<String, JsError> {
    js(bundle::combine_shares(outcomes_json))
}

/// Compares a bundle's issuer and log keys with the site's `/api/v1/deployment` answer.
/// Returns `{"match": bool, "witnessed": bool, "message": "...", "witness_error": ...}`.
#[wasm_bindgen]
pub fn compare_keys(bundle_json: &str, deployment_json: &str) -> Result<String, JsError> {
    js(bundle::compare_keys(bundle_json, deployment_json))
}

/// Encrypts the credential under a passphrase for the holder to keep as a backup.
#[wasm_bindgen]
pub fn encrypt_export(credential_json: &str, passphrase: &str) -> Result<String, JsError> {
    js(backup::encrypt_export(
        credential_json,
        passphrase,
        &mut OsRng,
    ))
}

/// Opens a backup made by `encrypt_export`; returns the credential JSON.
#[wasm_bindgen]
pub fn decrypt_import(backup: &str, passphrase: &str) -> Result<String, JsError> {
    js(backup::decrypt_import(backup, passphrase))
}

/// Encrypts the holder's whole state, `{"credentials": [...], "receipts": {letter id: [...]},
/// "checkpoints": {letter id: note}}`, under a passphrase (backup format v2).
#[wasm_bindgen]
pub fn encrypt_backup(state_json: &str, passphrase: &str) -> Result<String, JsError> {
    js(backup::encrypt_backup(state_json, passphrase, &mut OsRng))
}

/// Opens a backup (v2, or v1 holding one credential); returns the state JSON.
#[wasm_bindgen]
pub fn decrypt_backup(backup: &str, passphrase: &str) -> Result<String, JsError> {
    js(backup::decrypt_backup(backup, passphrase))
}

/// Finds the entry a receipt names (its entry hash, hex) in a bundle. Returns
/// `{"index": number, "kind": "signature" | "withdrawal" | ..., "withdrawn_by": null | number}`
/// (log indexes from 0, as `undersigned verify` numbers entries). Does not verify the bundle.
#[wasm_bindgen]
pub fn find_entry(bundle_json: &str, entry_hash_hex: &str) -> Result<String, JsError> {
    js(bundle::find_entry(bundle_json, entry_hash_hex))
}
