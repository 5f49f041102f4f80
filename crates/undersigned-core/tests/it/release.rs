//! The signer's client release log (issue 24): a checkpoint under the release key's exact
//! origin, its witnesses' quorum, and entries that hash to it; checked by the same origin,
//! checkpoint and cosignature code as letters' logs.

use ed25519_dalek::SigningKey;
use undersigned_core::log::origin::Host;
use undersigned_core::log::{add_cosignatures, Checkpoint, LogSigner, MerkleLog, WitnessSigner};
use undersigned_core::pins::Pins;
use undersigned_core::release::{check_release_log, release_origin, ReleaseError};

fn manifest(n: u8) -> Vec<u8> {
    serde_json::json!({
        "format": "undersigned-client-manifest/1",
        "csp": "default-src 'none'",
        "single_file_csp": "default-src 'none'",
        "files": {"index.html": hex::encode([n; 32]), "undersigned-client.html": hex::encode([n + 100; 32])},
    })
    .to_string()
    .into_bytes()
}

fn signed(name: &str, key: &SigningKey, entries: &[Vec<u8>]) -> String {
    let signer = LogSigner::new(name, key.clone()).unwrap();
    let mut tree = MerkleLog::new();
    for e in entries {
        tree.append(e);
    }
    Checkpoint::new(name, tree.size(), tree.root())
        .sign(&signer)
        .unwrap()
}

fn witness(seed: u8) -> WitnessSigner {
    WitnessSigner::new(
        &format!("w{seed}.example/w"),
        SigningKey::from_bytes(&[seed; 32]),
    )
    .unwrap()
}

fn cosign(note: &str, by: &[&WitnessSigner]) -> String {
    let body = &note[..note.rfind("\n\n").unwrap() + 1];
    let lines: Vec<String> = by
        .iter()
        .map(|w| w.cosign(body, 1_790_000_000).unwrap())
        .collect();
    add_cosignatures(note, &lines)
}

#[test]
fn a_release_log_verifies_and_finds_its_manifests_and_files() {
    let key = SigningKey::from_bytes(&[5; 32]);
    let origin = release_origin(
        Host::parse("releases.example").unwrap(),
        &key.verifying_key(),
    );
    let name = origin.to_string();
    assert!(name.starts_with("releases.example/releases/"));
    let vkey = LogSigner::new(&name, key.clone())
        .unwrap()
        .verifier()
        .to_vkey();
    let entries = vec![manifest(1), manifest(2)];
    let note = signed(&name, &key, &entries);
    let log = check_release_log(&vkey, &note, entries.clone(), &Pins::default()).unwrap();
    assert_eq!(log.size, 2);
    assert_eq!(log.find_manifest(&manifest(2)), Some(2));
    assert_eq!(log.find_manifest(&manifest(3)), None);
    assert_eq!(
        log.find_file("undersigned-client.html", &hex::encode([101; 32])),
        Some(1)
    );
    assert_eq!(
        log.find_file("undersigned-client.html", &hex::encode([1; 32])),
        None
    );

    // With witnesses pinned, their quorum is required, exactly as for a letter's log.
    let (w1, w2) = (witness(1), witness(2));
    let pins = Pins::default()
        .with_witnesses(
            vec![w1.verifier().to_vkey(), w2.verifier().to_vkey()],
            Some(2),
        )
        .unwrap();
    let err = check_release_log(&vkey, &cosign(&note, &[&w1]), entries.clone(), &pins).unwrap_err();
    assert!(matches!(err, ReleaseError::Cosignatures(_)), "{err}");
    check_release_log(&vkey, &cosign(&note, &[&w1, &w2]), entries, &pins).unwrap();
}

#[test]
fn fail_other_origins_keys_and_entries() {
    let key = SigningKey::from_bytes(&[6; 32]);
    let host = Host::parse("releases.example").unwrap();
    let name = release_origin(host, &key.verifying_key()).to_string();
    let vkey = LogSigner::new(&name, key.clone())
        .unwrap()
        .verifier()
        .to_vkey();
    let entries = vec![manifest(1)];
    // The same key under a letter's origin, or under a release origin naming another key, or a
    // name that merely ends like the release origin: not the release log.
    let id = &name[name.rfind('/').unwrap() + 1..];
    for other in [
        format!("releases.example/letters/{id}"),
        format!("releases.example/releases/{}", hex::encode([0; 32])),
        format!("evil.example/x/releases.example/releases/{id}"),
        format!("{name}/"),
    ] {
        let Ok(signer) = LogSigner::new(&other, key.clone()) else {
            continue;
        };
        let v = signer.verifier().to_vkey();
        let err = check_release_log(
            &v,
            &signed(&other, &key, &entries),
            entries.clone(),
            &Pins::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ReleaseError::KeyName(_)), "{other}: {err}");
    }
    // A checkpoint signed for another origin by the release key.
    let elsewhere = signed("releases.example/releases/other", &key, &entries);
    let err = check_release_log(&vkey, &elsewhere, entries.clone(), &Pins::default()).unwrap_err();
    assert!(matches!(err, ReleaseError::Checkpoint(_)), "{err}");
    // Another key's checkpoint under the right name.
    let stranger = SigningKey::from_bytes(&[7; 32]);
    let err = check_release_log(
        &vkey,
        &signed(&name, &stranger, &entries),
        entries.clone(),
        &Pins::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ReleaseError::Checkpoint(_)), "{err}");
    // Entries that are not the signed tree's: one dropped, one changed, or not a manifest.
    let note = signed(&name, &key, &[manifest(1), manifest(2)]);
    let err = check_release_log(&vkey, &note, vec![manifest(1)], &Pins::default()).unwrap_err();
    assert_eq!(err, ReleaseError::Root(2));
    let err = check_release_log(
        &vkey,
        &note,
        vec![manifest(1), manifest(3)],
        &Pins::default(),
    )
    .unwrap_err();
    assert_eq!(err, ReleaseError::Root(2));
    let junk = vec![b"not a manifest".to_vec()];
    let err =
        check_release_log(&vkey, &signed(&name, &key, &junk), junk, &Pins::default()).unwrap_err();
    assert!(matches!(err, ReleaseError::Manifest(_)), "{err}");
}
