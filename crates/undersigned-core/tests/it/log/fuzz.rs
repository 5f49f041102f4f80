//! No-panic properties: arbitrary and mutated input to every decoder must return
//! an error or a value, never panic; mutated signed checkpoints either fail or
//! open to exactly the checkpoint that was signed.

use crate::log::{signer, ORIGIN};
use proptest::prelude::*;
use undersigned_core::log::*;

fn signed() -> (String, LogVerifier, Checkpoint) {
    let s = signer(11);
    let cp = Checkpoint::new(ORIGIN, 42, leaf_hash(b"root"));
    (cp.sign(&s).unwrap(), s.verifier(), cp)
}

/// Characters that matter to the parsers, mixed with arbitrary ones.
fn note_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\n'),
        Just('\u{2014}'),
        Just(' '),
        Just('+'),
        Just('='),
        Just('0'),
        Just('A'),
        any::<char>(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, char),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), note_char()).prop_map(|(a, c)| Edit::Insert(a, c)),
        (any::<usize>(), note_char()).prop_map(|(a, c)| Edit::Replace(a, c)),
        (any::<usize>(), 1usize..120).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

fn apply(s: &str, e: &Edit) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let mut out = chars.clone();
    match *e {
        Edit::Delete(a, k) => {
            let a = a % n;
            out.drain(a..(a + k).min(n));
        }
        Edit::Insert(a, c) => out.insert(a % (n + 1), c),
        Edit::Replace(a, c) => out[a % n] = c,
        Edit::Duplicate(a, k) => {
            let a = a % n;
            let seg: Vec<char> = chars[a..(a + k).min(n)].to_vec();
            out.splice(a..a, seg);
        }
    }
    out.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn open_never_panics_on_arbitrary_strings(s in prop::collection::vec(note_char(), 0..400)) {
        let (_, v, _) = signed();
        let s: String = s.into_iter().collect();
        let _ = Checkpoint::open(&s, &v, Some(ORIGIN));
        let _ = Checkpoint::parse_body(&s);
        let _ = v.open_note(&s);
        let _ = LogVerifier::from_vkey(&s);
    }

    #[test]
    fn open_never_panics_on_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..400)) {
        let (_, v, _) = signed();
        let _ = Checkpoint::open_bytes(&b, &v, None);
        let _ = v.open_note_bytes(&b);
    }

    #[test]
    fn mutated_checkpoints_fail_or_open_unchanged(edits in prop::collection::vec(edit(), 1..4)) {
        let (note, v, cp) = signed();
        let mut m = note.clone();
        for e in &edits {
            if !m.is_empty() {
                m = apply(&m, e);
            }
        }
        if let Ok(opened) = Checkpoint::open(&m, &v, None) {
            prop_assert_eq!(opened, cp);
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_json_text(s in ".{0,300}") {
        let _ = serde_json::from_str::<InclusionProof>(&s);
        let _ = serde_json::from_str::<ConsistencyProof>(&s);
        let _ = Receipt::from_json(&s);
    }

    #[test]
    fn mutated_receipt_json_never_panics_or_verifies_altered(edits in prop::collection::vec(edit(), 1..4)) {
        let s = signer(12);
        let sched = PublishSchedule::new(60, 0).unwrap();
        let r = issue_receipt(&s, [1; 32], b"e", 1000, &sched).unwrap();
        let mut j = r.to_json();
        for e in &edits {
            if !j.is_empty() {
                j = apply(&j, e);
            }
        }
        if let Ok(parsed) = Receipt::from_json(&j) {
            if verify_receipt(&parsed, &s.verifier()).is_ok() {
                prop_assert_eq!(parsed, r);
            }
        }
    }

    #[test]
    fn proof_json_mutations_never_panic(edits in prop::collection::vec(edit(), 1..4), idx in 0u64..50) {
        let mut log = MerkleLog::new();
        for i in 0..50u8 {
            log.append(&[i]);
        }
        let p = log.prove_inclusion(idx, 50).unwrap();
        let mut j = serde_json::to_string(&p).unwrap();
        for e in &edits {
            if !j.is_empty() {
                j = apply(&j, e);
            }
        }
        if let Ok(q) = serde_json::from_str::<InclusionProof>(&j) {
            let ok = verify_inclusion(&leaf_hash(&[idx as u8]), idx, 50, &q, &log.root()).is_ok();
            prop_assert_eq!(ok, q == p);
        }
        if let Ok(c) = serde_json::from_str::<ConsistencyProof>(&j) {
            let _ = verify_consistency(10, 50, &log.root_at(10).unwrap(), &log.root(), &c);
        }
    }

    #[test]
    fn verifiers_never_panic_on_arbitrary_parameters(
        index: u64, size: u64, old: u64, new: u64,
        hashes in prop::collection::vec(any::<[u8; 32]>(), 0..70),
        a: [u8; 32], b: [u8; 32],
    ) {
        let _ = verify_inclusion(&a, index, size, &InclusionProof { hashes: hashes.clone() }, &b);
        let _ = verify_consistency(old, new, &a, &b, &ConsistencyProof { hashes });
    }

    #[test]
    fn prover_never_panics_on_arbitrary_parameters(n in 0usize..64, index: u64, size: u64, small in 0u64..70, small2 in 0u64..70) {
        let mut log = MerkleLog::new();
        for i in 0..n {
            log.append(&i.to_le_bytes());
        }
        let _ = log.prove_inclusion(index, size);
        let _ = log.prove_consistency(index, size);
        let _ = log.root_at(size);
        let _ = log.prove_inclusion(small, small2);
        let _ = log.prove_consistency(small, small2);
        let _ = log.root_at(small);
    }
}
