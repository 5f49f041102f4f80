//! The issuer statement: what an issuer publishes about itself, signed with its own BBS key.
//!
//! A statement names the issuer, carries its public key, the organizations it attests and, per
//! epoch, its published anonymity sets. It is signed with plain BBS (one message: the
//! canonical bytes) and each one is a leaf of the issuer's transparency log, so everybody sees
//! the same counts and a later statement that lowers one is caught (`check_growth`). Bundles
//! carry the latest statement with its checkpoint and an inclusion proof (`LoggedStatement`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::anonymity::{CellKey, Count, PublishedSets};
use crate::bbs::{self, PublicKey};
use crate::credential::{issuer_id, IssuerKeys};
use crate::encoding::{b64url, from_b64url};
use crate::ids::{Epoch, IssuerId, OrgId};
// Its home is `error` (a leaf every module may import); its old path stays for callers.
pub use crate::error::StatementError;
use crate::log::{
    leaf_hash, verify_inclusion, Checkpoint, InclusionProof, LogSigner, LogVerifier, MerkleLog,
};

pub(crate) const STATEMENT_FORMAT: &str = "undersigned-issuer-statement/1";
/// The BBS header of a statement signature: a statement signature can never pass for a
/// credential (whose header is `undersigned/credential/v1` + issuer id) or anything else.
pub(crate) const STATEMENT_HEADER: &[u8] = b"undersigned/issuer-statement/v1";
/// Domain tag of an issuer log leaf, like `record::LEAF_TAG` for letter logs.
pub(crate) const ISSUER_LEAF_TAG: &[u8] = b"undersigned/issuer-log/v1\n";
/// Statements larger than this are refused before parsing (many epochs, many cells fit).
pub(crate) const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// What an issuer states about itself at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerStatement {
    pub format: String,
    pub issuer_id: IssuerId,
    pub name: String,
    /// BBS public key, base64url.
    pub public_key: String,
    /// The organizations it attests: domain to display name.
    pub orgs: BTreeMap<OrgId, String>,
    /// 1 for the first statement, then one more for each; the leaf index plus one.
    pub sequence: u64,
    /// Unix seconds when it was published (a publish tick, not an issuance time).
    pub published_at: u64,
    /// Per epoch, ascending, its anonymity sets (counts below k as `<k`).
    pub epochs: Vec<PublishedSets>,
}

/// A statement with the issuer's BBS signature over its canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    pub statement: IssuerStatement,
    /// Plain BBS signature, base64url.
    pub signature: String,
}

/// A signed statement as the issuer log holds it: its leaf index, a signed checkpoint of the
/// issuer log and the inclusion proof of the leaf under that checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedStatement {
    pub signed: SignedStatement,
    pub index: u64,
    /// C2SP signed note of the issuer log, origin `<host>/issuers/<issuer id>`.
    pub checkpoint: String,
    pub inclusion: InclusionProof,
}

/// The issuer log's origin and key name: `<host>/issuers/<issuer id>`.
pub fn issuer_log_origin(host: &str, issuer: &IssuerId) -> String {
    format!("{host}/issuers/{issuer}")
}

/// What a count says at least and at most: a listed cell holds at least one credential, and
/// `<k` means at most k-1.
fn bounds(count: Count, k: u32) -> (u64, u64) {
    match count {
        Count::Exact(n) => (n, n),
        Count::BelowK => (1, u64::from(k.saturating_sub(1))),
    }
}

fn show_count(count: Count, k: u32) -> String {
    match count {
        Count::Exact(n) => n.to_string(),
        Count::BelowK => format!("<{k}"),
    }
}

fn show_cell(c: &CellKey) -> String {
    let mut s = c.org.to_string();
    if let Some(r) = &c.role {
        s.push_str(&format!(", role {r}"));
    }
    if let Some(a) = &c.age_band {
        s.push_str(&format!(", age band {a}"));
    }
    s
}

impl IssuerStatement {
    /// A statement for `keys` with its epochs and cells put in canonical order.
    pub fn new(
        keys: &IssuerKeys,
        orgs: BTreeMap<OrgId, String>,
        sequence: u64,
        published_at: u64,
        mut epochs: Vec<PublishedSets>,
    ) -> Self {
        epochs.sort_by(|a, b| a.epoch.cmp(&b.epoch));
        epochs.dedup_by(|a, b| a.epoch == b.epoch);
        for e in &mut epochs {
            e.cells.sort_by(|a, b| a.key.cmp(&b.key));
            e.cells.dedup_by(|a, b| a.key == b.key);
        }
        Self {
            format: STATEMENT_FORMAT.into(),
            issuer_id: keys.id(),
            name: keys.name.clone(),
            public_key: b64url(&keys.public_key().to_bytes()),
            orgs,
            sequence,
            published_at,
            epochs,
        }
    }

    /// The bytes the issuer signs. Refuses a statement that is not in canonical order (epochs
    /// and cells strictly ascending), so one statement has exactly one encoding.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, StatementError> {
        if self.format != STATEMENT_FORMAT {
            return Err(StatementError::Format(self.format.clone()));
        }
        let ascending = self.epochs.windows(2).all(|w| match w {
            [a, b] => a.epoch < b.epoch,
            _ => true,
        }) && self.epochs.iter().all(|e| {
            e.cells.windows(2).all(|w| match w {
                [a, b] => a.key < b.key,
                _ => true,
            })
        });
        if !ascending {
            return Err(StatementError::Malformed(
                "epochs and cells must be in ascending order without repeats".into(),
            ));
        }
        serde_json::to_vec(self).map_err(|e| StatementError::Malformed(e.to_string()))
    }

    /// Signs with the issuer's own key through plain BBS.
    pub fn sign(self, keys: &IssuerKeys) -> Result<SignedStatement, StatementError> {
        if self.issuer_id != keys.id() {
            return Err(StatementError::KeyMismatch);
        }
        let bytes = self.canonical_bytes()?;
        let sig = bbs::sign(
            keys.secret_key(),
            keys.public_key(),
            STATEMENT_HEADER,
            &[bytes],
        )
        .map_err(|_| StatementError::Signing)?;
        Ok(SignedStatement {
            statement: self,
            signature: b64url(&sig),
        })
    }

    pub fn sets_for(&self, epoch: &Epoch) -> Option<&PublishedSets> {
        self.epochs.iter().find(|s| &s.epoch == epoch)
    }

    /// The most credentials this statement allows for `org` in `epoch`: the exact count, k-1
    /// for `<k`, and 0 when the statement lists no such cell.
    pub fn issued_at_most(&self, org: &OrgId, epoch: &Epoch) -> u64 {
        self.sets_for(epoch).map_or(0, |s| s.issued_at_most(org))
    }

    /// Whether two statements say the same thing, sequence and time aside: the server appends
    /// a new statement only when this is false.
    pub fn same_content(&self, other: &IssuerStatement) -> bool {
        self.issuer_id == other.issuer_id
            && self.name == other.name
            && self.public_key == other.public_key
            && self.orgs == other.orgs
            && self.epochs == other.epochs
    }
}

impl SignedStatement {
    /// The issuer log leaf: tag + JSON of the signed statement (fields in declared order,
    /// maps sorted), re-derived from the parsed value so any edit changes the leaf hash.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut out = ISSUER_LEAF_TAG.to_vec();
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    pub fn from_leaf(leaf: &[u8]) -> Result<Self, StatementError> {
        if leaf.len() > MAX_STATEMENT_BYTES {
            return Err(StatementError::Malformed("too large".into()));
        }
        let json = leaf
            .strip_prefix(ISSUER_LEAF_TAG)
            .ok_or_else(|| StatementError::Malformed("not an issuer log leaf".into()))?;
        serde_json::from_slice(json).map_err(|e| StatementError::Malformed(e.to_string()))
    }
}

/// Checks a signed statement: format, canonical form, that its key is the one its issuer id
/// names, and its BBS signature. Returns the issuer's public key.
pub fn verify_statement(signed: &SignedStatement) -> Result<PublicKey, StatementError> {
    let s = &signed.statement;
    let bytes = s.canonical_bytes()?;
    let pk_bytes = from_b64url(&s.public_key, 96, "issuer public key")
        .map_err(|_| StatementError::KeyMismatch)?;
    let pk = PublicKey::from_slice(&pk_bytes).map_err(|_| StatementError::KeyMismatch)?;
    if issuer_id(&pk) != s.issuer_id {
        return Err(StatementError::KeyMismatch);
    }
    let sig = from_b64url(&signed.signature, 80, "statement signature")
        .map_err(|_| StatementError::BadSignature)?;
    bbs::verify_signature(&pk, STATEMENT_HEADER, &[bytes], &sig)
        .map_err(|_| StatementError::BadSignature)?;
    Ok(pk)
}

/// Checks that `later` keeps every promise of `earlier`: same issuer, a higher sequence, no
/// organization, epoch or cell dropped, and no count lowered (a `<k` may become anything of
/// at least 1; an exact n may become `<k` only if k-1 is still at least n).
pub fn check_growth(
    earlier: &IssuerStatement,
    later: &IssuerStatement,
) -> Result<(), StatementError> {
    if earlier.issuer_id != later.issuer_id {
        return Err(StatementError::OtherIssuer);
    }
    if later.sequence <= earlier.sequence {
        return Err(StatementError::Sequence {
            earlier: earlier.sequence,
            later: later.sequence,
        });
    }
    if let Some(org) = earlier.orgs.keys().find(|o| !later.orgs.contains_key(*o)) {
        return Err(StatementError::OrgRemoved(org.to_string()));
    }
    for old in &earlier.epochs {
        let new = later
            .sets_for(&old.epoch)
            .ok_or_else(|| StatementError::EpochRemoved(old.epoch.to_string()))?;
        for cell in &old.cells {
            let found = new
                .cells
                .iter()
                .find(|c| c.key == cell.key)
                .ok_or_else(|| StatementError::CellRemoved {
                    epoch: old.epoch.to_string(),
                    cell: show_cell(&cell.key),
                })?;
            let (at_least, _) = bounds(cell.count, old.k);
            let (_, at_most) = bounds(found.count, new.k);
            if at_most < at_least {
                return Err(StatementError::CountLowered {
                    epoch: old.epoch.to_string(),
                    cell: show_cell(&cell.key),
                    earlier: show_count(cell.count, old.k),
                    later: show_count(found.count, new.k),
                });
            }
        }
    }
    Ok(())
}

/// Checks a whole issuer log: every leaf a valid statement of one issuer, each growing from the
/// one before. How an auditor holds an issuer to its counts.
pub fn check_issuer_log(leaves: &[Vec<u8>]) -> Result<(), StatementError> {
    let mut previous: Option<IssuerStatement> = None;
    for leaf in leaves {
        let signed = SignedStatement::from_leaf(leaf)?;
        verify_statement(&signed)?;
        if let Some(p) = &previous {
            check_growth(p, &signed.statement)?;
        }
        previous = Some(signed.statement);
    }
    Ok(())
}

impl LoggedStatement {
    /// The statement at `index` of `tree` (the issuer log), proven under a checkpoint of the
    /// whole tree signed by `signer` (named `<host>/issuers/<issuer id>`).
    pub fn prove(
        signed: SignedStatement,
        index: u64,
        tree: &MerkleLog,
        signer: &LogSigner,
    ) -> Result<Self, StatementError> {
        let checkpoint = Checkpoint::new(signer.name(), tree.size(), tree.root())
            .sign(signer)
            .map_err(|e| StatementError::Log(e.to_string()))?;
        Self::with_checkpoint(signed, index, tree, checkpoint)
    }

    /// `signed` as the first and only statement of its issuer log at `host`, signed with the
    /// deployment's log `key`: how offline demos and tests stand in for a server's issuer log.
    pub fn first(
        signed: SignedStatement,
        host: &str,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<Self, StatementError> {
        let signer = LogSigner::new(
            &issuer_log_origin(host, &signed.statement.issuer_id),
            key.clone(),
        )
        .map_err(|e| StatementError::Log(e.to_string()))?;
        let mut tree = MerkleLog::new();
        tree.append(&signed.leaf_bytes());
        Self::prove(signed, 0, &tree, &signer)
    }

    /// Like `prove`, with a checkpoint note already signed over all of `tree`.
    pub fn with_checkpoint(
        signed: SignedStatement,
        index: u64,
        tree: &MerkleLog,
        checkpoint: String,
    ) -> Result<Self, StatementError> {
        let inclusion = tree
            .prove_inclusion(index, tree.size())
            .map_err(|e| StatementError::Log(e.to_string()))?;
        Ok(Self {
            signed,
            index,
            checkpoint,
            inclusion,
        })
    }

    /// Checks the statement's signature and key, then its inclusion in the issuer log under a
    /// checkpoint signed by `log_key` under the name `<host>/issuers/<issuer id>`. Returns the
    /// issuer's public key.
    pub fn verify(
        &self,
        host: &str,
        log_key: &ed25519_dalek::VerifyingKey,
    ) -> Result<PublicKey, StatementError> {
        let pk = verify_statement(&self.signed)?;
        if self.signed.statement.sequence != self.index.saturating_add(1) {
            return Err(StatementError::Log(format!(
                "sequence {} does not match its position {} in the issuer log",
                self.signed.statement.sequence, self.index
            )));
        }
        let origin = issuer_log_origin(host, &self.signed.statement.issuer_id);
        let verifier = LogVerifier::new(&origin, *log_key)
            .map_err(|e| StatementError::Log(format!("issuer log key: {e}")))?;
        let cp = Checkpoint::open(&self.checkpoint, &verifier, Some(&origin)).map_err(|e| {
            StatementError::Log(format!(
                "the issuer log checkpoint is not validly signed by the log key for {origin}: {e}"
            ))
        })?;
        verify_inclusion(
            &leaf_hash(&self.signed.leaf_bytes()),
            self.index,
            cp.size,
            &self.inclusion,
            &cp.root,
        )
        .map_err(|_| {
            StatementError::Log("not included in the issuer log under its signed checkpoint".into())
        })?;
        Ok(pk)
    }
}
