//! Fuzz target: any JSON submitted as an entry parses or fails; verifying it never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::entry::{verify, IssuerDirectory, SignatureEntry};

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = serde_json::from_slice::<SignatureEntry>(data) {
        let policy: undersigned_core::letter::Policy = match serde_json::from_str(
            r#"{"issuers":[],"orgs":[],"disclosures":{"role":true,"age_band":true,"email":false},"k":2,"deadline":0,"visibility":"public","publish_interval_secs":1}"#,
        ) {
            Ok(p) => p,
            Err(_) => return,
        };
        let _ = verify(&entry, &entry.letter_id, &policy, &IssuerDirectory::new());
    }
});
