//! A letter's lifecycle, the one statement of what may follow what in its log: opened first,
//! then signatures and withdrawals, closed once, then per recipient delivered, acknowledged and
//! answered. The bundle verifier, the server's ledger and the public feed all read a log
//! through it, so each refuses exactly what the others refuse.

use thiserror::Error;

use crate::entry::{Action, Disclosed, Pseudonym, SignatureEntry, VerifiedEntry};
use crate::error::VerifyError;
use crate::letter::Letter;
use crate::record::{CloseReason, LogEntry};
use crate::tally::Tally;

/// Where a letter's log stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No entry yet: only the opened letter may come.
    Unopened,
    /// Taking signatures and withdrawals until it closes.
    Open,
    /// Closed: only deliveries and what recipients do with them may follow.
    Closed,
}

/// What the log says about one recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecipientRecord {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub delivered_at: Option<u64>,
    pub acknowledged_at: Option<u64>,
    pub answered_at: Option<u64>,
}

/// Why an entry may not come where it stands in the log.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The opened entry is another letter than the one the log was read for.
    #[error("the log opens with another letter")]
    OtherLetter,
    /// The entry at `index` breaks the lifecycle, its proof or the pseudonym rule.
    #[error("entry {index}: {error}")]
    Entry { index: u64, error: VerifyError },
}

/// An entry the lifecycle accepted, with what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'e> {
    Opened {
        at: u64,
    },
    /// A signature counted in the tally (with its comment, if any).
    Signed {
        pseudonym: Pseudonym,
        disclosed: &'e Disclosed,
        comment: Option<&'e str>,
    },
    /// A standing signature withdrawn: it no longer counts, and its comment is no longer shown.
    Withdrew {
        pseudonym: Pseudonym,
    },
    Closed {
        at: u64,
        reason: CloseReason,
    },
    Delivered {
        recipient: &'e str,
        at: u64,
    },
    Acknowledged {
        recipient: &'e str,
        at: u64,
    },
    /// An answer; its text travels beside the log, `text_sha256` is what the log holds of it.
    Answered {
        recipient: &'e str,
        at: u64,
        text_sha256: &'e str,
    },
}

/// One letter's log, read entry by entry in log order. Cloning it lets a writer try a batch
/// before committing it.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    /// The letter the log must open with, when the reader knows it beforehand.
    expected: Option<Letter>,
    letter: Option<Letter>,
    phase: Phase,
    /// The log index of the next entry.
    next: u64,
    tally: Tally,
    recipients: Vec<RecipientRecord>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A log read from its first entry on, opening with whatever letter that entry carries (a
    /// server reading its own store).
    pub fn new() -> Self {
        Self {
            expected: None,
            letter: None,
            phase: Phase::Unopened,
            next: 0,
            tally: Tally::new(),
            recipients: Vec::new(),
        }
    }

    /// A log that must open with exactly `letter` (a bundle's log, for the letter it carries).
    pub fn of(letter: Letter) -> Self {
        Self {
            expected: Some(letter),
            ..Self::new()
        }
    }

    /// Reads the next entry. `proof` is asked for the verdict on a signature or withdrawal
    /// entry's proof, and only once everything else allows the entry there: a verifier passes
    /// the verdict of `entry::verify` (or of a batch); a server re-reading the entries it
    /// accepted passes [`Lifecycle::accepted`].
    ///
    /// A refused entry changes nothing: the log stays where it stood.
    pub fn next<'e>(
        &mut self,
        entry: &'e LogEntry,
        proof: impl FnOnce(&SignatureEntry) -> Result<VerifiedEntry, VerifyError>,
    ) -> Result<Event<'e>, LifecycleError> {
        let event = match (self.phase, entry) {
            (Phase::Unopened, LogEntry::Opened { letter, at }) => self.open(letter, *at)?,
            (Phase::Unopened, _) => {
                return Err(self.refuse(malformed("the log must start with the opened letter")))
            }
            (_, LogEntry::Opened { .. }) => {
                return Err(self.refuse(malformed("a second opened entry")))
            }
            (_, LogEntry::Signature(e) | LogEntry::Withdrawal(e)) => {
                self.submission(entry, e, proof)?
            }
            (Phase::Open, LogEntry::Closed { at, reason }) => {
                self.phase = Phase::Closed;
                Event::Closed {
                    at: *at,
                    reason: *reason,
                }
            }
            (Phase::Closed, LogEntry::Closed { .. }) => {
                return Err(self.refuse(malformed("a second closed entry")))
            }
            (
                Phase::Open,
                LogEntry::Delivered { .. }
                | LogEntry::Acknowledged { .. }
                | LogEntry::Response { .. },
            ) => return Err(self.refuse(malformed("delivery before the letter closed"))),
            (Phase::Closed, LogEntry::Delivered { recipient, at, .. }) => {
                self.reach(recipient, *at, Reach::Delivered)?
            }
            (Phase::Closed, LogEntry::Acknowledged { recipient, at }) => {
                self.reach(recipient, *at, Reach::Acknowledged)?
            }
            (
                Phase::Closed,
                LogEntry::Response {
                    recipient,
                    at,
                    text_sha256,
                },
            ) => self.reach(recipient, *at, Reach::Answered(text_sha256))?,
        };
        self.next += 1;
        Ok(event)
    }

    /// [`Lifecycle::next`] for a log whose proofs were verified when each entry was accepted:
    /// a server re-reading its own store.
    pub fn next_accepted<'e>(&mut self, entry: &'e LogEntry) -> Result<Event<'e>, LifecycleError> {
        self.next(entry, Self::accepted)
    }

    /// A log leaf read as the next entry; a leaf that is no entry is refused at its index.
    pub fn read_leaf(&self, leaf: &[u8]) -> Result<LogEntry, LifecycleError> {
        LogEntry::from_leaf_bytes(leaf).ok_or_else(|| self.refuse(malformed("not a log entry")))
    }

    /// The verdict for an entry whose proof was verified when it was accepted into the log:
    /// what it states, with a pseudonym of the right length.
    pub fn accepted(entry: &SignatureEntry) -> Result<VerifiedEntry, VerifyError> {
        let pseudonyms = entry
            .parts
            .iter()
            .map(|p| {
                <[u8; crate::bbs::PSEUDONYM_LEN]>::try_from(p.pseudonym.as_slice())
                    .map(Pseudonym)
                    .map_err(|_| VerifyError::BadProof)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::entry::verified(entry, pseudonyms))
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The letter of the opened entry, once read.
    pub fn letter(&self) -> Option<&Letter> {
        self.letter.as_ref()
    }

    /// How many entries were read.
    pub fn size(&self) -> u64 {
        self.next
    }

    /// Distinct signatures and withdrawals so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Each recipient the letter names, in its order, with what the log says of them.
    pub fn recipients(&self) -> &[RecipientRecord] {
        &self.recipients
    }

    /// Whether the log holds a delivery to the recipient of that name.
    pub fn delivered_to(&self, name: &str) -> bool {
        self.recipients
            .iter()
            .any(|r| r.name == name && r.delivered_at.is_some())
    }

    fn refuse(&self, error: VerifyError) -> LifecycleError {
        LifecycleError::Entry {
            index: self.next,
            error,
        }
    }

    /// The first entry: the letter, exactly the expected one when there is one.
    fn open<'e>(&mut self, letter: &Letter, at: u64) -> Result<Event<'e>, LifecycleError> {
        if self.expected.as_ref().is_some_and(|l| l != letter) {
            return Err(LifecycleError::OtherLetter);
        }
        self.recipients = letter
            .recipients
            .iter()
            .map(|r| RecipientRecord {
                name: r.name.clone(),
                role: r.role.clone(),
                ..Default::default()
            })
            .collect();
        self.letter = Some(letter.clone());
        self.phase = Phase::Open;
        Ok(Event::Opened { at })
    }

    /// A signature or withdrawal: its kind matches its action, the letter is open, its proof
    /// holds, and the pseudonym rule (sign once, withdraw a standing signature once) allows it.
    fn submission<'e>(
        &mut self,
        entry: &LogEntry,
        e: &'e SignatureEntry,
        proof: impl FnOnce(&SignatureEntry) -> Result<VerifiedEntry, VerifyError>,
    ) -> Result<Event<'e>, LifecycleError> {
        let kind_ok = matches!(
            (entry, e.action),
            (LogEntry::Signature(_), Action::Sign) | (LogEntry::Withdrawal(_), Action::Withdraw)
        );
        if !kind_ok {
            return Err(self.refuse(malformed("entry kind does not match its action")));
        }
        if self.phase != Phase::Open {
            return Err(self.refuse(VerifyError::LetterNotOpen));
        }
        let verified = proof(e).map_err(|error| self.refuse(error))?;
        let pseudonym = *verified
            .pseudonym()
            .ok_or_else(|| self.refuse(malformed("an entry without parts")))?;
        let action = verified.action;
        self.tally
            .apply(verified)
            .map_err(|error| self.refuse(error))?;
        Ok(match action {
            Action::Sign => Event::Signed {
                pseudonym,
                disclosed: &e.disclosed,
                comment: e.comment.as_deref(),
            },
            Action::Withdraw => Event::Withdrew { pseudonym },
        })
    }

    /// After closing: a recipient the letter names is delivered to once, then may acknowledge
    /// once and answer once.
    fn reach<'e>(
        &mut self,
        recipient: &'e str,
        at: u64,
        step: Reach<'e>,
    ) -> Result<Event<'e>, LifecycleError> {
        let index = self.next;
        let refuse = |why| LifecycleError::Entry {
            index,
            error: malformed(why),
        };
        let r = self
            .recipients
            .iter_mut()
            .find(|r| r.name == recipient)
            .ok_or_else(|| refuse("a recipient the letter does not name"))?;
        match step {
            Reach::Delivered if r.delivered_at.is_some() => {
                Err(refuse("a second delivery to the same recipient"))
            }
            Reach::Delivered => {
                r.delivered_at = Some(at);
                Ok(Event::Delivered { recipient, at })
            }
            _ if r.delivered_at.is_none() => Err(refuse("an answer before delivery")),
            Reach::Acknowledged if r.acknowledged_at.is_some() => {
                Err(refuse("a second acknowledgement"))
            }
            Reach::Acknowledged => {
                r.acknowledged_at = Some(at);
                Ok(Event::Acknowledged { recipient, at })
            }
            Reach::Answered(_) if r.answered_at.is_some() => Err(refuse("a second answer")),
            Reach::Answered(text_sha256) => {
                r.answered_at = Some(at);
                Ok(Event::Answered {
                    recipient,
                    at,
                    text_sha256,
                })
            }
        }
    }
}

/// What a recipient entry records.
#[derive(Clone, Copy)]
enum Reach<'e> {
    Delivered,
    Acknowledged,
    Answered(&'e str),
}

fn malformed(why: &'static str) -> VerifyError {
    VerifyError::Malformed(why)
}
