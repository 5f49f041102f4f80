//! Our blst verifier against the reference (zkryptium plus the drafts' validity checks): the same
//! verdict on valid entries and on every kind of mutation, and batches that name bad entries.
//!
//! `cargo test` runs a reduced suite. The full differential run (10,000 valid and 10,000 mutated
//! entries) is `UNDERSIGNED_DIFF_FULL=1 cargo test --release -p undersigned-core --test it
//! fast::differential -- --nocapture`.

use std::sync::Arc;

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use undersigned_core::batch::{verify_entries, EntryVerifier, VerifierKeys};
use undersigned_core::bbs::fast::LetterContext;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{
    verify, verify_reference, Action, DisclosureChoice, IssuerDirectory, SignatureEntry,
    SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, LetterId, OrgId, Role};
use undersigned_core::letter::{AllowedDisclosures, Letter};
use undersigned_core::VerifyError;

use crate::fixture::{all_disclosures, rng, World};

/// BLS12-381's group order r, big-endian.
const R: &str = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";
const POINTS: usize = 3 * 48;

struct Corpus {
    seed: u64,
    world: World,
    directory: IssuerDirectory,
    letters: Vec<Letter>,
    /// (index into letters, entry)
    entries: Vec<(usize, SignatureEntry)>,
    /// Issuer keys kept across the whole run, as a server keeps them.
    kept: Arc<VerifierKeys>,
    /// Each letter's kept context (with OP's table), as a server keeps it.
    contexts: Vec<(LetterId, LetterContext)>,
}

fn credentials(w: &mut World) -> Vec<Credential> {
    let mut out = Vec::new();
    for (i, org) in ["state.gov", "usaid.gov"].iter().enumerate() {
        // Every role cell at least k = 3, so the role may be disclosed.
        for j in 0..3 {
            out.push(w.credential(&format!("p{i}{j}@{org}"), "analyst", AgeBand::Unspecified));
        }
    }
    out
}

/// `n` valid entries over a few credentials, letters, actions, disclosures and comments.
fn corpus(seed: u64, n: usize) -> Corpus {
    let mut world = World::new(seed);
    let creds = credentials(&mut world);
    let sets = world.sets();
    let letters: Vec<Letter> = (0..4)
        .map(|i| {
            let d = if i % 2 == 0 {
                all_disclosures()
            } else {
                AllowedDisclosures::default()
            };
            world.letter(&format!("Letter {seed}/{i}"), d)
        })
        .collect();
    let mut entries = Vec::with_capacity(n);
    let mut choice_rng = rng(seed ^ 0x5eed);
    for k in 0..n {
        let li = k % letters.len();
        let letter = &letters[li];
        let cred = &creds[(k / letters.len()) % creds.len()];
        let bits = choice_rng.next_u32();
        let choice = if letter.policy.disclosures.role {
            DisclosureChoice {
                role: bits & 1 != 0,
                age_band: false,
                email: false,
            }
        } else {
            DisclosureChoice::default()
        };
        let action = if bits & 2 != 0 {
            Action::Sign
        } else {
            Action::Withdraw
        };
        let comment = format!("comment {k}");
        let comment = (bits & 4 != 0).then_some(comment.as_str());
        let e = undersigned_core::entry::present(
            cred,
            letter,
            action,
            choice,
            comment,
            &sets,
            SmallOrgConsent::Given,
        )
        .unwrap();
        entries.push((li, e));
    }
    let directory = world.directory();
    let kept = EntryVerifier::new(&directory).keys();
    let contexts = letters
        .iter()
        .map(|l| (l.id(), LetterContext::kept(&l.id().0).unwrap()))
        .collect();
    Corpus {
        seed,
        world,
        directory,
        letters,
        entries,
        kept,
        contexts,
    }
}

/// Both verifiers' verdicts on one entry under one letter, ours both fresh and with the kept
/// keys; panics on a disagreement.
fn same_verdict(c: &Corpus, letter: &Letter, e: &SignatureEntry, what: &str) -> bool {
    let id = letter.id();
    let fast = verify(e, &id, &letter.policy, &c.directory);
    let kept =
        EntryVerifier::with_keys(&c.directory, Arc::clone(&c.kept)).verify(e, &id, &letter.policy);
    let reference = verify_reference(e, &id, &letter.policy, &c.directory);
    assert_eq!(fast, reference, "verdicts differ: {what}");
    assert_eq!(kept, reference, "verdicts differ with kept keys: {what}");
    // The kept context (OP's table) as a server uses it, in a batch of one.
    let context = match c.contexts.iter().find(|(i, _)| *i == id) {
        Some((_, context)) => context.clone(),
        None => LetterContext::kept(&id.0).unwrap(),
    };
    let in_context = EntryVerifier::with_keys(&c.directory, Arc::clone(&c.kept))
        .verify_batch_in(&context, &[e], &id, &letter.policy, &mut rng(9))
        .pop()
        .unwrap();
    assert_eq!(
        in_context, reference,
        "verdicts differ with a kept context: {what}"
    );
    fast.is_ok()
}

/// The mutations of one entry: every byte position of `positions`, identity points, scalars 0
/// and r, non-canonical encodings, swapped disclosures.
fn mutations(
    e: &SignatureEntry,
    positions: &[usize],
    rng: &mut ChaCha20Rng,
) -> Vec<(String, SignatureEntry)> {
    let mut out = Vec::new();
    let plen = e.parts[0].proof.len();
    for &pos in positions {
        let mut m = e.clone();
        let delta = (rng.next_u32() % 255 + 1) as u8;
        if pos < plen {
            m.parts[0].proof[pos] ^= delta;
        } else {
            m.parts[0].pseudonym[pos - plen] ^= delta;
        }
        out.push((format!("byte {pos} ^ {delta:#04x}"), m));
    }
    let identity = {
        let mut b = [0u8; 48];
        b[0] = 0xc0;
        b
    };
    for point in 0..3 {
        let mut m = e.clone();
        m.parts[0].proof[point * 48..(point + 1) * 48].copy_from_slice(&identity);
        out.push((format!("point {point} = identity"), m));
    }
    let mut m = e.clone();
    m.parts[0].proof[..48].copy_from_slice(&identity);
    m.parts[0].proof[48..96].copy_from_slice(&identity);
    out.push(("Abar = Bbar = identity".into(), m));
    let mut m = e.clone();
    m.parts[0].pseudonym.copy_from_slice(&identity);
    out.push(("pseudonym = identity".into(), m));
    let r = hex::decode(R).unwrap();
    let scalars = (plen - POINTS) / 32;
    for s in 0..scalars {
        let at = POINTS + s * 32;
        let mut m = e.clone();
        m.parts[0].proof[at..at + 32].fill(0);
        out.push((format!("scalar {s} = 0"), m));
        let mut m = e.clone();
        m.parts[0].proof[at..at + 32].copy_from_slice(&r);
        out.push((format!("scalar {s} = r"), m));
    }
    // Without the compression flag, and with x + p (non-canonical) is not expressible in 381
    // bits, so the flag bits are what a non-canonical encoding can change.
    for flag in [0x80u8, 0x40, 0x20] {
        let mut m = e.clone();
        m.parts[0].proof[0] ^= flag;
        out.push((format!("Abar flag {flag:#04x}"), m));
    }
    let mut m = e.clone();
    m.disclosed.org = OrgId::parse(if m.disclosed.org.as_str() == "state.gov" {
        "usaid.gov"
    } else {
        "state.gov"
    })
    .unwrap();
    out.push(("other org".into(), m));
    let mut m = e.clone();
    if let Some(role) = &m.disclosed.role {
        m.disclosed.role = Some(
            Role::parse(if role.as_str() == "analyst" {
                "officer"
            } else {
                "analyst"
            })
            .unwrap(),
        );
        out.push(("other role".into(), m));
    }
    let mut m = e.clone();
    m.action = match m.action {
        Action::Sign => Action::Withdraw,
        Action::Withdraw => Action::Sign,
    };
    out.push(("other action".into(), m));
    let mut m = e.clone();
    m.comment = Some(format!("{}!", m.comment.clone().unwrap_or_default()));
    out.push(("other comment".into(), m));
    out
}

struct Counts {
    valid: usize,
    mutated: usize,
    accepted_mutations: usize,
}

fn run_differential(
    seed: u64,
    valid: usize,
    full_positions_for: usize,
    random_positions: usize,
    all_structural_for: usize,
) -> Counts {
    let c = corpus(seed, valid);
    let mut rng = rng(seed ^ 0xd1ff);
    let mut counts = Counts {
        valid: 0,
        mutated: 0,
        accepted_mutations: 0,
    };
    for (k, (li, e)) in c.entries.iter().enumerate() {
        let letter = &c.letters[*li];
        assert!(same_verdict(&c, letter, e, &format!("valid entry {k}")));
        counts.valid += 1;
        // Another letter: a proof is bound to its context id.
        let other = &c.letters[(li + 1) % c.letters.len()];
        let mut moved = e.clone();
        moved.letter_id = other.id();
        assert!(!same_verdict(
            &c,
            other,
            &moved,
            &format!("entry {k} on another letter")
        ));
        counts.mutated += 1;
        let len = e.parts[0].proof.len() + e.parts[0].pseudonym.len();
        let positions: Vec<usize> = if k < full_positions_for {
            (0..len).collect()
        } else {
            (0..random_positions)
                .map(|_| rng.next_u32() as usize % len)
                .collect()
        };
        let all = mutations(e, &positions, &mut rng);
        let structural = all.len() - positions.len();
        // Past the first entries, one structural mutation per entry, in rotation.
        let keep = |i: usize| {
            i < positions.len()
                || k < all_structural_for
                || (i - positions.len()) == k % structural.max(1)
        };
        for (_, (what, m)) in all.into_iter().enumerate().filter(|(i, _)| keep(*i)) {
            if same_verdict(&c, letter, &m, &format!("entry {k}: {what}")) {
                counts.accepted_mutations += 1;
            }
            counts.mutated += 1;
        }
    }
    let _ = &c.world;
    counts
}

#[test]
fn differential() {
    let full = std::env::var("UNDERSIGNED_DIFF_FULL").is_ok();
    // CI: 24 valid entries; all 480 byte positions of one, 12 random positions of the others.
    let counts = if full {
        run_differential(1, 10_000, 2, 1, 20)
    } else {
        run_differential(1, 24, 1, 12, 24)
    };
    eprintln!(
        "differential: {} valid entries, {} mutated entries, 0 disagreements, {} mutations accepted by both",
        counts.valid, counts.mutated, counts.accepted_mutations
    );
    assert_eq!(counts.accepted_mutations, 0);
    if full {
        assert!(counts.valid >= 10_000 && counts.mutated >= 10_000);
    } else {
        assert!(counts.mutated >= counts.valid * 10);
    }
}

/// An entry from a credential whose signature was altered (e changed): its proof is made
/// honestly, so every check holds except the pairing equation. Only the pairing check, batched
/// or not, can refuse it.
fn pairing_forgery(c: &Corpus, letter: &Letter) -> SignatureEntry {
    // The same seed gives the same issuer keys: a credential of the corpus's issuer.
    let mut w2 = World::new(c.seed);
    let cred = w2.credential("forger@state.gov", "analyst", AgeBand::Unspecified);
    let mut json: serde_json::Value = serde_json::to_value(&cred).unwrap();
    let sig = json["secrets"]["signature"].as_str().unwrap().to_string();
    let mut bytes = hex::decode(&sig).unwrap();
    let last = bytes.len() - 1;
    bytes[last] = bytes[last].wrapping_add(1);
    json["secrets"]["signature"] = serde_json::Value::String(hex::encode(bytes));
    let forged: Credential = serde_json::from_value(json).unwrap();
    undersigned_core::entry::present(
        &forged,
        letter,
        Action::Sign,
        DisclosureChoice::default(),
        None,
        &c.world.sets(),
        SmallOrgConsent::Given,
    )
    .unwrap()
}

/// A set of disclosed messages that keeps coming gets its base's table (after 256 proofs that
/// passed their challenge), and the verdicts through it stay the reference's: valid entries,
/// mutations of each, and the pairing forgery (which passes its challenge).
#[test]
fn kept_disclosed_bases_keep_the_verdicts() {
    let c = corpus(11, 8);
    let keys = EntryVerifier::new(&c.directory).keys();
    assert_eq!(keys.kept_bases(), 0);
    let verifier = EntryVerifier::with_keys(&c.directory, Arc::clone(&keys));
    let (li, first) = &c.entries[0];
    let l = &c.letters[*li];
    for round in 1..=256 {
        assert!(verifier.verify(first, &l.id(), &l.policy).is_ok());
        // Built on the 256th sighting, not before.
        assert_eq!(
            keys.kept_bases(),
            usize::from(round == 256),
            "round {round}"
        );
    }
    let mut r = rng(0xba5e);
    let positions: Vec<usize> = (0..POINTS + 7 * 32).step_by(23).collect();
    let mut checked = 0;
    for (li, e) in &c.entries {
        let l = &c.letters[*li];
        let want = verify_reference(e, &l.id(), &l.policy, &c.directory);
        assert!(want.is_ok());
        assert_eq!(verifier.verify(e, &l.id(), &l.policy), want);
        for (what, m) in mutations(e, &positions, &mut r) {
            let want = verify_reference(&m, &l.id(), &l.policy, &c.directory);
            assert_eq!(verifier.verify(&m, &l.id(), &l.policy), want, "{what}");
            checked += 1;
        }
    }
    assert!(checked > 100);
    let letter = &c.letters[0];
    let forged = pairing_forgery(&c, letter);
    assert_eq!(
        verifier.verify(&forged, &letter.id(), &letter.policy),
        Err(VerifyError::BadProof)
    );
}

#[test]
fn fail_pairing_forgery_is_refused_by_both_verifiers() {
    let c = corpus(5, 4);
    let letter = &c.letters[0];
    let forged = pairing_forgery(&c, letter);
    assert!(!same_verdict(&c, letter, &forged, "pairing forgery"));
}

#[test]
fn batch_names_the_one_bad_entry_among_1000() {
    let c = corpus(5, 12);
    let letter = &c.letters[0];
    let valid: Vec<&SignatureEntry> = c
        .entries
        .iter()
        .filter(|(li, _)| *li == 0)
        .map(|(_, e)| e)
        .collect();
    let mut batch: Vec<SignatureEntry> =
        (0..1000).map(|i| valid[i % valid.len()].clone()).collect();
    let bad_at = 617;
    batch[bad_at] = pairing_forgery(&c, letter);
    let refs: Vec<&SignatureEntry> = batch.iter().collect();
    let mut r = rng(9);
    let verdicts = verify_entries(&refs, &letter.id(), &letter.policy, &c.directory, &mut r);
    assert_eq!(verdicts.len(), 1000);
    let bad: Vec<usize> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(bad, vec![bad_at]);
    assert_eq!(verdicts[bad_at], Err(VerifyError::BadProof));
    // The forgery gets past everything but the pairing: prepare accepts it.
    let v = EntryVerifier::new(&c.directory);
    let ctx = undersigned_core::bbs::fast::LetterContext::new(&letter.id().0).unwrap();
    assert!(v
        .prepare(&batch[bad_at], &letter.id(), &letter.policy, &ctx)
        .is_ok());
}

#[test]
fn fail_batch_of_several_forgeries_names_each() {
    let c = corpus(5, 8);
    let letter = &c.letters[0];
    let good = c.entries.iter().find(|(li, _)| *li == 0).unwrap().1.clone();
    let forged = pairing_forgery(&c, letter);
    let pattern = [0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0];
    let batch: Vec<SignatureEntry> = pattern
        .iter()
        .map(|&b| if b == 1 { forged.clone() } else { good.clone() })
        .collect();
    let refs: Vec<&SignatureEntry> = batch.iter().collect();
    let verdicts = verify_entries(
        &refs,
        &letter.id(),
        &letter.policy,
        &c.directory,
        &mut rng(2),
    );
    let got: Vec<u8> = verdicts.iter().map(|v| u8::from(v.is_err())).collect();
    assert_eq!(got, pattern);
}

#[test]
fn batch_of_valid_entries_accepts_all_and_matches_single_verify() {
    let c = corpus(8, 16);
    let letter = &c.letters[1];
    let entries: Vec<&SignatureEntry> = c
        .entries
        .iter()
        .filter(|(li, _)| *li == 1)
        .map(|(_, e)| e)
        .collect();
    let mut r = rng(4);
    let verdicts = verify_entries(&entries, &letter.id(), &letter.policy, &c.directory, &mut r);
    assert_eq!(verdicts.len(), entries.len());
    for (v, e) in verdicts.iter().zip(&entries) {
        assert_eq!(v, &verify(e, &letter.id(), &letter.policy, &c.directory));
        assert!(v.is_ok());
    }
}

/// Keys kept from one directory are reused only for the same issuers with the same public
/// keys: a directory that names the same issuer id with another key gets its keys rebuilt, and
/// the verdict is the one a fresh verifier gives.
#[test]
fn fail_kept_keys_of_another_directory_are_not_reused() {
    let a = corpus(31, 4);
    let b = corpus(32, 4);
    let kept = EntryVerifier::new(&a.directory).keys();
    assert!(kept.are_for(&a.directory));
    assert!(!kept.are_for(&b.directory));
    // Same issuer id as `a`, with `b`'s key.
    let mut swapped = a.directory.clone();
    let b_info = b.directory.values().next().unwrap().clone();
    for info in swapped.values_mut() {
        info.public_key = b_info.public_key.clone();
    }
    assert!(!kept.are_for(&swapped));
    let (li, entry) = &a.entries[0];
    let letter = &a.letters[*li];
    let reused = EntryVerifier::with_keys(&a.directory, kept.clone());
    assert!(reused.verify(entry, &letter.id(), &letter.policy).is_ok());
    let rebuilt = EntryVerifier::with_keys(&swapped, kept);
    let verdict = rebuilt.verify(entry, &letter.id(), &letter.policy);
    assert_eq!(verdict, Err(VerifyError::BadProof));
    assert_eq!(
        verdict,
        verify(entry, &letter.id(), &letter.policy, &swapped)
    );
}
