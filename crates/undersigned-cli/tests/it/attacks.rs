//! Issue 23's attacks against a live deployment of three independent issuers (`issuer serve`
//! x 3 and a letters `serve --issuer` x 3): each forged entry is POSTed as an attacker would and
//! gets a 4xx; afterwards the log and the tally hold the one honest signature and nothing
//! else, and the bundle verifies with the deployment pinned. Core's tests refuse the same
//! forgeries (tests/it/composite.rs), built by the same helpers (`undersigned_testkit::attack`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{
    present_with, Action, Ask, DisclosureChoice, Held, SignatureEntry, SmallOrgConsent,
};
use undersigned_core::forge::{forge_part, variants, with_forgery_at};
use undersigned_core::ids::{AgeBand, IssuerId, Role};
use undersigned_core::letter::Letter;
use undersigned_server::issuers::IssuerDescription;
use undersigned_server::keys::DeploymentKeys;
use undersigned_testkit::attack::{mint, prove_mixed};
use undersigned_testkit::rng;

use crate::flow::{bin, start_server, Server};
use crate::threshold::{
    get_json, open_letter_of, request_all, sign, start_issuer, statements_count, ISSUERS,
};

/// A holder's credentials that `letter` accepts, one per issuer, in issuer-id order.
fn held(home: &Path, letter: &Letter) -> Vec<Credential> {
    let mut by_issuer = BTreeMap::new();
    for f in std::fs::read_dir(home.join("credentials"))
        .unwrap()
        .flatten()
    {
        let c: Credential = serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
        if letter
            .policy
            .accepts_issuer(&c.issuer_id, &c.attributes.epoch)
        {
            by_issuer.insert(c.issuer_id, c);
        }
    }
    by_issuer.into_values().collect()
}

fn all(v: &[Credential]) -> Vec<&Credential> {
    v.iter().collect()
}

/// Submits `entry` as anyone could; the HTTP status and the answer's text.
fn post(letters: &str, letter: &Letter, entry: &SignatureEntry) -> (u16, String) {
    let url = format!("{letters}/api/v1/letters/{}/entries", letter.id().to_hex());
    match ureq::post(&url).send_json(serde_json::to_value(entry).unwrap()) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

/// The published size and signature count of the letter, once the last batch is out.
fn settled(letters: &str, handle: &str, size: u64) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let tally = get_json(&format!("{letters}/api/v1/letters/{handle}/tally"));
        if tally["published_size"].as_u64() >= Some(size) {
            return tally;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no batch: {tally}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One corrupt issuer's credential for `email`: its own key file, read as its operator can.
fn minted(
    issuer_dir: &Path,
    issuer: &Server,
    letter: &Letter,
    email: &str,
    seed: u64,
) -> Credential {
    let keys = DeploymentKeys::load_or_create(
        &issuer_dir.join("keys.json"),
        &issuer_dir.with_extension("tag.key"),
        "corrupt",
    )
    .unwrap();
    let d: IssuerDescription =
        serde_json::from_value(get_json(&format!("{}/api/v1/issuer", issuer.url))).unwrap();
    let epoch = letter
        .policy
        .issuers
        .iter()
        .find(|a| a.issuer_id == d.issuer_id)
        .unwrap()
        .epochs[0]
        .clone();
    let mut membership = d.membership();
    membership.roles = d.roles.iter().map(|r| Role::parse(r).unwrap()).collect();
    mint(
        &keys.issuer,
        &membership,
        &epoch,
        email,
        "analyst",
        AgeBand::From30To39,
        &mut rng(seed),
    )
}

#[test]
fn attacks_on_a_live_three_issuer_deployment_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let issuer_dirs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("issuer{i}")))
        .collect();
    let issuers: Vec<Server> = ISSUERS
        .iter()
        .zip(&issuer_dirs)
        .map(|((name, host), d)| start_issuer(d, name, host))
        .collect();
    let mut extra = vec!["--issuer-refresh-secs", "1"];
    for i in &issuers {
        extra.extend(["--issuer", i.url.as_str()]);
    }
    let letters = start_server(&dir.path().join("letters"), &extra);
    let s = letters.url.as_str();
    let order: Vec<&Server> = issuers.iter().collect();
    let home = |n: &str| dir.path().join(format!("holder-{n}"));
    for (n, email) in [
        ("ann", "ann@state.gov"),
        ("bo", "bo@state.gov"),
        ("cy", "cy@usaid.gov"),
    ] {
        request_all(s, &order, &home(n), email);
    }
    statements_count(s, &issuers, "state.gov");
    statements_count(s, &issuers, "usaid.gov");

    // A letter of both organizations needing all three issuers; Ann signs it honestly.
    let handle = open_letter_of(s, dir.path(), 3, &["state.gov", "usaid.gov"]);
    let view = get_json(&format!("{s}/api/v1/letters/{handle}"));
    let letter: Letter = serde_json::from_value(view["letter"].clone()).unwrap();
    let out = crate::run::ok(sign(s, &home("ann"), &handle, "sign"));
    assert!(out.contains("Signature accepted"), "{out}");
    let before = settled(s, &handle, 2);
    assert_eq!(before["signatures"], 1, "{before}");

    // What the attacker holds: each issuer's published sets, and real credentials.
    let sets: BTreeMap<IssuerId, PublishedSets> = letter
        .policy
        .issuers
        .iter()
        .map(|a| {
            let q = format!("issuer={}&epoch={}", a.issuer_id.to_hex(), a.epochs[0]);
            let sets = get_json(&format!("{s}/api/v1/issuer/anonymity-sets?{q}"));
            (a.issuer_id, serde_json::from_value(sets).unwrap())
        })
        .collect();
    let ann = held(&home("ann"), &letter);
    let bo = held(&home("bo"), &letter);
    let cy = held(&home("cy"), &letter);
    assert_eq!((ann.len(), bo.len(), cy.len()), (3, 3, 3));
    let ask = Ask {
        action: Action::Sign,
        choice: DisclosureChoice::default(),
        comment: None,
        consent: SmallOrgConsent::Given,
    };
    let present = |creds: &[&Credential], seed: u64| {
        let held: Vec<Held<'_>> = creds
            .iter()
            .map(|c| Held {
                credential: c,
                sets: &sets[&c.issuer_id],
            })
            .collect();
        present_with(&held, &letter, &ask, &mut rng(seed)).unwrap()
    };
    let a1 = present(&all(&ann), 1);
    let a2 = present(&all(&ann), 2);
    let b = present(&all(&bo), 3);
    let c = present(&all(&cy), 4);
    let with_parts = |e: &SignatureEntry, parts: Vec<_>| SignatureEntry { parts, ..e.clone() };
    let p = |e: &SignatureEntry, i: usize| e.parts[i].clone();

    let mut attacks: Vec<(String, SignatureEntry)> = vec![
        (
            "pooled, spliced".into(),
            with_parts(&b, vec![p(&a1, 0), p(&b, 1), p(&b, 2)]),
        ),
        (
            "pooled, proved over two people's credentials".into(),
            prove_mixed(&b, &[&ann[0], &bo[1], &bo[2]], &mut rng(5)),
        ),
        (
            "a part replayed from another entry".into(),
            with_parts(&a1, vec![p(&a1, 0), p(&a2, 1), p(&a1, 2)]),
        ),
        (
            "a missing part".into(),
            with_parts(&b, b.parts[..2].to_vec()),
        ),
        (
            "the same issuer twice".into(),
            with_parts(&b, vec![p(&b, 0), p(&b, 0), p(&b, 2)]),
        ),
        (
            "parts out of issuer order".into(),
            with_parts(&b, vec![p(&b, 1), p(&b, 0), p(&b, 2)]),
        ),
        (
            "parts disclosing different organizations".into(),
            with_parts(&b, vec![p(&b, 0), p(&c, 1), p(&c, 2)]),
        ),
    ];
    // One corrupt issuer mints a credential for a made-up address and signs with it, its
    // other parts a real person's or forged.
    let ghost = minted(&issuer_dirs[0], &issuers[0], &letter, "ghost@state.gov", 6);
    let ghost_at = ann
        .iter()
        .position(|c| c.issuer_id == ghost.issuer_id)
        .unwrap();
    let mut mixed: Vec<&Credential> = bo.iter().collect();
    mixed[ghost_at] = &ghost;
    attacks.push((
        "a minted credential pooled with a real person's".into(),
        prove_mixed(&b, &mixed, &mut rng(7)),
    ));
    // Issue 9's forgery suite on every part of an otherwise honest entry.
    for (i, part_of) in bo.iter().enumerate() {
        let key = part_of.issuer_public_key().unwrap();
        let f = forge_part(&key, &b, i, &mut rng(10 + i as u64)).unwrap();
        attacks.push((format!("part {i}: forged"), with_forgery_at(&b, i, &f)));
        for (name, v) in variants(&f).into_iter().step_by(4) {
            attacks.push((format!("part {i}: {name}"), with_forgery_at(&b, i, &v)));
        }
    }

    // With f = 2t - n - 1 = 2 corrupt issuers of 3 (t = 3), a real person gets a second pair of
    // credentials from them: the honest third issuer's part repeats, so no second signature.
    let m0 = minted(&issuer_dirs[0], &issuers[0], &letter, "ann@state.gov", 8);
    let m1 = minted(&issuer_dirs[1], &issuers[1], &letter, "ann@state.gov", 9);
    let honest = ann
        .iter()
        .find(|c| c.issuer_id != m0.issuer_id && c.issuer_id != m1.issuer_id)
        .unwrap();
    let second = present(&[&m0, &m1, honest], 11);
    attacks.push((
        "a second signature with two corrupt issuers' credentials".into(),
        second,
    ));

    let mut refused = Vec::new();
    for (name, entry) in &attacks {
        let (status, body) = post(s, &letter, entry);
        assert!(
            (400..500).contains(&status) && status != 429,
            "{name}: {status} {body}"
        );
        refused.push(format!("{status} {name}"));
    }
    println!("refused {} attacks: {}", attacks.len(), refused.join("; "));
    let last = refused.last().unwrap();
    assert!(
        last.starts_with("409"),
        "a double signature is a conflict: {last}"
    );

    // Nothing reached the log: one more batch interval later it holds the opening and Ann.
    std::thread::sleep(Duration::from_secs(3));
    let after = settled(s, &handle, 2);
    assert_eq!(after["published_size"], before["published_size"], "{after}");
    assert_eq!(after["signatures"], 1, "{after}");
    assert_eq!(after["withdrawn"], 0, "{after}");

    // And the bundle verifies, pinned to the deployment.
    let bundle_file = dir.path().join("bundle.json");
    let bundle = ureq::get(&format!("{s}/api/v1/letters/{handle}/bundle"))
        .call()
        .unwrap();
    std::fs::write(&bundle_file, bundle.into_string().unwrap()).unwrap();
    let deployment = dir.path().join("deployment.json");
    let doc = ureq::get(&format!("{s}/api/v1/deployment")).call().unwrap();
    std::fs::write(&deployment, doc.into_string().unwrap()).unwrap();
    let said = crate::run::ok(
        bin()
            .arg("verify")
            .arg(&bundle_file)
            .arg("--deployment")
            .arg(&deployment)
            .output()
            .unwrap(),
    );
    assert!(said.contains("1 distinct verified signature"), "{said}");
}
