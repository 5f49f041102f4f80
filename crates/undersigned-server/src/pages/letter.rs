//! The home page (open public letters) and the letter page: text, tally chart, breakdowns,
//! the last checkpoint, the delivery clock, and the signing panel the browser script drives.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use maud::{html, Markup, PreEscaped};
use std::collections::BTreeMap;
use undersigned_core::tally::{Cell, Summary};
use undersigned_store::LetterState;

use super::chart::{bar_chart, Bar};
use undersigned_service::letters::comment_cell;

use super::{date, layout, layout_with_feed, render_markdown_under, PageResult};
use crate::api::letters::{view, CommentView, LetterView};
use crate::api::{find_letter, may_read};
use crate::state::AppState;

/// Open (then closed) public letters, newest first, with their counts.
pub async fn home(State(s): State<AppState>) -> PageResult {
    let mut rows = Vec::new();
    for state in [LetterState::Open, LetterState::Closed] {
        for row in s.store.letters_in_state(state).await? {
            if row.public {
                rows.push(view(&s, &row, true).await?);
            }
        }
    }
    rows.sort_by_key(|v| std::cmp::Reverse(v.opened_at));
    let main = html! {
        h1 { "Collective letters" }
        p.lead {
            "Each letter is signed anonymously by verified employees. Anyone can check the count: "
            "download a letter's bundle and " a href="/verify" { "verify it" } " in your browser."
        }
        @if rows.is_empty() {
            p { "No public letter is open yet. " a href="/organize" { "Start one." } }
        }
        ul.letters {
            @for v in &rows {
                @let key = v.letter_id.as_deref().unwrap_or(&v.handle);
                li.letter-card {
                    a href=(format!("/letters/{key}")) dir="auto" { (v.letter.title) }
                    " "
                    span.badge.(v.state) { (v.state) }
                    @if let Some(t) = &v.tally {
                        p.counts {
                            strong { (t.signatures) } (plural(t.signatures, " signature", " signatures")) " from "
                            strong { (t.organizations) } (plural(t.organizations, " organization", " organizations"))
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Letters", main, None))
}

pub fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The letter page. The server renders it only when anyone may read the letter; otherwise it
/// sends a shell that the script fills from the API with the link's token, which lives in the
/// URL fragment and so never reaches the server in a page request.
pub async fn letter_page(State(s): State<AppState>, Path(key): Path<String>) -> PageResult {
    let row = find_letter(&s, &key).await?;
    // No headers: a page request carries no token (it is in the fragment).
    if !may_read(&s, &row, &HeaderMap::new()).await? {
        let main = shell(
            &row.handle,
            "false",
            "This letter is visible to its recipients and link holders. If you have its link, open the full link you were given (it ends in #key=…).",
        );
        return Ok(layout("Letter", main, Some("letter.js")));
    }
    let v = view(&s, &row, true).await?;
    let checkpoint = match &v.letter_id {
        Some(id) => undersigned_service::cosigning::published(&s, id).await?,
        None => None,
    };
    let orgs: BTreeMap<String, String> = s
        .config
        .orgs
        .iter()
        .map(|(d, n)| (d.to_string(), n.clone()))
        .collect();
    let trust = undersigned_service::letters::trust_statement(&s, &v.letter);
    let key = v.letter_id.clone().unwrap_or_else(|| v.handle.clone());
    let base = s.config.public_url.trim_end_matches('/');
    let bundle_url = format!("{base}/api/v1/letters/{key}/bundle");
    let main = html! {
        article #letter data-letter=(key) data-public="true" {
            h1 #letter-title dir="auto" { (v.letter.title) }
            p.meta {
                span.badge.(v.state) { (state_word(&v.state)) }
                @if let Some(t) = v.opened_at { " Opened " (date(t)) }
                @if let Some(t) = v.closed_at { " · closed " (date(t)) }
                // The deadline with its time and zone: a day alone reads as the end of the
                // reader's own day.
                @else { " · signatures until " (super::datetime_utc(v.letter.policy.deadline)) }
            }
            @if !v.letter.recipients.is_empty() {
                p.meta { "To: "
                    @for (i, r) in v.letter.recipients.iter().enumerate() {
                        @if i > 0 { ", " }
                        bdi { (r.name) } @if let Some(role) = &r.role { " (" bdi { (role) } ")" }
                    }
                }
            }
            @if v.state == "open" {
                div.cta.no-print {
                    @if let Some(t) = &v.tally {
                        p.cta-count { strong { (t.signatures) } (plural(t.signatures, " person has", " people have")) " signed so far." }
                    }
                    p { a.button #sign-top href="#sign" { "Sign this letter" } }
                    p.note { "Signing is anonymous: your name and email are not shown. " a href="/about/privacy" { "What is protected, and what is not" } }
                }
            }
            @if v.state == "closed" { (outcome(&v)) }
            div.letter-body dir="auto" { (PreEscaped(&v.body_html)) }
            @if !v.comments.is_empty() {
                section #comments-section.comments {
                    h2 { "What signers said" }
                    div #comments { (comment_list(&v.comments)) }
                }
            }
            @if let Some(t) = &v.tally { (tally(t, v.letter.policy.k, &orgs, &trust)) }
            (delivery_clock(&v))
            @if v.state == "open" { (sign_panel()) }
            @else { (check_panel()) (backup_panel()) }
            @if let Some(cp) = &checkpoint { (checkpoint_box(cp.size, &hex::encode(cp.root), v.log_key.as_deref().unwrap_or(""), cp.created_at, &key, &bundle_url)) }
            @if let Some(cp) = &checkpoint { @if s.cosigning.enabled() { (cosigners_box(&s.cosigning.cosigners(&cp.note), s.cosigning.quorum())) } }
            @if v.letter_id.is_some() {
                section.feed.no-print aria-labelledby="follow-heading" {
                    h2 #follow-heading { "Follow this letter" }
                    p {
                        "New counts, the closing, the delivery and the answers, without an account or an email address: add this address to a feed reader (an app or browser add-on that checks sites for news, such as Thunderbird, NetNewsWire or Feedly). "
                        "Opened directly in a browser, it shows the feed's raw XML."
                    }
                    p.link-row { code.hash #feed-url { (base) "/letters/" (key) "/feed.atom" } " " a href=(format!("/letters/{key}/feed.atom")) type="application/atom+xml" { "The feed (Atom)" } }
                }
            }
        }
    };
    Ok(layout_with_feed(
        &v.letter.title,
        main,
        Some("letter.js"),
        v.letter_id
            .as_ref()
            .map(|_| format!("/letters/{key}/feed.atom")),
    ))
}

fn state_word(state: &str) -> &'static str {
    match state {
        "open" => "Open for signatures",
        "closed" => "Closed",
        _ => "Draft",
    }
}

/// Each published comment with the cell its signer disclosed (as far as the tally shows it).
pub fn comment_list(comments: &[CommentView]) -> Markup {
    html! {
        ul.comment-list {
            @for c in comments {
                li.comment {
                    blockquote dir="auto" { @for line in c.text.lines() { (line) br; } }
                    p.meta { "— " (comment_cell(c)) }
                }
            }
        }
    }
}

/// Which attributes the issuer checked and which the signer declared, said where the count is.
fn checked_note() -> Markup {
    html! {
        p.note.checked {
            "Checked: every signer proved, with a credential from the issuer, that they hold a work address at the organization shown, for the period shown. "
            "Declared by the signers themselves, not checked: role and age band."
        }
    }
}

/// The live tally: totals, the chart by organization and the breakdown tables.
fn tally(t: &Summary, k: u32, orgs: &BTreeMap<String, String>, trust: &str) -> Markup {
    let bars: Vec<Bar> = t
        .by_org
        .iter()
        .map(|(org, cell)| Bar {
            label: orgs.get(org).cloned().unwrap_or_else(|| org.clone()),
            cell: *cell,
        })
        .collect();
    html! {
        section #tally-section.tally {
            h2 { "Signatures" }
            p #tally-total.total data-signatures=(t.signatures) data-withdrawn=(t.withdrawn) {
                strong { (t.signatures) } (plural(t.signatures, " verified signature from ", " verified signatures from "))
                strong { (t.organizations) } (plural(t.organizations, " organization", " organizations"))
                @if t.withdrawn > 0 { " (" (t.withdrawn) " withdrawn)" }
            }
            (checked_note())
            p.note #trust { "Issuers: " (trust) "." }
            @if !bars.is_empty() { (bar_chart("Signatures by organization", &bars)) }
            p.note #cells-note {
                "Counts by organization are exact: every entry of the public record names its signer's organization, so anyone can count them. "
                "Role and age band are shown for groups of at least " (k) " signers; smaller groups are counted together with the signers who did not say, so no small group can be singled out."
            }
            div.tables {
                (breakdown("By organization (checked)", "Organization", &t.by_org, Some(orgs)))
                (breakdown("By role (declared)", "Role", &t.by_role, None))
                (breakdown("By age band (declared)", "Age band", &t.by_age_band, None))
            }
        }
    }
}

fn breakdown(
    caption: &str,
    head: &str,
    cells: &BTreeMap<String, Cell>,
    names: Option<&BTreeMap<String, String>>,
) -> Markup {
    html! {
        table.breakdown {
            caption { (caption) }
            thead { tr { th scope="col" { (head) } th scope="col" { "Signers" } } }
            tbody {
                @if cells.is_empty() { tr { td colspan="2" { "none" } } }
                @for (label, cell) in cells {
                    tr {
                        td { (names.and_then(|n| n.get(label)).map_or(label.as_str(), String::as_str)) }
                        td.num.below-k[matches!(cell, Cell::BelowK(_))] { (cell) }
                    }
                }
            }
        }
    }
}

/// Who cosigned the published checkpoint, and when: what stops a split view.
fn cosigners_box(cosigners: &[undersigned_service::cosigning::Cosigner], quorum: usize) -> Markup {
    html! {
        section.cosigners {
            h2 { "Witnesses" }
            p { "Independent witnesses cosign a checkpoint only if it extends every checkpoint of this log they saw before, so everyone is shown the same record. This deployment publishes a checkpoint once " (quorum) " of them cosigned it." }
            ul #cosigners {
                @for c in cosigners {
                    li { code { (c.name) } " cosigned " (date(c.timestamp)) }
                }
            }
        }
    }
}

fn checkpoint_box(
    size: u64,
    root: &str,
    key: &str,
    at: u64,
    letter: &str,
    bundle_url: &str,
) -> Markup {
    // The verify page at the same origin as the bundle's address.
    let verify_url = bundle_url
        .find("/api/v1/")
        .and_then(|i| bundle_url.get(..i))
        .map_or_else(|| "/verify".to_owned(), |base| format!("{base}/verify"));
    html! {
        section.checkpoint {
            h2 { "The public record" }
            p.note { "Every signature, withdrawal, delivery and answer is an entry in this letter's public log. This site signs the log's fingerprint; anyone can check that no entry was dropped or changed." }
            dl {
                dt { "Entries in the log" } dd #cp-size { (size) }
                dt { "Last signed" } dd { (date(at)) }
                dt { "Fingerprint (root hash)" } dd { code.hash { (root) } }
                dt { "Signed by this site's key" } dd { code.hash { (key) } }
            }
            div.record-check {
                figure.qr {
                    (PreEscaped(super::qr_svg(bundle_url)))
                    figcaption { "Scan for the bundle: " span.url { (bundle_url) } }
                }
                p.no-print {
                    // The same check as the verify page, on this letter's bundle, here and now.
                    a.button #verify-letter href=(format!("/verify#letter={letter}")) { "Verify this letter in this browser" }
                }
                p.no-print {
                    button #download-bundle.secondary type="button" data-letter=(letter) { "Download the bundle" }
                    " and check it offline on the " a href="/verify" { "verify page" } " or with " code { "undersigned verify" } "."
                }
                // On paper there is no button: the addresses themselves.
                p.print-only #print-verify {
                    "Check every count offline: fetch the bundle at the address above (or scan the code), then open it on "
                    span.url { (verify_url) } " or run " code { "undersigned verify" } " on it."
                }
            }
        }
    }
}

/// A closed letter's outcome where a reader lands, above its text: how many signed, and
/// whether each recipient got it and answered, with a link to the answer further down.
fn outcome(v: &LetterView) -> Markup {
    html! {
        div #outcome.cta {
            @if let Some(t) = &v.tally {
                p.cta-count {
                    strong { (t.signatures) } (plural(t.signatures, " person signed, from ", " people signed, from "))
                    strong { (t.organizations) } (plural(t.organizations, " organization.", " organizations."))
                }
            }
            @for (i, r) in v.recipients.iter().enumerate() {
                p.outcome-line {
                    bdi { (r.name) } ": "
                    @match (r.delivered_at, r.answered_at, r.days_left) {
                        (None, _, _) => { "not delivered yet." },
                        (Some(_), Some(t), _) => {
                            "answered " (date(t)) ". "
                            @if r.answer.is_some() { a href=(format!("#answer-{i}")) { "Read the answer" } }
                        },
                        (Some(d), None, Some(left)) if left >= 0 => {
                            "delivered " (date(d)) "; no answer yet (" (left) (plural(left.unsigned_abs(), " day left", " days left")) ")."
                        },
                        (Some(d), None, Some(left)) => {
                            "delivered " (date(d)) "; no answer, overdue by " (left.unsigned_abs()) (plural(left.unsigned_abs(), " day.", " days."))
                        },
                        (Some(d), None, None) => { "delivered " (date(d)) "; no answer yet." },
                    }
                }
            }
        }
    }
}

fn delivery_clock(v: &LetterView) -> Markup {
    if v.state != "closed" || v.recipients.is_empty() {
        return html! {};
    }
    html! {
        section.delivery {
            h2 { "Delivery and answers" }
            ul.delivery-list {
                @for r in &v.recipients {
                    li {
                        strong { bdi { (r.name) } }
                        dl.delivery-row {
                            dt { "Delivered" } dd { (r.delivered_at.map_or("not yet".into(), date)) }
                            dt { "Acknowledged" } dd { (r.acknowledged_at.map_or("not yet".into(), date)) }
                            dt { "Answer" } dd {
                                @match (r.answered_at, r.days_left) {
                                    (Some(t), _) => { "answered " (date(t)) },
                                    (None, Some(d)) if d >= 0 => { (d) (plural(d.unsigned_abs(), " day left", " days left")) },
                                    (None, Some(d)) => { "overdue by " (d.unsigned_abs()) (plural(d.unsigned_abs(), " day", " days")) },
                                    (None, None) => { "—" },
                                }
                            }
                        }
                    }
                }
            }
            @for (i, r) in v.recipients.iter().enumerate() {
                @if let Some(a) = &r.answer {
                    section.answer dir="auto" id=(format!("answer-{i}")) {
                        h3 { "Answer from " bdi { (r.name) } }
                        (PreEscaped(render_markdown_under(a, 3)))
                    }
                }
            }
        }
    }
}

/// A letter page the script fills from the API: a recipients-only letter's (`public` "false",
/// read with the link's token) or the exported signer's client (`public` "client", any
/// deployment's letter named in its fragment). `note` shows until the letter is loaded.
pub(crate) fn shell(handle: &str, public: &str, note: &str) -> Markup {
    html! {
        div #letter data-letter=(handle) data-public=(public) {
            h1 #letter-title dir="auto" { "A letter" }
            p #shell-note.notice { (note) }
            p #letter-meta.meta hidden {}
            div #outcome.cta hidden {}
            div #letter-body {}
            section #comments-section hidden {
                h2 { "What signers said" }
                div #comments {}
            }
            section #tally-section hidden {
                h2 { "Signatures" }
                p #tally-total.total {}
                (checked_note())
                div #tally-chart {}
                p { a.button #verify-letter hidden href="/verify" { "Verify this letter in this browser" } " " button #download-bundle.secondary type="button" data-letter=(handle) { "Download the bundle" } }
            }
            (sign_panel())
        }
    }
}

/// The receipt and "check my signature" part, also shown once a letter closed.
fn check_panel() -> Markup {
    html! {
        // On a return visit the script keeps this folded under a neutral heading; it opens
        // it, and says "You signed", only right after the signer's own action.
        section #my-signature.panel aria-live="polite" hidden {
            h2 #my-signature-title { "Kept on this device" }
            details #my-signature-details {
                summary #my-signature-summary { "What this browser keeps for this letter" }
                p #my-signature-state.done {}
                div #receipts {}
                p {
                    button #check type="button" { "Check my signature" }
                    " "
                    button #withdraw.secondary type="button" hidden { "Withdraw my signature" }
                }
                p #check-result.status role="status" {}
            }
        }
    }
}

/// The encrypted backup of everything this browser holds for signing, and its restore. Shown
/// by the script once the signing module is loaded, on open and closed letters alike.
fn backup_panel() -> Markup {
    html! {
        section #backup.panel.no-print hidden {
            h2 { "Your backup" }
            details.backup {
                summary { "Back up or restore your credential and receipts" }
                p.note #backup-help { "The backup file holds your credentials, your receipts and the state of the log you last checked, encrypted with your passphrase. Keep both safe: whoever has them can sign as you. After a restore you can check and withdraw your signature from another browser." }
                label for="passphrase" { "Passphrase (at least 8 characters)" }
                input #passphrase type="password" autocomplete="new-password" aria-describedby="backup-help";
                label for="passphrase-again" { "The same passphrase again (for a new backup)" }
                input #passphrase-again type="password" autocomplete="new-password";
                p { button #suggest-passphrase.secondary type="button" { "Make up a strong passphrase for me" } }
                p #suggested.note hidden {}
                p { button #export type="button" { "Download encrypted backup" } }
                label.file for="import" { "Restore from a backup file" }
                input #import type="file" accept=".json,.txt,application/json,text/plain";
                p #backup-status.status role="status" {}
            }
            details.forget {
                summary { "Forget this browser" }
                p.note #forget-help { "Removes from this browser everything this site stored for signing: your credentials, your receipts, the checkpoints you checked and any code you were waiting for. Nothing is sent anywhere. Without a backup you can then no longer check or withdraw your signatures, or sign again this period." }
                p { button #forget.danger type="button" aria-describedby="forget-help" { "Forget everything on this browser" } }
                p #forget-status.status role="status" {}
            }
        }
    }
}

/// The signing panel. Everything in it runs in the browser: the credential, the proof and the
/// receipts stay on this device.
fn sign_panel() -> Markup {
    html! {
        (check_panel())
        section #sign.panel.no-print {
            h2 { "Sign this letter" }
            p #wasm-status.status role="status" { "Loading the signing module…" }
            noscript {
                p.status.bad { "Signing runs in this browser and needs JavaScript and WebAssembly, which are turned off here. In Tor Browser at its Safest level both are off: set the security level to Standard for this site (the shield icon, then Settings), reload, and set it back after signing. Or sign with the command-line client: see What is protected, and what is not." }
            }
            div #credential-box hidden {
                h3 { "Step 1: Prove you work there" }
                div #have-credential hidden {
                    p #credential-summary {}
                }
                div #later-box hidden {
                    // Focused when it appears, so a phone lands on the next step, not at the top.
                    p.done tabindex="-1" { "Your credential is saved in this browser. You can close this page now." }
                    p { "Come back in a few days to sign: the site sees when a credential is given out and when a signature arrives, so a gap between the two makes them hard to link. "
                        "Open this same page in this same browser, or restore your backup in another one." }
                    p { button #sign-now.secondary type="button" { "Sign now instead" } }
                }
                form #code-form hidden {
                    div.warning #safety {
                        p { strong { "Before you start" } }
                        ul {
                            li { "Use your own phone or computer, on your home or mobile connection. Not a work device, and not the work network: your employer can see both." }
                            li { "If being seen visiting this site is a risk for you, use " a href="https://www.torproject.org/download/" { "Tor Browser" } "." }
                            li { "A code goes to your work address, so your mail server sees that a code was sent to you. Nobody learns whether or what you sign." }
                            li { "This site serves the code of this page. If the site itself could be against you, sign with " a href="/about/privacy#own-copy" { "a copy of the signing page you got elsewhere" } "." }
                        }
                        p { a href="/about/privacy" { "What is protected, and what is not" } }
                    }
                    label for="email" { "Work email" }
                    input #email type="email" name="email" required autocomplete="email";
                    label for="role" { "Your role " span.hint { "(you declare it; nobody checks it)" } }
                    select #role name="role" {}
                    label for="age-band" { "Your age band " span.hint { "(you declare it; nobody checks it)" } }
                    select #age-band name="age_band" {}
                    p #not-asked.note hidden {}
                    // The small-organization risk, shown before the code mail (the step that
                    // cannot be undone), when the script finds the organization below k.
                    div #pre-consent-box.warning hidden {
                        p #pre-consent-text {}
                        label.check { input #pre-consent type="checkbox"; " I understand; send me a code anyway" }
                    }
                    button #send-code type="submit" { "Send me a code" }
                }
                // One code field per issuer of the deployment, filled in by the script; with
                // several, one sentence says why.
                form #redeem-form hidden {
                    p #codes-why.note hidden {}
                    div #codes {}
                    button #get-credential type="submit" { "Get my credential" }
                }
                // Issuance's messages, right under the buttons that caused them (on a phone the
                // panel's top is far above the thumb).
                p #issue-status.status role="status" {}
            }
            form #sign-form hidden {
                h3 { "Step 2: Choose what to show" }
                p.note #what-public { "What becomes public, in this letter's record and its bundle: your organization and your credential's period, always (the issuer checked them), so the count of signers from your organization is public and exact, whatever its size. Role and age band only if you tick them below, where it is safe. Never your email address, unless you choose to sign with your name." }
                label.check #role-choice { input #disclose-role type="checkbox" aria-describedby="role-why"; " Show my role" }
                p #role-why.why {}
                label.check #age-choice { input #disclose-age type="checkbox" aria-describedby="age-why"; " Show my age band" }
                p #age-why.why {}
                label.check #email-choice hidden { input #disclose-email type="checkbox"; " Sign with my name (my email address becomes public)" }
                p #combo-why.why {}
                div #comment-box {
                    h3 { "Step 3: Comment (optional)" }
                    p.note #comment-help {
                        "Your comment is shown on this letter's public page after the next batch, to the recipients, and in the mail they receive, next to your organization (and your role or age band if you show them). "
                        strong { "Its wording can identify you: " } "leave out details that only you or a few people know."
                    }
                    label for="comment" { "Comment" }
                    textarea #comment dir="auto" rows="3" maxlength="2000" aria-describedby="comment-help" {}
                }
                p #no-comments.note hidden { "This letter does not take comments." }
                div #consent-box hidden {
                    p.warning #consent-text {}
                    label.check { input #consent type="checkbox"; " I understand, and I want to sign anyway" }
                }
                label.check { input #delay type="checkbox" checked aria-describedby="delay-help"; " Send my signature at a random moment in the next few minutes (safer)" }
                p.why #delay-help { "The site then cannot tie the moment it arrives to the moment you pressed the button. Keep this page open until it says you signed." }
                p { button #sign-button type="submit" { "Sign" } }
                p #sign-status.status role="status" {}
            }
        }
        (backup_panel())
    }
}
