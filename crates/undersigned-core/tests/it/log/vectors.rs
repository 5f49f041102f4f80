//! RFC 6962 reference vectors shared by the Go and C++ Certificate Transparency
//! implementations (copied in tests/data/rfc6962_vectors.json from
//! transparency-dev/merkle proof/verify_test.go), plus the corruption probes that
//! file runs against each known-good proof.

use crate::log::{data, h32};
use undersigned_core::log::*;

struct Vectors {
    leaves: Vec<Vec<u8>>,
    roots: Vec<Hash>,
    inclusion: Vec<(u64, u64, Vec<Hash>)>,
    consistency: Vec<(u64, u64, Vec<Hash>)>,
}

fn hashes(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| h32(h.as_str().unwrap()))
        .collect()
}

fn vectors() -> Vectors {
    let d = data("rfc6962_vectors.json");
    Vectors {
        leaves: d["leaves_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
            .collect(),
        roots: hashes(&d["roots_hex"]),
        inclusion: d["inclusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["index"].as_u64().unwrap(),
                    v["size"].as_u64().unwrap(),
                    hashes(&v["path_hex"]),
                )
            })
            .collect(),
        consistency: d["consistency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["old"].as_u64().unwrap(),
                    v["new"].as_u64().unwrap(),
                    hashes(&v["proof_hex"]),
                )
            })
            .collect(),
    }
}

fn log8(v: &Vectors) -> MerkleLog {
    let mut log = MerkleLog::new();
    for (i, leaf) in v.leaves.iter().enumerate() {
        assert_eq!(log.append(leaf), i as u64);
    }
    log
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    let d = data("rfc6962_vectors.json");
    assert_eq!(EMPTY_ROOT, h32(d["empty_root_hex"].as_str().unwrap()));
    assert_eq!(MerkleLog::new().root(), EMPTY_ROOT);
    assert_eq!(MerkleLog::new().root_at(0).unwrap(), EMPTY_ROOT);
}

#[test]
fn roots_match_reference_for_sizes_1_to_8() {
    let v = vectors();
    let log = log8(&v);
    for size in 1..=8u64 {
        assert_eq!(
            log.root_at(size).unwrap(),
            v.roots[size as usize - 1],
            "size {size}"
        );
        // The incremental build must agree with a from-scratch rebuild.
        let rebuilt = MerkleLog::from_leaf_hashes(
            v.leaves[..size as usize]
                .iter()
                .map(|l| leaf_hash(l))
                .collect(),
        );
        assert_eq!(rebuilt.root(), v.roots[size as usize - 1]);
    }
    assert_eq!(log.root(), v.roots[7]);
}

#[test]
fn inclusion_proofs_match_reference() {
    let v = vectors();
    let log = log8(&v);
    for (index, size, path) in &v.inclusion {
        let proof = log.prove_inclusion(*index, *size).unwrap();
        assert_eq!(&proof.hashes, path, "index {index} size {size}");
        let leaf = leaf_hash(&v.leaves[*index as usize]);
        let root = v.roots[*size as usize - 1];
        verify_inclusion(&leaf, *index, *size, &proof, &root).unwrap();
    }
}

#[test]
fn consistency_proofs_match_reference() {
    let v = vectors();
    let log = log8(&v);
    for (old, new, expected) in &v.consistency {
        let proof = log.prove_consistency(*old, *new).unwrap();
        assert_eq!(&proof.hashes, expected, "{old} -> {new}");
        let (r1, r2) = (v.roots[*old as usize - 1], v.roots[*new as usize - 1]);
        verify_consistency(*old, *new, &r1, &r2, &proof).unwrap();
    }
}

/// The probes transparency-dev/merkle's corruptInclusionProof applies.
#[test]
fn fail_corrupted_reference_inclusion_proofs() {
    let v = vectors();
    let some_hash = h32("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, path) in v.inclusion.iter().filter(|(_, s, _)| *s > 1) {
        let (index, size) = (*index, *size);
        let leaf = leaf_hash(&v.leaves[index as usize]);
        let root = v.roots[size as usize - 1];
        let p = |h: Vec<Hash>| InclusionProof { hashes: h };
        let good = p(path.clone());
        let mut probes: Vec<(u64, u64, Hash, Hash, InclusionProof)> = vec![
            (index.wrapping_sub(1), size, leaf, root, good.clone()),
            (index + 1, size, leaf, root, good.clone()),
            (index ^ 2, size, leaf, root, good.clone()),
            (index, size * 2, leaf, root, good.clone()),
            (index, size / 2, leaf, root, good.clone()),
            (index, size, leaf_hash(b"WrongLeaf"), root, good.clone()),
            (index, size, leaf, EMPTY_ROOT, good.clone()),
            (index, size, leaf, some_hash, good.clone()),
            (
                index,
                size,
                leaf,
                root,
                p([path.clone(), vec![root]].concat()),
            ),
            (
                index,
                size,
                leaf,
                root,
                p([vec![root], path.clone()].concat()),
            ),
            (index, size, leaf, root, p(path[..path.len() - 1].to_vec())),
        ];
        if path.len() > 1 {
            let mut inserted = vec![path[0], some_hash];
            inserted.extend_from_slice(&path[1..]);
            probes.push((index, size, leaf, root, p(inserted)));
        }
        for i in 0..path.len() {
            let mut wrong = path.clone();
            wrong[i][0] ^= 8;
            probes.push((index, size, leaf, root, p(wrong)));
        }
        for (n, (i, s, l, r, pr)) in probes.iter().enumerate() {
            assert!(
                verify_inclusion(l, *i, *s, pr, r).is_err(),
                "probe {n} for ({index},{size}) verified"
            );
        }
    }
}

/// The probes transparency-dev/merkle's corruptConsistencyProof applies.
#[test]
fn fail_corrupted_reference_consistency_proofs() {
    let v = vectors();
    for (old, new, path) in v.consistency.iter().filter(|(_, _, p)| !p.is_empty()) {
        let (old, new) = (*old, *new);
        let (r1, r2) = (v.roots[old as usize - 1], v.roots[new as usize - 1]);
        let p = |h: Vec<Hash>| ConsistencyProof { hashes: h };
        let good = p(path.clone());
        let wrong_root = leaf_hash(b"WrongRoot");
        let mut probes: Vec<(u64, u64, Hash, Hash, ConsistencyProof)> = vec![
            (old - 1, new, r1, r2, good.clone()),
            (old + 1, new, r1, r2, good.clone()),
            (old ^ 2, new, r1, r2, good.clone()),
            (old, new * 2, r1, r2, good.clone()),
            (old, new / 2, r1, r2, good.clone()),
            (old, new, wrong_root, r2, good.clone()),
            (old, new, r1, wrong_root, good.clone()),
            (old, new, r2, r1, good.clone()),
            (old, new, r1, r2, p(vec![])),
            (old, new, r1, r2, p([path.clone(), vec![r1]].concat())),
            (old, new, r1, r2, p([path.clone(), vec![r2]].concat())),
            (old, new, r1, r2, p([vec![r1], path.clone()].concat())),
            (old, new, r1, r2, p([vec![r2], path.clone()].concat())),
            (old, new, r1, r2, p([vec![path[0]], path.clone()].concat())),
            (old, new, r1, r2, p(path[..path.len() - 1].to_vec())),
        ];
        for i in 0..path.len() {
            let mut wrong = path.clone();
            wrong[i][0] ^= 16;
            probes.push((old, new, r1, r2, p(wrong)));
        }
        for (n, (o, nw, a, b, pr)) in probes.iter().enumerate() {
            assert!(
                verify_consistency(*o, *nw, a, b, pr).is_err(),
                "probe {n} for ({old},{new}) verified"
            );
        }
    }
}

/// transparency-dev/merkle TestVerifyConsistency edge cases.
#[test]
fn consistency_edge_cases() {
    let (a, b) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let empty = ConsistencyProof { hashes: vec![] };
    let one = ConsistencyProof {
        hashes: vec![EMPTY_ROOT],
    };
    let cases = [
        (0, 0, a, b, &empty, false),
        (1, 1, a, b, &empty, false),
        (0, 0, a, a, &empty, true),
        (0, 1, a, b, &empty, true),
        (1, 1, b, b, &empty, true),
        (1, 0, a, b, &empty, false),
        (2, 1, a, b, &empty, false),
        (1, 2, a, b, &empty, false),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, &one, false),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, &one, false),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, &one, false),
    ];
    for (i, (o, n, r1, r2, p, ok)) in cases.iter().enumerate() {
        assert_eq!(
            verify_consistency(*o, *n, r1, r2, p).is_ok(),
            *ok,
            "case {i}"
        );
    }
}

#[test]
fn fail_inclusion_index_out_of_range() {
    let v = vectors();
    let log = log8(&v);
    assert!(matches!(
        log.prove_inclusion(8, 8),
        Err(LogError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        log.prove_inclusion(0, 9),
        Err(LogError::SizeOutOfRange { .. })
    ));
    assert!(log.root_at(9).is_err());
    assert!(log.prove_consistency(5, 4).is_err());
    assert!(log.prove_consistency(1, 9).is_err());
    let leaf = leaf_hash(&v.leaves[0]);
    let empty = InclusionProof { hashes: vec![] };
    for (i, s) in [(0u64, 0u64), (1, 0), (2, 1), (u64::MAX, u64::MAX)] {
        assert!(verify_inclusion(&leaf, i, s, &empty, &leaf).is_err());
    }
}

#[test]
fn proof_json_uses_standard_base64() {
    let v = vectors();
    let log = log8(&v);
    let proof = log.prove_inclusion(0, 8).unwrap();
    let json = serde_json::to_string(&proof).unwrap();
    assert_eq!(
        json,
        r#"{"hashes":["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=","Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=","a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="]}"#
    );
    assert_eq!(
        serde_json::from_str::<InclusionProof>(&json).unwrap(),
        proof
    );
    let c = log.prove_consistency(6, 8).unwrap();
    let cj = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<ConsistencyProof>(&cj).unwrap(), c);
}

#[test]
fn fail_proof_json_rejects_bad_hashes() {
    for bad in [
        r#"{"hashes":["AAAA"]}"#,
        r#"{"hashes":["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh-QQt4YwoJz8c="]}"#,
        r#"{"hashes":["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c"]}"#,
        r#"{"hashes":["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8d="]}"#,
        r#"{"hashes":[1]}"#,
        r#"{"hashes":[],"extra":1}"#,
        r#"{}"#,
    ] {
        assert!(
            serde_json::from_str::<InclusionProof>(bad).is_err(),
            "{bad}"
        );
    }
    let many = format!(
        r#"{{"hashes":[{}]}}"#,
        vec![r#""lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=""#; 66].join(",")
    );
    assert!(serde_json::from_str::<ConsistencyProof>(&many).is_err());
}
