//! One person, one signature: address normalization, one epoch per issuer and one issuer per
//! organization in a letter's policy, multi-epoch issuance, canonical comments, deadlines.

use crate::fixture::*;
use std::collections::{BTreeMap, BTreeSet};
use undersigned_core::credential::request_credential;
use undersigned_core::entry::{present, verify, Action, DisclosureChoice, SmallOrgConsent};
use undersigned_core::error::{Error, IssueError, PresentError, VerifyError};
use undersigned_core::ids::{AddressRules, AgeBand, Email, Epoch, IssuerId, OrgId, Role};
use undersigned_core::issuer::{address_tag, code_tag, Membership};
use undersigned_core::letter::{
    AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility, MAX_DEADLINE, RULE_ATTESTED,
    RULE_KNOWN_ISSUER, RULE_ONE_ENTRY, RULE_ONE_EPOCH, RULE_THRESHOLD,
};

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn gmail_like() -> Membership {
    let mut m = Membership::default();
    for d in ["state.gov", "dots.gov"] {
        m.orgs.insert(OrgId::parse(d).unwrap(), d.into());
    }
    m.address_rules.insert(
        OrgId::parse("dots.gov").unwrap(),
        AddressRules { strip_dots: true },
    );
    m
}

#[test]
fn normalization_folds_case_and_plus_tags() {
    let m = gmail_like();
    for variant in [
        "ann@state.gov",
        "ann+a@state.gov",
        "ANN@State.gov",
        " Ann+X+y@STATE.gov ",
    ] {
        assert_eq!(
            m.normalize(&email(variant)).unwrap().expose(),
            "ann@state.gov",
            "{variant}"
        );
    }
    // Dots count where the organization has no dot rule...
    assert_eq!(
        m.normalize(&email("a.nn@state.gov")).unwrap().expose(),
        "a.nn@state.gov"
    );
    // ...and are dropped where it has one.
    assert_eq!(
        m.normalize(&email("A.n.N+list@dots.gov")).unwrap().expose(),
        "ann@dots.gov"
    );
}

#[test]
fn fail_normalization_of_a_bare_tag() {
    let m = gmail_like();
    assert_eq!(
        m.normalize(&email("+ann@state.gov")),
        Err(IssueError::InvalidAddress)
    );
    assert_eq!(
        m.normalize(&email("..@dots.gov")),
        Err(IssueError::InvalidAddress)
    );
}

#[test]
fn code_tag_names_no_epoch_and_address_tag_does() {
    let secret = [7u8; 32];
    let issuer = IssuerId([1u8; 32]);
    let a = email("ann@state.gov");
    let q4 = Epoch::parse("2026-Q4").unwrap();
    let q1 = Epoch::parse("2027-Q1").unwrap();
    assert_ne!(
        address_tag(&secret, &issuer, &q4, &a),
        address_tag(&secret, &issuer, &q1, &a)
    );
    assert_ne!(
        code_tag(&secret, &issuer, &a),
        address_tag(&secret, &issuer, &q4, &a)
    );
    assert_ne!(
        code_tag(&secret, &issuer, &a),
        code_tag(&secret, &issuer, &email("bob@state.gov"))
    );
}

#[test]
fn fail_second_credential_for_plus_alias_or_case_variant() {
    let mut w = World::new(21);
    let _ann = w.credential("ann@state.gov", "analyst", AgeBand::Unspecified);
    for variant in ["ann+a@state.gov", "ANN@State.gov", "Ann+b@STATE.GOV"] {
        let (req, _pending) = request_credential(&mut w.rng).unwrap();
        let err = w
            .issuer
            .issue(
                &req,
                &email(variant),
                &w.epoch.clone(),
                &Role::unspecified(),
                AgeBand::Unspecified,
                &mut w.rng,
            )
            .unwrap_err();
        assert_eq!(
            err,
            IssueError::AlreadyIssued("2026-Q4".into()),
            "{variant}"
        );
    }
    assert_eq!(w.issuer.issued_tags(), 1);
}

#[test]
fn multi_epoch_issuance_skips_held_epochs_and_signs_normalized_address() {
    let mut w = World::new(22);
    let _ann = w.credential("ann@state.gov", "analyst", AgeBand::Unspecified);
    let q1 = Epoch::parse("2027-Q1").unwrap();
    let requests: Vec<_> = [w.epoch.clone(), q1.clone()]
        .into_iter()
        .map(|e| (e, request_credential(&mut w.rng).unwrap().0))
        .collect();
    let issued = w
        .issuer
        .issue_epochs(
            &requests,
            &email("Ann+late@state.gov"),
            &Role::unspecified(),
            AgeBand::Unspecified,
            &mut w.rng,
        )
        .unwrap();
    let epochs: Vec<&Epoch> = issued.iter().map(|(e, _)| e).collect();
    assert_eq!(
        epochs,
        vec![&q1],
        "the held epoch is skipped, the new one issued"
    );
    assert_eq!(w.issuer.issued_tags(), 2);
    let again = w.issuer.issue_epochs(
        &requests,
        &email("ann@state.gov"),
        &Role::unspecified(),
        AgeBand::Unspecified,
        &mut w.rng,
    );
    assert!(matches!(again, Err(IssueError::AlreadyIssued(_))));
}

fn policy(issuers: Vec<AcceptedIssuer>, orgs: Vec<OrgId>) -> Policy {
    Policy {
        threshold: u32::try_from(issuers.len() / 2 + 1).unwrap(),
        issuers,
        orgs,
        disclosures: AllowedDisclosures::default(),
        k: 3,
        deadline: 2_000_000_000,
        visibility: Visibility::Public,
        publish_interval_secs: 600,
        comments: true,
    }
}

fn accepted(id: u8, epochs: &[&str]) -> AcceptedIssuer {
    AcceptedIssuer {
        issuer_id: IssuerId([id; 32]),
        epochs: epochs.iter().map(|e| Epoch::parse(e).unwrap()).collect(),
    }
}

fn letter(p: Policy) -> Result<Letter, Error> {
    Letter::new("T", "Body.\n", vec![], p)
}

#[test]
fn fail_letter_with_two_epochs_no_epoch_or_one_issuer_twice() {
    assert!(letter(policy(vec![accepted(1, &["2026-Q4"])], vec![])).is_ok());
    assert_eq!(
        letter(policy(vec![accepted(1, &["2026-Q4", "2027-Q1"])], vec![])),
        Err(Error::Letter(RULE_ONE_EPOCH))
    );
    assert_eq!(
        letter(policy(vec![accepted(1, &["2026-Q4", "2026-Q4"])], vec![])),
        Err(Error::Letter(RULE_ONE_EPOCH))
    );
    assert_eq!(
        letter(policy(vec![accepted(1, &[])], vec![])),
        Err(Error::Letter(RULE_ONE_EPOCH))
    );
    assert_eq!(
        letter(policy(
            vec![accepted(1, &["2026-Q4"]), accepted(1, &["2027-Q1"])],
            vec![]
        )),
        Err(Error::Letter(RULE_ONE_ENTRY))
    );
}

#[test]
fn fail_old_multi_epoch_letter_does_not_canonicalize() {
    // The wire format still parses (old bundles load), but such a letter gets no id.
    let mut l = letter(policy(vec![accepted(1, &["2026-Q4"])], vec![])).unwrap();
    l.policy.issuers[0]
        .epochs
        .push(Epoch::parse("2027-Q1").unwrap());
    let json = serde_json::to_string(&l).unwrap();
    let parsed: Letter = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.canonicalize(), Err(Error::Letter(RULE_ONE_EPOCH)));
}

#[test]
fn fail_threshold_at_or_below_half_or_above_n() {
    let three = vec![
        accepted(1, &["2026-Q4"]),
        accepted(2, &["2026-Q4"]),
        accepted(3, &["2026-Q4"]),
    ];
    for (t, ok) in [(0, false), (1, false), (2, true), (3, true), (4, false)] {
        let mut p = policy(three.clone(), vec![]);
        p.threshold = t;
        let r = letter(p);
        if ok {
            assert_eq!(r.unwrap().policy.threshold, t);
        } else {
            assert_eq!(r, Err(Error::Letter(RULE_THRESHOLD)), "t = {t}");
        }
    }
    // Two issuers: only t = 2 (t = 1 would let one person sign with each).
    let two = vec![accepted(1, &["2026-Q4"]), accepted(2, &["2026-Q4"])];
    let mut p = policy(two, vec![]);
    p.threshold = 1;
    assert_eq!(letter(p), Err(Error::Letter(RULE_THRESHOLD)));
    // One issuer, no threshold written: today's letters keep their bytes and id.
    let one = letter(policy(vec![accepted(1, &["2026-Q4"])], vec![])).unwrap();
    assert!(!String::from_utf8(one.canonical_bytes())
        .unwrap()
        .contains("threshold"));
}

#[test]
fn fail_organization_attested_by_fewer_than_t_or_under_other_rules_or_unknown_issuer() {
    let state = OrgId::parse("state.gov").unwrap();
    let usaid = OrgId::parse("usaid.gov").unwrap();
    let mut attests: BTreeMap<IssuerId, BTreeMap<OrgId, &str>> = BTreeMap::new();
    attests.insert(IssuerId([1; 32]), [(state.clone(), "plain")].into());
    attests.insert(
        IssuerId([2; 32]),
        [(state.clone(), "plain"), (usaid.clone(), "plain")].into(),
    );
    attests.insert(
        IssuerId([3; 32]),
        [(state.clone(), "dots"), (usaid.clone(), "plain")].into(),
    );
    let lookup = |id: &IssuerId| attests.get(id);

    let two = vec![accepted(1, &["2026-Q4"]), accepted(2, &["2026-Q4"])];
    // t = 2: usaid.gov is attested by one of the two only.
    assert_eq!(
        policy(two.clone(), vec![]).check_issuers(lookup),
        Err(Error::Letter(RULE_ATTESTED))
    );
    assert_eq!(
        policy(two.clone(), vec![usaid.clone()]).check_issuers(lookup),
        Err(Error::Letter(RULE_ATTESTED))
    );
    // Restricted to the organization both attest under one rule, the letter is fine.
    assert_eq!(
        policy(two, vec![state.clone()]).check_issuers(lookup),
        Ok(())
    );
    // Issuers 2 and 3 disagree on state.gov's address rule.
    let other = vec![accepted(2, &["2026-Q4"]), accepted(3, &["2026-Q4"])];
    assert_eq!(
        policy(other.clone(), vec![state]).check_issuers(lookup),
        Err(Error::Letter(RULE_ATTESTED))
    );
    assert_eq!(policy(other, vec![usaid]).check_issuers(lookup), Ok(()));
    assert_eq!(
        policy(vec![accepted(9, &["2026-Q4"])], vec![]).check_issuers(lookup),
        Err(Error::Letter(RULE_KNOWN_ISSUER))
    );
}

#[test]
fn fail_deadline_beyond_year_9999() {
    for deadline in [MAX_DEADLINE + 1, 1 << 63, u64::MAX] {
        let mut p = policy(vec![accepted(1, &["2026-Q4"])], vec![]);
        p.deadline = deadline;
        let err = letter(p).unwrap_err();
        assert!(err.to_string().contains("deadline"), "{err}");
    }
    let mut p = policy(vec![accepted(1, &["2026-Q4"])], vec![]);
    p.deadline = MAX_DEADLINE;
    assert!(letter(p).is_ok());
}

#[test]
fn fail_empty_comment_in_present_and_verify() {
    let (w, creds) = populated(23);
    let l = w.letter("Comments", all_disclosures());
    let sets = w.sets();
    assert_eq!(
        present(
            &creds[0],
            &l,
            Action::Sign,
            DisclosureChoice::default(),
            Some(""),
            &sets,
            SmallOrgConsent::Given,
        )
        .unwrap_err(),
        PresentError::EmptyComment
    );
    let mut e = sign(&creds[0], &l, &sets, DisclosureChoice::default(), None);
    assert!(verify(&e, &l.id(), &l.policy, &w.directory()).is_ok());
    // Same header hash as no comment, so only the explicit refusal stops it.
    e.comment = Some(String::new());
    assert!(matches!(
        verify(&e, &l.id(), &l.policy, &w.directory()),
        Err(VerifyError::Malformed(_))
    ));
}

/// The deployment of `deploy/company.toml`, in short: a group that accepts its subdomains and
/// whose own mail system ignores dots, and a subsidiary on a subdomain of its own.
fn company() -> Membership {
    let mut m = gmail_like();
    let acme = OrgId::parse("acme.com").unwrap();
    m.orgs.insert(acme.clone(), "Acme".into());
    m.orgs
        .insert(OrgId::parse("labs.acme.com").unwrap(), "Acme Labs".into());
    m.subdomains.insert(acme.clone());
    m.address_rules
        .insert(acme, AddressRules { strip_dots: true });
    m
}

#[test]
fn subdomains_belong_to_their_organization_only_when_it_accepts_them() {
    let m = company();
    let acme = OrgId::parse("acme.com").unwrap();
    // A subdomain's address belongs to its parent organization, and keeps its own domain,
    // normalized by the fixed rules only (the parent's rules describe the parent's mail).
    for (variant, normalized) in [
        ("a.nn@eu.acme.com", "a.nn@eu.acme.com"),
        ("Ann+x@Mail.EU.acme.com", "ann@mail.eu.acme.com"),
        ("a.nn@acme.com", "ann@acme.com"),
    ] {
        let n = m.normalize(&email(variant)).unwrap();
        assert_eq!(n.expose(), normalized, "{variant}");
        assert_eq!(m.check_address(&n).unwrap(), acme, "{variant}");
    }
    // A subdomain that is an organization of its own stays one.
    let labs = m.normalize(&email("ann@labs.acme.com")).unwrap();
    assert_eq!(labs.expose(), "ann@labs.acme.com");
    assert_eq!(m.check_address(&labs).unwrap().as_str(), "labs.acme.com");
    // Without the rule a subdomain is refused, as before.
    let n = m.normalize(&email("ann@eu.state.gov")).unwrap();
    assert!(m.check_address(&n).is_err());
}

/// Issue 21: `ceo@vendor-helpdesk.acme.com` (a mailbox of the vendor that runs the helpdesk
/// subdomain) was folded into `ceo@acme.com`: it took the real CEO's one credential, and a
/// named signature showed the CEO's address. Now each gets a credential of its own, in
/// either order, both of Acme, each with the address the code went to.
#[test]
fn fail_subdomain_address_takes_the_parent_address() {
    for order in [
        [
            (
                "ceo@vendor-helpdesk.acme.com",
                "ceo@vendor-helpdesk.acme.com",
            ),
            ("c.e.o@acme.com", "ceo@acme.com"),
        ],
        [
            ("CEO@acme.com", "ceo@acme.com"),
            (
                "c.e.o@vendor-helpdesk.acme.com",
                "c.e.o@vendor-helpdesk.acme.com",
            ),
        ],
    ] {
        let mut w = World::new(23);
        w.issuer.membership = Membership {
            roles: w.issuer.membership.roles.clone(),
            ..company()
        };
        let mut tags = BTreeSet::new();
        for (typed, address) in order {
            let c = w.credential(typed, "analyst", AgeBand::Unspecified);
            assert_eq!(c.attributes.org.as_str(), "acme.com", "{typed}");
            assert_eq!(c.attributes.email.expose(), address, "{typed}");
            tags.insert(code_tag(&[1; 32], &w.issuer.keys.id(), &c.attributes.email));
        }
        assert_eq!(w.issuer.issued_tags(), 2);
        assert_eq!(tags.len(), 2, "the two addresses share a code tag");
    }
}

/// A letter's opened entry must fit one tlog-tiles entry (16-bit length): each field within
/// its limit is not enough when the whole encodes to more, and the largest letter accepted
/// still fits with the largest timestamp.
#[test]
fn fail_letter_too_large_for_one_log_entry() {
    let p = || policy(vec![accepted(1, &["2026-Q4"])], vec![]);
    let plain = "a".repeat(undersigned_core::letter::MAX_BODY);
    let fits = Letter::new("T", &plain, vec![], p()).unwrap();
    let leaf = undersigned_core::record::LogEntry::Opened {
        letter: fits,
        at: u64::MAX,
    }
    .leaf_bytes();
    assert!(leaf.len() <= undersigned_core::log::tiles::MAX_TILE_ENTRY);
    // Quotes escape to two bytes each in JSON: within MAX_BODY, beyond one entry.
    let quoted = "\"".repeat(undersigned_core::letter::MAX_BODY);
    assert!(matches!(
        Letter::new("T", &quoted, vec![], p()),
        Err(Error::Letter(m)) if m.contains("too large")
    ));
    // Many organizations count too.
    let orgs: Vec<OrgId> = (0..4000)
        .map(|i| OrgId::parse(&format!("agency-number-{i}.example.gov")).unwrap())
        .collect();
    assert!(matches!(
        Letter::new("T", "Body.\n", vec![], policy(vec![accepted(1, &["2026-Q4"])], orgs)),
        Err(Error::Letter(m)) if m.contains("too large")
    ));
    // The largest body that fits exactly, measured: one byte more is refused.
    let mut n = undersigned_core::letter::MAX_BODY;
    let with = |n: usize| Letter::new("T", &"\"".repeat(n), vec![], p());
    while with(n).is_err() {
        n -= 1000;
    }
    while with(n + 1).is_ok() {
        n += 1;
    }
    let edge = with(n).unwrap();
    let len = edge.canonical_bytes().len();
    let max = undersigned_core::letter::MAX_LETTER_BYTES;
    assert!(len <= max && len + 2 > max, "{len} vs {max}");
    let leaf = undersigned_core::record::LogEntry::Opened {
        letter: edge,
        at: u64::MAX,
    }
    .leaf_bytes();
    assert!(
        leaf.len() <= undersigned_core::log::tiles::MAX_TILE_ENTRY,
        "{}",
        leaf.len()
    );
    assert!(
        leaf.len() + 2 > undersigned_core::log::tiles::MAX_TILE_ENTRY,
        "the bound is tight"
    );
}
