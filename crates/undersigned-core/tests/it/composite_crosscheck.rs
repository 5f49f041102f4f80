//! Issue 23: the composite BBS verifier implemented twice. crosscheck/composite.mjs is an
//! independent verifier written from the design text and the CFRG drafts on `@noble/curves`
//! (pinned in crosscheck/package-lock.json, run with the machine's node); it must agree with ours
//! on valid presentations and on every forgery. No node means a failure, not a skip.

use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;
use undersigned_core::bbs::composite::{self, PartSecret, PartStatement};
use undersigned_core::bbs::{self, HolderSecrets, PublicKey};
use undersigned_core::credential::{
    self, Credential, AGE_BAND, EMAIL, EPOCH, MESSAGE_COUNT, ORG, ROLE,
};
use undersigned_core::entry::{presentation_header, Action, Disclosed, SignatureEntry};
use undersigned_core::forge::{forge_entry, variants, Forgery};
use undersigned_core::ids::{AgeBand, OrgId};
use undersigned_core::letter::Letter;

use crate::fixture::*;

fn crosscheck_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crosscheck")
}

/// The version of `@noble/curves` package.json pins, and the one installed (if any).
fn noble_versions(dir: &Path) -> (String, Option<String>) {
    let read =
        |p: PathBuf| -> Option<Value> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    let pinned = read(dir.join("package.json")).unwrap()["dependencies"]["@noble/curves"]
        .as_str()
        .unwrap()
        .to_owned();
    let installed = read(dir.join("node_modules/@noble/curves/package.json"))
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    (pinned, installed)
}

/// Installs the pinned packages on first use (`npm ci`: exactly the lock file), so a fresh
/// clone gets `@noble/curves`, and so does a checkout whose node_modules predates it (where
/// `@noble/curves` 1.x sits at the top as a dependency of `@digitalbazaar/bbs-signatures`).
pub(crate) fn ensure_installed(dir: &Path) {
    // Both crosscheck modules' tests run in parallel: one `npm ci` at a time.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (pinned, installed) = noble_versions(dir);
    if installed.as_deref() == Some(pinned.as_str()) {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("npm is required for the composite crosscheck (install node and npm)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
    assert_eq!(
        noble_versions(dir).1,
        Some(pinned),
        "npm ci installed another version"
    );
}

/// One part of a presentation as the verifier sees it.
#[derive(Clone, Debug)]
struct Part {
    public_key: Vec<u8>,
    header: Vec<u8>,
    proof: Vec<u8>,
    pseudonym: Vec<u8>,
}

/// A statement and presentation to judge, and what it is.
#[derive(Clone, Debug)]
struct Case {
    name: String,
    parts: Vec<Part>,
    ph: Vec<u8>,
    context_id: Vec<u8>,
    disclosed: Vec<(usize, Vec<u8>)>,
    shared: Vec<usize>,
    valid: bool,
}

impl Case {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "parts": self.parts.iter().map(|p| json!({
                "publicKey": hex::encode(&p.public_key),
                "header": hex::encode(&p.header),
                "proof": hex::encode(&p.proof),
                "pseudonym": hex::encode(&p.pseudonym),
            })).collect::<Vec<_>>(),
            "ph": hex::encode(&self.ph),
            "contextId": hex::encode(&self.context_id),
            "messageCount": MESSAGE_COUNT,
            "disclosed": self.disclosed.iter().map(|(i, v)| json!([i, hex::encode(v)])).collect::<Vec<_>>(),
            "shared": self.shared,
        })
    }

    /// A copy with another name, validity and one change.
    fn but(&self, name: &str, change: impl FnOnce(&mut Case)) -> Case {
        let mut c = self.clone();
        c.name = name.to_owned();
        c.valid = false;
        change(&mut c);
        c
    }
}

/// Runs one of the crosscheck scripts on one JSON request and returns its JSON answer.
pub(crate) fn run_node(script: &str, request: &Value) -> Value {
    let dir = crosscheck_dir();
    ensure_installed(&dir);
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is required for the crosschecks (install node)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node {script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// node's verdicts on all cases, in one process, and its run time in milliseconds (as it
/// measured itself, without node's start-up).
fn node_verdicts(cases: &[Case]) -> (Vec<bool>, f64) {
    let request = json!({"cases": cases.iter().map(Case::to_json).collect::<Vec<_>>()});
    // For debugging node's side by hand: `node composite.mjs < that-file`.
    if let Some(dir) = std::env::var_os("UNDERSIGNED_CROSSCHECK_DUMP") {
        let path = PathBuf::from(dir).join(format!("composite-{}.json", cases.len()));
        std::fs::write(path, request.to_string()).unwrap();
    }
    let answer = run_node("composite.mjs", &request);
    let verdicts: Vec<bool> = answer["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    assert_eq!(verdicts.len(), cases.len(), "{answer}");
    (verdicts, answer["ms"].as_f64().unwrap_or(f64::NAN))
}

/// Our single-issuer verifier (`bbs::verify`: zkryptium plus the drafts' checks) on a t = 1 case.
fn rust_single(c: &Case) -> bool {
    let [p] = c.parts.as_slice() else {
        panic!("{}: not one part", c.name)
    };
    let Ok(pk) = PublicKey::from_slice(&p.public_key) else {
        return false;
    };
    bbs::verify(
        &pk,
        &p.header,
        &c.ph,
        &c.context_id,
        MESSAGE_COUNT,
        &c.disclosed,
        &p.proof,
        &p.pseudonym,
    )
    .is_ok()
}

/// The (index, value) pairs a disclosure means under schema v1, ascending.
fn disclosed_messages(d: &Disclosed) -> Vec<(usize, Vec<u8>)> {
    let mut v = vec![
        (ORG, d.org.as_str().as_bytes().to_vec()),
        (EPOCH, d.epoch.as_str().as_bytes().to_vec()),
    ];
    if let Some(r) = &d.role {
        v.push((ROLE, r.as_str().as_bytes().to_vec()));
    }
    if let Some(a) = &d.age_band {
        v.push((AGE_BAND, a.as_str().as_bytes().to_vec()));
    }
    if let Some(e) = &d.email {
        v.push((EMAIL, e.expose().as_bytes().to_vec()));
    }
    v
}

/// The t = 1 case an entry is checked as, with the public key it claims.
fn case_of(name: &str, pk: &PublicKey, e: &SignatureEntry) -> Case {
    Case {
        name: name.to_owned(),
        parts: vec![Part {
            public_key: pk.to_bytes().to_vec(),
            header: credential::header(&e.parts[0].issuer_id),
            proof: e.parts[0].proof.clone(),
            pseudonym: e.parts[0].pseudonym.clone(),
        }],
        ph: presentation_header(&e.letter_id, e.action, e.comment.as_deref()).to_vec(),
        context_id: e.letter_id.0.to_vec(),
        disclosed: disclosed_messages(&e.disclosed),
        shared: vec![EMAIL],
        valid: true,
    }
}

fn with_part_forgery(c: &Case, name: &str, part: usize, f: &Forgery) -> Case {
    c.but(name, |c| {
        c.parts[part].proof = f.proof.clone();
        c.parts[part].pseudonym = f.pseudonym.to_vec();
    })
}

fn forgery_of(p: &Part) -> Forgery {
    Forgery {
        proof: p.proof.clone(),
        pseudonym: p.pseudonym.clone().try_into().unwrap(),
    }
}

/// Flips the low bit of the `k`-th scalar of a proof (0 = e^, ..., last = c).
fn flip_scalar(proof: &mut [u8], k: usize) {
    proof[3 * 48 + 32 * k + 31] ^= 1;
}

/// Valid single-issuer presentations and forgeries of them, every one judged by node and by
/// `bbs::verify`.
fn single_issuer_cases() -> Vec<Case> {
    let (mut w, creds) = populated(2301);
    let sets = w.sets();
    let letter: Letter = w.letter("Composite crosscheck", all_disclosures());
    let other_letter = w.letter("Another letter", all_disclosures());
    let pk = w.issuer.keys.public_key().clone();
    let mut cases = vec![];

    let plain = sign(&creds[0], &letter, &sets, Default::default(), None);
    let base = case_of("t1 valid: org and epoch", &pk, &plain);
    cases.push(base.clone());
    let rich = sign(
        &creds[1],
        &letter,
        &sets,
        undersigned_core::entry::DisclosureChoice {
            role: true,
            age_band: true,
            email: false,
        },
        Some("a comment"),
    );
    let rich_case = case_of("t1 valid: role and age band, comment", &pk, &rich);
    cases.push(rich_case.clone());
    let withdrawal = withdraw(&creds[0], &letter, &sets);
    cases.push(case_of("t1 valid: withdrawal", &pk, &withdrawal));
    let elsewhere = sign(&creds[0], &other_letter, &sets, Default::default(), None);
    cases.push(case_of(
        "t1 valid: same credential, other letter",
        &pk,
        &elsewhere,
    ));

    // The attacker's forgery (identity Abar and Bbar) and each of its variants.
    let d = Disclosed {
        org: OrgId::parse("defense.gov").unwrap(),
        epoch: w.epoch.clone(),
        role: None,
        age_band: None,
        email: None,
    };
    let id = w.issuer.keys.id();
    let forged = forge_entry(&pk, &id, &letter.id(), Action::Sign, d, None, &mut w.rng).unwrap();
    let forged_case = case_of("t1 forged entry", &pk, &forged);
    cases.push(Case {
        valid: false,
        ..forged_case.clone()
    });
    for (name, f) in variants(&forgery_of(&forged_case.parts[0])) {
        cases.push(with_part_forgery(
            &forged_case,
            &format!("t1 forged entry, variant {name}"),
            0,
            &f,
        ));
    }
    // The same spoilings applied to a real presentation.
    for (name, f) in variants(&forgery_of(&base.parts[0])) {
        cases.push(with_part_forgery(
            &base,
            &format!("t1 valid spoiled: {name}"),
            0,
            &f,
        ));
    }

    // Tampering with a real presentation.
    for k in 0..9 {
        cases.push(base.but(&format!("t1 scalar {k} flipped"), |c| {
            flip_scalar(&mut c.parts[0].proof, k);
        }));
    }
    cases.push(base.but("t1 wrong ph (withdraw for sign)", |c| {
        c.ph = presentation_header(&letter.id(), Action::Withdraw, None).to_vec();
    }));
    cases.push(base.but("t1 wrong ph (a comment added)", |c| {
        c.ph = presentation_header(&letter.id(), Action::Sign, Some("x")).to_vec();
    }));
    cases.push(base.but("t1 wrong context (other letter)", |c| {
        c.context_id = other_letter.id().0.to_vec();
    }));
    cases.push(base.but("t1 pseudonym of the other letter", |c| {
        c.parts[0].pseudonym = elsewhere.parts[0].pseudonym.clone();
    }));
    let stranger = World::new(2302);
    let stranger_pk = stranger.issuer.keys.public_key().to_bytes().to_vec();
    cases.push(base.but("t1 wrong key (another issuer's)", |c| {
        c.parts[0].public_key = stranger_pk.clone();
    }));
    cases.push(base.but("t1 wrong header (another issuer's id)", |c| {
        c.parts[0].header = credential::header(&stranger.issuer.keys.id());
    }));
    cases.push(base.but("t1 swapped disclosed org", |c| {
        c.disclosed[0].1 = b"usaid.gov".to_vec();
    }));
    cases.push(base.but("t1 swapped disclosed epoch", |c| {
        c.disclosed[1].1 = b"2027-Q1".to_vec();
    }));
    cases.push(rich_case.but("t1 swapped disclosed role", |c| {
        c.disclosed[2].1 = b"officer".to_vec();
    }));
    cases.push(rich_case.but("t1 a disclosure dropped", |c| {
        c.disclosed.pop();
    }));
    cases.push(base.but("t1 a disclosure added (age band)", |c| {
        c.disclosed
            .push((AGE_BAND, AgeBand::From30To39.as_str().as_bytes().to_vec()));
    }));
    cases.push(base.but("t1 proof of another entry", |c| {
        c.parts[0].proof = rich.parts[0].proof.clone();
    }));
    cases.push(base.but("t1 trailing byte", |c| c.parts[0].proof.push(0)));
    cases.push(base.but("t1 truncated", |c| {
        c.parts[0].proof.pop();
    }));
    cases.push(base.but("t1 empty proof", |c| c.parts[0].proof.clear()));
    cases
}

fn assert_agree(cases: &[Case], rust: &dyn Fn(&Case) -> Vec<(&'static str, bool)>) {
    let started = Instant::now();
    let (node, ms) = node_verdicts(cases);
    let wall = started.elapsed();
    let mut wrong = vec![];
    let list = std::env::var_os("UNDERSIGNED_CROSSCHECK_LIST").is_some();
    for (c, n) in cases.iter().zip(&node) {
        let verdicts = rust(c);
        if list {
            println!("{:5} t={} {} | {verdicts:?}", n, c.parts.len(), c.name);
        }
        let all_agree = verdicts.iter().all(|(_, v)| v == n);
        if !all_agree || *n != c.valid {
            wrong.push(format!(
                "{}: expected {}, node {n}, {verdicts:?}",
                c.name, c.valid
            ));
        }
    }
    let valid = cases.iter().filter(|c| c.valid).count();
    println!(
        "composite crosscheck: {} cases ({valid} valid), node {ms:.0} ms verifying, {:.0} ms with start-up",
        cases.len(),
        wall.as_secs_f64() * 1000.0
    );
    assert!(wrong.is_empty(), "disagreements:\n{}", wrong.join("\n"));
}

#[test]
fn single_issuer_presentations_agree_with_noble() {
    let cases = single_issuer_cases();
    assert!(cases.len() > 100, "only {} cases", cases.len());
    assert_agree(&cases, &|c| vec![("bbs::verify", rust_single(c))]);
}

#[test]
fn malformed_requests_are_false_not_a_crash() {
    let (mut w, creds) = populated(2303);
    let sets = w.sets();
    let letter = w.letter("Malformed", all_disclosures());
    let e = sign(&creds[0], &letter, &sets, Default::default(), None);
    let base = case_of("valid", w.issuer.keys.public_key(), &e);
    let _ = &mut w;
    let mut cases = vec![base.clone()];
    cases.push(base.but("no parts", |c| c.parts.clear()));
    cases.push(base.but("pseudonym too short", |c| {
        c.parts[0].pseudonym.truncate(10);
    }));
    cases.push(base.but("key too short", |c| c.parts[0].public_key.truncate(95)));
    cases.push(base.but("disclosed index out of range", |c| {
        c.disclosed.push((7, b"x".to_vec()));
    }));
    cases.push(base.but("disclosed indexes not ascending", |c| {
        c.disclosed.swap(0, 1)
    }));
    cases.push(base.but("shared index out of range", |c| c.shared = vec![9]));
    let (node, _) = node_verdicts(&cases);
    let expected: Vec<bool> = cases.iter().map(|c| c.valid).collect();
    assert_eq!(node, expected);
}

// ---- Several issuers ----

/// One person's credentials, one per issuer, with what a part needs to be proven.
struct Holding {
    keys: Vec<PublicKey>,
    headers: Vec<Vec<u8>>,
    messages: Vec<Vec<Vec<u8>>>,
    secrets: Vec<[Vec<u8>; 3]>,
}

impl Holding {
    fn new(creds: Vec<Credential>) -> Self {
        let keys = creds
            .iter()
            .map(|c| c.issuer_public_key().unwrap())
            .collect();
        let headers = creds
            .iter()
            .map(|c| credential::header(&c.issuer_id))
            .collect();
        let messages = creds
            .iter()
            .map(|c| c.attributes.messages().to_vec())
            .collect();
        let secrets = creds
            .iter()
            .map(|c| {
                let f = c.secret_fingerprints();
                [
                    hex::decode(&f[0]).unwrap(),
                    hex::decode(&f[1]).unwrap(),
                    hex::decode(&f[2]).unwrap(),
                ]
            })
            .collect();
        Self {
            keys,
            headers,
            messages,
            secrets,
        }
    }
}

/// The statement a composite presentation is checked against.
struct Statement {
    ph: Vec<u8>,
    context_id: Vec<u8>,
    disclosed_idx: Vec<usize>,
}

/// Three issuers (worlds of their own), in issuer-id order.
fn three_issuers() -> Vec<World> {
    let mut ws: Vec<World> = (0..3).map(|i| World::new(2310 + i)).collect();
    ws.sort_by_key(|w| w.issuer.keys.id().to_hex());
    ws
}

/// One person's credentials from these issuers, role by issuer.
fn holding(ws: &mut [World], email: &str, roles: &[&str]) -> Holding {
    let creds = ws
        .iter_mut()
        .zip(roles)
        .map(|(w, r)| w.credential(email, r, AgeBand::From30To39))
        .collect();
    Holding::new(creds)
}

/// A composite presentation made by the independent prover (crosscheck/composite-prove.mjs)
/// from these (holding, credential index) parts, in this order.
fn node_prove(name: &str, parts: &[(&Holding, usize)], st: &Statement) -> Case {
    let request = json!({
        "parts": parts.iter().map(|(h, k)| json!({
            "publicKey": hex::encode(h.keys[*k].to_bytes()),
            "header": hex::encode(&h.headers[*k]),
            "messages": h.messages[*k].iter().map(hex::encode).collect::<Vec<_>>(),
            "signature": hex::encode(&h.secrets[*k][0]),
            "nymSecret": hex::encode(&h.secrets[*k][1]),
            "proverBlind": hex::encode(&h.secrets[*k][2]),
        })).collect::<Vec<_>>(),
        "ph": hex::encode(&st.ph),
        "contextId": hex::encode(&st.context_id),
        "disclosed": st.disclosed_idx,
        "shared": [EMAIL],
    });
    let answer = run_node("composite-prove.mjs", &request);
    let (h0, k0) = parts[0];
    Case {
        name: name.to_owned(),
        parts: parts
            .iter()
            .zip(answer["parts"].as_array().unwrap())
            .map(|((h, k), p)| Part {
                public_key: h.keys[*k].to_bytes().to_vec(),
                header: h.headers[*k].clone(),
                proof: hex::decode(p["proof"].as_str().unwrap()).unwrap(),
                pseudonym: hex::decode(p["pseudonym"].as_str().unwrap()).unwrap(),
            })
            .collect(),
        ph: st.ph.clone(),
        context_id: st.context_id.clone(),
        disclosed: st
            .disclosed_idx
            .iter()
            .map(|i| (*i, h0.messages[k0][*i].clone()))
            .collect(),
        shared: vec![EMAIL],
        valid: true,
    }
}

fn signing(letter: &Letter, action: Action, disclosed: &[usize]) -> Statement {
    Statement {
        ph: presentation_header(&letter.id(), action, None).to_vec(),
        context_id: letter.id().0.to_vec(),
        disclosed_idx: disclosed.to_vec(),
    }
}

/// Presentations from the independent prover: valid under node's verifier and ours (t = 1:
/// `bbs::verify`, i.e. zkryptium plus the drafts' checks), and refused when spoiled.
#[test]
fn presentations_of_the_independent_prover() {
    let mut ws = three_issuers();
    let p = holding(&mut ws, "p@state.gov", &["analyst"; 3]);
    let letter = ws[0].letter("Composite crosscheck", all_disclosures());
    let sign = signing(&letter, Action::Sign, &[ORG, EPOCH]);
    let rich = signing(&letter, Action::Sign, &[ORG, EPOCH, ROLE, AGE_BAND]);
    let mut cases = vec![];
    for k in 0..3 {
        cases.push(node_prove(
            &format!("node t=1 issuer {k}"),
            &[(&p, k)],
            &sign,
        ));
    }
    cases.push(node_prove("node t=1 role and age band", &[(&p, 1)], &rich));
    let t2 = node_prove("node t=2", &[(&p, 0), (&p, 2)], &sign);
    let t3 = node_prove("node t=3", &[(&p, 0), (&p, 1), (&p, 2)], &rich);
    let unordered = node_prove(
        "node t=3 not in issuer-id order",
        &[(&p, 1), (&p, 0), (&p, 2)],
        &sign,
    );
    cases.extend([
        t2.clone(),
        t3.clone(),
        Case {
            valid: false,
            ..unordered
        },
    ]);
    cases.push(t3.but("node t=3, part 1 dropped", |c| {
        c.parts.remove(1);
    }));
    cases.push(t3.but("node t=3, shared response tampered in part 2", |c| {
        // Hidden with role and age band disclosed: email, prover blind, nym secret.
        flip_scalar(&mut c.parts[2].proof, 3);
    }));
    cases.push(t2.but("node t=2, swapped", |c| c.parts.swap(0, 1)));
    let (node, _) = node_verdicts(&cases);
    for (c, n) in cases.iter().zip(&node) {
        assert_eq!(*n, c.valid, "node on {}", c.name);
        if c.parts.len() == 1 {
            assert_eq!(rust_single(c), c.valid, "bbs::verify on {}", c.name);
        }
    }
}

impl Holding {
    fn part_secret(&self, k: usize) -> PartSecret<'_> {
        let [signature, nym_secret, prover_blind] = &self.secrets[k];
        PartSecret {
            public_key: &self.keys[k],
            header: &self.headers[k],
            messages: &self.messages[k],
            secrets: HolderSecrets {
                signature: signature.as_slice().try_into().unwrap(),
                nym_secret: nym_secret.as_slice().try_into().unwrap(),
                prover_blind: prover_blind.as_slice().try_into().unwrap(),
            },
        }
    }
}

/// Proves with these (holding, credential index) parts, in this order; the case lists the
/// disclosed values of the first part.
fn prove_case(
    name: &str,
    parts: &[(&Holding, usize)],
    st: &Statement,
    rng: &mut ChaCha20Rng,
) -> Result<Case, bbs::CryptoError> {
    let secrets: Vec<PartSecret<'_>> = parts.iter().map(|(h, k)| h.part_secret(*k)).collect();
    let presentations = composite::prove(
        &secrets,
        &st.ph,
        &st.context_id,
        &st.disclosed_idx,
        &[EMAIL],
        rng,
    )?;
    let (h0, k0) = parts[0];
    Ok(Case {
        name: name.to_owned(),
        parts: parts
            .iter()
            .zip(&presentations)
            .map(|((h, k), p)| Part {
                public_key: h.keys[*k].to_bytes().to_vec(),
                header: h.headers[*k].clone(),
                proof: p.proof.clone(),
                pseudonym: p.pseudonym.to_vec(),
            })
            .collect(),
        ph: st.ph.clone(),
        context_id: st.context_id.clone(),
        disclosed: st
            .disclosed_idx
            .iter()
            .map(|i| (*i, h0.messages[k0][*i].clone()))
            .collect(),
        shared: vec![EMAIL],
        valid: true,
    })
}

fn rust_composite(c: &Case) -> Vec<(&'static str, bool)> {
    let keys: Vec<Option<PublicKey>> = c
        .parts
        .iter()
        .map(|p| PublicKey::from_slice(&p.public_key).ok())
        .collect();
    if keys.iter().any(Option::is_none) {
        return vec![
            ("composite::verify", false),
            ("fast::verify_composite", false),
        ];
    }
    let statements: Vec<PartStatement<'_>> = c
        .parts
        .iter()
        .zip(&keys)
        .map(|(p, k)| PartStatement {
            public_key: k.as_ref().unwrap(),
            header: &p.header,
            proof: &p.proof,
            pseudonym: &p.pseudonym,
        })
        .collect();
    let reference = composite::verify(
        &statements,
        &c.ph,
        &c.context_id,
        MESSAGE_COUNT,
        &c.disclosed,
        &c.shared,
    )
    .is_ok();
    let fast = bbs::fast::verify_composite(
        &statements,
        &c.ph,
        &c.context_id,
        MESSAGE_COUNT,
        &c.disclosed,
        &c.shared,
    )
    .is_ok();
    let mut v = vec![
        ("composite::verify", reference),
        ("fast::verify_composite", fast),
    ];
    if c.parts.len() == 1 {
        v.push(("bbs::verify", rust_single(c)));
    }
    v
}

fn replace_part(c: &Case, name: &str, k: usize, from: &Case, j: usize) -> Case {
    c.but(name, |c| c.parts[k] = from.parts[j].clone())
}

/// Valid composite presentations (t = 1, 2, 3) and forgeries of them.
fn composite_cases() -> Vec<Case> {
    let mut ws = three_issuers();
    let analysts = ["analyst"; 3];
    let p = holding(&mut ws, "p@state.gov", &analysts);
    let q = holding(&mut ws, "q@state.gov", &analysts);
    let liar = holding(&mut ws, "l@state.gov", &["analyst", "officer", "analyst"]);
    let letter = ws[0].letter("Composite crosscheck", all_disclosures());
    let other = ws[0].letter("Another letter", all_disclosures());
    let mut rng = rng(2320);
    let st = signing;
    let sign = st(&letter, Action::Sign, &[ORG, EPOCH]);
    let rich = st(&letter, Action::Sign, &[ORG, EPOCH, ROLE, AGE_BAND]);
    let mut cases = vec![];
    let mut prove = |name: &str, parts: &[(&Holding, usize)], st: &Statement| {
        prove_case(name, parts, st, &mut rng).unwrap()
    };

    // Valid: every subset of issuers, in issuer-id order.
    let t1 = prove("t=1 valid (issuer 0)", &[(&p, 0)], &sign);
    let t2 = prove("t=2 valid (issuers 0, 1)", &[(&p, 0), (&p, 1)], &sign);
    let t2b = prove("t=2 valid (issuers 0, 2)", &[(&p, 0), (&p, 2)], &sign);
    let t2c = prove("t=2 valid (issuers 1, 2)", &[(&p, 1), (&p, 2)], &sign);
    let t3 = prove("t=3 valid", &[(&p, 0), (&p, 1), (&p, 2)], &sign);
    let t3_again = prove(
        "t=3 valid, proven again",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &sign,
    );
    let t3_rich = prove(
        "t=3 valid, role and age band",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &rich,
    );
    let t3_q = prove(
        "t=3 valid, another person",
        &[(&q, 0), (&q, 1), (&q, 2)],
        &sign,
    );
    let t3_withdraw = prove(
        "t=3 valid, withdrawal",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &st(&letter, Action::Withdraw, &[ORG, EPOCH]),
    );
    let t3_other = prove(
        "t=3 valid, another letter",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &st(&other, Action::Sign, &[ORG, EPOCH]),
    );
    let liar_hidden = prove(
        "t=3 valid, roles differ but stay hidden",
        &[(&liar, 0), (&liar, 1), (&liar, 2)],
        &sign,
    );
    cases.extend([
        t1.clone(),
        t2.clone(),
        t2b,
        t2c,
        t3.clone(),
        t3_again.clone(),
        t3_rich.clone(),
        t3_q.clone(),
        t3_withdraw,
        t3_other.clone(),
        liar_hidden,
    ]);

    // A named signature: the email disclosed, so the shared message is disclosed too.
    match prove_case(
        "t=3 valid, named (email disclosed)",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &st(&letter, Action::Sign, &[ORG, EPOCH, EMAIL]),
        &mut rng,
    ) {
        Ok(c) => cases.push(c),
        Err(_) => println!("composite::prove refuses to disclose the shared message"),
    }

    // Presentations from the independent prover.
    cases.push(node_prove(
        "node-proven t=3",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &sign,
    ));
    cases.push(node_prove(
        "node-proven t=2, role and age band",
        &[(&p, 1), (&p, 2)],
        &rich,
    ));
    cases.push(node_prove(
        "node-proven t=3, named (email disclosed)",
        &[(&p, 0), (&p, 1), (&p, 2)],
        &st(&letter, Action::Sign, &[ORG, EPOCH, EMAIL]),
    ));
    cases.push(Case {
        valid: false,
        ..node_prove(
            "node-proven, pooled (p, q, q)",
            &[(&p, 0), (&q, 1), (&q, 2)],
            &sign,
        )
    });

    // Pooling: two people's credentials proven together (message 4 differs).
    match prove_case(
        "pooled: p's part 0, q's parts 1 and 2, proven together",
        &[(&p, 0), (&q, 1), (&q, 2)],
        &sign,
        &mut rng,
    ) {
        Ok(c) => cases.push(Case { valid: false, ..c }),
        Err(_) => println!("composite::prove refuses to pool two people's credentials"),
    }
    cases.push(replace_part(
        &t3,
        "pooled: q's part 1 in p's presentation",
        1,
        &t3_q,
        1,
    ));
    // Disclosed values that differ between parts.
    match prove_case(
        "disclosed role differs between parts, proven together",
        &[(&liar, 0), (&liar, 1), (&liar, 2)],
        &st(&letter, Action::Sign, &[ORG, EPOCH, ROLE]),
        &mut rng,
    ) {
        Ok(c) => cases.push(Case { valid: false, ..c }),
        Err(_) => println!("composite::prove refuses disclosures that differ between parts"),
    }
    cases.push(t3.but(
        "disclosed sets differ: parts 1, 2 disclose role and age band",
        |c| {
            c.parts[1] = t3_rich.parts[1].clone();
            c.parts[2] = t3_rich.parts[2].clone();
        },
    ));
    cases.push(t3_rich.but(
        "disclosed sets differ: part 0 discloses only org and epoch",
        |c| {
            c.parts[0] = t3.parts[0].clone();
        },
    ));
    // Replayed, dropped, duplicated, reordered parts.
    for k in 0..3 {
        cases.push(replace_part(
            &t3,
            &format!("part {k} replayed from another presentation"),
            k,
            &t3_again,
            k,
        ));
        cases.push(replace_part(
            &t3,
            &format!("part {k} replayed from another letter"),
            k,
            &t3_other,
            k,
        ));
        cases.push(t3.but(&format!("part {k} dropped"), |c| {
            c.parts.remove(k);
        }));
        cases.push(t3.but(&format!("part {k} duplicated"), |c| {
            let part = c.parts[k].clone();
            c.parts.insert(k, part);
        }));
    }
    cases.push(t3.but("parts 0 and 1 swapped", |c| c.parts.swap(0, 1)));
    cases.push(t3.but("parts reversed", |c| c.parts.reverse()));
    cases.push(t2.but("t=2, parts swapped", |c| c.parts.swap(0, 1)));
    cases.push(t2.but("t=2 presented as t=1", |c| {
        c.parts.truncate(1);
    }));
    cases.push(
        t1.but("t=1 with a part of another presentation added", |c| {
            c.parts.push(t3.parts[1].clone());
        }),
    );
    // Responses and challenges.
    let email_hat = 3 + 2; // hidden: role, age band, email, ... (org and epoch disclosed)
    let last = |c: &Case| (c.parts[0].proof.len() - 3 * 48) / 32 - 1;
    for k in 0..3 {
        cases.push(
            t3.but(&format!("shared response tampered in part {k}"), |c| {
                flip_scalar(&mut c.parts[k].proof, email_hat);
            }),
        );
        cases.push(t3.but(&format!("challenge differs in part {k}"), |c| {
            let n = last(c);
            flip_scalar(&mut c.parts[k].proof, n);
        }));
        cases.push(
            t3.but(&format!("a hidden response tampered in part {k}"), |c| {
                flip_scalar(&mut c.parts[k].proof, 3);
            }),
        );
    }
    cases.push(t3.but("shared response tampered alike in every part", |c| {
        for k in 0..3 {
            flip_scalar(&mut c.parts[k].proof, email_hat);
        }
    }));
    cases.push(t3.but("challenge changed alike in every part", |c| {
        let n = last(c);
        for k in 0..3 {
            flip_scalar(&mut c.parts[k].proof, n);
        }
    }));
    // Malformed statements.
    cases.push(t3.but("no parts at all", |c| c.parts.clear()));
    cases.push(t3.but("disclosed pairs not in ascending index order", |c| {
        c.disclosed.swap(0, 1);
    }));
    cases.push(t3.but("a disclosed index twice", |c| {
        let first = c.disclosed[0].clone();
        c.disclosed.insert(0, first);
    }));
    cases.push(t3.but("shared index out of range", |c| {
        c.shared = vec![MESSAGE_COUNT]
    }));
    // The statement.
    cases.push(t3.but("t=3 wrong ph", |c| {
        c.ph = presentation_header(&letter.id(), Action::Withdraw, None).to_vec();
    }));
    cases.push(t3.but("t=3 wrong context", |c| {
        c.context_id = other.id().0.to_vec();
    }));
    cases.push(t3.but("t=3 swapped disclosed org", |c| {
        c.disclosed[0].1 = b"usaid.gov".to_vec();
    }));
    cases.push(t3.but("t=3 keys of parts 0 and 1 swapped", |c| {
        let k0 = c.parts[0].public_key.clone();
        c.parts[0].public_key = c.parts[1].public_key.clone();
        c.parts[1].public_key = k0;
    }));
    cases.push(t3.but("t=3 part 2 under a stranger's key", |c| {
        c.parts[2].public_key = World::new(2399)
            .issuer
            .keys
            .public_key()
            .to_bytes()
            .to_vec();
    }));
    cases.push(t3.but("t=3 part 1 with part 0's header", |c| {
        c.parts[1].header = c.parts[0].header.clone();
    }));
    cases.push(t3.but("t=3 pseudonyms of parts 0 and 1 swapped", |c| {
        let n0 = c.parts[0].pseudonym.clone();
        c.parts[0].pseudonym = c.parts[1].pseudonym.clone();
        c.parts[1].pseudonym = n0;
    }));
    // The attacker's forgery as one part, and every spoiling of each part.
    for (k, w) in ws.iter_mut().enumerate() {
        let d = Disclosed {
            org: OrgId::parse("state.gov").unwrap(),
            epoch: w.epoch.clone(),
            role: None,
            age_band: None,
            email: None,
        };
        let pk = w.issuer.keys.public_key().clone();
        let forged = forge_entry(
            &pk,
            &w.issuer.keys.id(),
            &letter.id(),
            Action::Sign,
            d,
            None,
            &mut w.rng,
        )
        .unwrap();
        let f = Forgery {
            proof: forged.parts[0].proof.clone(),
            pseudonym: forged.parts[0].pseudonym.clone().try_into().unwrap(),
        };
        cases.push(with_part_forgery(
            &t3,
            &format!("forger's part in place of part {k}"),
            k,
            &f,
        ));
        for (name, f) in variants(&forgery_of(&t3.parts[k])) {
            cases.push(with_part_forgery(
                &t3,
                &format!("part {k} spoiled: {name}"),
                k,
                &f,
            ));
        }
    }
    cases
}

#[test]
fn composite_presentations_agree_with_noble() {
    let cases = composite_cases();
    assert!(cases.len() > 100, "only {} cases", cases.len());
    assert_agree(&cases, &rust_composite);
}

#[test]
fn single_issuer_presentations_agree_with_the_composite_verifiers() {
    // Every t = 1 case also through composite::verify and fast::verify_composite.
    let cases = single_issuer_cases();
    assert_agree(&cases, &rust_composite);
}

/// The design defines the challenge over the parts "in issuer-id order": every verifier
/// enforces it itself (node's, `composite::verify`, `fast::verify_composite`), not only
/// `entry::verify`, and our prover refuses another order.
#[test]
fn order_of_parts_is_checked_by_every_verifier() {
    let mut ws = three_issuers();
    let p = holding(&mut ws, "p@state.gov", &["analyst"; 3]);
    let letter = ws[0].letter("Composite crosscheck", all_disclosures());
    let sign = signing(&letter, Action::Sign, &[ORG, EPOCH]);
    let unordered = Case {
        valid: false,
        ..node_prove(
            "node-proven t=3 outside issuer-id order",
            &[(&p, 2), (&p, 0), (&p, 1)],
            &sign,
        )
    };
    // Our prover refuses to prove outside issuer-id order at all.
    let mut r = rng(2330);
    assert!(prove_case(
        "t=2 outside issuer-id order",
        &[(&p, 1), (&p, 0)],
        &sign,
        &mut r
    )
    .is_err());
    let cases = vec![unordered];
    let (node, _) = node_verdicts(&cases);
    for (c, n) in cases.iter().zip(node) {
        assert!(!n, "node accepts {}", c.name);
        assert_eq!(
            rust_composite(c),
            [
                ("composite::verify", false),
                ("fast::verify_composite", false)
            ],
            "{}",
            c.name
        );
    }
}
