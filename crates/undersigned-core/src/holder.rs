//! The holder's choices that every client makes the same way: which of the credentials it
//! keeps a letter is signed with.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use crate::credential::Credential;
use crate::ids::{Email, Epoch, IssuerId};
use crate::letter::Letter;

/// The holder keeps fewer credentials the letter accepts than its threshold.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "this letter needs credentials of {threshold} of its {issuers} issuers and you hold {held} it accepts",
)]
pub struct MissingCredentials {
    /// The letter's threshold t.
    pub threshold: usize,
    /// How many issuers the letter names (n).
    pub issuers: usize,
    /// How many accepted credentials of distinct issuers the holder has, for one address.
    pub held: usize,
    /// Each issuer the holder lacks, with the epochs of it the letter accepts: what to ask for.
    pub missing: Vec<(IssuerId, Vec<Epoch>)>,
}

/// Of the held credentials, the letter's threshold t of them: of distinct issuers it accepts
/// (each with the one epoch it accepts of that issuer), in issuer-id order, all of one address
/// (the address with the most accepted issuers; ties go to the first held). A letter accepts
/// one epoch per issuer, so at most one credential of each issuer fits.
pub fn pick_credentials<C: Borrow<Credential>>(
    held: impl IntoIterator<Item = C>,
    letter: &Letter,
) -> Result<Vec<C>, MissingCredentials> {
    let policy = &letter.policy;
    let t = policy.threshold();
    // Per address: one accepted credential per issuer, in issuer-id order.
    let mut by_address: Vec<(Email, BTreeMap<IssuerId, C>)> = Vec::new();
    for c in held {
        let (issuer, address) = {
            let cred = c.borrow();
            if !policy.accepts_issuer(&cred.issuer_id, &cred.attributes.epoch) {
                continue;
            }
            (cred.issuer_id, cred.attributes.email.clone())
        };
        match by_address.iter_mut().find(|(a, _)| *a == address) {
            Some((_, m)) => {
                m.entry(issuer).or_insert(c);
            }
            None => by_address.push((address, BTreeMap::from([(issuer, c)]))),
        }
    }
    // `max_by_key` keeps the last of equals; the first held address wins a tie instead.
    let mut best = BTreeMap::new();
    for (_, m) in by_address {
        if m.len() > best.len() {
            best = m;
        }
    }
    if best.len() >= t {
        return Ok(best.into_values().take(t).collect());
    }
    Err(MissingCredentials {
        threshold: t,
        issuers: policy.issuers.len(),
        held: best.len(),
        missing: policy
            .issuers
            .iter()
            .filter(|a| !best.contains_key(&a.issuer_id))
            .map(|a| (a.issuer_id, a.epochs.clone()))
            .collect(),
    })
}
