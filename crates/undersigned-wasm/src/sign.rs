//! Signing and withdrawing from the browser: which credentials a letter takes, the small-cell
//! guard for the form, and `present` with t of them.

use std::collections::BTreeMap;

use rand_core::OsRng;
use serde::Serialize;
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{self, Action, Ask, DisclosureChoice, Held, SmallOrgConsent};
use undersigned_core::holder;
use undersigned_core::ids::IssuerId;
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

/// Each issuer's published anonymity sets (`GET /api/v1/issuer/anonymity-sets?issuer=&epoch=`),
/// keyed by issuer id in hex: a signature with t parts must be safe at every one of them.
fn sets_by_issuer(sets_json: &str) -> Result<BTreeMap<IssuerId, PublishedSets>, String> {
    let raw: BTreeMap<String, PublishedSets> = json::parse(sets_json, "the anonymity sets")?;
    raw.into_iter()
        .map(|(id, sets)| {
            let id = IssuerId::from_hex(&id)
                .map_err(|_| "an anonymity set names a malformed issuer id")?;
            Ok((id, sets))
        })
        .collect()
}

/// The sets of the issuer of `credential`, or an error naming the issuer.
fn sets_of<'a>(
    sets: &'a BTreeMap<IssuerId, PublishedSets>,
    credential: &Credential,
) -> Result<&'a PublishedSets, String> {
    sets.get(&credential.issuer_id).ok_or_else(|| {
        format!(
            "no anonymity sets of issuer {} were given",
            credential.issuer_id.to_hex()
        )
    })
}

fn credentials(credentials_json: &str) -> Result<Vec<Credential>, String> {
    json::parse_secret(credentials_json, "the credential list")
}

/// The small-cell rule as the form needs it, so it can grey out a choice before signing: the
/// disclosure must be safe at the issuer of every credential the signature is built from
/// (`credentials_json`, as `pick_credentials` chose them). Returns
/// `{"ok": bool, "reason": string|null, "org_below_k": bool}`.
pub fn check_disclosure(
    sets_json: &str,
    credentials_json: &str,
    letter_k: u32,
    role: bool,
    age_band: bool,
) -> Result<String, String> {
    let sets = sets_by_issuer(sets_json)?;
    let held = credentials(credentials_json)?;
    if held.is_empty() {
        return Err("no credential was given".into());
    }
    let mut reason = None;
    let mut org_below_k = false;
    for c in &held {
        let at = sets_of(&sets, c)?;
        let attrs = &c.attributes;
        let verdict = at.check_disclosure(
            &attrs.org,
            role.then_some(&attrs.role),
            age_band.then_some(attrs.age_band),
            letter_k,
        );
        if let Err(cell) = verdict {
            // The same wording `present` would refuse with.
            reason
                .get_or_insert_with(|| PresentError::SmallCell(cell.name(), letter_k).to_string());
        }
        org_below_k |= !at.org_at_least(&attrs.org, letter_k);
    }
    json::to_string(&DisclosureCheck {
        ok: reason.is_none(),
        reason,
        org_below_k,
    })
}

/// Before a code is even asked for: does `org` have at least `letter_k` credential holders at
/// every issuer whose sets are given (keyed by hex issuer id)? A signature always shows the
/// organization, so a smaller one is a risk the person must accept before the code mail, the
/// step they cannot undo.
pub fn org_at_least(sets_json: &str, org: &str, letter_k: u32) -> Result<bool, String> {
    let sets = sets_by_issuer(sets_json)?;
    let org = undersigned_core::ids::OrgId::parse(org).map_err(|e| e.to_string())?;
    Ok(!sets.is_empty() && sets.values().all(|s| s.org_at_least(&org, letter_k)))
}

#[derive(Serialize)]
struct Picked {
    /// The t credentials to sign with, in issuer-id order; `null` when the holder lacks some.
    credentials: Option<Vec<Credential>>,
    threshold: usize,
    issuers: usize,
    held: usize,
    /// The issuers (hex ids) the holder lacks, each with the epochs of it the letter accepts.
    missing: Vec<Missing>,
}

#[derive(Serialize)]
struct Missing {
    issuer_id: String,
    epochs: Vec<String>,
}

/// Of the holder's credentials, the letter's threshold t of them (core's
/// `holder::pick_credentials`, as the CLI picks). Returns `{"credentials": [...] | null,
/// "threshold", "issuers", "held", "missing": [{"issuer_id", "epochs"}]}` so the page can name
/// the issuers still to ask.
pub fn pick_credentials(credentials_json: &str, letter_json: &str) -> Result<String, String> {
    let held = credentials(credentials_json)?;
    let letter = letter(letter_json)?;
    let picked = match holder::pick_credentials(held, &letter) {
        Ok(credentials) => Picked {
            threshold: credentials.len(),
            issuers: letter.policy.issuers.len(),
            held: credentials.len(),
            credentials: Some(credentials),
            missing: vec![],
        },
        Err(m) => Picked {
            credentials: None,
            threshold: m.threshold,
            issuers: m.issuers,
            held: m.held,
            missing: m
                .missing
                .into_iter()
                .map(|(id, epochs)| Missing {
                    issuer_id: id.to_hex(),
                    epochs: epochs.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        },
    };
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

/// Builds a sign or withdraw entry from the letter's threshold of credentials
/// (`credentials_json`, as `pick_credentials` chose them) and each issuer's sets
/// (`sets_json`, keyed by issuer id); the policy and small-cell checks are core's
/// `present_with`.
pub fn present(
    credentials_json: &str,
    letter_json: &str,
    action: &str,
    disclose: Disclose,
    comment: Option<&str>,
    sets_json: &str,
    consent_small_org: bool,
) -> Result<String, String> {
    let held = credentials(credentials_json)?;
    let letter = letter(letter_json)?;
    let sets = sets_by_issuer(sets_json)?;
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
    let parts = held
        .iter()
        .map(|credential| {
            Ok(Held {
                credential,
                sets: sets_of(&sets, credential)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let ask = Ask {
        action,
        choice,
        comment,
        consent,
    };
    let entry =
        entry::present_with(&parts, &letter, &ask, &mut OsRng).map_err(|e| e.to_string())?;
    json::to_string(&entry)
}
