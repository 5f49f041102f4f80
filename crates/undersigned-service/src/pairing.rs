//! Submissions' pairing checks, batched: proofs arriving within a few milliseconds share one.
//!
//! Each submission does everything but its pairing equation on its own blocking thread
//! (`EntryVerifier::prepare`), then hands its claim here. A collector takes claims for at most
//! `WINDOW` (or until `MAX_BATCH`), checks them together on the blocking pool and answers each
//! submission separately. A bad claim costs its batch a bisection: at most about
//! 2·log2(MAX_BATCH) more combined checks (a few milliseconds), never a wrong answer for the
//! others. If the collector is gone, a claim is checked alone.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::OsRng;
use tokio::sync::{mpsc, oneshot};
use undersigned_core::bbs::fast::{self, PairingClaim};

/// How long the first claim of a batch waits for company. A batch's shared check costs about
/// as much as one proof's own pairing (two Miller loops and a final exponentiation, ~0.7 ms),
/// so its cost per proof is that divided by the batch size: at 600 submissions a second a
/// 3 ms window made batches of about two, and the pairings took a fifth of the server's CPU.
/// Ten milliseconds gather several times more, still well below what a signer notices.
const WINDOW: Duration = Duration::from_millis(10);
/// Beyond this a batch gains nothing and bisection gets longer.
const MAX_BATCH: usize = 128;
/// Claims waiting for the collector; submitters wait (back-pressure) beyond this.
const QUEUE: usize = 4096;

type Job = (PairingClaim, oneshot::Sender<bool>);

#[derive(Debug)]
pub struct PairingBatcher {
    tx: mpsc::Sender<Job>,
    /// Taken by the first `check`, which starts the collector on the running runtime.
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Default for PairingBatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl PairingBatcher {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Whether the claim's pairing equation holds. Batched with concurrent submissions.
    pub async fn check(&self, claim: PairingClaim) -> bool {
        self.start();
        let (answer, wait) = oneshot::channel();
        if self.tx.send((claim, answer)).await.is_err() {
            return check_alone(claim).await;
        }
        match wait.await {
            Ok(holds) => holds,
            Err(_) => check_alone(claim).await,
        }
    }

    /// Whether every claim's pairing equation holds (the parts of one composite entry): all
    /// are queued before any answer is awaited, so they share a batch instead of waiting for
    /// one batch each.
    pub async fn check_all(&self, claims: &[PairingClaim]) -> bool {
        if claims.is_empty() {
            return false;
        }
        self.start();
        let mut waits = Vec::with_capacity(claims.len());
        for claim in claims {
            let (answer, wait) = oneshot::channel();
            if self.tx.send((*claim, answer)).await.is_err() {
                return check_alone_all(claims.to_vec()).await;
            }
            waits.push((*claim, wait));
        }
        let mut holds = true;
        for (claim, wait) in waits {
            holds &= match wait.await {
                Ok(h) => h,
                Err(_) => check_alone(claim).await,
            };
        }
        holds
    }

    fn start(&self) {
        let rx = match self.rx.lock() {
            Ok(mut guard) => guard.take(),
            Err(_) => None,
        };
        if let Some(rx) = rx {
            tokio::spawn(collect(rx));
        }
    }
}

async fn check_alone_all(claims: Vec<PairingClaim>) -> bool {
    tokio::task::spawn_blocking(move || claims.iter().all(fast::check_claim))
        .await
        .unwrap_or(false)
}

async fn check_alone(claim: PairingClaim) -> bool {
    tokio::task::spawn_blocking(move || fast::check_claim(&claim))
        .await
        .unwrap_or(false)
}

async fn collect(mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + WINDOW;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => batch.push(job),
                Ok(None) | Err(_) => break,
            }
        }
        // Not awaited: the next batch is collected while this one is checked.
        tokio::task::spawn_blocking(move || settle(batch));
    }
}

fn settle(batch: Vec<Job>) {
    let (claims, answers): (Vec<PairingClaim>, Vec<oneshot::Sender<bool>>) =
        batch.into_iter().unzip();
    let coefs = fast::coefficients(claims.len(), &mut OsRng);
    let verdicts = fast::check_claims(&claims, &coefs);
    for (answer, holds) in answers.into_iter().zip(verdicts) {
        // A submitter that went away needs no answer.
        let _ = answer.send(holds);
    }
}
