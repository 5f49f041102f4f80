//! The holder's choices that every client makes the same way: which of the credentials it
//! keeps a letter accepts.

use std::borrow::Borrow;

use crate::credential::Credential;
use crate::letter::Letter;

/// No held credential is of an issuer and epoch the letter accepts.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "none of your credentials is of the epoch this letter accepts ({})",
    .accepted.join(", ")
)]
pub struct NoAcceptedCredential {
    /// Every epoch the letter accepts, of any issuer: what the holder would need.
    pub accepted: Vec<String>,
}

/// Of the held credentials, the first whose issuer and epoch the letter accepts. A letter
/// accepts one epoch per issuer, so at most one credential of each issuer fits.
pub fn pick_credential<C: Borrow<Credential>>(
    held: impl IntoIterator<Item = C>,
    letter: &Letter,
) -> Result<C, NoAcceptedCredential> {
    held.into_iter()
        .find(|c| {
            let c = c.borrow();
            letter
                .policy
                .accepts_issuer(&c.issuer_id, &c.attributes.epoch)
        })
        .ok_or_else(|| NoAcceptedCredential {
            accepted: letter
                .policy
                .issuers
                .iter()
                .flat_map(|a| a.epochs.iter().map(|e| e.to_string()))
                .collect(),
        })
}
