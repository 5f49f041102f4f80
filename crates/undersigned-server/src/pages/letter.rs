//! The home page (open public letters) and the letter page: text, tally chart, breakdowns,
//! the last checkpoint, the delivery clock, and the signing panel the browser script drives.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use maud::{html, Markup, PreEscaped};
use std::collections::BTreeMap;
use undersigned_core::tally::{Cell, Summary};
use undersigned_store::LetterState;

use super::chart::{bar_chart, Bar};
use super::{date, layout, render_markdown, PageResult};
use crate::api::letters::{view, LetterView};
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

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
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
        let main = html! {
            div #letter data-letter=(row.handle) data-public="false" {
                h1 #letter-title dir="auto" { "A letter" }
                p #shell-note.notice {
                    "This letter is visible to its recipients and link holders. "
                    "If you have its link, open the full link you were given (it ends in #key=…)."
                }
                div #letter-body {}
                section #tally-section hidden {
                    h2 { "Signatures" }
                    p #tally-total {}
                    div #tally-chart {}
                    p { button #download-bundle type="button" data-letter=(row.handle) { "Download the bundle" } }
                }
                (sign_panel())
            }
        };
        return Ok(layout("Letter", main, Some("letter.js")));
    }
    let v = view(&s, &row, true).await?;
    let checkpoint = match &v.letter_id {
        Some(id) => crate::cosigning::published(&s, id).await?,
        None => None,
    };
    let orgs: BTreeMap<String, String> = s
        .config
        .orgs
        .iter()
        .map(|(d, n)| (d.to_string(), n.clone()))
        .collect();
    let key = v.letter_id.clone().unwrap_or_else(|| v.handle.clone());
    let main = html! {
        article #letter data-letter=(key) data-public="true" {
            h1 #letter-title dir="auto" { (v.letter.title) }
            p.meta {
                span.badge.(v.state) { (v.state) }
                @if let Some(t) = v.opened_at { " opened " (date(t)) }
                " · deadline " (date(v.letter.policy.deadline))
                @if let Some(t) = v.closed_at { " · closed " (date(t)) }
            }
            @if !v.letter.recipients.is_empty() {
                p.meta { "To: "
                    @for (i, r) in v.letter.recipients.iter().enumerate() {
                        @if i > 0 { ", " }
                        bdi { (r.name) } @if let Some(role) = &r.role { " (" bdi { (role) } ")" }
                    }
                }
            }
            div.letter-body dir="auto" { (PreEscaped(render_markdown(&v.letter.body))) }
            @if let Some(t) = &v.tally { (tally(t, v.letter.policy.k, &orgs)) }
            @if let Some(cp) = &checkpoint { (checkpoint_box(cp.size, &hex::encode(cp.root), v.log_key.as_deref().unwrap_or(""), cp.created_at, &key)) }
            @if let Some(cp) = &checkpoint { @if s.cosigning.enabled() { (cosigners_box(&s.cosigning.cosigners(&cp.note), s.cosigning.quorum())) } }
            (delivery_clock(&v))
            @if v.state == "open" { (sign_panel()) }
            @else { (check_panel()) }
        }
    };
    Ok(layout(&v.letter.title, main, Some("letter.js")))
}

/// The live tally: totals, the chart by organization and the breakdown tables.
fn tally(t: &Summary, k: u32, orgs: &BTreeMap<String, String>) -> Markup {
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
                strong { (t.signatures) } " distinct verified signatures from "
                strong { (t.organizations) } " organizations"
                @if t.withdrawn > 0 { " (" (t.withdrawn) " withdrawn)" }
            }
            @if !bars.is_empty() { (bar_chart("Signatures by organization", &bars)) }
            p.note { "Cells with fewer than " (k) " signers are shown as " code { "<" (k) } " so that no small group can be singled out." }
            div.tables {
                (breakdown("By organization", "Organization", &t.by_org, Some(orgs)))
                (breakdown("By role", "Role", &t.by_role, None))
                (breakdown("By age band", "Age band", &t.by_age_band, None))
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
                @if cells.is_empty() { tr { td colspan="2" { "none yet" } } }
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
fn cosigners_box(cosigners: &[crate::cosigning::Cosigner], quorum: usize) -> Markup {
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

fn checkpoint_box(size: u64, root: &str, key: &str, at: u64, letter: &str) -> Markup {
    html! {
        section.checkpoint {
            h2 { "The record" }
            dl {
                dt { "Log size" } dd #cp-size { (size) " entries" }
                dt { "Root hash" } dd { code.hash { (root) } }
                dt { "Signed by" } dd { code.hash { (key) } }
                dt { "Checkpoint" } dd { (date(at)) }
            }
            p {
                button #download-bundle type="button" data-letter=(letter) { "Download the bundle" }
                " and check it offline on the " a href="/verify" { "verify page" } " or with " code { "undersigned verify" } "."
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
            table.breakdown {
                thead { tr { th { "Recipient" } th { "Delivered" } th { "Acknowledged" } th { "Answer" } } }
                tbody {
                    @for r in &v.recipients {
                        tr {
                            td dir="auto" { (r.name) }
                            td { (r.delivered_at.map_or("not yet".into(), date)) }
                            td { (r.acknowledged_at.map_or("—".into(), date)) }
                            td {
                                @match (r.answered_at, r.days_left) {
                                    (Some(t), _) => { "answered " (date(t)) },
                                    (None, Some(d)) if d >= 0 => { (d) " days left" },
                                    (None, Some(d)) => { "overdue by " (d.unsigned_abs()) " days" },
                                    (None, None) => { "—" },
                                }
                            }
                        }
                    }
                }
            }
            @for r in &v.recipients {
                @if let Some(a) = &r.answer {
                    section.answer dir="auto" {
                        h3 { "Answer from " bdi { (r.name) } }
                        (PreEscaped(render_markdown(a)))
                    }
                }
            }
        }
    }
}

/// The receipt and "check my signature" part, also shown once a letter closed.
fn check_panel() -> Markup {
    html! {
        section #my-signature.panel hidden {
            h2 { "My signature" }
            div #receipts {}
            p {
                button #check type="button" { "Check my signature" }
                " "
                button #withdraw type="button" hidden { "Withdraw my signature" }
            }
            p #check-result.status role="status" {}
        }
    }
}

/// The signing panel. Everything in it runs in the browser: the credential, the proof and the
/// receipts stay on this device.
fn sign_panel() -> Markup {
    html! {
        section #sign.panel {
            h2 { "Sign this letter" }
            p #wasm-status.status role="status" { "Loading the signing module…" }
            div #credential-box hidden {
                h3 { "1. Your credential" }
                div #have-credential hidden {
                    p #credential-summary {}
                }
                form #code-form hidden {
                    p.note {
                        "A code goes to your work address. Your mail server will see that a code was sent; "
                        "nobody learns what you sign. Get your credential well before you sign. "
                        a href="/about/privacy" { "Why?" }
                    }
                    label { "Work email" input #email type="email" name="email" required autocomplete="email"; }
                    label { "Role" select #role name="role" {} }
                    label { "Age band" select #age-band name="age_band" {} }
                    button #send-code type="submit" { "Send me a code" }
                }
                form #redeem-form hidden {
                    label { "Code from the email" input #code name="code" inputmode="numeric" autocomplete="one-time-code" required; }
                    button #get-credential type="submit" { "Get my credential" }
                }
                details.backup {
                    summary { "Back up or restore your credential" }
                    p.note { "The backup file is encrypted with your passphrase. Keep both safe: whoever has them can sign as you." }
                    label { "Passphrase" input #passphrase type="password" autocomplete="new-password"; }
                    p {
                        button #export type="button" { "Download encrypted backup" }
                        " "
                        label.file { "Restore from file " input #import type="file" accept=".json,application/json"; }
                    }
                    p #backup-status.status role="status" {}
                }
            }
            form #sign-form hidden {
                h3 { "2. What to disclose" }
                p.note { "Your organization and the credential's epoch are always shown. Anything more is your choice, where it is safe." }
                label.check #role-choice { input #disclose-role type="checkbox"; " My role" }
                p #role-why.why {}
                label.check #age-choice { input #disclose-age type="checkbox"; " My age band" }
                p #age-why.why {}
                label.check #email-choice hidden { input #disclose-email type="checkbox"; " Sign with my name (my email address becomes public)" }
                p #combo-why.why {}
                h3 { "3. Comment (optional)" }
                textarea #comment dir="auto" rows="3" maxlength="2000" {}
                div #consent-box hidden {
                    p.warning #consent-text {}
                    label.check { input #consent type="checkbox"; " I understand, and I want to sign anyway" }
                }
                label.check { input #delay type="checkbox"; " Submit at a random moment within the next publish interval (keep this page open)" }
                p { button #sign-button type="submit" { "Sign" } }
                p #sign-status.status role="status" {}
            }
        }
        (check_panel())
    }
}
