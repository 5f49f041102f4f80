//! The bundle a letter's record is verified from: the letter, the issuer's latest logged
//! statement, the log key, the answers, and every entry the published checkpoint covers.

use undersigned_core::bundle::{Bundle, BundleContext, BUNDLE_FORMAT, CONTEXT_FORMAT};
use undersigned_core::record::LogEntry;
use undersigned_store::LetterRow;

use crate::error::{Error, Result};
use crate::letters::parse_row;
use crate::platform::Platform;

/// A log leaf's entry; the log holds only entries it encoded, so anything else is internal.
pub fn decode_leaf(leaf: &[u8]) -> Result<LogEntry> {
    LogEntry::from_leaf_bytes(leaf)
        .ok_or_else(|| Error::Internal("undecodable leaf in the log".into()))
}

/// The bundle as of the latest checkpoint: exactly the entries it covers.
pub async fn build_bundle(s: &Platform, row: &LetterRow, id: &str) -> Result<Bundle> {
    let cp = crate::cosigning::published(s, id)
        .await?
        .ok_or(Error::NotFound("checkpoint"))?;
    let context = build_context(s, row, id).await?;
    let leaves = s.store.leaves(id, 0, cp.size).await?;
    let entries = leaves
        .iter()
        .map(|l| decode_leaf(l))
        .collect::<Result<Vec<_>>>()?;
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id: context.letter_id,
        letter: context.letter,
        issuers: context.issuers,
        entries,
        checkpoint: Some(cp.note),
        log_public_key: context.log_public_key,
        responses: context.responses,
    })
}

/// Everything of the bundle but its log: the letter, the issuer's latest statement, the log
/// key and the answers' texts (what a tiled log publishes beside its tiles).
pub async fn build_context(s: &Platform, row: &LetterRow, id: &str) -> Result<BundleContext> {
    let letter = parse_row(row)?;
    let letter_names: Vec<String> = letter.recipients.iter().map(|r| r.name.clone()).collect();
    Ok(BundleContext {
        format: CONTEXT_FORMAT.into(),
        letter_id: letter.id(),
        letter,
        issuers: crate::issuer_log::bundle_statements(s).await?,
        log_public_key: Some(s.ledger.vkey(id)?),
        responses: s
            .store
            .deliveries(id)
            .await?
            .into_iter()
            .filter_map(|d| {
                let name = letter_names.get(d.recipient as usize)?.clone();
                d.response_text
                    .map(|text| undersigned_core::bundle::ResponseText {
                        recipient: name,
                        text,
                    })
            })
            .collect(),
    })
}

/// The size of the letter's published checkpoint, 0 before there is one.
pub async fn published_size(s: &Platform, id: &str) -> Result<u64> {
    Ok(crate::cosigning::published(s, id)
        .await?
        .map_or(0, |c| c.size))
}
