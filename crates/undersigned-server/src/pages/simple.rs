//! Pages whose content is either fixed text (privacy) or filled by a script from the API with
//! a token from the URL fragment (organizer, recipient), plus the verify page. A fragment never
//! reaches the server, so these handlers take no token and render no secret.

use axum::extract::{Path, State};
use maud::{html, Markup};

use super::{layout, PageResult};
use crate::state::AppState;

/// The letter's fields, shared by the new-letter page and the draft editor on the manage page.
/// Defaults are the server's own (k, publish interval, response period), shown in the fields.
fn letter_form(s: &AppState, form_id: &str, submit: &str) -> Markup {
    let k = s.config.k;
    let interval = s.config.default_publish_interval_secs;
    let days = undersigned_core::letter::DEFAULT_RESPONSE_DAYS;
    html! {
        form #(form_id).letter-form novalidate data-default-k=(k) data-default-interval=(interval) data-default-days=(days) {
            p.error-summary role="alert" hidden {}
            label for="title" { "Title" }
            input #title dir="auto" name="title" required maxlength="300";
            label for="body" { "Text " span.hint { "(Markdown: **bold**, ## heading, - list, [link](https://…))" } }
            textarea #body dir="auto" name="body" rows="12" required {}
            label for="recipients" { "Recipients " span.hint { "(one per line: Name <address>; each needs an address)" } }
            textarea #recipients name="recipients" rows="3" placeholder="Secretary of State <secretary@state.gov>" aria-describedby="recipients-error" {}
            p #recipients-error.field-error {}
            label for="orgs" { "Accepted organizations " span.hint { "(mail domains, comma-separated; leave empty for all)" } }
            input #orgs name="orgs" placeholder="state.gov, usaid.gov";
            fieldset {
                legend { "Signers may show" }
                label.check { input #allow-role type="checkbox" checked; " their role" }
                label.check { input #allow-age type="checkbox" checked; " their age band" }
                label.check { input #allow-email type="checkbox"; " their email (a named signature)" }
                label.check { input #allow-comments type="checkbox" checked; " a comment (shown with the letter, to recipients and in the delivered mail)" }
            }
            label for="epoch" { "Sign-up quarter " span.hint { "(leave empty for this quarter)" } }
            input #epoch name="epoch" list="epochs" placeholder="this quarter" aria-describedby="epoch-help";
            p #epoch-help.why { "Signers prove where they work with a one-time check of their work address, valid for one quarter; this letter accepts the checks of exactly one quarter. Only a quarter people can still sign up for is accepted: this one, or one an open letter already uses." }
            datalist #epochs {}
            label for="k" { "Smallest role or age group shown " span.hint { "(at least " (k) ")" } }
            input #k type="number" min=(k) name="k" value=(k) required aria-describedby="k-help";
            p #k-help.why { "A role or age group with fewer signers than this is counted together with the signers who did not say, so nobody in a small group can be singled out. Counts by organization are always exact: the public record names each signer's organization." }
            label for="deadline" { "Signatures until " span.hint { "(the end of that day, 23:59 UTC)" } }
            input #deadline type="date" name="deadline" required aria-describedby="deadline-error";
            p #deadline-error.field-error {}
            label for="interval" { "Publish new signatures every … seconds " span.hint { "(in shuffled batches; this site's default is " (interval) ")" } }
            input #interval type="number" min="1" max="86400" name="interval" value=(interval) required;
            label for="response-days" { "Days the recipients have to answer " span.hint { "(after delivery; default " (days) ")" } }
            input #response-days type="number" min="1" max="3650" name="response_days" value=(days) required;
            fieldset {
                legend { "Who can read it" }
                label.check { input type="radio" name="visibility" value="public" checked; " Anyone (public)" }
                label.check { input type="radio" name="visibility" value="recipients-only"; " Its recipients and holders of the signer link" }
            }
            button type="submit" #(format!("{form_id}-submit")) { (submit) }
            p.status role="status" #(format!("{form_id}-status")) {}
        }
    }
}

/// The organizer's form. The script posts it and keeps the organizer token in the fragment
/// and in this browser's storage, never in a query string (which servers and proxies log).
pub async fn organize(State(s): State<AppState>) -> PageResult {
    let main = html! {
        h1 { "Start a letter" }
        p.lead { "You write a draft and its rules. You can preview and change the draft; once you open it, the text and rules are frozen and signing starts. You never see who signs." }
        (letter_form(&s, "organize-form", "Create the draft"))
    };
    Ok(layout("Start a letter", main, Some("organize.js")))
}

/// The organizer's view of one letter: state, preview, draft editor, open/close, delivery.
pub async fn manage(State(s): State<AppState>, Path(handle): Path<String>) -> PageResult {
    let main = html! {
        div #manage data-letter=(handle) {
            h1 #manage-title { "Manage a letter" }
            p #manage-status.status role="status" aria-live="polite" { "Loading…" }
            section #manage-body hidden {
                p.meta { "State: " strong #state {} }
                // What an organizer asks first: how many signed, from how many organizations.
                p #signed-count.total hidden {}
                p.meta { "Entries in the public record (signatures, withdrawals and the letter's own steps): " span #log-size {} }
                p.meta #witness-lag hidden {}
                div #links {}
                p.warning { "Keep this page's address private: it holds your organizer key (after the #), which lets its holder change, open and close the letter." }
                div #actions {
                    p #open-help.note hidden { "Opening freezes the text and rules for good: a changed text would be a new letter. Check the preview below first." }
                    p {
                        button #open type="button" hidden aria-describedby="open-help" { "Open for signatures" }
                        " "
                        button #edit.secondary type="button" hidden { "Edit the draft" }
                        " "
                        button #close type="button" hidden { "Close and deliver" }
                    }
                    p #action-result.status role="status" aria-live="polite" {}
                }
                section #edit-section hidden {
                    h2 { "Edit the draft" }
                    (letter_form(&s, "edit-form", "Save the draft"))
                }
                h2 #preview-heading { "Preview" }
                p.note #preview-note { "As signers and recipients will see it." }
                article #preview.preview {
                    h3 #preview-title {}
                    p #preview-meta.meta {}
                    div #preview-body.letter-body {}
                }
                h2 { "Rules" }
                dl #policy {}
                h2 { "Delivery" }
                p.note { "This page updates itself every 15 seconds: the count, the witnesses and each recipient's delivery and answer." }
                div #deliveries aria-live="polite" { p { "Delivery starts when the letter closes." } }
            }
        }
    };
    Ok(layout("Manage a letter", main, Some("manage.js")))
}

/// A recipient's page: their personal token is the fragment of the mailed link.
pub async fn respond(Path(letter): Path<String>) -> PageResult {
    let main = html! {
        div #respond data-letter=(letter) {
            h1 #respond-title dir="auto" { "A letter to you" }
            p #respond-status.status role="status" { "Loading…" }
            section #respond-body hidden {
                p.meta #respond-meta {}
                div #respond-text.letter-body {}
                p #respond-tally.total {}
                section #respond-comments-section hidden {
                    h2 { "What signers said" }
                    div #respond-comments {}
                }
                section.panel #ack-panel {
                    h2 { "Acknowledge receipt" }
                    p.note #ack-help { "Acknowledging is public: the letter's page and its record will show that you confirmed receipt, and when." }
                    p { button #acknowledge type="button" aria-describedby="ack-help" { "Acknowledge receipt publicly" } }
                }
                section.panel #answer-panel {
                    h2 { "Answer" }
                    form #answer-form {
                        label for="answer" { "Your answer " span.hint { "(Markdown; it becomes part of the public record and cannot be changed)" } }
                        textarea #answer dir="auto" rows="8" required maxlength="50000" {}
                        button #preview-answer type="submit" { "Preview my answer" }
                    }
                    div #answer-preview-box hidden {
                        h3 { "Preview" }
                        div #answer-preview.letter-body {}
                        p.warning { "Publishing is final: the answer is added to the letter's public record and cannot be edited or removed." }
                        p {
                            button #publish-answer type="button" { "Publish my answer" }
                            " "
                            button #edit-answer.secondary type="button" { "Change it" }
                        }
                    }
                }
                p #respond-result.status role="status" aria-live="polite" {}
                p #public-link hidden {}
            }
        }
    };
    Ok(layout("Respond", main, Some("respond.js")))
}

/// Offline verification of a bundle in the browser: the same checks and the same statement as
/// `undersigned verify`, a breakdown, the comments, an optional receipt check and whether the
/// bundle's keys are this site's.
pub async fn verify() -> PageResult {
    let main = html! {
        h1 { "Verify a letter's bundle" }
        p.lead {
            "A bundle is one file with the letter, every log entry and the signed checkpoint. "
            "It is checked here, in your browser, by the same code as the command-line verifier; nothing is uploaded."
        }
        label #drop.drop for="bundle-file" {
            span { "Drop a bundle file here, or choose one" }
        }
        input #bundle-file type="file" accept=".json,application/json" aria-label="Bundle file";
        details #pin {
            summary { "Check it against a deployment you choose (optional)" }
            p.note {
                "By default the bundle's keys are compared with the ones this site publishes. "
                "If you saved a deployment's keys earlier, or got them from someone you trust (the JSON of its "
                code { "/api/v1/deployment" } ", the file " code { "undersigned verify --deployment" } " takes), choose that file and the bundle is held to it instead."
            }
            label for="deployment-file" { "Deployment file" }
            input #deployment-file type="file" accept=".json,application/json";
        }
        p #verify-status.status role="status" aria-live="polite" {}
        p { button #verify-cancel type="button" hidden { "Cancel" } }
        section #verify-result hidden {
            p #verdict.verdict {}
            p #caveat {}
            p #statement {}
            p #key-match {}
            p #delivery-statement {}
            h2 { "What was checked" }
            ul #checks {}
            h2 { "Breakdown" }
            div #breakdown.tables {}
            section #verify-comments-section hidden {
                h2 { "What signers said" }
                div #verify-comments {}
            }
            h2 { "Details" }
            dl #report {}
            section #receipt-check {
                h2 { "Check a receipt" }
                p.note { "If you signed, the letter page shows your receipt's entry. Paste it here to see that your signature is in this bundle." }
                label for="receipt-hash" { "Entry (from your receipt)" }
                input #receipt-hash name="receipt" autocomplete="off" spellcheck="false";
                p { button #check-receipt type="button" { "Check" } }
                p #receipt-result.status role="status" {}
            }
        }
    };
    Ok(layout("Verify", main, Some("verify.js")))
}

/// What is protected and what is not, in plain words, from the design's threat model.
pub async fn privacy() -> PageResult {
    let main = html! {
        h1 { "What is protected, and what is not" }
        section {
            h2 { "Protected" }
            ul {
                li { strong { "Who signed. " } "Not the operator of this site, not the credential issuer, not your employer, not the press can tell which letters you signed. "
                    "Your credential is blind-signed: the issuer never sees the secret it contains. When you sign, your browser sends a zero-knowledge proof and a pseudonym that is different on every letter; your email address stays on your device." }
                li { strong { "The count. " } "Each letter has a public transparency log. The operator cannot add a signature without a valid credential, "
                    "drop or alter one, or rewrite the history without it being detected by anyone who checks the bundle or their own receipt." }
                li { strong { "One person, one signature. " } "A credential gives one pseudonym per letter, so nobody can sign twice. "
                    "An address gets one credential per period: it is first lowercased and a " code { "+tag" } " is removed (" code { "ann+x@state.gov" } " counts as " code { "ann@state.gov" } "), plus any rule this site sets for an organization's mail system, such as ignoring dots. "
                    "A letter accepts one period of each of its issuers, and you always receive the credentials of every open period at once, so your request does not say which letter you mean to sign." }
                li { strong { "No IP addresses are kept. " } "The server stores no IP address, and no table links your email to anything but a keyed hash used to issue one credential per person per period. "
                    "The key of that hash is kept apart from the database. Your code is deleted once used or expired, and the server keeps no record of when you asked for it or when your signature arrived: "
                    "what it deletes, it overwrites." }
            }
        }
        section {
            h2 { "Not protected — please read" }
            ul {
                li { strong { "Your employer's mail server sees that a code was sent to you. " }
                    "It learns that you obtained a credential, not which letters you signed or whether you signed any." }
                li { strong { "Network metadata. " }
                    "Your internet provider, your employer's network and this server's network can see that your device connected here. "
                    "Do not sign from a work device or network. Use Tor Browser if being seen connecting is a risk for you." }
                li { strong { "Small groups. " }
                    "If you disclose your role or age band and few people share it, you can be singled out. The signing form blocks a disclosure "
                    "when the published group is smaller than k, but only you know what else could identify you, for example your comment." }
                li { strong { "Small organizations. " }
                    "Your organization is always shown. If it has fewer than k credential holders, the form asks for your explicit consent." }
                li { strong { "Mail aliases outside these rules. " }
                    "If a mail system delivers other addresses to the same mailbox (an alias, a forwarding address, a second name) that the rules above do not know about, "
                    "its owner can get one credential per address. That is a limit of attesting membership by email, and organizers should weigh it." }
                li { strong { "An issuer who mints fake members. " }
                    "An issuer could issue credentials to people who do not exist, and sign with them. "
                    "What limits it: it signs and logs how many credentials it issued per organization, those counts can only grow, and no letter accepts more signers of an organization than that count "
                    "(the server refuses them and any bundle verifier rejects them). So fake signers must appear as issued credentials, within the issuer's own signed, append-only counts; "
                    "but nothing in that statement alone tells a fake member from a real one, or proves a count too high. "
                    "A letter can need several independent issuers for each signature: then adding a signer takes as many of them colluding as the letter needs, and its page says which issuers and how many." }
                li #own-copy { strong { "The page's own code. " }
                    "This site serves the code of the signing page, and a hostile operator could serve one person a copy that sends their credential home. "
                    "To rule that out, sign with a copy of the signer's client you did not get from this site: "
                    code { "undersigned client export DIR" } " writes it as a folder for any static host and as one file you open from disk, with "
                    code { "#deployment=<this site's address>&letter=<the letter id>" } " after it; "
                    code { "undersigned client verify" } " checks a copy byte for byte against the release, and "
                    code { "undersigned monitor" } " reports a site that serves anything else to signers. "
                    "This protects you against a copy swapped for you alone; it does not protect against a release that is bad for everyone, which only its public source and review can." }
                li { strong { "Timing. " }
                    "New signatures are published in shuffled batches, which hides the moment you signed from the public, but not from the operator: "
                    "while it runs, it sees when a credential was issued and when a signature arrived (it does not store either). Get your credential well before you sign, "
                    "and use delayed submission, which sends your signature at a random moment within the letter's publish interval." }
                li { strong { "Your device. " }
                    "Your credential and receipts are kept in this browser's storage. Anyone with access to your unlocked device, or to your backup file and its passphrase, can use them." }
            }
        }
    };
    Ok(layout("Privacy", main, None))
}

/// Dev mode only: the mail the outbox received, newest first, so a newcomer can read their
/// code. Absent (404) in production, where there is no outbox.
pub async fn dev_outbox(
    axum::extract::State(s): axum::extract::State<crate::state::AppState>,
) -> PageResult {
    let outbox = s
        .outbox
        .as_ref()
        .ok_or(undersigned_service::Error::NotFound("route"))?;
    let messages: Vec<_> = outbox.messages().into_iter().rev().collect();
    let main = html! {
        h1 { "Dev outbox" }
        p.lead { "Mail the server sent while running with " code { "--dev" } ". Nothing here leaves this machine." }
        @if messages.is_empty() { p { "No mail yet." } }
        @for m in &messages {
            article.mail {
                h2 { (m.subject) }
                p { "To: " (m.to.join(", ")) }
                pre { (m.body_text) }
            }
        }
    };
    Ok(layout("Dev outbox", main, None))
}
