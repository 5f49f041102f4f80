//! Witness cosigning with three real witnesses on loopback and a quorum of two, started before
//! any letter exists and following the deployment's logs by origin prefix (as
//! `/api/v1/deployment` lists them): every letter opened later is published, every published
//! checkpoint carries two valid cosignatures and the bundle verifies with the witnesses pinned;
//! one witness down changes nothing; two down stop publishing (receipts then promise later)
//! until one returns.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::log::{check_quorum, Checkpoint, LogVerifier, Receipt, WitnessSigner};
use undersigned_core::pins::Pins;
use undersigned_witness::{router, LogPrefix, Witness, WitnessStore};

/// A witness serving on a fixed loopback port from its own runtime, so stopping it closes
/// every connection it had (a process that died, as far as the server can tell).
struct RunningWitness {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningWitness {
    fn start(port: u16, signer: WitnessSigner, prefixes: Vec<LogPrefix>, dir: PathBuf) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let store = WitnessStore::open(&dir.join("witness.db")).await.unwrap();
                let w = Arc::new(
                    Witness::new(signer, Vec::new(), store.clone())
                        .unwrap()
                        .with_prefixes(prefixes)
                        .unwrap(),
                );
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.set_reuseaddr(true).unwrap();
                socket
                    .bind(format!("127.0.0.1:{port}").parse().unwrap())
                    .unwrap();
                let listener = socket.listen(64).unwrap();
                ready_tx.send(()).unwrap();
                tokio::select! {
                    _ = axum::serve(listener, router(w)) => {}
                    _ = rx => {}
                }
                store.close().await;
            });
        });
        ready_rx.recv().unwrap();
        Self {
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningWitness {
    fn drop(&mut self) {
        self.halt();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signers() -> Vec<WitnessSigner> {
    (1..=3u8)
        .map(|i| {
            WitnessSigner::new(
                &format!("w{i}.test/witness"),
                ed25519_dalek::SigningKey::from_bytes(&[i; 32]),
            )
            .unwrap()
        })
        .collect()
}

struct Setup {
    t: TestServer,
    ports: Vec<u16>,
    dirs: Vec<tempfile::TempDir>,
    prefixes: Vec<LogPrefix>,
}

impl Setup {
    fn start(&self, i: usize) -> RunningWitness {
        RunningWitness::start(
            self.ports[i],
            signers()[i].clone_signer(),
            self.prefixes.clone(),
            self.dirs[i].path().to_owned(),
        )
    }
}

trait CloneSigner {
    fn clone_signer(&self) -> WitnessSigner;
}

impl CloneSigner for WitnessSigner {
    fn clone_signer(&self) -> WitnessSigner {
        WitnessSigner::new(
            self.name(),
            ed25519_dalek::SigningKey::from_bytes(&self.to_seed()),
        )
        .unwrap()
    }
}

/// The published checkpoint's size, after it is checked to carry two valid cosignatures.
async fn published(t: &TestServer, id: &str) -> (u64, Vec<String>) {
    let (s, note) = t
        .get_text(&format!("/api/v1/letters/{id}/checkpoint"))
        .await;
    assert_eq!(s, StatusCode::OK, "{note}");
    let verifiers: Vec<_> = signers().iter().map(WitnessSigner::verifier).collect();
    let cosigned = check_quorum(&note, &verifiers, 2).unwrap();
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    let key = LogVerifier::from_vkey(view["log_key"].as_str().unwrap()).unwrap();
    let cp = Checkpoint::open(&note, &key, None).unwrap();
    (cp.size, cosigned.into_iter().map(|c| c.name).collect())
}

async fn sign_one(
    t: &TestServer,
    id: &str,
    letter: &undersigned_core::letter::Letter,
    n: usize,
) -> Receipt {
    let c = t
        .credential(
            &format!("analyst{n}@state.gov"),
            "analyst",
            AgeBand::From30To39,
        )
        .await;
    let e = t
        .entry(&c, letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    let (s, r) = t.submit(id, &e).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    serde_json::from_value(r).unwrap()
}

async fn metrics(t: &TestServer) -> String {
    t.get_text("/metrics").await.1
}

/// Tweaks naming three witnesses on fresh loopback ports, quorum two.
fn three_on(ports: &[u16]) -> Tweaks {
    Tweaks {
        witnesses: signers()
            .iter()
            .zip(ports)
            .map(|(w, p)| {
                format!("{}@http://127.0.0.1:{p}", w.verifier().to_vkey())
                    .parse()
                    .unwrap()
            })
            .collect(),
        witness_quorum: Some(2),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_witnesses_quorum_two_publish_stall_and_resume_sqlite() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let t = TestServer::sqlite(three_on(&ports)).await;
    publish_stall_and_resume(t, ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_witnesses_quorum_two_publish_stall_and_resume_postgres() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let t = TestServer::postgres(three_on(&ports)).await;
    publish_stall_and_resume(t, ports).await;
}

#[test]
fn fail_malformed_witness_names() {
    use undersigned_server::cosigning::WitnessSpec;
    let vkey = signers()[0].verifier().to_vkey();
    let ok: WitnessSpec = format!("{vkey}@http://127.0.0.1:1/w/").parse().unwrap();
    assert_eq!(ok.url, "http://127.0.0.1:1/w");
    for bad in [
        vkey.clone(),
        format!("{vkey}@127.0.0.1:1"),
        "not+a+key@http://127.0.0.1:1".to_owned(),
    ] {
        assert!(bad.parse::<WitnessSpec>().is_err(), "{bad}");
    }
}

/// What the deployment tells a witness operator to follow: `--logs-under` verifier keys.
async fn deployment_prefixes(t: &TestServer) -> Vec<LogPrefix> {
    let (_, dep) = t.get("/api/v1/deployment").await;
    let under: Vec<&str> = dep["witness_logs_under"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let host = &t.state.config.host;
    assert_eq!(under.len(), 2, "{dep}");
    assert!(under[0].starts_with(&format!("{host}/letters/+")), "{dep}");
    assert!(under[1].starts_with(&format!("{host}/issuers/+")), "{dep}");
    under
        .iter()
        .map(|v| LogPrefix::from_vkey(v).unwrap())
        .collect()
}

async fn publish_stall_and_resume(t: TestServer, ports: Vec<u16>) {
    // The witnesses start before any letter exists, following the deployment's prefixes.
    let setup = Setup {
        dirs: (0..3).map(|_| tempfile::tempdir().unwrap()).collect(),
        ports,
        prefixes: deployment_prefixes(&t).await,
        t,
    };
    let mut running: Vec<Option<RunningWitness>> = (0..3).map(|i| Some(setup.start(i))).collect();
    let t = &setup.t;
    let (_, _, id, letter) = t.open_letter("Witnessed", default_policy()).await;
    let (_, _, id2, letter2) = t.open_letter("Witnessed too", default_policy()).await;
    // Nothing is published before the witnesses answer.
    let (s, _) = t
        .get_text(&format!("/api/v1/letters/{id}/checkpoint"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Normal operation: both letters opened after the witnesses started are published, and
    // every published checkpoint carries at least two cosignatures.
    sign_one(t, &id, &letter, 0).await;
    sign_one(t, &id2, &letter2, 10).await;
    t.publish_all(&id).await;
    t.publish_all(&id2).await;
    undersigned_server::cosigning::tick(&t.state).await.unwrap();
    let (size, who) = published(t, &id).await;
    assert_eq!(size, 2);
    assert!(who.len() >= 2, "{who:?}");
    let (size, who) = published(t, &id2).await;
    assert_eq!(size, 2);
    assert!(who.len() >= 2, "{who:?}");
    let (_, b) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;
    let bundle = undersigned_core::bundle::Bundle::parse(b.as_bytes()).unwrap();
    let (_, dep) = t.get("/api/v1/deployment").await;
    assert_eq!(dep["witness_quorum"], 2);
    assert_eq!(dep["witnesses"].as_array().unwrap().len(), 3);
    let pins = Pins::from_deployment(dep.to_string().as_bytes()).unwrap();
    let report = bundle.verify_pinned(&pins).unwrap();
    assert!(report.cosigned_by.len() >= 2);
    assert!(
        report.statement().contains("quorum 2"),
        "{}",
        report.statement()
    );

    // One witness down: publishing goes on.
    running[2].take().unwrap().stop();
    sign_one(t, &id, &letter, 1).await;
    t.publish_all(&id).await;
    undersigned_server::cosigning::tick(&t.state).await.unwrap();
    let (size, who) = published(t, &id).await;
    assert_eq!(size, 3);
    assert_eq!(who, ["w1.test/witness", "w2.test/witness"]);

    // Two down: the tree grows, the published checkpoint does not; receipts promise later.
    running[1].take().unwrap().stop();
    let before = sign_one(t, &id, &letter, 2).await;
    t.publish_all(&id).await;
    undersigned_server::cosigning::tick(&t.state).await.unwrap();
    assert_eq!(t.log_size(&id).await, 4);
    assert_eq!(published(t, &id).await.0, 3);
    let (s, v) = t
        .get(&format!(
            "/api/v1/letters/{id}/proof/inclusion?entry_hash={}",
            hex::encode(before.entry_hash)
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let late = sign_one(t, &id, &letter, 3).await;
    let grace = t.state.config.witness_grace_secs;
    assert!(
        late.include_by >= late.received_at + grace,
        "a receipt while the quorum is missing promises {} for {}",
        late.include_by,
        late.received_at
    );
    assert!(before.include_by < before.received_at + grace);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let m = metrics(t).await;
    let lag: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("undersigned_witness_lag_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(lag >= 1, "{m}");
    assert!(
        m.lines().any(|l| l
            .starts_with("undersigned_witness_cosign_failures_total{witness=\"w2.test/witness\"}")
            && !l.ends_with(" 0")),
        "{m}"
    );
    let (_, view): (_, Value) = t.get(&format!("/api/v1/letters/{id}")).await;
    assert_eq!(view["witnesses"]["published_size"], 3);
    assert!(
        view["witnesses"]["lag_secs"].as_u64().unwrap() >= 1,
        "{view}"
    );

    // One returns: publishing resumes with the newest checkpoint.
    running[1] = Some(setup.start(1));
    t.publish_all(&id).await;
    undersigned_server::cosigning::tick(&t.state).await.unwrap();
    let (size, who) = published(t, &id).await;
    assert_eq!(size, 5);
    assert_eq!(who, ["w1.test/witness", "w2.test/witness"]);
    let (s, _) = t
        .get(&format!(
            "/api/v1/letters/{id}/proof/inclusion?entry_hash={}",
            hex::encode(late.entry_hash)
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, view): (_, Value) = t.get(&format!("/api/v1/letters/{id}")).await;
    assert_eq!(view["witnesses"]["lag_secs"], 0);
    // The receipt taken while the quorum was missing is kept: the entry is published in time.
    assert!(undersigned_server::now() <= late.include_by);
    // And the letter page names who cosigned.
    let (_, page) = t.get_text(&format!("/letters/{id}")).await;
    assert!(
        page.contains("w1.test/witness") && page.contains("cosigned"),
        "{page}"
    );
}

/// Witnesses that cosign the letter log but not the issuer log: the letter's checkpoint stays
/// unpublished, since its bundle would carry an issuer statement older than its signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_letter_not_published_ahead_of_the_issuer_log() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let witnesses = signers()
        .iter()
        .zip(&ports)
        .map(|(w, p)| {
            format!("{}@http://127.0.0.1:{p}", w.verifier().to_vkey())
                .parse()
                .unwrap()
        })
        .collect();
    let t = TestServer::sqlite(Tweaks {
        witnesses,
        witness_quorum: Some(2),
        ..Default::default()
    })
    .await;
    // The witnesses follow the letter logs' prefix only.
    let mut prefixes = deployment_prefixes(&t).await;
    prefixes.truncate(1);
    let setup = Setup {
        dirs: (0..3).map(|_| tempfile::tempdir().unwrap()).collect(),
        ports,
        prefixes,
        t,
    };
    let _running: Vec<RunningWitness> = (0..3).map(|i| setup.start(i)).collect();
    let t = &setup.t;
    let (_, _, id, letter) = t.open_letter("Half witnessed", default_policy()).await;
    sign_one(t, &id, &letter, 0).await;
    t.publish_all(&id).await;
    undersigned_server::cosigning::tick(&t.state).await.unwrap();
    assert_eq!(t.log_size(&id).await, 2);
    let (s, _) = t
        .get_text(&format!("/api/v1/letters/{id}/checkpoint"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let late = sign_one(t, &id, &letter, 1).await;
    assert!(late.include_by >= late.received_at + t.state.config.witness_grace_secs);
}

/// A checkpoint made while a pass asks the witnesses about an older one (the closing entry
/// appended while the issuer log was cosigned, say) stays behind when that pass catches the
/// older one up: it was once dropped, and the new checkpoint was never shown to a witness.
#[test]
fn a_checkpoint_made_during_a_pass_stays_behind() {
    use undersigned_server::cosigning::{Cosigning, LogName, WitnessSpec};
    let vkey = signers()[0].verifier().to_vkey();
    let spec: WitnessSpec = format!("{vkey}@http://127.0.0.1:1/w/").parse().unwrap();
    let c = Cosigning::new(&[spec], None, std::time::Duration::from_secs(1), 0).unwrap();
    let letter = LogName::Letter("ab".repeat(32));
    c.mark("o", letter.clone(), 10);
    let pass = c.pending();
    let (_, _, seen) = pass[0].clone();
    // A new checkpoint while the pass runs.
    c.mark("o", letter, 11);
    c.caught_up("o", seen);
    let left = c.pending();
    assert_eq!(left.len(), 1, "the newer checkpoint was dropped");
    assert!(c.lag_secs(20) == 10, "behind since the first mark");
    let (_, _, newer) = left[0].clone();
    c.caught_up("o", newer);
    assert!(c.pending().is_empty());
}
