//! The witnesses a deployment names and what this process knows of them: their keys and
//! addresses, the quorum, which logs wait for cosignatures, and the `add-checkpoint` and monitor
//! exchanges with each witness. A part of the `Platform`: it never reads the platform; the
//! passes that walk the store's logs and ask for cosignatures are in `cosigning.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use undersigned_core::log::cosignature::{add_cosignatures, AddCheckpoint, WitnessVerifier};
use undersigned_core::log::{Checkpoint, LogVerifier, MerkleLog};

use crate::error::{Error, Result};

/// A witness as the operator names it: `VKEY@URL`, its signed-note verifier key and the
/// submission prefix that `/add-checkpoint` is appended to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessSpec {
    pub vkey: String,
    pub url: String,
}

impl std::str::FromStr for WitnessSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // A vkey is `name+hex+base64`: base64 has no '@', so the first '@' ends it.
        let (vkey, url) = s
            .split_once('@')
            .ok_or_else(|| format!("a witness is VKEY@URL, not {s:?}"))?;
        WitnessVerifier::from_vkey(vkey).map_err(|e| format!("witness key {vkey:?}: {e}"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "witness URL {url:?} must start with http:// or https://"
            ));
        }
        Ok(Self {
            vkey: vkey.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
        })
    }
}

/// One witness: its key, where to reach it, and how often it failed us.
#[derive(Debug)]
struct Witness {
    verifier: WitnessVerifier,
    url: String,
    failures: AtomicU64,
}

/// What the server remembers of one witness and one log: the size the witness last
/// cosigned (what `old` must be), and whether a request is under way.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    size: u64,
    busy: bool,
}

/// A log whose checkpoint goes to the witnesses: a letter's, or the issuer log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogName {
    Letter(String),
    Issuer,
}

/// The witnesses, the quorum, and the cosigning progress of every log.
#[derive(Debug)]
pub struct Cosigning {
    witnesses: Arc<Vec<Witness>>,
    quorum: usize,
    grace_secs: u64,
    agent: ureq::Agent,
    seen: Arc<Mutex<HashMap<(usize, String), Seen>>>,
    /// Logs with a checkpoint newer than their published one, by origin: since when, and the
    /// number of the mark that last noted a new checkpoint of it.
    behind: Mutex<BTreeMap<String, (LogName, u64, u64)>>,
    /// Marks counted, so that a pass clears only the checkpoints it saw (`caught_up`).
    marks: AtomicU64,
    /// Whether the last attempt to cosign missed its quorum.
    failing: AtomicBool,
    /// Logs this process found to extend what their witnesses last cosigned (`check_witnessed`),
    /// by origin: only these are ever sent to a witness.
    cleared: Mutex<HashSet<String>>,
    /// Logs found not to extend it: never cosigned further by this process.
    forked: Mutex<HashSet<String>>,
}

/// A cosigned checkpoint's witness, as pages and the API show it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Cosigner {
    pub name: String,
    /// When the witness cosigned, unix seconds (its own clock).
    pub timestamp: u64,
}

impl Cosigning {
    pub fn new(
        specs: &[WitnessSpec],
        quorum: Option<usize>,
        timeout: Duration,
        grace_secs: u64,
    ) -> Result<Self> {
        let witnesses = specs
            .iter()
            .map(|w| {
                Ok(Witness {
                    verifier: WitnessVerifier::from_vkey(&w.vkey)
                        .map_err(|e| Error::Internal(format!("witness key: {e}")))?,
                    url: w.url.clone(),
                    failures: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // A key named twice would count twice towards the quorum.
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses.iter().skip(i + 1).any(|o| {
                o.verifier.name() == w.verifier.name()
                    || o.verifier.verifying_key() == w.verifier.verifying_key()
            }) {
                return Err(Error::Internal(format!(
                    "witness {} is named twice",
                    w.verifier.name()
                )));
            }
        }
        let quorum = quorum.unwrap_or(witnesses.len());
        if quorum > witnesses.len() || (quorum == 0 && !witnesses.is_empty()) {
            return Err(Error::Internal(format!(
                "a witness quorum of {quorum} with {} witnesses named",
                witnesses.len()
            )));
        }
        Ok(Self {
            witnesses: Arc::new(witnesses),
            quorum,
            grace_secs,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(timeout)
                .timeout(timeout)
                .build(),
            seen: Default::default(),
            behind: Default::default(),
            marks: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            cleared: Default::default(),
            forked: Default::default(),
        })
    }

    /// Whether witnesses are named; without them the operator's checkpoint is published
    /// as it is signed.
    pub fn enabled(&self) -> bool {
        !self.witnesses.is_empty()
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    pub fn verifiers(&self) -> Vec<WitnessVerifier> {
        self.witnesses.iter().map(|w| w.verifier.clone()).collect()
    }

    /// The named witnesses: vkey and URL, as `/api/v1/deployment` lists them.
    pub fn specs(&self) -> Vec<WitnessSpec> {
        self.witnesses
            .iter()
            .map(|w| WitnessSpec {
                vkey: w.verifier.to_vkey(),
                url: w.url.clone(),
            })
            .collect()
    }

    /// Notes that `origin` has a checkpoint newer than its published one.
    pub fn mark(&self, origin: &str, log: LogName, now: u64) {
        // Without witnesses every checkpoint is published as it is signed: nothing lags.
        if !self.enabled() {
            return;
        }
        let mark = self.marks.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut b) = self.behind.lock() {
            b.entry(origin.to_owned())
                .and_modify(|e| e.2 = mark)
                .or_insert((log, now, mark));
        }
    }

    /// The logs behind now, each with its last mark, for one pass to cosign.
    pub fn pending(&self) -> Vec<(String, LogName, u64)> {
        self.behind.lock().map_or_else(
            |_| Vec::new(),
            |b| {
                b.iter()
                    .map(|(o, (l, _, mark))| (o.clone(), l.clone(), *mark))
                    .collect()
            },
        )
    }

    /// Notes that `origin` is published up to the checkpoint it had at `mark`. A checkpoint
    /// made since (a close or a batch while the witnesses were asked) marked it again, and it
    /// stays behind: otherwise that checkpoint would never be cosigned.
    pub fn caught_up(&self, origin: &str, mark: u64) {
        if let Ok(mut b) = self.behind.lock() {
            if b.get(origin).is_some_and(|e| e.2 == mark) {
                b.remove(origin);
            }
        }
    }

    /// Seconds the published view of the slowest log has been behind, 0 when none is.
    pub fn lag_secs(&self, now: u64) -> u64 {
        if !self.enabled() {
            return 0;
        }
        self.behind
            .lock()
            .ok()
            .and_then(|b| b.values().map(|(_, since, _)| *since).min())
            .map_or(0, |since| now.saturating_sub(since))
    }

    /// Seconds one log's published view has been behind, 0 when it is not.
    pub fn lag_of(&self, origin: &str, now: u64) -> u64 {
        if !self.enabled() {
            return 0;
        }
        self.behind
            .lock()
            .ok()
            .and_then(|b| {
                b.get(origin)
                    .map(|(_, since, _)| now.saturating_sub(*since))
            })
            .unwrap_or(0)
    }

    /// How much later than the schedule a receipt promises: while the last cosigning missed
    /// its quorum, a batch may wait for the witnesses.
    pub fn receipt_delay(&self) -> u64 {
        if self.enabled() && self.failing.load(Ordering::Relaxed) {
            self.grace_secs
        } else {
            0
        }
    }

    /// Failed requests per witness name, for `/metrics`.
    pub fn failures(&self) -> Vec<(String, u64)> {
        self.witnesses
            .iter()
            .map(|w| {
                (
                    w.verifier.name().to_owned(),
                    w.failures.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// The witnesses among ours who cosigned `note`, with their timestamps.
    pub fn cosigners(&self, note: &str) -> Vec<Cosigner> {
        self.witnesses
            .iter()
            .filter_map(|w| {
                w.verifier.verify(note).ok().map(|timestamp| Cosigner {
                    name: w.verifier.name().to_owned(),
                    timestamp,
                })
            })
            .collect()
    }
}

impl Cosigning {
    /// Asks every witness not already asked about `origin` to cosign `note` (the checkpoint of
    /// `tree`); waits until the quorum answered or every witness asked did. Returns the
    /// cosignature lines and how many witnesses gave one.
    pub async fn gather(&self, origin: &str, tree: Arc<MerkleLog>, note: &str) -> (String, usize) {
        let c = self;
        let (tx, mut rx) = tokio::sync::mpsc::channel(c.witnesses.len().max(1));
        let mut asked = 0;
        for index in 0..c.witnesses.len() {
            let key = (index, origin.to_owned());
            let key_origin = origin.to_owned();
            let old = match c.seen.lock() {
                Ok(mut seen) => {
                    let e = seen.entry(key.clone()).or_default();
                    if e.busy {
                        continue;
                    }
                    e.busy = true;
                    e.size
                }
                Err(_) => continue,
            };
            asked += 1;
            let (witnesses, seen, agent) = (c.witnesses.clone(), c.seen.clone(), c.agent.clone());
            let (tree, note, tx) = (tree.clone(), note.to_owned(), tx.clone());
            // Each request runs to its end even when the quorum came first, so the server
            // learns what every witness cosigned; only the wait for it stops at the quorum.
            tokio::task::spawn_blocking(move || {
                let Some(w) = witnesses.get(index) else {
                    return;
                };
                let answer = ask(&agent, w, &tree, &note, old);
                if let Ok(mut seen) = seen.lock() {
                    let e = seen.entry(key).or_default();
                    e.busy = false;
                    match &answer {
                        Ok(_) => e.size = tree.size(),
                        Err(Refusal::Conflict(size)) => e.size = *size,
                        Err(_) => {}
                    }
                }
                if let Err(e) = &answer {
                    w.failures.fetch_add(1, Ordering::Relaxed);
                    if let Refusal::Other(why) = e {
                        tracing::warn!(witness = w.verifier.name(), origin = %key_origin, "no cosignature: {why}");
                    }
                }
                let _ = tx.blocking_send(answer.ok());
            });
        }
        drop(tx);
        let mut lines = String::new();
        let mut got = 0;
        let mut answered = 0;
        while got < c.quorum && answered < asked {
            match rx.recv().await {
                Some(Some(l)) => {
                    lines.push_str(&l);
                    got += 1;
                    answered += 1;
                }
                Some(None) => answered += 1,
                None => break,
            }
        }
        (lines, got)
    }

    /// Records whether the last pass missed a quorum (`receipt_delay` reads it).
    pub fn set_failing(&self, missed: bool) {
        self.failing.store(missed, Ordering::Relaxed);
    }
}

/// Why a witness gave no cosignature.
#[derive(Debug)]
enum Refusal {
    /// 409: the witness last cosigned this size.
    Conflict(u64),
    Other(String),
}

/// Asks the witness `spec` to cosign `note`, the checkpoint of `tree`, from the size it last
/// cosigned of that log (`old`; a 409 naming another size is retried once from it), for a log
/// kept outside a server (the client release log). Returns its valid cosignature lines.
pub fn request_cosignature(
    spec: &WitnessSpec,
    tree: &MerkleLog,
    note: &str,
    old: u64,
) -> std::result::Result<String, String> {
    let w = Witness {
        verifier: WitnessVerifier::from_vkey(&spec.vkey).map_err(|e| e.to_string())?,
        url: spec.url.clone(),
        failures: AtomicU64::new(0),
    };
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(30))
        .build();
    ask(&agent, &w, tree, note, old).map_err(|r| match r {
        Refusal::Conflict(size) => format!("the witness holds size {size} of this log"),
        Refusal::Other(e) => e,
    })
}

/// One `add-checkpoint` exchange (retried once from the size a 409 names). Returns this
/// witness's valid cosignature lines.
fn ask(
    agent: &ureq::Agent,
    w: &Witness,
    tree: &MerkleLog,
    note: &str,
    old: u64,
) -> Result<String, Refusal> {
    let old = if old > tree.size() { 0 } else { old };
    match post(agent, w, tree, note, old) {
        Err(Refusal::Conflict(size)) if size != old && size <= tree.size() => {
            post(agent, w, tree, note, size)
        }
        r => r,
    }
}

fn post(
    agent: &ureq::Agent,
    w: &Witness,
    tree: &MerkleLog,
    note: &str,
    old: u64,
) -> Result<String, Refusal> {
    let proof = if old == 0 {
        Vec::new()
    } else {
        tree.prove_consistency(old, tree.size())
            .map_err(|e| Refusal::Other(e.to_string()))?
            .hashes
    };
    let body = AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: note.to_owned(),
    }
    .to_body();
    let url = format!("{}/add-checkpoint", w.url);
    match agent.post(&url).send_string(&body) {
        Ok(r) => {
            let lines = r.into_string().map_err(|e| Refusal::Other(e.to_string()))?;
            // Keep only this witness's lines, and only if they verify over this checkpoint.
            let mine: String = lines
                .lines()
                .filter(|l| w.verifier.verify(&add_cosignatures(note, [l])).is_ok())
                .map(|l| format!("{l}\n"))
                .collect();
            if mine.is_empty() {
                return Err(Refusal::Other("no valid cosignature in the answer".into()));
            }
            Ok(mine)
        }
        Err(ureq::Error::Status(409, r)) => {
            let text = r.into_string().unwrap_or_default();
            Err(match text.trim().parse() {
                Ok(size) => Refusal::Conflict(size),
                Err(_) => Refusal::Other(format!("409 with body {text:?}")),
            })
        }
        Err(e) => Err(Refusal::Other(e.to_string())),
    }
}

/// One log to hold against what its witnesses last cosigned.
#[derive(Debug, Clone)]
pub struct StoredLog {
    /// How a person names it: `letter <id>` or `the issuer log`.
    pub name: String,
    /// The log's key, named by its origin.
    pub verifier: LogVerifier,
    /// The log as this deployment holds it.
    pub tree: Arc<MerkleLog>,
}

/// Why a log must not be cosigned or published further: what a witness last cosigned is not
/// a prefix of it (a database older than what was published, restored from an old backup, or
/// another history), or too few witnesses said what they cosigned to rule that out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForkCheck {
    #[error(
        "{name}: witness {witness} cosigned a checkpoint of size {theirs}, but this deployment holds only {ours} entries of that log; growing it would fork the log the witnesses saw. A newer backup is needed: one holding at least size {need} of that log"
    )]
    Shorter {
        name: String,
        witness: String,
        theirs: u64,
        ours: u64,
        need: u64,
    },
    #[error(
        "{name}: witness {witness} cosigned a checkpoint of size {theirs} whose root is not the root of this deployment's first {theirs} entries of that log ({ours} in all): this log is a fork of the one the witnesses saw. A backup of the witnessed history is needed: one holding at least size {need} of that log"
    )]
    Diverged {
        name: String,
        witness: String,
        theirs: u64,
        ours: u64,
        need: u64,
    },
    #[error(
        "{name}: only {answered} of {witnesses} witnesses said what they last cosigned of that log, and {needed} must (any {quorum} could have cosigned a newer checkpoint); it is not cosigned until they do ({why})"
    )]
    Unconfirmed {
        name: String,
        answered: usize,
        witnesses: usize,
        needed: usize,
        quorum: usize,
        why: String,
    },
}

impl ForkCheck {
    /// Whether the witnesses hold proof that the log is not this deployment's: no later
    /// answer can clear it.
    pub fn is_fork(&self) -> bool {
        !matches!(self, ForkCheck::Unconfirmed { .. })
    }
}

/// What one witness said it last cosigned of one log (tlog-witness monitor retrieval).
#[derive(Debug)]
enum Said {
    Cosigned { size: u64, root: [u8; 32] },
    Nothing,
    NoAnswer(String),
}

impl Cosigning {
    /// How many witnesses must say what they last cosigned before a log may be cosigned:
    /// n − quorum + 1, so that of any quorum that cosigned a published checkpoint, at least
    /// one answers.
    fn needed(&self) -> usize {
        (self.witnesses.len() + 1).saturating_sub(self.quorum)
    }

    /// Holds each log against what every witness last cosigned of it (`GET <witness
    /// url>/<hex SHA-256 of origin>/checkpoint`): a log extends it when every checkpoint a
    /// witness cosigned is no larger than the log and has the root of the log's prefix of its
    /// size, and at least n − quorum + 1 witnesses answered (a checkpoint, or 404 for none). A
    /// witness that cannot be reached counts as no answer, never as agreement. Blocking: one
    /// thread per witness; a witness that failed once is not asked again in this call. Returns
    /// one verdict per log, in order; cleared logs are remembered, forked ones too.
    pub fn check_witnessed(&self, logs: &[StoredLog]) -> Vec<Result<(), ForkCheck>> {
        if !self.enabled() {
            return logs.iter().map(|_| Ok(())).collect();
        }
        let said: Vec<Vec<Said>> = std::thread::scope(|scope| {
            let asked: Vec<_> = self
                .witnesses
                .iter()
                .map(|w| scope.spawn(move || self.monitor_all(w, logs)))
                .collect();
            asked
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        logs.iter()
                            .map(|_| Said::NoAnswer("the request panicked".into()))
                            .collect()
                    })
                })
                .collect()
        });
        logs.iter()
            .enumerate()
            .map(|(i, log)| {
                let answers = self
                    .witnesses
                    .iter()
                    .zip(&said)
                    .filter_map(|(w, s)| s.get(i).map(|s| (w, s)));
                let verdict = self.judge(log, answers);
                let origin = log.verifier.name().to_owned();
                match &verdict {
                    Ok(()) => {
                        if let Ok(mut c) = self.cleared.lock() {
                            c.insert(origin);
                        }
                    }
                    Err(f) if f.is_fork() => {
                        if let Ok(mut c) = self.forked.lock() {
                            c.insert(origin);
                        }
                    }
                    Err(_) => {}
                }
                verdict
            })
            .collect()
    }

    pub fn is_cleared(&self, origin: &str) -> bool {
        self.cleared.lock().is_ok_and(|c| c.contains(origin))
    }

    pub fn is_forked(&self, origin: &str) -> bool {
        self.forked.lock().map_or(true, |c| c.contains(origin))
    }

    fn monitor_all(&self, w: &Witness, logs: &[StoredLog]) -> Vec<Said> {
        let mut down: Option<String> = None;
        logs.iter()
            .map(|log| {
                if let Some(why) = &down {
                    return Said::NoAnswer(why.clone());
                }
                let said = self.monitor(w, log);
                if let Said::NoAnswer(why) = &said {
                    down = Some(why.clone());
                }
                said
            })
            .collect()
    }

    fn monitor(&self, w: &Witness, log: &StoredLog) -> Said {
        let origin = log.verifier.name();
        let hash = hex::encode(undersigned_core::encoding::sha256(&[origin.as_bytes()]));
        let note = match self
            .agent
            .get(&format!("{}/{hash}/checkpoint", w.url))
            .call()
        {
            Ok(r) => match r.into_string() {
                Ok(n) => n,
                Err(e) => return Said::NoAnswer(format!("{}: {e}", w.verifier.name())),
            },
            Err(ureq::Error::Status(404, _)) => return Said::Nothing,
            Err(e) => return Said::NoAnswer(format!("{}: {e}", w.verifier.name())),
        };
        // Only a checkpoint the log signed and this witness cosigned is evidence either way.
        let cp = match Checkpoint::open(&note, &log.verifier, Some(origin)) {
            Ok(cp) => cp,
            Err(e) => {
                return Said::NoAnswer(format!(
                    "{} serves a checkpoint the log did not sign: {e}",
                    w.verifier.name()
                ))
            }
        };
        if let Err(e) = w.verifier.verify(&note) {
            return Said::NoAnswer(format!(
                "{} serves a checkpoint without its valid cosignature: {e}",
                w.verifier.name()
            ));
        }
        Said::Cosigned {
            size: cp.size,
            root: cp.root,
        }
    }

    fn judge<'a>(
        &self,
        log: &StoredLog,
        answers: impl Iterator<Item = (&'a Witness, &'a Said)>,
    ) -> Result<(), ForkCheck> {
        let ours = log.tree.size();
        let mut answered = 0;
        let mut why = String::new();
        let mut need = 0;
        // The witness whose checkpoint this log does not extend, the largest first.
        let mut worst: Option<(String, u64, bool)> = None;
        for (w, said) in answers {
            match said {
                Said::Cosigned { size, root } => {
                    answered += 1;
                    need = need.max(*size);
                    let shorter = *size > ours;
                    let extends = !shorter && log.tree.root_at(*size).is_ok_and(|r| r == *root);
                    if !extends && worst.as_ref().is_none_or(|(_, s, _)| *size > *s) {
                        worst = Some((w.verifier.name().to_owned(), *size, shorter));
                    }
                }
                Said::Nothing => answered += 1,
                Said::NoAnswer(e) => {
                    if why.is_empty() {
                        why.clone_from(e);
                    }
                }
            }
        }
        let name = log.name.clone();
        match worst {
            Some((witness, theirs, true)) => Err(ForkCheck::Shorter {
                name,
                witness,
                theirs,
                ours,
                need,
            }),
            Some((witness, theirs, false)) => Err(ForkCheck::Diverged {
                name,
                witness,
                theirs,
                ours,
                need,
            }),
            None if answered < self.needed() => Err(ForkCheck::Unconfirmed {
                name,
                answered,
                witnesses: self.witnesses.len(),
                needed: self.needed(),
                quorum: self.quorum,
                why,
            }),
            None => Ok(()),
        }
    }
}
