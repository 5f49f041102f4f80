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

use super::offline::{guarded_choice, spread, weighted, AGE_WEIGHTS, LETTER_BODY, ROLES};
use super::{fleet, Args};
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
    let running = start_server(args, work.path())?;
    let client = Client::new(&running.url);
    let info: undersigned_server::api::issuance::DeploymentInfo =
        client.get_json("/api/v1/deployment", None)?;
    let agencies = agencies(&info, args.orgs)?;
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);

    // The organizer drafts and opens the letter.
    let home = work.path().join("organizer");
    let mut input = letter_input(&agencies, args.publish_interval);
    if running.fleet.is_some() {
        // Every issuer of the deployment, at its current epoch, and t of them per signature.
        input.policy.issuers = info
            .issuers
            .iter()
            .map(|i| {
                Ok(undersigned_core::letter::AcceptedIssuer {
                    issuer_id: i.description.issuer_id,
                    epochs: vec![undersigned_core::ids::Epoch::parse(
                        &i.description.current_epoch,
                    )?],
                })
            })
            .collect::<anyhow::Result<_>>()?;
        input.policy.threshold = args.threshold;
    }
    let created = organizer::create(&client, &home, &input)?;
    let opened = organizer::open(&client, &created.handle, &created.organizer_token)?;
    println!("letter {} opened", opened.letter_id);
    let demo = Demo {
        client: &client,
        letter_id: opened.letter_id.clone(),
        holder_home: work.path().join("holder"),
    };

    let people = issue_credentials(&client, &agencies, args.signers, &mut rng)?;
    if let Some(f) = &running.fleet {
        let orgs = people
            .iter()
            .filter_map(|p| p.first())
            .map(|c| c.attributes.org.to_string())
            .collect();
        f.wait_for_statements(&orgs)?;
    }
    let mut signing = demo.sign_all(&people, info.k, &mut rng)?;
    let refused = demo.sign_twice(&people)?;
    let withdrawals = demo.withdraw_some(&people, args.signers, &mut signing.receipts)?;
    let expected = 1 + people.len() as u64 + withdrawals as u64;
    demo.wait_for_batches(&signing.receipts, expected)?;
    demo.check_some(&signing.receipts)?;

    let closed = organizer::close(&client, &created.handle, &created.organizer_token)?;
    demo.respond(&input.recipients)?;
    let bundle = client.get_text(&format!("/api/v1/letters/{}/bundle", demo.letter_id), None)?;
    // Written before it is verified, so a bundle that fails can be looked at.
    let deployment = match &running.fleet {
        Some(_) => Some(client.get_text("/api/v1/deployment", None)?),
        None => None,
    };
    write_outputs(
        &args.out,
        &bundle,
        deployment.as_deref(),
        &signing.receipts,
        closed.log_size,
    )?;
    let report = verify_bundle(bundle.as_bytes())
        .map_err(|e| anyhow!("the served bundle does not verify: {e}"))?;
    let names: BTreeMap<String, String> = agencies.iter().cloned().collect();
    println!("\n{}", report.summary.render_table(&names));
    if running.fleet.is_some() {
        println!("{}", report.trust);
    }
    if let Some(d) = report.delivery_statement(undersigned_server::now()) {
        println!("{d}");
    }
    println!(
        "guard: {} signers had a disclosure trimmed by the small-cell rule",
        signing.trimmed
    );
    for r in &refused {
        println!("{r}");
    }
    println!(
        "signing over HTTP: {:.1} signatures/s ({} in {:.1} s)",
        people.len() as f64 / signing.secs,
        people.len(),
        signing.secs
    );
    Ok(ExitCode::SUCCESS)
}

/// What the demo drives and keeps running while it lives.
struct Running {
    url: String,
    _runtime: Option<tokio::runtime::Runtime>,
    fleet: Option<fleet::Fleet>,
}

/// The server to drive: the one named, N issuer processes beside a letters server naming them
/// (`--issuers`), or a dev server started in this process.
fn start_server(args: &Args, work: &std::path::Path) -> anyhow::Result<Running> {
    if let Some(n) = args.issuers.map(usize::from) {
        let t = args
            .threshold
            .unwrap_or(u32::try_from(n).unwrap_or(u32::MAX));
        if n == 0 || !(n < 2 * t as usize && t as usize <= n) {
            bail!("--threshold must satisfy n/2 < t <= n (here n = {n})");
        }
        let f = fleet::start(n, work, args.publish_interval)?;
        println!(
            "started {n} issuers ({}) and a letters server at {} naming them (SQLite, each with its own dev outbox over SMTP)",
            f.issuers.join(", "),
            f.letters
        );
        return Ok(Running {
            url: f.letters.clone(),
            _runtime: None,
            fleet: Some(f),
        });
    }
    Ok(match &args.server {
        Some(u) => Running {
            url: u.clone(),
            _runtime: None,
            fleet: None,
        },
        None => {
            let (u, rt) = crate::serve::start_in_process(
                &work.join("server"),
                None,
                "demo.undersigned.local",
                args.publish_interval,
            )?;
            println!("started a dev server at {u} (SQLite, dev outbox)");
            Running {
                url: u,
                _runtime: Some(rt),
                fleet: None,
            }
        }
    })
}

/// The `count` largest of the deployment's organizations, as (domain, name).
fn agencies(
    info: &undersigned_server::api::issuance::DeploymentInfo,
    count: usize,
) -> anyhow::Result<Vec<(String, String)>> {
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
    let agencies: Vec<(String, String)> = orgs.into_iter().take(count).collect();
    if agencies.is_empty() || count > info.orgs.len() {
        bail!(
            "--orgs must be between 1 and {} (the deployment's organizations)",
            info.orgs.len()
        );
    }
    Ok(agencies)
}

/// The demo's letter: three recipients, open for a day to staff of these agencies.
fn letter_input(agencies: &[(String, String)], publish_interval: u64) -> LetterInput {
    LetterInput {
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
            threshold: None,
            orgs: agencies.iter().map(|(d, _)| d.clone()).collect(),
            disclosures: AllowedDisclosures {
                role: true,
                age_band: true,
                email: false,
            },
            k: None,
            deadline: undersigned_server::now() + 86_400,
            visibility: Visibility::Public,
            publish_interval_secs: Some(publish_interval),
            epochs: vec![],
            issuers: vec![],
            comments: None,
        },
    }
}

/// Staff get credentials through their work mail, spread over the agencies by size.
fn issue_credentials(
    client: &Client,
    agencies: &[(String, String)],
    signers: usize,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<Vec<Vec<Credential>>> {
    let org_of = spread(agencies.len(), signers, rng);
    let issuers = holder::issuers_of(client)?;
    let pb = bar(signers, "issuing credentials");
    let mut people: Vec<Vec<Credential>> = Vec::with_capacity(signers);
    let run_tag: u32 = rng.gen();
    for (n, &org) in org_of.iter().enumerate() {
        let domain = &agencies.get(org).ok_or_else(|| anyhow!("org index"))?.0;
        let email = format!("staffer{n}.{run_tag:08x}@{domain}");
        let role = weighted(rng, ROLES, "unspecified");
        let age = weighted(rng, AGE_WEIGHTS, AgeBand::Unspecified);
        // Every issuer mails its own code, each read from that issuer's own outbox.
        let mut held = Vec::new();
        for at in &issuers {
            let issuer = Client::new(&at.url);
            held.extend(holder::obtain(
                &issuer,
                &email,
                role,
                age.as_str(),
                &mut || code_from_outbox(&issuer, &email),
            )?);
        }
        people.push(held);
        pb.inc(1);
    }
    pb.finish();
    Ok(people)
}

/// The open letter and the signers' directory, shared by the demo's steps.
struct Demo<'a> {
    client: &'a Client,
    letter_id: String,
    holder_home: std::path::PathBuf,
}

/// What the signing step leaves: the receipts, how many disclosures the guard trimmed, and
/// how long it took.
struct Signing {
    receipts: Vec<SavedReceipt>,
    trimmed: usize,
    secs: f64,
}

fn plain(action: Action, comment: Option<String>) -> SignOptions {
    SignOptions {
        action,
        choice: DisclosureChoice::default(),
        comment,
        consent_small_org: true,
        random_delay: false,
    }
}

impl Demo<'_> {
    fn submit(&self, c: &[Credential], opts: &SignOptions) -> anyhow::Result<SavedReceipt> {
        holder::submit_with(self.client, &self.holder_home, c, &self.letter_id, opts)
    }

    /// Everyone signs, each disclosing what they want minus what the small-cell guard forbids.
    fn sign_all(
        &self,
        people: &[Vec<Credential>],
        k: u32,
        rng: &mut ChaCha20Rng,
    ) -> anyhow::Result<Signing> {
        // The sets of the issuer and epoch the first signer's first part uses: every issuer
        // of the demo issued to the same people, so its cells are every issuer's.
        let view: undersigned_server::api::letters::LetterView = self
            .client
            .get_json(&format!("/api/v1/letters/{}", self.letter_id), None)?;
        let letter = view.letter;
        let first = people
            .first()
            .map(|p| holder::pick_credentials(p.clone(), &letter, &BTreeMap::new()))
            .transpose()?
            .and_then(|p| p.into_iter().next())
            .ok_or_else(|| anyhow!("no signer"))?;
        let sets: undersigned_core::anonymity::PublishedSets = self.client.get_json(
            &format!(
                "/api/v1/issuer/anonymity-sets?epoch={}&issuer={}",
                first.attributes.epoch, first.issuer_id
            ),
            None,
        )?;
        let pb = bar(people.len(), "signing");
        let started = Instant::now();
        let mut receipts: Vec<SavedReceipt> = Vec::new();
        let mut trimmed = 0;
        for c in people {
            let attrs = &c
                .first()
                .ok_or_else(|| anyhow!("a signer without credentials"))?
                .attributes;
            let (choice, was_trimmed) = guarded_choice(&sets, attrs, k, rng);
            trimmed += usize::from(was_trimmed);
            let comment = rng.gen_bool(0.1).then(|| {
                "I sign because I have to be able to look my children in the eye.".to_owned()
            });
            let opts = SignOptions {
                choice,
                ..plain(Action::Sign, comment)
            };
            receipts.push(self.submit(c, &opts)?);
            pb.inc(1);
        }
        pb.finish();
        Ok(Signing {
            receipts,
            trimmed,
            secs: started.elapsed().as_secs_f64(),
        })
    }

    /// One person tries to sign twice; the server must refuse.
    fn sign_twice(&self, people: &[Vec<Credential>]) -> anyhow::Result<Vec<String>> {
        let mut refused = Vec::new();
        if let Some(c) = people.first() {
            match self.submit(c, &plain(Action::Sign, Some("again".into()))) {
                Err(e) => refused.push(format!("double signature refused: {e}")),
                Ok(_) => bail!("the server accepted a double signature"),
            }
        }
        Ok(refused)
    }

    /// A few withdraw; returns how many.
    fn withdraw_some(
        &self,
        people: &[Vec<Credential>],
        signers: usize,
        receipts: &mut Vec<SavedReceipt>,
    ) -> anyhow::Result<usize> {
        let withdrawals = (signers / 100)
            .clamp(1, 5)
            .min(people.len().saturating_sub(1));
        for c in people.iter().rev().take(withdrawals) {
            receipts.push(self.submit(c, &plain(Action::Withdraw, None))?);
        }
        Ok(withdrawals)
    }

    /// Waits for the batches the receipts promise, until the published log holds `expected`.
    fn wait_for_batches(&self, receipts: &[SavedReceipt], expected: u64) -> anyhow::Result<()> {
        let deadline = receipts
            .iter()
            .map(|r| r.receipt.include_by)
            .max()
            .unwrap_or(0)
            + 2;
        let pb = bar(expected as usize, "waiting for batches");
        loop {
            let t: TallyView = self
                .client
                .get_json(&format!("/api/v1/letters/{}/tally", self.letter_id), None)?;
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
        Ok(())
    }

    /// Checks the inclusion of the first few receipts' entries, as a holder would.
    fn check_some(&self, receipts: &[SavedReceipt]) -> anyhow::Result<()> {
        let list = receipts
            .iter()
            .take(3)
            .map(|r| (std::path::PathBuf::new(), r.clone()))
            .collect();
        let now = undersigned_server::now();
        for (_, _, result) in
            crate::cover::check_receipts(list, None, &self.holder_home, now, &mut rand_core::OsRng)
        {
            match result? {
                holder::CheckOutcome::Included { .. } => {}
                other => bail!("a receipt's entry is not included: {other:?}"),
            }
        }
        Ok(())
    }

    /// Delivery: the same SMTP path carries the letter to its three recipients; one
    /// acknowledges, one answers, one stays silent — and the record keeps the clock.
    fn respond(&self, recipients: &[Recipient]) -> anyhow::Result<()> {
        let letter_id = &self.letter_id;
        let links = delivery_links(self.client, letter_id, recipients)?;
        let _: serde_json::Value = self.client.post_json(
            &format!("/api/v1/letters/{letter_id}/respond/acknowledge"),
            &serde_json::json!({}),
            links.get(1).map(String::as_str),
        )?;
        let _: serde_json::Value = self.client.post_json(
            &format!("/api/v1/letters/{letter_id}/respond/answer"),
            &serde_json::json!({"text": "I have read your letter and the verified count of its signers. I will meet a delegation chosen by you within two weeks, and I instruct that no one be sought out or penalized for signing."}),
            links.first().map(String::as_str),
        )?;
        Ok(())
    }
}

/// Writes the bundle and the first three receipts, and says how to verify them.
fn write_outputs(
    out: &std::path::Path,
    bundle: &str,
    deployment: Option<&str>,
    receipts: &[SavedReceipt],
    log_size: u64,
) -> anyhow::Result<()> {
    let path = out.join("bundle.json");
    std::fs::write(&path, bundle).with_context(|| format!("cannot write {}", path.display()))?;
    for (i, r) in receipts.iter().take(3).enumerate() {
        let p = out.join(format!("receipt-{}.json", i + 1));
        std::fs::write(&p, serde_json::to_string_pretty(r)?)?;
    }
    // With independent issuers, their descriptions are pinned from the deployment document.
    let pin = match deployment {
        Some(d) => {
            let p = out.join("deployment.json");
            std::fs::write(&p, d).with_context(|| format!("cannot write {}", p.display()))?;
            format!(" --deployment {}", p.display())
        }
        None => String::new(),
    };
    println!(
        "letter closed with {log_size} log entries; wrote {} and 3 receipts\nverify it: undersigned verify {}{pin} --receipt {}",
        path.display(),
        path.display(),
        out.join("receipt-1.json").display()
    );
    Ok(())
}
