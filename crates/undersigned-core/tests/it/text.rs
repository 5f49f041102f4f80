//! The readable-text rule: bidi controls and invisible formatting characters are refused in
//! every field a person reads, while the scripts and emoji that need joiners pass.

use undersigned_core::letter::{Letter, Policy, Recipient};
use undersigned_core::text::{
    check_readable, is_invisible_format, Lines, TextError, BIDI_CONTROLS,
};

const INVISIBLE: [char; 8] = [
    '\u{200B}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{2061}',
    '\u{E0001}',
    '\u{E0041}',
    '\u{180E}',
];

#[test]
fn fail_every_bidi_control_and_invisible_character() {
    for c in BIDI_CONTROLS.iter().chain(&INVISIBLE) {
        let text = format!("abc{c}def");
        assert_eq!(
            check_readable("title", &text, Lines::Many),
            Err(TextError::Invisible {
                field: "title",
                code: u32::from(*c)
            }),
            "{c:?}"
        );
        assert!(is_invisible_format(*c));
    }
    // The message names the field and the character.
    let e = check_readable("comment", "x\u{202E}y", Lines::One).unwrap_err();
    assert!(e.to_string().starts_with("comment: ") && e.to_string().contains("U+202E"));
}

#[test]
fn scripts_and_emoji_that_need_joiners_pass() {
    for text in [
        "می‌خواهم",            // Persian, with a zero-width non-joiner
        "क्‍ष",                 // Devanagari, with a zero-width joiner
        "👩‍👩‍👧 family",          // an emoji ZWJ sequence
        "שלום, مرحبا, hello", // right-to-left scripts themselves
        "line one\n\tline two",
    ] {
        check_readable("body", text, Lines::Many).unwrap();
    }
}

#[test]
fn fail_control_characters_by_lines() {
    assert!(check_readable("title", "a\nb", Lines::One).is_err());
    assert!(check_readable("body", "a\nb", Lines::Many).is_ok());
    assert!(matches!(
        check_readable("body", "a\u{7}b", Lines::Many),
        Err(TextError::Control { code: 7, .. })
    ));
}

#[test]
fn fail_letter_fields_with_a_bidi_override() {
    let policy: Policy = serde_json::from_value(serde_json::json!({
        "issuers": [{"issuer_id": "00".repeat(32), "epochs": ["2026-Q4"]}],
        "orgs": [], "disclosures": {"role": false, "age_band": false, "email": false},
        "k": 10, "deadline": 2_000_000_000u64, "visibility": "public", "publish_interval_secs": 600
    }))
    .unwrap();
    let r = |name: &str| Recipient {
        name: name.into(),
        address: "a@b.gov".into(),
        role: None,
    };
    for (title, body, name, field) in [
        ("evil\u{202E}txt", "body", "Ada", "title"),
        ("title", "body\u{2067}", "Ada", "body"),
        ("title", "body", "Ad\u{200F}a", "recipient name"),
    ] {
        let e = Letter::new(title, body, vec![r(name)], policy.clone()).unwrap_err();
        assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
    }
    Letter::new("title", "body", vec![r("Ada")], policy).unwrap();
}
