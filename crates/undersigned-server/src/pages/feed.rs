//! A public letter's Atom feed: opened, each published batch that changed the count, closed,
//! each delivery, acknowledgement and answer. Journalists follow a letter with it, no account
//! needed. Built from the log itself, so the feed says nothing the bundle does not.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use undersigned_core::letter::Letter;
use undersigned_core::lifecycle::{Lifecycle, LifecycleError};
use undersigned_core::record::LogEntry;
use undersigned_core::tally::Summary;
use undersigned_service::Error;
use undersigned_store::CheckpointRow;

use super::letter::plural;
use super::PageError;
use crate::api::{find_letter, may_read, opened_id};
use crate::state::AppState;
use undersigned_service::letters::parse_row;

/// How many batches the feed lists: the newest ones; the bundle has the whole history.
const MAX_BATCHES: u32 = 50;

struct Item {
    at: u64,
    id: String,
    title: String,
    summary: String,
}

/// `GET /letters/{letter}/feed.atom`: public letters only; a recipients-only letter has none.
pub async fn feed(
    State(s): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    let row = find_letter(&s, &key).await?;
    if !row.public || !may_read(&s, &row, &HeaderMap::new()).await? {
        return Err(Error::NotFound("letter").into());
    }
    let id = opened_id(&row).map_err(|_| Error::NotFound("feed"))?;
    let letter = parse_row(&row)?;
    let base = s.config.public_url.trim_end_matches('/').to_owned();
    let page = format!("{base}/letters/{id}");
    let mut items = items(&s, &id, &letter, &page).await?;
    items.sort_by_key(|i| std::cmp::Reverse(i.at));
    let updated = items.first().map_or(row.created_at, |i| i.at);
    Ok((
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        atom(&page, &letter.title, updated, &items),
    )
        .into_response())
}

/// The feed's items, read from the log: its events, and after each of the newest
/// `MAX_BATCHES` checkpoints the count if the batch changed it.
async fn items(
    s: &AppState,
    id: &str,
    letter: &Letter,
    page: &str,
) -> Result<Vec<Item>, PageError> {
    let mut checkpoints = s.store.recent_checkpoints(id, MAX_BATCHES).await?;
    checkpoints.reverse();
    let size = checkpoints.last().map_or(0, |c| c.size);
    let mut items = Vec::new();
    // The log is read through the lifecycle the bundle verifier reads it with: a history the
    // verifier would refuse gets no feed, not one that says what the bundle cannot show.
    let mut life = Lifecycle::new();
    let refused = |e: LifecycleError| {
        Error::Internal(format!(
            "letter {id}: the log breaks the letter's lifecycle: {e}"
        ))
    };
    let mut next = checkpoints.iter().peekable();
    let mut last_count: Option<u64> = None;
    const PAGE: u64 = 5000;
    while life.size() < size {
        let from = life.size();
        let leaves = s.store.leaves(id, from, (from + PAGE).min(size)).await?;
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            let entry = life.read_leaf(&leaf).map_err(refused)?;
            life.next_accepted(&entry).map_err(refused)?;
            let index = life.size();
            items.extend(event(&entry, letter, page, index));
            // A checkpoint at this size ends a batch: report the count if it changed.
            while let Some(cp) = next.next_if(|c| c.size <= index) {
                let summary = life.tally().summarize(letter.policy.k);
                if cp.size == index
                    && last_count != Some(summary.signatures)
                    && last_count.is_some()
                {
                    items.push(count(&summary, cp, page));
                }
                last_count = Some(summary.signatures);
            }
        }
    }
    Ok(items)
}

/// The item of a log entry other than a signature or withdrawal (`index` counts from 1).
fn event(entry: &LogEntry, letter: &Letter, page: &str, index: u64) -> Option<Item> {
    Some(match entry {
        LogEntry::Opened { at, .. } => Item {
            at: *at,
            id: format!("{page}#opened"),
            title: "Opened for signatures".into(),
            summary: format!(
                "The letter \u{201c}{}\u{201d} is open for signatures.",
                letter.title
            ),
        },
        LogEntry::Closed { at, .. } => Item {
            at: *at,
            id: format!("{page}#closed"),
            title: "Closed".into(),
            summary: "The letter no longer takes signatures; it goes to its recipients.".into(),
        },
        LogEntry::Delivered { recipient, at, .. } => Item {
            at: *at,
            id: format!("{page}#delivered-{index}"),
            title: format!("Delivered to {recipient}"),
            summary: format!("The letter was delivered to {recipient}."),
        },
        LogEntry::Acknowledged { recipient, at } => Item {
            at: *at,
            id: format!("{page}#acknowledged-{index}"),
            title: format!("{recipient} acknowledged receipt"),
            summary: format!("{recipient} confirmed they received the letter."),
        },
        LogEntry::Response { recipient, at, .. } => Item {
            at: *at,
            id: format!("{page}#answer-{index}"),
            title: format!("{recipient} answered"),
            summary: format!("{recipient} published an answer; it is on the letter's page."),
        },
        LogEntry::Signature(_) | LogEntry::Withdrawal(_) => return None,
    })
}

/// The item of a batch that changed the count.
fn count(summary: &Summary, cp: &CheckpointRow, page: &str) -> Item {
    Item {
        at: cp.created_at,
        id: format!("{page}#size-{}", cp.size),
        title: format!(
            "{}{}",
            summary.signatures,
            plural(
                summary.signatures,
                " verified signature",
                " verified signatures"
            )
        ),
        summary: format!(
            "{}{}{}{}. Log size {}.",
            summary.signatures,
            plural(
                summary.signatures,
                " verified signature from ",
                " verified signatures from "
            ),
            summary.organizations,
            plural(summary.organizations, " organization", " organizations"),
            cp.size
        ),
    }
}

/// The Atom document of the items, newest first.
fn atom(page: &str, title: &str, updated: u64, items: &[Item]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    xml.push_str(&format!(
        "  <id>{}</id>\n  <title>{}</title>\n  <subtitle>Signatures, closing, delivery and answers of a collective letter</subtitle>\n  <updated>{}</updated>\n  <author><name>undersigned</name></author>\n  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        esc(page),
        esc(title),
        rfc3339(updated),
        esc(&format!("{page}/feed.atom")),
        esc(page),
    ));
    for i in items {
        xml.push_str(&format!(
            "  <entry>\n    <id>{}</id>\n    <title>{}</title>\n    <updated>{}</updated>\n    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n    <summary>{}</summary>\n  </entry>\n",
            esc(&i.id),
            esc(&i.title),
            rfc3339(i.at),
            esc(page),
            esc(&i.summary),
        ));
    }
    xml.push_str("</feed>\n");
    xml
}

/// XML text and attribute escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped; the letter refuses them too.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A unix time as an RFC 3339 timestamp in UTC, as Atom requires.
pub fn rfc3339(unix: u64) -> String {
    let (y, m, d) = undersigned_core::encoding::civil(unix);
    let secs = unix % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
