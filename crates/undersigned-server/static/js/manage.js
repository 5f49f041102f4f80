// undersigned: the organizer's manage page. The organizer token comes from the fragment (or
// this browser's storage, saved when the letter was created) and goes only in the
// Authorization header. Every action's result, and every error, stays on the page.
import { $, api, copyButton, date, datetime, el, epochWords, fragment, plural, serverHtml, status, store, tallyLine, until } from "./common.js";
import { fillForm, offerEpochs, readForm, statusOf } from "/static/js/letterform.js";

const handle = $("#manage").dataset.letter;
const saved = store.get(`organizer.${handle}`) || {};
const token = fragment().organizer || saved.token;
const st = $("#manage-status");
const result = $("#action-result");
const form = $("#edit-form");
let current = null;
// Whether the links are on the page: they are drawn once per state, not on every refresh.
let rendered = false;

if (token && !saved.token) store.set(`organizer.${handle}`, { ...saved, token });
offerEpochs(form);

function linkRow(label, url) {
  return el("p", { class: "link-row" }, `${label}: `, el("code", { class: "hash" }, url), " ", copyButton(url, `Copy ${label.toLowerCase()}`));
}

async function load() {
  if (!token) return status(st, "This page needs the organizer link (it ends in #organizer=…).", "bad");
  let v;
  try {
    v = (await api(`/api/v1/letters/${encodeURIComponent(handle)}`, { token })).data;
  } catch (e) {
    return status(st, e.status === 404 ? "No letter here, or the organizer link is wrong." : e.message, "bad");
  }
  current = v;
  status(st, "");
  $("#manage-body").hidden = false;
  $("#manage-title").textContent = v.letter.title;
  $("#state").textContent = { draft: "draft (not open yet)", open: "open for signatures", closed: "closed" }[v.state] || v.state;
  $("#state").dataset.state = v.state;
  $("#log-size").textContent = String(v.log_size);
  const t = v.tally;
  $("#signed-count").hidden = !t;
  if (t) $("#signed-count").textContent = tallyLine(t) + (t.withdrawn ? ` (${t.withdrawn} withdrawn)` : "") + (v.state === "closed" ? "" : " so far");
  const w = v.witnesses;
  $("#witness-lag").hidden = !w;
  if (w) {
    const who = w.cosigned_by.map((c) => `${c.name} (${date(c.timestamp)})`).join(", ") || "nobody yet";
    $("#witness-lag").textContent =
      `Witnesses: published checkpoint of size ${w.published_size} (quorum ${w.quorum}) cosigned by ${who}` +
      (w.lag_secs > 0 ? `; ${v.log_size - w.published_size} entries have waited ${w.lag_secs} s for the quorum.` : "; up to date.");
  }
  const draft = v.state === "draft";
  $("#open").hidden = !draft;
  $("#open-help").hidden = !draft;
  $("#edit").hidden = !draft;
  $("#close").hidden = v.state !== "open";
  if (!draft) $("#edit-section").hidden = true;
  // Rendered once: a refresh must not replace a button the organizer is about to press.
  if (!rendered) renderLinks(v);
  rendered = true;
  // The preview: the letter as signers and recipients will see it, rendered by the server.
  // Once open, the text is what signers see, not a preview of it.
  $("#preview-heading").textContent = v.state === "draft" ? "Preview" : "The letter as published";
  $("#preview-note").textContent = v.state === "draft" ? "As signers and recipients will see it." : "As signers and recipients see it; its text can no longer change.";
  $("#preview-title").textContent = v.letter.title;
  const to = v.letter.recipients.map((r) => r.name).join(", ");
  $("#preview-meta").textContent = `Signatures until ${until(v.letter.policy.deadline)}${to ? ` · To: ${to}` : ""}`;
  serverHtml($("#preview-body"), v.body_html);
  const p = v.letter.policy;
  const epoch = p.issuers[0] && p.issuers[0].epochs[0];
  const rows = [
    ["Letter id", v.letter_id || "given when the letter opens"],
    ["Who can read it", p.visibility === "public" ? "anyone" : "its recipients and holders of the signer link"],
    ["Organizations", p.orgs.length ? p.orgs.join(", ") : "every organization of this site"],
    ["Signers may show", [p.disclosures.role && "role", p.disclosures.age_band && "age band", p.disclosures.email && "email"].filter(Boolean).join(", ") || "organization and period only"],
    ["Comments", p.comments === false ? "not allowed" : "allowed"],
    ["Sign-up quarter", epoch ? epochWords(epoch) : "—"],
    ["Smallest role or age group shown", String(p.k)],
    ["Signatures until", until(p.deadline) + (draft && p.deadline <= Date.now() / 1000 ? " (passed: edit the draft to set a later day)" : "")],
    ["Publish interval", plural(p.publish_interval_secs, "second", "seconds")],
    ["Answer period", plural(v.letter.response_days, "day", "days")],
    ["Recipients", v.letter.recipients.map((r) => `${r.name} <${r.address}>`).join(", ") || "none"],
  ];
  $("#policy").replaceChildren(...rows.flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)]));
  if (v.state === "closed") {
    const ds = (await api(`/api/v1/letters/${encodeURIComponent(handle)}/deliveries`, { token })).data;
    // Replaced only when something changed, so a screen reader hears news, not every refresh.
    const next = el("div", {},
      ds.length === 0 ? el("p", {}, "No recipients.") : el("ul", {}, ...ds.map((d) => el("li", {},
        `${d.recipient}: `,
        d.delivered_at ? `delivered ${datetime(d.delivered_at)}` : `not delivered yet (${plural(d.attempts, "attempt", "attempts")}${d.last_error ? `, last error: ${d.last_error}` : ""})`,
        d.acknowledged_at ? `; acknowledged ${datetime(d.acknowledged_at)}` : "",
        d.answered_at ? `; answered ${datetime(d.answered_at)}` : "",
        d.revoked ? "; link revoked" : "",
      ))),
    );
    if (next.textContent !== $("#deliveries").textContent) $("#deliveries").replaceChildren(...next.childNodes);
  }
}

// Counts, witnesses and delivery change while the page is open: it refreshes them itself
// (not while hidden, and not a draft, whose only changes are the organizer's own).
const REFRESH_MS = 15_000;
setInterval(() => {
  if (document.visibilityState === "visible" && current && current.state !== "draft") load();
}, REFRESH_MS);

/** The links to share, each with a word on how: the long code in them is not a secret. */
function renderLinks(v) {
  const links = [linkRow("Organizer link", `${location.origin}/letters/${handle}/manage#organizer=${token}`)];
  if (v.letter_id) {
    links.push(el("p", {}, el("a", { href: `/letters/${v.letter_id}` }, "The letter's page")));
    if (v.letter.policy.visibility === "public") links.push(linkRow("Public link", `${location.origin}/letters/${v.letter_id}`));
  }
  if (saved.signer_token && v.letter_id) {
    links.push(linkRow("Signer link", `${location.origin}/letters/${v.letter_id}#key=${saved.signer_token}`));
  }
  if (v.letter_id && v.state !== "draft") {
    links.push(el("p", { class: "note", id: "share-advice" },
      "How to share it: send the link from a personal account and device, and suggest that people open it on theirs. An employer can read its own mail, chat and network, and see who opened what. ",
      "The long code in the link is the letter's fingerprint, the same for everyone: it does not say who passed the link on, and it lets each signer check they sign exactly this text. ",
      saved.signer_token ? "The signer link's key (after #key=) lets its holders read and sign this letter; give it only to the people who may." : ""));
    links.push(linkRow("Feed", `${location.origin}/letters/${v.letter_id}/feed.atom`));
    links.push(el("p", { class: "note" }, "For followers: added to a feed reader (an app that checks sites for news), the feed brings new counts, the closing, the delivery and the answers, with no account; opened in a browser it shows raw XML."));
  }
  $("#links").replaceChildren(...links);
}

/** Runs an action, reloads the letter, then says what happened: the result outlives the reload. */
async function act(what) {
  status(result, what === "open" ? "Opening…" : "Closing…");
  let outcome;
  try {
    await api(`/api/v1/letters/${encodeURIComponent(handle)}/${what}`, { method: "POST", body: {}, token });
    outcome = what === "open"
      ? ["Opened. The text is frozen and signing has started. Share the letter's link below.", "ok"]
      : null;
  } catch (e) {
    outcome = [e.message, "bad"];
  }
  rendered = false;
  await load();
  // The final count in words, as the page says it, not the log's size.
  if (!outcome) outcome = [`Closed with ${current && current.tally ? tallyLine(current.tally) : "its signatures counted"}. Delivery to the recipients has started.`, "ok"];
  status(result, ...outcome);
  result.focus?.();
}

// Edits in the open editor that were not saved yet: opening must never drop them silently,
// since the text is frozen for good once the letter opens.
let dirty = false;
form.addEventListener("input", () => {
  dirty = true;
});
window.addEventListener("beforeunload", (ev) => {
  if (dirty) ev.preventDefault();
});

/** Saves the editor's text as the draft; false (with the errors shown) when it cannot. */
async function save() {
  const { body, errors } = readForm(form);
  if (errors) return false;
  try {
    await api(`/api/v1/letters/${encodeURIComponent(handle)}`, { method: "PUT", body, token });
  } catch (e) {
    status(statusOf(form), e.message, "bad");
    return false;
  }
  dirty = false;
  $("#edit-section").hidden = true;
  return true;
}

$("#open").addEventListener("click", async () => {
  if (dirty && !$("#edit-section").hidden) {
    if (!confirm("Your edits are not saved yet. Save them, then open the letter for signatures? Its text and rules are then frozen for good.")) return;
    if (!(await save())) {
      status(result, "The letter was not opened: your edits could not be saved. Fix them in the editor, or save them, then open it.", "bad");
      return;
    }
    act("open");
    return;
  }
  if (confirm("Open the letter for signatures? Its text and rules are then frozen for good.")) act("open");
});
$("#close").addEventListener("click", () => {
  if (confirm("Close the letter? No more signatures; it is delivered to its recipients.")) act("close");
});
$("#edit").addEventListener("click", () => {
  fillForm(form, current.letter);
  dirty = false;
  $("#edit-section").hidden = false;
  $("#title").focus();
});
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!(await save())) return;
  await load();
  status(result, "Draft saved. Check the preview below, then open it when ready.", "ok");
});
load();
