//! Signing and withdrawing from the browser: the small-cell guard for the form, and `present`.

use serde::Serialize;
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{self, Action, DisclosureChoice, SmallOrgConsent};
use undersigned_core::holder;
use undersigned_core::letter::Letter;
use undersigned_core::PresentError;

use crate::json;

/// What the holder chose to reveal beyond org and epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Disclose {
    pub role: bool,
    pub age_band: bool,
    pub email: bool,
}

#[derive(Serialize)]
struct DisclosureCheck {
    ok: bool,
    reason: Option<String>,
    /// The whole organization is below k: signing at all needs the holder's explicit consent.
    org_below_k: bool,
}

/// The small-cell rule as the form needs it, so it can grey out a choice before signing.
/// Returns `{"ok": bool, "reason": string|null, "org_below_k": bool}`.
pub fn check_disclosure(
    sets_json: &str,
    credential_json: &str,
    letter_k: u32,
    role: bool,
    age_band: bool,
) -> Result<String, String> {
    let sets: PublishedSets = json::parse(sets_json, "the anonymity sets")?;
    let credential = json::credential(credential_json)?;
    let attrs = &credential.attributes;
    let verdict = sets.check_disclosure(
        &attrs.org,
        role.then_some(&attrs.role),
        age_band.then_some(attrs.age_band),
        letter_k,
    );
    json::to_string(&DisclosureCheck {
        ok: verdict.is_ok(),
        // The same wording `present` would refuse with.
        reason: verdict
            .err()
            .map(|cell| PresentError::SmallCell(cell.name(), letter_k).to_string()),
        org_below_k: !sets.org_at_least(&attrs.org, letter_k),
    })
}

/// Of the holder's credentials, the one whose issuer and epoch the letter accepts (core's
/// `holder::pick_credential`, as the CLI picks).
pub fn pick_credential(credentials_json: &str, letter_json: &str) -> Result<String, String> {
    let held: Vec<Credential> = json::parse_secret(credentials_json, "the credentials")?;
    let letter = letter(letter_json)?;
    let picked = holder::pick_credential(held, &letter).map_err(|e| e.to_string())?;
    json::to_string(&picked)
}

fn letter(letter_json: &str) -> Result<Letter, String> {
    let letter: Letter = json::parse(letter_json, "the letter")?;
    // Only a canonical letter has an id; signing anything else would sign a different text.
    letter.canonicalize().map_err(|e| e.to_string())
}

/// The letter's id in hex, computed from its canonical text.
pub fn letter_id(letter_json: &str) -> Result<String, String> {
    Ok(letter(letter_json)?.id().to_hex())
}

/// Builds a sign or withdraw entry; the policy and small-cell checks are core's `present`.
pub fn present(
    credential_json: &str,
    letter_json: &str,
    action: &str,
    disclose: Disclose,
    comment: Option<&str>,
    sets_json: &str,
    consent_small_org: bool,
) -> Result<String, String> {
    let credential = json::credential(credential_json)?;
    let letter = letter(letter_json)?;
    let sets: PublishedSets = json::parse(sets_json, "the anonymity sets")?;
    let action = match action {
        "sign" => Action::Sign,
        "withdraw" => Action::Withdraw,
        _ => return Err("action must be \"sign\" or \"withdraw\"".into()),
    };
    // A form's empty comment field means no comment; the presentation header is the same.
    let comment = comment.filter(|c| !c.is_empty());
    let consent = if consent_small_org {
        SmallOrgConsent::Given
    } else {
        SmallOrgConsent::NotGiven
    };
    let choice = DisclosureChoice {
        role: disclose.role,
        age_band: disclose.age_band,
        email: disclose.email,
    };
    let entry = entry::present(
        &credential,
        &letter,
        action,
        choice,
        comment,
        &sets,
        consent,
    )
    .map_err(|e| e.to_string())?;
    json::to_string(&entry)
}
