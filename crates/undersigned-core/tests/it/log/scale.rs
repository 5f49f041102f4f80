//! 100k-leaf smoke test: appends, roots and proofs at scale stay fast. Prints
//! timings (run with --nocapture) but asserts only correctness.

use std::time::Instant;
use undersigned_core::log::*;

#[test]
fn hundred_thousand_leaves() {
    const N: u64 = 100_000;
    let t = Instant::now();
    let mut log = MerkleLog::new();
    for i in 0..N {
        log.append(&i.to_be_bytes());
    }
    let append = t.elapsed();

    let t = Instant::now();
    let root = log.root();
    let mid_root = log.root_at(N / 2 + 7).unwrap();
    let roots = t.elapsed();

    let t = Instant::now();
    let mut proofs = 0u32;
    for k in 0..1000u64 {
        let size = N - k * 37;
        let index = (k * 7919) % size;
        let p = log.prove_inclusion(index, size).unwrap();
        let r = log.root_at(size).unwrap();
        verify_inclusion(&leaf_hash(&index.to_be_bytes()), index, size, &p, &r).unwrap();
        let old = 1 + (k * 104_729) % (size - 1);
        let c = log.prove_consistency(old, size).unwrap();
        verify_consistency(old, size, &log.root_at(old).unwrap(), &r, &c).unwrap();
        proofs += 2;
    }
    let proof_time = t.elapsed();

    let t = Instant::now();
    let rebuilt = MerkleLog::from_leaf_hashes(log.leaf_hashes().to_vec());
    assert_eq!(rebuilt.root(), root);
    let rebuild = t.elapsed();

    assert_ne!(root, mid_root);
    eprintln!(
        "100k appends: {append:?}; 2 roots: {roots:?}; {proofs} proofs generated+verified: {proof_time:?}; rebuild from leaf hashes: {rebuild:?}"
    );
}
