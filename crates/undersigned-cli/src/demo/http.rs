//! The demo over the real product: HTTP to a server (in this process unless --server), codes
//! through SMTP into the dev outbox, credentials and proofs made client-side, batches, close,
//! bundle, offline verification and inclusion checks.

use crate::serve::bar;
use anyhow::{anyhow, bail, Context};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use undersigned_core::bundle::verify_bundle;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::letter::{AllowedDisclosures, Recipient, Visibility};
use undersigned_server::api::letters::{LetterInput, PolicyInput};
use undersigned_server::api::read::TallyView;

use super::offline::{weighted, AGE_WEIGHTS, LETTER_BODY, ROLES};
use super::Args;
use crate::client::Client;
use crate::holder::{self, SavedReceipt, SignOptions};
use crate::organizer;

/// Waits for the delivery mails and returns each recipient's response-link token, in order.
fn delivery_links(
    client: &Client,
    letter_id: &str,
    recipients: &[Recipient],
) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    loop {
        let mails: Vec<serde_json::Value> = client.get_json("/api/dev/outbox", None)?;
        let links: Vec<Option<String>> = recipients
            .iter()
            .map(|r| {
                mails.iter().rev().find_map(|m| {
                    let to_them = m["to"].as_array().is_some_and(|to| {
                        to.iter().any(|t| t.as_str() == Some(r.address.as_str()))
                    });
                    let body = m["body"].as_str().unwrap_or_default();
                    if !to_them || !body.contains(letter_id) {
                        return None;
                    }
                    body.split_whitespace()
                        .find_map(|w| w.split_once("/respond#").map(|(_, t)| t.to_owned()))
                })
            })
            .collect();
        if links.iter().all(Option::is_some) {
            return Ok(links.into_iter().flatten().collect());
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the letter was not delivered to every recipient within a minute");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads the newest code sent to `email` from the dev outbox.
fn code_from_outbox(client: &Client, email: &str) -> anyhow::Result<String> {
    for _ in 0..100 {
        let mails: Vec<serde_json::Value> = client.get_json("/api/dev/outbox", None)?;
        let found = mails.iter().rev().find(|m| {
            m["to"].as_array().is_some_and(|to| {
                to.iter()
                    .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(email)))
            })
        });
        if let Some(m) = found {
            let body = m["body"].as_str().unwrap_or_default();
            let code: String = body
                .split_whitespace()
                .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no code in the mail"))?;
            return Ok(code);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("no mail arrived in the dev outbox (is the server running with --dev?)")
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.signers == 0 {
        bail!("--signers must be at least 1");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let work = tempfile::tempdir()?;
    let (url, _runtime) = match &args.server {
        Some(u) => (u.clone(), None),
        None => {
            let (u, rt) = crate::serve::start_in_process(
                &work.path().join("server"),
                None,
                "demo.undersigned.local",
                args.publish_interval,
            )?;
            println!("started a dev server at {u} (SQLite, dev outbox)");
            (u, Some(rt))
        }
    };
    let client = Client::new(&url);
    let info: undersigned_server::api::issuance::DeploymentInfo =
        client.get_json("/api/v1/deployment", None)?;
    // Largest agencies first, in the order the default deployment lists them.
    let rank = |d: &str| {
        undersigned_server::config::DEFAULT_ORGS
            .iter()
            .position(|(x, _)| *x == d)
            .unwrap_or(usize::MAX)
    };
    let mut orgs: Vec<(String, String)> = info
        .orgs
        .iter()
        .map(|o| (o.domain.clone(), o.name.clone()))
        .collect();
    orgs.sort_by_key(|(d, _)| rank(d));
    let agencies: Vec<(String, String)> = orgs.into_iter().take(args.orgs).collect();
    if agencies.is_empty() || args.orgs > info.orgs.len() {
        bail!(
            "--orgs must be between 1 and {} (the deployment's organizations)",
            info.orgs.len()
        );
    }
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);

    // The organizer drafts and opens the letter.
    let home = work.path().join("organizer");
    let input = LetterInput {
        title: "Letter to the President from federal staff urging a ceasefire".into(),
        body: LETTER_BODY.into(),
        recipients: vec![
            Recipient {
                name: "The President".into(),
                address: "president@whitehouse.gov".into(),
                role: Some("President of the United States".into()),
            },
            Recipient {
                name: "The Secretary of State".into(),
                address: "secretary@state.gov".into(),
                role: Some("Secretary of State".into()),
            },
            Recipient {
                name: "The National Security Advisor".into(),
                address: "nsa@whitehouse.gov".into(),
                role: Some("Assistant to the President for National Security Affairs".into()),
            },
        ],
        response_days: Some(30),
        reminder_days: vec![14, 28],
        policy: PolicyInput {
            orgs: agencies.iter().map(|(d, _)| d.clone()).collect(),
            disclosures: AllowedDisclosures {
                role: true,
                age_band: true,
                email: false,
            },
            k: None,
            deadline: undersigned_server::now() + 86_400,
            visibility: Visibility::Public,
            publish_interval_secs: Some(args.publish_interval),
            epochs: vec![],
            issuers: vec![],
            comments: None,
        },
    };
    let created = organizer::create(&client, &home, &input)?;
    let opened = organizer::open(&client, &created.handle, &created.organizer_token)?;
    let letter_id = opened.letter_id.clone();
    println!("letter {letter_id} opened");

    // Staff get credentials through their work mail.
    let weights: Vec<(usize, u32)> = (0..agencies.len())
        .map(|i| (i, (1000.0 / (i as f64 + 1.0).powf(0.9)) as u32 + 1))
        .collect();
    let mut org_of: Vec<usize> = (0..agencies.len()).collect();
    while org_of.len() < args.signers {
        org_of.push(weighted(&mut rng, &weights, 0));
    }
    org_of.truncate(args.signers);
    let pb = bar(args.signers, "issuing credentials");
    let mut people: Vec<Credential> = Vec::with_capacity(args.signers);
    let run_tag: u32 = rng.gen();
    for (n, &org) in org_of.iter().enumerate() {
        let domain = &agencies.get(org).ok_or_else(|| anyhow!("org index"))?.0;
        let email = format!("staffer{n}.{run_tag:08x}@{domain}");
        let role = weighted(&mut rng, ROLES, "unspecified");
        let age = weighted(&mut rng, AGE_WEIGHTS, AgeBand::Unspecified);
        let c = holder::obtain_current(&client, &email, role, age.as_str(), &mut || {
            code_from_outbox(&client, &email)
        })?;
        people.push(c);
        pb.inc(1);
    }
    pb.finish();

    // They sign, each disclosing what they want minus what the small-cell guard forbids.
    let holder_home = work.path().join("holder");
    let sets: undersigned_core::anonymity::PublishedSets =
        client.get_json("/api/v1/issuer/anonymity-sets", None)?;
    let k = info.k;
    let pb = bar(args.signers, "signing");
    let started = Instant::now();
    let mut receipts: Vec<SavedReceipt> = Vec::new();
    let mut trimmed = 0;
    for c in &people {
        let a = &c.attributes;
        let mut choice = DisclosureChoice {
            role: rng.gen_bool(0.7),
            age_band: rng.gen_bool(0.5),
            email: false,
        };
        if sets
            .check_disclosure(
                &a.org,
                choice.role.then_some(&a.role),
                choice.age_band.then_some(a.age_band),
                k,
            )
            .is_err()
        {
            choice.age_band = false;
            if sets
                .check_disclosure(&a.org, choice.role.then_some(&a.role), None, k)
                .is_err()
            {
                choice.role = false;
            }
            trimmed += 1;
        }
        let comment = rng
            .gen_bool(0.1)
            .then(|| "I sign because I have to be able to look my children in the eye.".to_owned());
        let opts = SignOptions {
            action: Action::Sign,
            choice,
            comment,
            consent_small_org: true,
            random_delay: false,
        };
        receipts.push(holder::submit_with(
            &client,
            &holder_home,
            c,
            &letter_id,
            &opts,
        )?);
        pb.inc(1);
    }
    pb.finish();
    let sign_secs = started.elapsed().as_secs_f64();

    // One person tries to sign twice; the server refuses.
    let mut refused = Vec::new();
    if let Some(c) = people.first() {
        let opts = SignOptions {
            action: Action::Sign,
            choice: DisclosureChoice::default(),
            comment: Some("again".into()),
            consent_small_org: true,
            random_delay: false,
        };
        match holder::submit_with(&client, &holder_home, c, &letter_id, &opts) {
            Err(e) => refused.push(format!("double signature refused: {e}")),
            Ok(_) => bail!("the server accepted a double signature"),
        }
    }
    // A few withdraw.
    let withdrawals = (args.signers / 100)
        .clamp(1, 5)
        .min(people.len().saturating_sub(1));
    for c in people.iter().rev().take(withdrawals) {
        let opts = SignOptions {
            action: Action::Withdraw,
            choice: DisclosureChoice::default(),
            comment: None,
            consent_small_org: true,
            random_delay: false,
        };
        receipts.push(holder::submit_with(
            &client,
            &holder_home,
            c,
            &letter_id,
            &opts,
        )?);
    }

    // Wait for the batches that the receipts promise, then check inclusion of a few.
    let expected = 1 + people.len() as u64 + withdrawals as u64;
    let deadline = receipts
        .iter()
        .map(|r| r.receipt.include_by)
        .max()
        .unwrap_or(0)
        + 2;
    let pb = bar(expected as usize, "waiting for batches");
    loop {
        let t: TallyView = client.get_json(&format!("/api/v1/letters/{letter_id}/tally"), None)?;
        // The published checkpoint: with witnesses, the one carrying their quorum.
        pb.set_position(t.published_size);
        if t.published_size >= expected {
            break;
        }
        if undersigned_server::now() > deadline {
            bail!(
                "the published log holds {} entries after every promised deadline; expected {expected}",
                t.published_size
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    pb.finish();
    let list = receipts
        .iter()
        .take(3)
        .map(|r| (std::path::PathBuf::new(), r.clone()))
        .collect();
    let now = undersigned_server::now();
    for (_, _, result) in
        crate::cover::check_receipts(list, None, &holder_home, now, &mut rand_core::OsRng)
    {
        match result? {
            holder::CheckOutcome::Included { .. } => {}
            other => bail!("a receipt's entry is not included: {other:?}"),
        }
    }

    let closed = organizer::close(&client, &created.handle, &created.organizer_token)?;

    // Delivery: the same SMTP path carries the letter to its three recipients; one
    // acknowledges, one answers, one stays silent — and the record keeps the clock.
    let links = delivery_links(&client, &letter_id, &input.recipients)?;
    let ack: serde_json::Value = client.post_json(
        &format!("/api/v1/letters/{letter_id}/respond/acknowledge"),
        &serde_json::json!({}),
        links.get(1).map(String::as_str),
    )?;
    let answer: serde_json::Value = client.post_json(
        &format!("/api/v1/letters/{letter_id}/respond/answer"),
        &serde_json::json!({"text": "I have read your letter and the verified count of its signers. I will meet a delegation chosen by you within two weeks, and I instruct that no one be sought out or penalized for signing."}),
        links.first().map(String::as_str),
    )?;
    let _ = (ack, answer);
    let bundle = client.get_text(&format!("/api/v1/letters/{letter_id}/bundle"), None)?;
    let report = verify_bundle(bundle.as_bytes())
        .map_err(|e| anyhow!("the served bundle does not verify: {e}"))?;
    let names: BTreeMap<String, String> = agencies.iter().cloned().collect();
    println!("\n{}", report.summary.render_table(&names));
    if let Some(d) = report.delivery_statement(undersigned_server::now()) {
        println!("{d}");
    }
    println!("guard: {trimmed} signers had a disclosure trimmed by the small-cell rule");
    for r in &refused {
        println!("{r}");
    }
    println!(
        "signing over HTTP: {:.1} signatures/s ({} in {:.1} s)",
        people.len() as f64 / sign_secs,
        people.len(),
        sign_secs
    );
    let path = args.out.join("bundle.json");
    std::fs::write(&path, &bundle).with_context(|| format!("cannot write {}", path.display()))?;
    for (i, r) in receipts.iter().take(3).enumerate() {
        let p = args.out.join(format!("receipt-{}.json", i + 1));
        std::fs::write(&p, serde_json::to_string_pretty(r)?)?;
    }
    println!(
        "letter closed with {} log entries; wrote {} and 3 receipts\nverify it: undersigned verify {} --receipt {}",
        closed.log_size,
        path.display(),
        path.display(),
        args.out.join("receipt-1.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
