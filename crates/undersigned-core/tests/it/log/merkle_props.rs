//! Property tests: the cached MerkleLog agrees with a literal transcription of the
//! RFC 6962 recursive definitions, every proof it makes verifies, and any single
//! corrupted byte makes verification fail.

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use undersigned_core::log::*;

fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1 MTH, verbatim.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => Sha256::digest(b"").into(),
        1 => d[0],
        n => {
            let k = k_of(n);
            node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// RFC 6962 §2.1.1 PATH, verbatim.
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 6962 §2.1.2 SUBPROOF, verbatim.
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn build(n: usize, salt: u64) -> (MerkleLog, Vec<Hash>) {
    let mut log = MerkleLog::new();
    let mut leaves = Vec::with_capacity(n);
    for i in 0..n {
        let data = format!("leaf {salt} {i}");
        leaves.push(leaf_hash(data.as_bytes()));
        log.append(data.as_bytes());
    }
    (log, leaves)
}

/// A handful of interesting sizes plus the edges, so each case stays cheap.
fn sample_sizes(n: usize, extra: &[usize]) -> Vec<usize> {
    let mut s: Vec<usize> = [1, 2, 3, n / 3, n / 2, n.saturating_sub(1), n]
        .into_iter()
        .chain(extra.iter().map(|e| 1 + e % n))
        .filter(|s| (1..=n).contains(s))
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn roots_and_proofs_match_rfc_definitions(n in 1usize..300, salt: u64, extra in prop::collection::vec(any::<usize>(), 3)) {
        let (log, leaves) = build(n, salt);
        prop_assert_eq!(log.size(), n as u64);
        prop_assert_eq!(&MerkleLog::from_leaf_hashes(leaves.clone()), &log);
        for s in 0..=n {
            prop_assert_eq!(log.root_at(s as u64).unwrap(), mth(&leaves[..s]));
        }
        prop_assert_eq!(MerkleLog::from_leaf_hashes(leaves.clone()).root(), log.root());
        for s in sample_sizes(n, &extra) {
            let root = log.root_at(s as u64).unwrap();
            for i in 0..s {
                let p = log.prove_inclusion(i as u64, s as u64).unwrap();
                // The literal RFC recursion is O(n) per proof; spot-check it.
                if i % 17 == 0 || i + 1 == s {
                    prop_assert_eq!(&p.hashes, &path(i, &leaves[..s]));
                }
                prop_assert!(verify_inclusion(&leaves[i], i as u64, s as u64, &p, &root).is_ok());
            }
        }
    }

}

proptest! {
    // All pairs is ~n²/2 proofs per case, so fewer cases.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_consistency_proof_verifies(n in 1usize..300, salt: u64) {
        let (log, leaves) = build(n, salt);
        let roots: Vec<Hash> = (0..=n).map(|s| log.root_at(s as u64).unwrap()).collect();
        for old in 0..=n {
            for new in old..=n {
                let p = log.prove_consistency(old as u64, new as u64).unwrap();
                if old > 0 && old < new && (old % 13 == 0 || new == n) {
                    prop_assert_eq!(&p.hashes, &subproof(old, &leaves[..new], true));
                }
                prop_assert!(
                    verify_consistency(old as u64, new as u64, &roots[old], &roots[new], &p).is_ok(),
                    "{} -> {}", old, new
                );
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_flipped_byte_breaks_inclusion(n in 2usize..300, salt: u64, pick: (usize, usize), which: usize, byte: usize, mask in 1u8..=255) {
        let (log, leaves) = build(n, salt);
        let s = 2 + pick.0 % (n - 1);
        let i = pick.1 % s;
        let mut root = log.root_at(s as u64).unwrap();
        let mut p = log.prove_inclusion(i as u64, s as u64).unwrap();
        let mut leaf = leaves[i];
        // Slot 0 corrupts the root, 1 the leaf, the rest a proof hash.
        match which % (p.hashes.len() + 2) {
            0 => root[byte % 32] ^= mask,
            1 => leaf[byte % 32] ^= mask,
            k => p.hashes[k - 2][byte % 32] ^= mask,
        }
        prop_assert!(verify_inclusion(&leaf, i as u64, s as u64, &p, &root).is_err());
    }

    #[test]
    fn any_flipped_byte_breaks_consistency(n in 2usize..300, salt: u64, pick: (usize, usize), which: usize, byte: usize, mask in 1u8..=255) {
        let (log, _) = build(n, salt);
        let new = 2 + pick.0 % (n - 1);
        let old = 1 + pick.1 % (new - 1);
        let mut r1 = log.root_at(old as u64).unwrap();
        let mut r2 = log.root_at(new as u64).unwrap();
        let mut p = log.prove_consistency(old as u64, new as u64).unwrap();
        prop_assert!(!p.hashes.is_empty());
        match which % (p.hashes.len() + 2) {
            0 => r1[byte % 32] ^= mask,
            1 => r2[byte % 32] ^= mask,
            k => p.hashes[k - 2][byte % 32] ^= mask,
        }
        prop_assert!(verify_consistency(old as u64, new as u64, &r1, &r2, &p).is_err());
    }

    #[test]
    fn proofs_survive_json(n in 1usize..300, salt: u64, pick: (usize, usize)) {
        let (log, leaves) = build(n, salt);
        let s = 1 + pick.0 % n;
        let i = pick.1 % s;
        let p = log.prove_inclusion(i as u64, s as u64).unwrap();
        let back: InclusionProof = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        prop_assert!(verify_inclusion(&leaves[i], i as u64, s as u64, &back, &log.root_at(s as u64).unwrap()).is_ok());
        let c = log.prove_consistency(i as u64, s as u64).unwrap();
        let back: ConsistencyProof = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        prop_assert_eq!(back, c);
    }
}

#[test]
fn fail_inclusion_proof_at_other_index() {
    // A proof for leaf i must not verify any other index of the same tree. (Size
    // alone is not bound by the proof, e.g. index 0 walks identically at sizes 3
    // and 4; the signed checkpoint binds size and root together.)
    let (log, leaves) = build(40, 7);
    for s in 1..=40u64 {
        let root = log.root_at(s).unwrap();
        for i in 0..s {
            let p = log.prove_inclusion(i, s).unwrap();
            for i2 in (0..s).filter(|&i2| i2 != i) {
                assert!(verify_inclusion(&leaves[i as usize], i2, s, &p, &root).is_err());
                assert!(verify_inclusion(&leaves[i2 as usize], i2, s, &p, &root).is_err());
            }
        }
    }
}
