//! The monitor's issued-count check: a letter's signers per organization, as its bundle and
//! its tally show them, held against the issuer's counts in the issuer log the monitor itself
//! verified, never against counts the server computes from its database.
//!
//! The rule is core's (`anonymity::check_signers`, counted by `Bundle::signers`), the same the
//! server applies before it accepts a signature and the bundle verifier applies offline. What
//! the monitor adds is memory: a breach it saw is kept in its state directory and reported at
//! every later poll, so raising the issued counts in the database afterwards (the next
//! statement then covers the extra signers, and the bundle verifies again) does not erase it.

use anyhow::{anyhow, bail};
use std::path::Path;
use undersigned_core::anonymity::check_signers;
use undersigned_core::bundle::Bundle;
use undersigned_core::ids::OrgId;
use undersigned_core::statement::IssuerStatement;

use crate::client::{write_private, Client};

/// Holds letter `id`'s bundle and tally against `newest`, the newest statement of the issuer
/// log this poll verified. A breach is written to `<state>/letters/<id>.issued-breach.txt`
/// before it is reported; one written by an earlier poll is reported again.
pub fn check_letter(
    client: &Client,
    state: &Path,
    id: &str,
    bundle: &Bundle,
    newest: Option<&IssuerStatement>,
) -> anyhow::Result<()> {
    let path = state
        .join("letters")
        .join(format!("{id}.issued-breach.txt"));
    if let Ok(seen) = std::fs::read_to_string(&path) {
        bail!(
            "{} (seen by this monitor before; kept in {})",
            seen.trim_end(),
            path.display()
        );
    }
    let Some(statement) = newest else {
        return Ok(());
    };
    // A bundle that carries a later statement than the log this poll read: the log grew in
    // between (a batch goes out right after its statement). Checked at the next poll.
    let carried = bundle
        .issuers
        .iter()
        .find(|i| i.id == statement.issuer_id)
        .map(|i| i.statement.signed.statement.sequence);
    if carried.is_some_and(|s| s > statement.sequence) {
        return Ok(());
    }
    match breach(client, id, bundle, statement) {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = format!(
                "SIGNERS PAST THE ISSUED COUNT: {e:#}, by the issuer log's statement {} that this monitor verified",
                statement.sequence
            );
            write_private(&path, format!("{text}\n").as_bytes())?;
            bail!(text)
        }
    }
}

fn breach(
    client: &Client,
    id: &str,
    bundle: &Bundle,
    statement: &IssuerStatement,
) -> anyhow::Result<()> {
    let letter_id = bundle.letter.id();
    // The bundle: distinct signers, withdrawn ones too, per (issuer, epoch, org).
    for ((issuer, epoch, org), signers) in bundle.signers(&letter_id) {
        if issuer == statement.issuer_id {
            check_signers(
                &org,
                &epoch,
                signers,
                statement.issued_at_most(&org, &epoch),
            )
            .map_err(|e| anyhow!("the bundle: {e}"))?;
        }
    }
    // The tally the server shows: its standing signers of an org cannot outnumber the
    // credentials issued to that org in the epochs the letter accepts from this issuer.
    let tally: serde_json::Value = client.get_json(&format!("/api/v1/letters/{id}/tally"), None)?;
    let epochs: Vec<_> = bundle
        .letter
        .policy
        .issuers
        .iter()
        .filter(|i| i.issuer_id == statement.issuer_id)
        .flat_map(|i| i.epochs.iter())
        .collect();
    if let Some(by_org) = tally.get("by_org").and_then(|v| v.as_object()) {
        for (org, count) in by_org {
            // "<k" cells say too little to hold against a count.
            let (Some(n), Ok(org)) = (count.as_u64(), OrgId::parse(org)) else {
                continue;
            };
            let allowed: u64 = epochs
                .iter()
                .map(|e| statement.issued_at_most(&org, e))
                .fold(0, u64::saturating_add);
            let Some(epoch) = epochs.first() else {
                bail!("the tally counts {n} signers of {org}, but the letter accepts no epoch of the issuer");
            };
            check_signers(&org, epoch, n, allowed).map_err(|e| anyhow!("the tally: {e}"))?;
        }
    }
    Ok(())
}
