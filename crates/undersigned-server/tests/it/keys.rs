//! The address-tag key lives apart from the key file: created there on first start, moved out
//! of key files written by earlier versions, and required once a deployment exists.

use undersigned_server::keys::{DeploymentKeys, KeyError};

#[test]
fn tag_key_is_kept_apart_and_required() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data").join("keys.json");
    let tag = dir.path().join("secrets").join("tag.key");
    let first = DeploymentKeys::load_or_create(&keys, &tag, "issuer").unwrap();
    let stored = std::fs::read_to_string(&tag).unwrap();
    assert_eq!(stored.trim(), hex::encode(&first.tag_secret[..]));
    assert!(!std::fs::read_to_string(&keys)
        .unwrap()
        .contains("address_tag_secret"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tag).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Restarted: the same keys.
    let again = DeploymentKeys::load_or_create(&keys, &tag, "issuer").unwrap();
    assert_eq!(again.tag_secret[..], first.tag_secret[..]);
    assert_eq!(again.issuer.id(), first.issuer.id());
    // Without the tag key, an existing deployment refuses to start rather than make a new one.
    std::fs::remove_file(&tag).unwrap();
    assert!(matches!(
        DeploymentKeys::load_or_create(&keys, &tag, "issuer"),
        Err(KeyError::TagKeyMissing(_))
    ));
}

#[test]
fn fail_old_key_file_gives_up_its_tag_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let tag = dir.path().join("apart").join("tag.key");
    let made = DeploymentKeys::load_or_create(&keys, &tag, "issuer").unwrap();
    // A key file as earlier versions wrote it: the tag key inside.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys).unwrap()).unwrap();
    old["address_tag_secret"] = hex::encode(&made.tag_secret[..]).into();
    std::fs::write(&keys, old.to_string()).unwrap();
    std::fs::remove_file(&tag).unwrap();
    let loaded = DeploymentKeys::load_or_create(&keys, &tag, "issuer").unwrap();
    assert_eq!(loaded.tag_secret[..], made.tag_secret[..]);
    assert_eq!(
        std::fs::read_to_string(&tag).unwrap().trim(),
        hex::encode(&made.tag_secret[..])
    );
    assert!(!std::fs::read_to_string(&keys)
        .unwrap()
        .contains("address_tag_secret"));
    // Two different tag keys are a mistake to stop at, not to guess about.
    old["address_tag_secret"] = hex::encode([9u8; 32]).into();
    std::fs::write(&keys, old.to_string()).unwrap();
    assert!(matches!(
        DeploymentKeys::load_or_create(&keys, &tag, "issuer"),
        Err(KeyError::TagKeyMismatch(_))
    ));
}
