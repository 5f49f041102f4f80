//! RFC 6962 / RFC 9162 Merkle log over opaque leaf byte strings: tree heads,
//! inclusion and consistency proofs for any historical size, and client-side
//! verification that needs nothing but the proof.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::encoding::{b64_hash_list, MAX_PROOF_HASHES};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Errors from building proofs or from verifying them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {requested} exceeds the log's size {current}")]
    SizeOutOfRange { requested: u64, current: u64 },
    #[error("old size {old} is larger than new size {new}")]
    SizesReversed { old: u64, new: u64 },
    #[error("the log cannot hold more leaves on this platform")]
    Full,
    #[error("proof has the wrong number of hashes for these tree sizes")]
    ProofLength,
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

/// Hashes a leaf's bytes with the RFC 6962 leaf prefix, so a leaf can never be
/// confused with an interior node.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly below `n`; callers guarantee `n >= 2`.
fn split_point(n: u64) -> u64 {
    1u64 << (n - 1).ilog2()
}

/// Audit path for one leaf, ordered from the leaf's sibling up to the root's child
/// (the order RFC 9162 §2.1.3.2 consumes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    #[serde(with = "b64_hash_list")]
    pub hashes: Vec<Hash>,
}

/// Consistency proof between two tree sizes, in RFC 6962 SUBPROOF order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    #[serde(with = "b64_hash_list")]
    pub hashes: Vec<Hash>,
}

/// An append-only RFC 6962 Merkle tree held in memory.
///
/// Besides the leaf hashes it keeps every complete, aligned subtree hash
/// (`levels[h][i]` covers leaves `i*2^h .. (i+1)*2^h`). Every subtree the RFC's
/// recursive definitions ask for at any size is then at most one ragged right
/// edge away from stored hashes, so roots cost O(log n) and proofs O(log² n)
/// worst case, while appends touch O(1) amortized nodes and memory stays < 2n hashes.
#[derive(Debug, Clone, Default)]
pub struct MerkleLog {
    levels: Vec<Vec<Hash>>,
}

// The cached levels are derived data; two logs are the same log when their leaves are.
impl PartialEq for MerkleLog {
    fn eq(&self, other: &Self) -> bool {
        self.leaf_hashes() == other.leaf_hashes()
    }
}

impl Eq for MerkleLog {}

impl MerkleLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the cached subtrees from stored leaf hashes (e.g. after a restart).
    pub fn from_leaf_hashes(leaf_hashes: Vec<Hash>) -> Self {
        let mut levels = vec![leaf_hashes];
        loop {
            let next: Vec<Hash> = match levels.last() {
                Some(level) if level.len() >= 2 => level
                    .chunks_exact(2)
                    .filter_map(|pair| match pair {
                        [l, r] => Some(node_hash(l, r)),
                        _ => None,
                    })
                    .collect(),
                _ => break,
            };
            levels.push(next);
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels
            .first()
            .map_or(0, |leaves| u64::try_from(leaves.len()).unwrap_or(u64::MAX))
    }

    /// All leaf hashes in order, for persisting the log.
    pub fn leaf_hashes(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The hash of the complete, aligned subtree of `2^height` leaves starting at leaf
    /// `index * 2^height`, if the log holds all of them (what tlog-tiles serve).
    pub(crate) fn aligned_hash(&self, height: u32, index: u64) -> Option<Hash> {
        let level = self.levels.get(usize::try_from(height).ok()?)?;
        level.get(usize::try_from(index).ok()?).copied()
    }

    /// Appends a leaf and returns its index.
    pub fn append(&mut self, leaf_data: &[u8]) -> u64 {
        self.append_hash(leaf_hash(leaf_data))
    }

    /// Appends an already computed leaf hash and returns its index.
    pub fn append_hash(&mut self, hash: Hash) -> u64 {
        let index = self.size();
        let mut carry = hash;
        let mut height = 0usize;
        loop {
            if self.levels.len() <= height {
                self.levels.push(Vec::new());
            }
            let Some(level) = self.levels.get_mut(height) else {
                break;
            };
            level.push(carry);
            // A level of even length just completed a pair, whose parent is new.
            let n = level.len();
            if n % 2 != 0 {
                break;
            }
            match (level.get(n - 2), level.get(n - 1)) {
                (Some(l), Some(r)) => carry = node_hash(l, r),
                _ => break,
            }
            height += 1;
        }
        index
    }

    /// Root at the current size.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or(EMPTY_ROOT)
    }

    /// Root as it was when the log had `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(EMPTY_ROOT);
        }
        self.subtree(0, size)
    }

    /// RFC 6962 `PATH(index, D[0:size])`.
    pub fn prove_inclusion(&self, index: u64, size: u64) -> Result<InclusionProof, LogError> {
        self.check_size(size)?;
        if index >= size {
            return Err(LogError::IndexOutOfRange { index, size });
        }
        // Walk root-to-leaf collecting siblings; the proof lists them leaf-to-root.
        let mut siblings = Vec::new();
        let (mut m, mut start, mut n) = (index, 0u64, size);
        while n > 1 {
            let k = split_point(n);
            if m < k {
                siblings.push(self.subtree(start + k, n - k)?);
                n = k;
            } else {
                siblings.push(self.subtree(start, k)?);
                m -= k;
                start += k;
                n -= k;
            }
        }
        siblings.reverse();
        Ok(InclusionProof { hashes: siblings })
    }

    /// RFC 6962 `PROOF(old, D[0:new])`. Empty when `old` is 0 or equals `new`,
    /// where consistency holds trivially.
    pub fn prove_consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, LogError> {
        self.check_size(new)?;
        if old > new {
            return Err(LogError::SizesReversed { old, new });
        }
        if old == 0 || old == new {
            return Ok(ConsistencyProof { hashes: Vec::new() });
        }
        // SUBPROOF unrolled: each step descends one level and records the subtree
        // hash the verifier cannot derive from the old tree alone.
        let mut path = Vec::new();
        let mut terminal = None;
        let (mut m, mut start, mut n, mut is_old_root) = (old, 0u64, new, true);
        loop {
            if m == n {
                if !is_old_root {
                    terminal = Some(self.subtree(start, n)?);
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                path.push(self.subtree(start + k, n - k)?);
                n = k;
            } else {
                path.push(self.subtree(start, k)?);
                m -= k;
                start += k;
                n -= k;
                is_old_root = false;
            }
        }
        let hashes = terminal.into_iter().chain(path.into_iter().rev()).collect();
        Ok(ConsistencyProof { hashes })
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        let current = self.size();
        if size > current {
            return Err(LogError::SizeOutOfRange {
                requested: size,
                current,
            });
        }
        Ok(())
    }

    /// `MTH(D[start:start+len])` for `len >= 1` inside the log.
    fn subtree(&self, start: u64, len: u64) -> Result<Hash, LogError> {
        if len.is_power_of_two() && start.is_multiple_of(len) {
            return self.stored(len.trailing_zeros(), start / len);
        }
        if len < 2 {
            return Err(LogError::SizeOutOfRange {
                requested: start.saturating_add(len),
                current: self.size(),
            });
        }
        // Callers only ask for ranges whose start is aligned to a power of two
        // above `len`, so the left half is always a stored subtree and this
        // recursion only follows the right edge: depth <= 64.
        let k = split_point(len);
        let left = self.subtree(start, k)?;
        let right = self.subtree(start + k, len - k)?;
        Ok(node_hash(&left, &right))
    }

    fn stored(&self, height: u32, index: u64) -> Result<Hash, LogError> {
        let missing = || LogError::SizeOutOfRange {
            requested: index
                .saturating_add(1)
                .saturating_mul(1u64 << height.min(63)),
            current: self.size(),
        };
        let h = usize::try_from(height).map_err(|_| missing())?;
        let i = usize::try_from(index).map_err(|_| missing())?;
        self.levels
            .get(h)
            .and_then(|level| level.get(i))
            .copied()
            .ok_or_else(missing)
    }
}

/// RFC 9162 §2.1.3.2: checks that `leaf_hash` sits at `index` in the tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &InclusionProof,
    root: &Hash,
) -> Result<(), LogError> {
    if index >= size {
        return Err(LogError::IndexOutOfRange { index, size });
    }
    if proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(LogError::ProofLength);
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in &proof.hashes {
        if sn == 0 {
            return Err(LogError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Skip levels where this node has no right sibling.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(LogError::ProofLength);
    }
    if &r != root {
        return Err(LogError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: checks that the tree with `new_root` at `new_size` extends
/// the tree with `old_root` at `old_size`.
///
/// Like transparency-dev/merkle, equal sizes need equal roots and an empty proof,
/// and an empty old tree is consistent with anything given an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &ConsistencyProof,
) -> Result<(), LogError> {
    if old_size > new_size {
        return Err(LogError::SizesReversed {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.hashes.is_empty() {
            return Err(LogError::ProofLength);
        }
        if old_root != new_root {
            return Err(LogError::RootMismatch);
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.hashes.is_empty() {
            return Err(LogError::ProofLength);
        }
        return Ok(());
    }
    if proof.hashes.is_empty() || proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(LogError::ProofLength);
    }

    // A power-of-two old tree is itself a node of the new tree, so the proof
    // omits it and the verifier starts from the old root.
    let mut rest = proof.hashes.iter();
    let first = if old_size.is_power_of_two() {
        *old_root
    } else {
        match rest.next() {
            Some(h) => *h,
            None => return Err(LogError::ProofLength),
        }
    };

    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if sn == 0 {
            return Err(LogError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(LogError::ProofLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(LogError::RootMismatch);
    }
    Ok(())
}
