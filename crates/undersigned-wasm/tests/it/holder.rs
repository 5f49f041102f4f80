//! The holder's flows through the glue: obtain, guard, present, and hold the log to its word.

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use undersigned_core::credential::Credential;
use undersigned_core::entry::{verify, Action, IssuerDirectory, IssuerInfo, SignatureEntry};
use undersigned_core::ids::{AgeBand, LetterId};
use undersigned_core::letter::{AllowedDisclosures, Letter};
use undersigned_core::log::{issue_receipt, Checkpoint, LogSigner, MerkleLog, PublishSchedule};
use undersigned_core::record::LogEntry;
use undersigned_wasm::sign::Disclose;
use undersigned_wasm::{issuance, log, sign};

use crate::fixture::{self, log_signer, pending_of, populated, role_and_age, World, K};

fn directory(w: &World) -> IssuerDirectory {
    let mut d = IssuerDirectory::new();
    d.insert(
        w.issuer.keys.id(),
        IssuerInfo {
            name: w.issuer.keys.name.clone(),
            public_key: w.issuer.keys.public_key().clone(),
            sets: vec![w.sets()],
        },
    );
    d
}

fn letter_json(l: &Letter) -> String {
    serde_json::to_string(l).unwrap()
}

fn present(
    credential: &str,
    letter: &Letter,
    action: &str,
    disclose: Disclose,
    comment: Option<&str>,
    consent: bool,
) -> Result<String, String> {
    let w = &populated().world;
    sign::present(
        &fixture::one(credential),
        &letter_json(letter),
        action,
        disclose,
        comment,
        &w.sets_json(),
        consent,
    )
}

fn role_age() -> Disclose {
    Disclose {
        role: true,
        age_band: true,
        email: false,
    }
}

/// A log holding the opened letter and then `entries`, like the server's.
fn log_of(letter: &Letter, entries: &[SignatureEntry]) -> MerkleLog {
    let mut tree = MerkleLog::new();
    tree.append(
        &LogEntry::Opened {
            letter: letter.clone(),
            at: 1_700_000_000,
        }
        .leaf_bytes(),
    );
    for e in entries {
        tree.append(&LogEntry::submission(e.clone()).leaf_bytes());
    }
    tree
}

fn note(tree: &MerkleLog, size: u64, signer: &LogSigner) -> String {
    Checkpoint::new(signer.name(), size, tree.root_at(size).unwrap())
        .sign(signer)
        .unwrap()
}

fn receipt_for(signer: &LogSigner, letter: &LetterId, entry: &SignatureEntry) -> String {
    let leaf = LogEntry::submission(entry.clone()).leaf_bytes();
    let schedule = PublishSchedule::new(600, 60).unwrap();
    issue_receipt(signer, letter.0, &leaf, 1_700_000_100, &schedule)
        .unwrap()
        .to_json()
}

fn inclusion_json(tree: &MerkleLog, index: u64, size: u64) -> String {
    let proof = tree.prove_inclusion(index, size).unwrap();
    json!({"index": index, "size": size, "hashes": serde_json::to_value(&proof).unwrap()["hashes"]})
        .to_string()
}

#[test]
fn full_holder_flow_obtain_sign_receipt_inclusion_consistency() {
    let p = populated();
    let w = &p.world;
    let credential_json = &p.state[0];
    let credential: Credential = serde_json::from_str(credential_json).unwrap();
    assert_eq!(credential.attributes.org.as_str(), "state.gov");
    assert_eq!(credential.attributes.age_band, AgeBand::From30To39);
    assert_eq!(credential.issuer_id, w.issuer.keys.id());

    let check: Value = serde_json::from_str(
        &sign::check_disclosure(
            &w.sets_json(),
            &fixture::one(credential_json),
            K,
            true,
            true,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        check,
        json!({"ok": true, "reason": null, "org_below_k": false})
    );

    let letter = w.letter(role_and_age());
    let id = letter.id();
    assert_eq!(sign::letter_id(&letter_json(&letter)).unwrap(), id.to_hex());
    let entry_json = present(
        credential_json,
        &letter,
        "sign",
        role_age(),
        Some("Count me in."),
        false,
    )
    .unwrap();
    let entry: SignatureEntry = serde_json::from_str(&entry_json).unwrap();
    let verified = verify(&entry, &id, &letter.policy, &directory(w)).unwrap();
    assert_eq!(verified.action, Action::Sign);
    assert_eq!(verified.disclosed.role.unwrap().as_str(), "analyst");
    assert_eq!(entry.comment.as_deref(), Some("Count me in."));

    // The server's side: receipt at once, then publication under signed checkpoints.
    let signer = log_signer(&id);
    let vkey = signer.verifier().to_vkey();
    assert_eq!(
        log::pinned_log_key(&w.deployment(), &vkey, &id.to_hex()).unwrap(),
        vkey
    );
    let receipt = receipt_for(&signer, &id, &entry);
    log::verify_receipt(&receipt, &vkey, &entry_json, &id.to_hex()).unwrap();

    let tree = log_of(&letter, &[entry]);
    let (old, new) = (note(&tree, 1, &signer), note(&tree, 2, &signer));
    let included: Value = serde_json::from_str(
        &log::check_inclusion(
            &receipt,
            &vkey,
            &new,
            &inclusion_json(&tree, 1, 2),
            &id.to_hex(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(included["index"], 1);
    assert_eq!(included["size"], 2);
    assert_eq!(included["root"], hex::encode(tree.root()));

    let proof = serde_json::to_value(tree.prove_consistency(1, 2).unwrap()).unwrap();
    let consistency = json!({"from": 1, "to": 2, "hashes": proof["hashes"]}).to_string();
    let consistent: Value =
        serde_json::from_str(&log::check_consistency(&vkey, &old, &new, &consistency).unwrap())
            .unwrap();
    assert_eq!(consistent, json!({"from": 1, "to": 2}));
}

#[test]
fn withdraw_and_an_empty_comment_mean_no_comment() {
    let p = populated();
    let letter = p.world.letter(role_and_age());
    let entry_json = present(
        &p.state[1],
        &letter,
        "withdraw",
        Disclose::default(),
        Some(""),
        false,
    )
    .unwrap();
    let entry: SignatureEntry = serde_json::from_str(&entry_json).unwrap();
    assert_eq!(entry.action, Action::Withdraw);
    assert_eq!(entry.comment, None);
    verify(&entry, &letter.id(), &letter.policy, &directory(&p.world)).unwrap();
}

#[test]
fn same_credential_same_letter_same_pseudonym() {
    let p = populated();
    let letter = p.world.letter(role_and_age());
    let pseudonym = |c: &str| {
        let e: SignatureEntry = serde_json::from_str(
            &present(c, &letter, "sign", Disclose::default(), None, false).unwrap(),
        )
        .unwrap();
        e.parts[0].pseudonym.clone()
    };
    assert_eq!(pseudonym(&p.state[2]), pseudonym(&p.state[2]));
    assert_ne!(pseudonym(&p.state[2]), pseudonym(&p.state[3]));
}

#[test]
fn fail_issuer_key_differs_from_the_deployments() {
    let mut w = World::new(2);
    let other = World::new(3);
    let mut rng = fixture::rng(4);
    let requested = issuance::request_credentials(&mut rng, &w.epochs()).unwrap();
    let issued = w.issue(
        &requested,
        "a@state.gov",
        "analyst",
        AgeBand::Over60,
        &mut rng,
    );
    let err = issuance::receive_credentials(
        &pending_of(&requested),
        &issued,
        &other.issuer_json().to_string(),
        "a@state.gov",
        "analyst",
        "60+",
    )
    .unwrap_err();
    assert!(err.contains("differs from the deployment"), "{err}");
}

#[test]
fn fail_answer_over_other_attributes_or_pending() {
    let mut w = World::new(5);
    let mut rng = fixture::rng(6);
    let requested = issuance::request_credentials(&mut rng, &w.epochs()).unwrap();
    let issued = w.issue(
        &requested,
        "b@state.gov",
        "analyst",
        AgeBand::Over60,
        &mut rng,
    );
    let receive = |pending: &str, role: &str| {
        issuance::receive_credentials(
            pending,
            &issued,
            &w.issuer_json().to_string(),
            "b@state.gov",
            role,
            "60+",
        )
    };
    let err = receive(&pending_of(&requested), "officer").unwrap_err();
    assert!(err.contains("does not verify"), "{err}");
    let other = issuance::request_credentials(&mut rng, &w.epochs()).unwrap();
    assert!(receive(&pending_of(&other), "analyst").is_err());
    // A malformed pending value is refused without echoing it.
    let err = receive(r#"{"nym_secret":"SECRETSECRET"}"#, "analyst").unwrap_err();
    assert!(!err.contains("SECRETSECRET"), "{err}");
    assert!(receive(&pending_of(&requested), "analyst").is_ok());
}

#[test]
fn fail_malformed_credential_is_not_echoed() {
    let p = populated();
    let mut v: Value = serde_json::from_str(&p.state[0]).unwrap();
    let secret = v["secrets"]["nym_secret"].as_str().unwrap().to_owned();
    v["secrets"]["nym_secret"] = json!([secret.clone()]);
    let err = sign::check_disclosure(
        &p.world.sets_json(),
        &fixture::one(&v.to_string()),
        K,
        false,
        false,
    )
    .unwrap_err();
    assert!(!err.contains(&secret), "{err}");
    assert_eq!(err, "the credential list is malformed");
}

#[test]
fn fail_small_cell_and_small_org() {
    let p = populated();
    let w = &p.world;
    let check: Value = serde_json::from_str(
        &sign::check_disclosure(&w.sets_json(), &fixture::one(&p.solo), K, true, false).unwrap(),
    )
    .unwrap();
    assert_eq!(check["ok"], false);
    assert_eq!(check["org_below_k"], true);
    assert!(
        check["reason"]
            .as_str()
            .unwrap()
            .contains("would identify you"),
        "{check}"
    );
    let letter = w.letter(role_and_age());
    let err = present(&p.solo, &letter, "sign", role_age(), None, true).unwrap_err();
    assert!(err.contains("would identify you"), "{err}");
    let err = present(&p.solo, &letter, "sign", Disclose::default(), None, false).unwrap_err();
    assert!(err.contains("explicit consent"), "{err}");
    assert!(present(&p.solo, &letter, "sign", Disclose::default(), None, true).is_ok());
}

#[test]
fn fail_disclosure_not_allowed_or_unknown_action() {
    let p = populated();
    let letter = p.world.letter(AllowedDisclosures::default());
    let err = present(&p.state[0], &letter, "sign", role_age(), None, false).unwrap_err();
    assert!(err.contains("does not allow disclosing role"), "{err}");
    let err = present(
        &p.state[0],
        &letter,
        "endorse",
        Disclose::default(),
        None,
        false,
    )
    .unwrap_err();
    assert!(err.contains("\"sign\" or \"withdraw\""), "{err}");
}

/// A receipt checked against another entry, another letter or another key is refused.
#[test]
fn fail_receipt_mismatch() {
    let p = populated();
    let letter = p.world.letter(role_and_age());
    let other_letter = p.world.letter(AllowedDisclosures::default());
    let id = letter.id();
    let sign = |c: &str| present(c, &letter, "sign", Disclose::default(), None, false).unwrap();
    let (a, b) = (sign(&p.state[0]), sign(&p.state[1]));
    let signer = log_signer(&id);
    let vkey = signer.verifier().to_vkey();
    let receipt = receipt_for(&signer, &id, &serde_json::from_str(&a).unwrap());
    log::verify_receipt(&receipt, &vkey, &a, &id.to_hex()).unwrap();

    let err = log::verify_receipt(&receipt, &vkey, &b, &id.to_hex()).unwrap_err();
    assert!(err.contains("different entry"), "{err}");
    let other_vkey = log_signer(&other_letter.id()).verifier().to_vkey();
    let err =
        log::verify_receipt(&receipt, &other_vkey, &a, &other_letter.id().to_hex()).unwrap_err();
    assert!(err.contains("does not verify"), "{err}");
    let err = log::verify_receipt(&receipt, &other_vkey, &a, &id.to_hex()).unwrap_err();
    assert!(err.contains("not this letter's log key"), "{err}");
    let forger = LogSigner::new(signer.name(), SigningKey::from_bytes(&[9u8; 32])).unwrap();
    let forged = receipt_for(&forger, &id, &serde_json::from_str(&a).unwrap());
    assert!(log::verify_receipt(&forged, &vkey, &a, &id.to_hex()).is_err());
    let err = log::pinned_log_key(
        &p.world.deployment(),
        &forger.verifier().to_vkey(),
        &id.to_hex(),
    )
    .unwrap_err();
    assert!(err.contains("not the deployment's log key"), "{err}");
}

#[test]
fn fail_inclusion_against_wrong_proof_size_or_checkpoint() {
    let p = populated();
    let letter = p.world.letter(role_and_age());
    let id = letter.id();
    let entries: Vec<SignatureEntry> = p.state[..3]
        .iter()
        .map(|c| {
            serde_json::from_str(
                &present(c, &letter, "sign", Disclose::default(), None, false).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let signer = log_signer(&id);
    let vkey = signer.verifier().to_vkey();
    let receipt = receipt_for(&signer, &id, &entries[1]);
    let tree = log_of(&letter, &entries);
    let cp = note(&tree, 4, &signer);
    let check =
        |note: &str, proof: &str| log::check_inclusion(&receipt, &vkey, note, proof, &id.to_hex());
    check(&cp, &inclusion_json(&tree, 2, 4)).unwrap();

    let err = check(&cp, &inclusion_json(&tree, 3, 4)).unwrap_err();
    assert!(
        err.contains("does not verify against the signed checkpoint"),
        "{err}"
    );
    let err = check(&cp, &inclusion_json(&tree, 2, 3)).unwrap_err();
    assert!(err.contains("another tree size"), "{err}");
    let forger = LogSigner::new(signer.name(), SigningKey::from_bytes(&[9u8; 32])).unwrap();
    let err = check(&note(&tree, 4, &forger), &inclusion_json(&tree, 2, 4)).unwrap_err();
    assert!(err.contains("checkpoint does not verify"), "{err}");
}

#[test]
fn fail_consistency_after_the_log_was_rewritten() {
    let p = populated();
    let letter = p.world.letter(role_and_age());
    let id = letter.id();
    let entry = |c: &str| -> SignatureEntry {
        serde_json::from_str(
            &present(c, &letter, "sign", Disclose::default(), None, false).unwrap(),
        )
        .unwrap()
    };
    let (a, b, c) = (entry(&p.state[0]), entry(&p.state[1]), entry(&p.state[2]));
    let signer = log_signer(&id);
    let vkey = signer.verifier().to_vkey();
    let seen = log_of(&letter, &[a.clone(), b]);
    let rewritten = log_of(&letter, &[a, c.clone(), c]);
    let old = note(&seen, 3, &signer);
    let new = note(&rewritten, 4, &signer);
    let proof = serde_json::to_value(rewritten.prove_consistency(3, 4).unwrap()).unwrap();
    let consistency = json!({"from": 3, "to": 4, "hashes": proof["hashes"]}).to_string();
    let err = log::check_consistency(&vkey, &old, &new, &consistency).unwrap_err();
    assert!(err.contains("the log was rewritten"), "{err}");
    let honest = note(&rewritten, 3, &signer);
    log::check_consistency(&vkey, &honest, &new, &consistency).unwrap();
    let wrong_sizes = json!({"from": 2, "to": 4, "hashes": proof["hashes"]}).to_string();
    assert!(log::check_consistency(&vkey, &honest, &new, &wrong_sizes).is_err());
}

/// The level-0 tiles of `tree` at `size`, hex, as the browser hands them over.
fn tiles_hex(tree: &MerkleLog, size: u64) -> String {
    let leaves = &tree.leaf_hashes()[..usize::try_from(size).unwrap()];
    let tiles: Vec<String> = leaves
        .chunks(256)
        .map(|c| hex::encode(c.concat()))
        .collect();
    serde_json::to_string(&tiles).unwrap()
}

#[test]
fn check_from_tiles_finds_the_receipt_and_holds_the_log_to_its_past() {
    let p = populated();
    let letter = p.world.letter(role_and_age());
    let id = letter.id();
    let signer = log_signer(&id);
    let vkey = signer.verifier().to_vkey();
    let entry_json = present(
        &p.state[2],
        &letter,
        "sign",
        Disclose::default(),
        None,
        false,
    )
    .unwrap();
    let entry: SignatureEntry = serde_json::from_str(&entry_json).unwrap();
    let receipt = receipt_for(&signer, &id, &entry);
    let receipts = format!("[{receipt}]");
    // 270 entries before it (other signers'), so it sits in the second, partial tile.
    let mut tree = log_of(&letter, &[]);
    for i in 0..269u32 {
        tree.append(format!("someone else {i}").as_bytes());
    }
    let before = tree.size();
    tree.append(&LogEntry::submission(entry).leaf_bytes());
    for i in 0..29u32 {
        tree.append(format!("later {i}").as_bytes());
    }
    let size = tree.size();
    assert_eq!(size, 300);
    let paths: Value = serde_json::from_str(&log::leaf_tile_paths(size).unwrap()).unwrap();
    assert_eq!(
        paths,
        json!([{"path": "tile/0/000", "full": null}, {"path": "tile/0/001.p/44", "full": "tile/0/001"}])
    );
    let check = |note: &str, tiles: &str, old: Option<&str>| {
        log::check_tiles(&receipts, &vkey, note, tiles, old, &id.to_hex())
    };
    let now = note(&tree, size, &signer);
    let found: Value =
        serde_json::from_str(&check(&now, &tiles_hex(&tree, size), None).unwrap()).unwrap();
    assert_eq!(found["entries"], json!([before]));
    assert_eq!(found["size"], 300);
    assert_eq!(found["consistent_from"], Value::Null);
    // Held to an earlier checkpoint this browser saw.
    let seen = note(&tree, 260, &signer);
    let held: Value =
        serde_json::from_str(&check(&now, &tiles_hex(&tree, size), Some(&seen)).unwrap()).unwrap();
    assert_eq!(held["consistent_from"], 260);
    // The full tile served for the partial one is read as the partial one.
    let mut full: Vec<String> = serde_json::from_str(&tiles_hex(&tree, size)).unwrap();
    full[1].push_str(&"ab".repeat((256 - 44) * 32));
    assert!(check(&now, &serde_json::to_string(&full).unwrap(), None).is_ok());
    // Not yet in an earlier, smaller tree: null, not an error.
    let small = note(&tree, 200, &signer);
    let pending: Value =
        serde_json::from_str(&check(&small, &tiles_hex(&tree, 200), None).unwrap()).unwrap();
    assert_eq!(pending["entries"], json!([null]));

    // A rewritten past: a checkpoint of size 260 over other entries.
    let mut other = log_of(&letter, &[]);
    for i in 0..260u32 {
        other.append(format!("rewritten {i}").as_bytes());
    }
    let forked = note(&other, 260, &signer);
    let err = check(&now, &tiles_hex(&tree, size), Some(&forked)).unwrap_err();
    assert!(err.contains("rewritten"), "{err}");
    // A tile that is not the tree's, a tile missing, a checkpoint of another key.
    let mut bad: Vec<String> = serde_json::from_str(&tiles_hex(&tree, size)).unwrap();
    bad[0].replace_range(0..2, "00");
    let err = check(&now, &serde_json::to_string(&bad).unwrap(), None).unwrap_err();
    assert!(err.contains("do not hash"), "{err}");
    let err = check(&now, &serde_json::to_string(&bad[..1]).unwrap(), None).unwrap_err();
    assert!(err.contains("level-0 tiles"), "{err}");
    let stranger = log_signer(&LetterId([7; 32]));
    let err = check(&note(&tree, size, &stranger), &tiles_hex(&tree, size), None).unwrap_err();
    assert!(err.contains("checkpoint"), "{err}");
    // A key named like this letter's log but for another origin is not this letter's.
    let other_letter = log_signer(&LetterId([9; 32])).verifier().to_vkey();
    let err = log::check_tiles(
        &receipts,
        &other_letter,
        &now,
        &tiles_hex(&tree, size),
        None,
        &id.to_hex(),
    )
    .unwrap_err();
    assert!(err.contains("not this letter's log key"), "{err}");
}
