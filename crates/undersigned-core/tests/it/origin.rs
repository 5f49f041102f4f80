//! Log origins have one spelling: every other string is refused by the one parser.

use undersigned_core::log::origin::{Host, LogKind, Origin};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn exact_origins_parse_and_print_back() {
    for s in [
        format!("example.org/letters/{ID}"),
        format!("example.org/issuers/{ID}"),
        format!("127.0.0.1:8080/letters/{ID}"),
        format!("a-b.c9.example:65535/issuers/{ID}"),
        format!("localhost/letters/{ID}"),
    ] {
        let o = Origin::parse(&s).unwrap();
        assert_eq!(o.to_string(), s);
    }
    let o = Origin::parse(&format!("example.org/issuers/{ID}")).unwrap();
    assert_eq!(o.kind, LogKind::Issuer);
    assert_eq!(o.host.as_str(), "example.org");
    assert_eq!(hex::encode(o.id), ID);
}

#[test]
fn fail_every_other_spelling() {
    let upper = ID.to_uppercase();
    for s in [
        format!("example.org/letters/x/letters/{ID}"),
        format!("example.org/letters/{ID}/"),
        format!("example.org/letters/{ID}/x"),
        format!("example.org/letters/{ID}\n"),
        format!("example.org/letters/{ID} "),
        format!("example.org/letters/{upper}"),
        format!("example.org/letters/{}", &ID[1..]),
        format!("example.org/letters/{ID}0"),
        format!("example.org/letter/{ID}"),
        format!("example.org/Letters/{ID}"),
        format!("example.org//letters/{ID}"),
        format!("/letters/{ID}"),
        format!("Example.org/letters/{ID}"),
        format!("https://example.org/letters/{ID}"),
        format!("example.org:080/letters/{ID}"),
        format!("example.org:65536/letters/{ID}"),
        format!("example.org:/letters/{ID}"),
        format!("example..org/letters/{ID}"),
        format!("-example.org/letters/{ID}"),
        format!("example.org./letters/{ID}"),
        format!("ex_ample.org/letters/{ID}"),
        format!("example.org/letters/x/issuers/{ID}"),
        "example.org/letters/".to_owned(),
        String::new(),
    ] {
        assert!(Origin::parse(&s).is_err(), "{s:?} must be refused");
    }
}

#[test]
fn fail_expected_origin_of_another_host_or_log() {
    let host = Host::parse("example.org").unwrap();
    let expected = Origin::new(host, LogKind::Letter, [1; 32]);
    assert!(Origin::expect(&expected.to_string(), &expected).is_ok());
    let other_host = format!("example.org.evil/letters/{}", hex::encode([1u8; 32]));
    let e = Origin::expect(&other_host, &expected).unwrap_err();
    assert!(e.to_string().contains("pinned host"), "{e}");
    let other_id = format!("example.org/letters/{}", hex::encode([2u8; 32]));
    assert!(Origin::expect(&other_id, &expected).is_err());
    let other_kind = format!("example.org/issuers/{}", hex::encode([1u8; 32]));
    assert!(Origin::expect(&other_kind, &expected).is_err());
}

#[test]
fn fail_hosts_that_are_not_one_spelling() {
    for h in [
        "",
        "EXAMPLE.org",
        "example.org/",
        "a/b",
        "example.org:",
        "example.org:0x1",
        "example.org:00",
        "example.org:+80",
        "a..b",
        "a.-b",
        "é.example",
        "a b",
    ] {
        assert!(Host::parse(h).is_err(), "{h:?} must be refused");
    }
    let long_label = "a".repeat(64);
    assert!(Host::parse(&long_label).is_err());
    assert!(Host::parse("a.".repeat(128).trim_end_matches('.')).is_err());
}
