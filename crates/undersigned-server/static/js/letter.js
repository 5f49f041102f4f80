// undersigned: the letter page's script — issuance, the small-cell guard, signing, receipts,
// "check my signature", withdrawal, credential backup and the bundle download. Every check
// runs in the wasm module (core's own code); this file only moves JSON between the API, the
// module and the page. The credential stays in this browser: only the proof, the pseudonym
// and the disclosures the signer chose are sent.
import { $, api, commentList, datetime, download, el, epochWords, fragment, loadWasm, paragraphs, plural, serverHtml, setBase, span, status, store, tallyLine, until, wasm } from "./common.js";

const root = $("#letter");
const frag = fragment();
// The signer's client as a release (`undersigned client export`), opened from anywhere: its
// fragment names the deployment and the letter (`#deployment=URL&letter=ID`), and it talks to
// that deployment's JSON API only. The fragment never reaches the host that served the file.
const client = root.dataset.public === "client";
const key = client ? frag.letter : root.dataset.letter;
// A recipients-only letter is read and signed with the link's token; the organizer's works too.
const token = frag.key || frag.organizer || undefined;

let deployment, view, letterId, vkey, setsJson;
// The credentials this letter is signed with: its threshold t of them, one per issuer.
let credentials = null;
// Right after getting a credential the page offers to come back later rather than sign at
// once: a gap between issuance and signing is what hides who signed from the operator.
let later = false;
// Whether the signer acted on this page (signed, withdrew or restored a backup) since it
// loaded. Only then does the page say so out loud; on a return visit it keeps the receipt
// folded under a neutral heading, for whoever glances at the screen.
let acted = false;

/** Every credential kept in this browser, one per epoch (and the single one of older versions). */
function held() {
  const list = store.get("credentials") || [];
  const legacy = store.get("credential");
  return legacy ? [legacy, ...list] : list;
}

main().catch((e) => {
  const s = $("#wasm-status") || $("#check-result");
  if (s) status(s, `Could not load: ${e.message}`, "bad");
});

async function main() {
  if (client) {
    if (!frag.deployment || !frag.letter) {
      status($("#wasm-status"), "Open this client with the letter's address: …#deployment=https://the.deployment&letter=LETTER-ID", "bad");
      return;
    }
    setBase(frag.deployment);
    // The shell's links name the deployment's pages; from a copy they must lead there (an
    // http(s) URL, as `setBase` just checked).
    for (const a of document.querySelectorAll('a[href^="/"]')) a.href = new URL(a.getAttribute("href"), frag.deployment).href;
  }
  if (typeof WebAssembly === "undefined") {
    // Tor Browser at its Safer and Safest levels turns WebAssembly off; say so, and what to do.
    status($("#wasm-status") || $("#check-result"), "Signing runs in this browser with WebAssembly, which is turned off here. In Tor Browser, set the security level to Standard for this site (the shield icon, then Settings), reload, and set it back after signing. Or sign with the command-line client (see “What is protected, and what is not”).", "bad");
    return;
  }
  await loadWasm();
  deployment = (await api("/api/v1/deployment")).data;
  // A recipients-only letter without its link: the server would refuse (404), so don't ask.
  if (root.dataset.public === "false" && !token) {
    const s = $("#wasm-status");
    if (s) status(s, "You need the letter's link to read and sign it.", "bad");
    return;
  }
  try {
    view = (await api(`/api/v1/letters/${encodeURIComponent(key)}`, { token })).data;
  } catch (e) {
    // The shell of a recipients-only letter: without a valid link there is nothing to show.
    const s = $("#wasm-status");
    if (s) status(s, root.dataset.public === "false" ? "You need the letter's link to read and sign it." : e.message, "bad");
    return;
  }
  letterId = view.letter_id;
  if (!letterId) {
    status($("#wasm-status"), "This letter is a draft; it cannot be signed yet.");
    return;
  }
  // The page must show and sign exactly the text whose hash is the letter id.
  if (wasm.letter_id(JSON.stringify(view.letter)) !== letterId) throw new Error("the letter's text does not match its id");
  vkey = wasm.pinned_log_key(JSON.stringify(deployment), view.log_key, letterId);
  if (root.dataset.public === "false" || client) fillShell();
  wireBundle();
  wireCheck();
  wireBackup();
  $("#backup").hidden = false;
  renderReceipts();
  if (view.state !== "open") {
    const sign = $("#sign");
    if (sign) sign.hidden = true;
    return;
  }
  status($("#wasm-status"), "");
  $("#credential-box").hidden = false;
  wireIssuance();
  wireSign();
  await renderCredential();
  resumeIssuance();
}

// ---- recipients-only shell -------------------------------------------------------------

function fillShell() {
  $("#letter-title").textContent = view.letter.title;
  document.title = `${view.letter.title} — undersigned`;
  $("#shell-note").hidden = true;
  const meta = $("#letter-meta");
  meta.hidden = false;
  const to = view.letter.recipients.map((r) => r.name).join(", ");
  meta.textContent = `${view.state === "open" ? `Open for signatures until ${until(view.letter.policy.deadline)}` : "Closed"}${to ? ` · To: ${to}` : ""}`;
  // A closed letter's outcome above its text, as on a public letter's page.
  if (view.state === "closed") {
    const t = view.tally;
    const lines = (view.recipients || []).map((r) => el("p", { class: "outcome-line" }, el("bdi", {}, r.name), ": ",
      !r.delivered_at ? "not delivered yet."
        : r.answered_at ? `answered ${datetime(r.answered_at)}.`
          : `delivered ${datetime(r.delivered_at)}; no answer yet.`));
    $("#outcome").replaceChildren(...(t ? [el("p", { class: "cta-count" }, tallyLine(t) + ".")] : []), ...lines);
    $("#outcome").hidden = false;
  }
  // The client shows the signed text itself, not markup the operator rendered.
  if (client) paragraphs($("#letter-body"), view.letter.body);
  else serverHtml($("#letter-body"), view.body_html);
  $("#letter-body").className = "letter-body";
  if (view.comments && view.comments.length) {
    $("#comments-section").hidden = false;
    $("#comments").replaceChildren(commentList(view.comments));
  }
  const t = view.tally;
  if (!t) return;
  $("#tally-section").hidden = false;
  const total = $("#tally-total");
  total.dataset.signatures = t.signatures;
  total.dataset.withdrawn = t.withdrawn;
  total.textContent = tallyLine(t) + (t.withdrawn ? ` (${t.withdrawn} withdrawn)` : "");
  $("#tally-chart").replaceChildren(chart(t.by_org, view.letter.policy.k));
}

/** The same chart the server draws for public letters, built with DOM calls (no markup strings). */
function chart(byOrg, k) {
  const NS = "http://www.w3.org/2000/svg";
  const rows = Object.entries(byOrg);
  const names = Object.fromEntries((deployment.orgs || []).map((o) => [o.domain, o.name]));
  const value = (c) => (typeof c === "number" ? c : k - 1);
  const max = Math.max(1, ...rows.map(([, c]) => value(c)));
  const box = el("div", { class: "chart", "aria-hidden": "true" });
  for (const [org, c] of rows) {
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 100 10");
    svg.setAttribute("preserveAspectRatio", "none");
    const bar = document.createElementNS(NS, "rect");
    const w = Math.max(1, Math.floor((value(c) * 100) / max));
    Object.entries({ x: 0, y: 0, width: w, height: 10, class: typeof c === "number" ? "bar" : "bar-small" }).forEach(([a, v]) => bar.setAttribute(a, v));
    svg.append(bar);
    box.append(el("div", { class: "chart-row" },
      el("span", { class: "chart-label" }, names[org] || org),
      el("span", { class: "chart-bar" }, svg),
      el("span", { class: "chart-value" }, String(c))));
  }
  return box;
}

// ---- issuance ----------------------------------------------------------------------------

/** The issuers a holder asks, as the deployment lists them (its own issuer when it names none). */
function issuers() {
  return deployment.issuers || [];
}

/** An issuer's name for people: its name and the host it signs its statements under. */
function issuerName(i) {
  return i.name && i.name !== i.host ? `${i.name} (${i.host})` : i.host || i.name;
}

/** The URL of one of an issuer's routes: every issuer is asked at the URL the deployment lists. */
function at(issuer, path) {
  return `${issuer.url.replace(/\/$/, "")}${path}`;
}

/** One code field per issuer asked; with several, one sentence says why there are several. */
function codeFields(asked) {
  const several = asked.length > 1;
  const why = $("#codes-why");
  why.hidden = !several;
  why.textContent = several
    ? `You get ${asked.length} codes, one from each of ${asked.length} independent issuers: each checks your work address on its own, so that no single one of them can add a signer or let anyone sign twice.`
    : "";
  $("#codes").replaceChildren(
    ...asked.flatMap(({ issuer }, n) => {
      const id = several ? `code-${n + 1}` : "code";
      return [
        el("label", { for: id }, several ? `Code from ${issuerName(issuer)}` : "Code from the email"),
        el("input", { id, name: id, inputmode: "numeric", autocomplete: several ? "off" : "one-time-code", required: "" }),
      ];
    }),
  );
}

/** The code field of the n-th issuer asked. */
function codeField(n, count) {
  return $(count > 1 ? `#code-${n + 1}` : "#code");
}

/** Finishes issuance with one issuer: fresh commitments for every issuable epoch, its blind
 *  signatures checked against its key as the deployment lists it. */
async function obtain(issuer, requestToken, code, email, role, age) {
  // Every issuable epoch at once, never one alone: the issuer sees which epochs are asked
  // for, and a single old epoch would point at the letter. Fresh commitments per attempt;
  // the nym secrets are generated here and never sent.
  const epochs = (await api(at(issuer, "/api/v1/issuance/epochs"))).data;
  const pending = JSON.parse(wasm.request_credentials(JSON.stringify(epochs)));
  const issued = (await api(at(issuer, "/api/v1/issuance/credential"), {
    method: "POST",
    body: { email, code, request_token: requestToken, commitments: pending.commitments, role, age_band: age },
  })).data;
  return JSON.parse(wasm.receive_credentials(pending.pending, JSON.stringify(issued), JSON.stringify(issuer), email, role, age));
}

/** The organization an address belongs to, as the deployment lists it (a subdomain's parent
 *  when that organization takes its subdomains), else the address's domain. */
function orgOf(email) {
  const domain = email.split("@").pop().toLowerCase();
  const o = (deployment.orgs || []).find((o) => o.domain === domain || (o.subdomains && domain.endsWith(`.${o.domain}`)));
  return o ? o.domain : domain;
}

/** Whether `org` has fewer than the letter's k credential holders at any of its issuers. */
async function orgBelowK(org) {
  const sets = {};
  try {
    for (const a of view.letter.policy.issuers) {
      const q = `issuer=${encodeURIComponent(a.issuer_id)}&epoch=${encodeURIComponent(a.epochs[0])}`;
      sets[a.issuer_id] = (await api(`/api/v1/issuer/anonymity-sets?${q}`)).data;
    }
    return !wasm.org_at_least(JSON.stringify(sets), org, view.letter.policy.k);
  } catch {
    // Unknown (no such organization here, or no sets yet): the issuer and, at signing, the
    // form's own guard still decide.
    return false;
  }
}

// A code mail already sent survives a reload (the signer switched to the mail app and the
// phone reloaded the tab): the address and each issuer's request token, kept in this tab's
// session storage only (gone when the tab closes), for as long as a code lives, and removed
// once the credentials are issued.
const PENDING = "undersigned.pending-code";
const PENDING_SECS = 30 * 60;

function keepPending(email, asked) {
  try {
    sessionStorage.setItem(PENDING, JSON.stringify({
      email,
      at: Math.floor(Date.now() / 1000),
      asked: asked.map((a) => ({ url: a.issuer.url, request_token: a.requestToken })),
    }));
  } catch { /* storage off: the person asks again after a reload */ }
}

function dropPending() {
  try { sessionStorage.removeItem(PENDING); } catch { /* nothing kept */ }
}

/** The code request this tab made before a reload, with the issuers it asked, if still live. */
function pendingCode() {
  try {
    const p = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    if (!p || Math.floor(Date.now() / 1000) - p.at > PENDING_SECS) return dropPending();
    const asked = p.asked
      .map((a) => ({ issuer: issuers().find((i) => i.url === a.url), requestToken: a.request_token }))
      .filter((a) => a.issuer);
    return asked.length ? { email: p.email, asked } : dropPending();
  } catch {
    return null;
  }
}

function wireIssuance() {
  const roles = ["unspecified", ...deployment.roles.filter((r) => r !== "unspecified")];
  const bands = ["unspecified", ...deployment.age_bands.filter((a) => a !== "unspecified")];
  $("#role").replaceChildren(...roles.map((r) => el("option", { value: r }, r)));
  $("#age-band").replaceChildren(...bands.map((a) => el("option", { value: a }, a)));
  // Ask only what this letter can use: a role or age band it does not take stays unspecified.
  const takes = view.letter.policy.disclosures;
  for (const [id, asked] of [["role", takes.role], ["age-band", takes.age_band]]) {
    $(`#${id}`).hidden = !asked;
    $(`label[for="${id}"]`).hidden = !asked;
  }
  const skipped = [!takes.role && "role", !takes.age_band && "age band"].filter(Boolean);
  $("#not-asked").hidden = skipped.length === 0;
  $("#not-asked").textContent = skipped.length
    ? `This letter does not ask for your ${skipped.join(" or ")}, so this page does not either. Your credential for this period will not carry ${skipped.length > 1 ? "them" : "it"}: no letter this period could show ${skipped.length > 1 ? "them" : "it"}.`
    : "";
  const st = $("#issue-status");
  // Where the thumb is: a message shown below the buttons is scrolled into view.
  const say = (text, kind) => {
    status(st, text, kind);
    if (text) st.scrollIntoView({ block: "nearest" });
  };
  // The issuers that mailed a code, each with the token its code is checked under.
  let asked = [];
  $("#code-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("#email").value.trim();
    // The small-organization risk comes before the code mail, which cannot be taken back.
    const org = orgOf(email);
    if (!$("#pre-consent").checked && (await orgBelowK(org))) {
      const k = view.letter.policy.k;
      $("#pre-consent-text").textContent = `Fewer than ${k} people at ${org} have a credential for this letter's period yet. Your organization is shown with your signature, so signing could narrow down who you are. You can wait until more colleagues have one, or go on.`;
      $("#pre-consent-box").hidden = false;
      say("Read the warning above the button first.", "bad");
      $("#pre-consent").focus();
      return;
    }
    const refused = [];
    asked = [];
    for (const issuer of issuers()) {
      try {
        const sent = (await api(at(issuer, "/api/v1/issuance/code"), { method: "POST", body: { email } })).data;
        asked.push({ issuer, requestToken: sent.request_token });
      } catch (e) {
        refused.push(`${issuerName(issuer)}: ${e.message}`);
      }
    }
    if (asked.length === 0) return say(refused.join(" "), "bad");
    keepPending(email, asked);
    codeFields(asked);
    $("#redeem-form").hidden = false;
    const codes = asked.length > 1 ? `${asked.length} codes were sent` : "A code was sent";
    say(`${codes} to ${email}. Enter ${asked.length > 1 ? "them" : "it"} below.${refused.length ? ` Not sent by ${refused.join("; ")}.` : ""}`, refused.length ? "bad" : "ok");
    codeField(0, asked.length).focus();
  });
  $("#redeem-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("#email").value.trim();
    const role = $("#role").value;
    const age = $("#age-band").value;
    const creds = [];
    const refused = [];
    const left = [];
    for (const [n, a] of asked.entries()) {
      try {
        creds.push(...(await obtain(a.issuer, a.requestToken, codeField(n, asked.length).value.trim(), email, role, age)));
      } catch (e) {
        refused.push(`${issuerName(a.issuer)}: ${e.message}`);
        left.push(a);
      }
    }
    if (creds.length) {
      if (!refused.length) dropPending();
      const keyOf = (c) => `${c.issuer_id}/${c.attributes.epoch}`;
      const fresh = new Set(creds.map(keyOf));
      store.set("credentials", [...held().filter((c) => !fresh.has(keyOf(c))), ...creds]);
      store.remove("credential");
    }
    if (refused.length) {
      // The issuers that refused keep their field, with what they said; the others are done.
      const codes = left.map((a) => codeField(asked.indexOf(a), asked.length).value);
      asked = left;
      codeFields(asked);
      codes.forEach((c, n) => { codeField(n, asked.length).value = c; });
      say(`Not issued by ${refused.join("; ")}`, "bad");
      if (!creds.length) return;
    } else {
      say("", "");
    }
    later = true;
    await renderCredential();
    if (refused.length) $("#redeem-form").hidden = false;
  });
  // A code sent before a reload: its fields again, with the address it went to (called once
  // the credential section is drawn).
  resumeIssuance = () => {
    const pending = !credentials && pendingCode();
    if (!pending) return;
    asked = pending.asked;
    $("#email").value = pending.email;
    codeFields(asked);
    $("#redeem-form").hidden = false;
    const codes = asked.length > 1 ? `The ${asked.length} codes were sent` : "The code was sent";
    status(st, `${codes} to ${pending.email} before this page reloaded. Enter ${asked.length > 1 ? "them" : "it"} below.`, "ok");
  };
}

let resumeIssuance = () => {};

async function renderCredential() {
  // The credentials this letter is signed with (its threshold of them, of distinct issuers),
  // if this browser holds them.
  credentials = null;
  let why = "";
  if (held().length > 0) {
    const picked = JSON.parse(wasm.pick_credentials(JSON.stringify(held()), JSON.stringify(view.letter)));
    credentials = picked.credentials;
    if (!credentials) {
      const names = Object.fromEntries(issuers().map((i) => [i.issuer_id, issuerName(i)]));
      const missing = picked.missing.map((m) => names[m.issuer_id] || `issuer ${m.issuer_id.slice(0, 16)}`);
      why = picked.threshold > 1
        ? `This letter needs credentials from ${picked.threshold} of its ${picked.issuers} issuers and this browser holds ${picked.held} it accepts (missing: ${missing.join(", ")})`
        : `None of the credentials in this browser is of the period this letter accepts (${picked.missing.flatMap((m) => m.epochs.map(epochWords)).join(", ")})`;
    }
  }
  const have = !!credentials;
  if (!have && why) status($("#wasm-status"), `${why}. Ask for codes again to get the credentials of every open period.`, "bad");
  $("#have-credential").hidden = !have;
  $("#code-form").hidden = have;
  $("#redeem-form").hidden = true;
  $("#export").disabled = held().length === 0;
  if (!have) {
    $("#sign-form").hidden = true;
    return;
  }
  const a = credentials[0].attributes;
  const name = (deployment.orgs.find((o) => o.domain === a.org) || {}).name || a.org;
  const byId = Object.fromEntries(issuers().map((i) => [i.issuer_id, issuerName(i)]));
  $("#credential-summary").textContent = credentials.length > 1
    ? `You have credentials for ${name} (${a.org}), valid for ${epochWords(a.epoch)}, from ${credentials.map((c) => byId[c.issuer_id] || c.issuer_id.slice(0, 16)).join(", ")}; this letter takes ${credentials.length} of them. They are kept only in this browser.`
    : `You have a credential for ${name} (${a.org}), valid for ${epochWords(a.epoch)}. It is kept only in this browser.`;
  // Each issuer's published sets: what is safe to show must be safe at every one of them.
  const sets = {};
  for (const c of credentials) {
    const q = `issuer=${encodeURIComponent(c.issuer_id)}&epoch=${encodeURIComponent(c.attributes.epoch)}`;
    sets[c.issuer_id] = (await api(`/api/v1/issuer/anonymity-sets?${q}`)).data;
  }
  setsJson = JSON.stringify(sets);
  const signed = receipts().some((r) => r.action === "sign");
  $("#later-box").hidden = !later || signed;
  $("#sign-form").hidden = signed || later;
  if (signed) $("#sign").hidden = true;
  if (!signed) guard();
  if (later) {
    const next = $("#later-box").querySelector("p");
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }
}

// ---- the small-cell guard ----------------------------------------------------------------

function check(role, age) {
  return JSON.parse(wasm.check_disclosure(setsJson, JSON.stringify(credentials), view.letter.policy.k, role, age));
}

/** Greys out every disclosure the letter forbids or that would fall in a cell below k, and says why. */
function guard() {
  const commentsOk = view.letter.policy.comments !== false;
  $("#comment-box").hidden = !commentsOk;
  $("#no-comments").hidden = commentsOk;
  if (!commentsOk) $("#comment").value = "";
  const allowed = view.letter.policy.disclosures;
  const k = view.letter.policy.k;
  const one = (box, why, label, isAllowed, verdict) => {
    let reason = "";
    if (!isAllowed) reason = `This letter does not ask for your ${label}.`;
    else if (!verdict.ok) reason = `Unavailable: fewer than ${k} people with a credential share your ${label}, so showing it could identify you.`;
    box.disabled = reason !== "";
    if (box.disabled) box.checked = false;
    box.closest("label").classList.toggle("disabled", box.disabled);
    why.textContent = reason;
  };
  one($("#disclose-role"), $("#role-why"), "role", allowed.role, check(true, false));
  one($("#disclose-age"), $("#age-why"), "age band", allowed.age_band, check(false, true));
  $("#email-choice").hidden = !allowed.email;
  const both = $("#disclose-role").checked && $("#disclose-age").checked;
  const combo = both ? check(true, true) : { ok: true };
  $("#combo-why").textContent = combo.ok ? "" : `Not both: fewer than ${k} people with a credential share both, so showing both could identify you.`;
  const org = check(false, false);
  $("#consent-box").hidden = !org.org_below_k;
  $("#consent-text").textContent = org.org_below_k
    ? `Fewer than ${k} people at your organization have a credential. Your organization is always shown, so signing could narrow down who you are.`
    : "";
  $("#sign-button").disabled = !combo.ok || (org.org_below_k && !$("#consent").checked);
}

// ---- signing and withdrawing ---------------------------------------------------------------

function receipts() {
  return store.get(`receipts.${letterId}`) || [];
}

async function submit(action, role, age, email, comment, consent) {
  const entry = wasm.present(JSON.stringify(credentials), JSON.stringify(view.letter), action, role, age, email, comment || null, setsJson, consent);
  const receipt = (await api(`/api/v1/letters/${encodeURIComponent(letterId)}/entries`, { method: "POST", body: entry, token })).data;
  // The receipt must be signed by this letter's log key and name exactly the entry we sent.
  wasm.verify_receipt(JSON.stringify(receipt), vkey, entry, letterId);
  store.set(`receipts.${letterId}`, [...receipts(), { action, receipt }]);
  acted = true;
  return receipt;
}

function wireSign() {
  for (const id of ["#disclose-role", "#disclose-age", "#consent"]) $(id).addEventListener("change", guard);
  const secs = view.letter.policy.publish_interval_secs;
  $("#delay").parentElement.lastChild.textContent = ` Send my signature at a random moment within the next ${span(secs)} (safer)`;
  $("#sign-now").addEventListener("click", async () => {
    later = false;
    await renderCredential();
    $("#sign-form").querySelector("h3").scrollIntoView();
  });
  $("#sign-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const st = $("#sign-status");
    $("#sign-button").disabled = true;
    try {
      if ($("#delay").checked) {
        // A random moment within the publish interval: the operator then cannot tie the
        // arrival to the moment the signer pressed the button.
        const secs = Math.floor(Math.random() * view.letter.policy.publish_interval_secs);
        // The same words as the checkbox: the signer was promised "within the next N".
        status(st, `Your signature will be sent at a random moment within the next ${span(view.letter.policy.publish_interval_secs)}. Keep this page open.`);
        await new Promise((r) => setTimeout(r, secs * 1000));
      }
      status(st, "Signing…");
      const comment = $("#comment").value.trim();
      await submit("sign", $("#disclose-role").checked, $("#disclose-age").checked, $("#disclose-email").checked, comment, $("#consent").checked);
      status(st, "");
      $("#sign-form").hidden = true;
      $("#sign").hidden = true;
      renderReceipts();
      $("#my-signature").scrollIntoView({ block: "start" });
    } catch (e) {
      status(st, e.message, "bad");
      guard();
    }
  });
  $("#withdraw").addEventListener("click", async () => {
    const st = $("#check-result");
    if (!confirm("Withdraw your signature? The withdrawal is public; the count goes down by one. You cannot sign this letter again.")) return;
    try {
      // Withdrawing discloses nothing beyond org and epoch; consent was given when signing.
      await submit("withdraw", false, false, false, null, true);
      status(st, "");
      renderReceipts();
    } catch (e) {
      status(st, e.message, "bad");
    }
  });
}

function renderReceipts() {
  const list = receipts();
  $("#my-signature").hidden = list.length === 0;
  const signed = list.find((r) => r.action === "sign");
  const withdrawn = list.find((r) => r.action === "withdraw");
  const state = $("#my-signature-state");
  const details = $("#my-signature-details");
  if (acted) details.open = true;
  // Said in the tense of now: once the promised time has passed, the batch is published.
  const past = (r) => Date.now() / 1000 >= r.receipt.include_by;
  if (!acted) $("#my-signature-title").textContent = "Kept on this device";
  if (withdrawn) {
    if (acted) $("#my-signature-title").textContent = "You withdrew your signature";
    state.textContent = past(withdrawn)
      ? `You withdrew your signature from this letter. It was due out of the count by ${datetime(withdrawn.receipt.include_by)}; check below that the public record shows your withdrawal.`
      : `You withdrew your signature from this letter. The count goes down by one when the next batch is published, by ${datetime(withdrawn.receipt.include_by)}.`;
  } else if (signed) {
    if (acted) $("#my-signature-title").textContent = "You signed this letter";
    state.textContent = past(signed)
      ? `Your signature was due in the public record by ${datetime(signed.receipt.include_by)}. Your receipt is kept in this browser: check below that your signature is counted.`
      : `Thank you. Your signature is counted when the next batch is published, by ${datetime(signed.receipt.include_by)}. Your receipt is kept in this browser: use it to check that your signature is counted.`;
  }
  $("#receipts").replaceChildren(
    ...list.map((r) =>
      el("p", { class: "receipt" },
        el("strong", {}, r.action === "sign" ? "Signed" : "Withdrawn"),
        ` ${datetime(r.receipt.received_at)} · receipt entry `,
        el("code", { class: "hash" }, r.receipt.entry_hash)),
    ),
  );
  if (signed && $("#sign")) $("#sign").hidden = true;
  // The call to sign at the top becomes a pointer to the signer's own signature.
  const top = $("#sign-top");
  if (top && signed) {
    top.textContent = !acted ? "What this browser keeps" : withdrawn ? "You withdrew your signature" : "You signed this letter";
    top.href = "#my-signature";
    top.classList.add("secondary");
  }
  $("#withdraw").hidden = !signed || !!withdrawn || view.state !== "open" || held().length === 0;
}

// ---- check my signature ------------------------------------------------------------------------

function noteSize(note) {
  return Number(note.split("\n")[1]);
}

function wireCheck() {
  $("#check").addEventListener("click", async () => {
    const st = $("#check-result");
    status(st, "Checking…");
    try {
      status(st, ...(await checkAll()));
    } catch (e) {
      status(st, `FAILED: ${e.message}`, "bad");
    }
  });
}

/** Every level-0 tile of the letter's log at `size`, as hex: the same requests for every reader,
 *  so none of them names this signer's entry. */
async function leafTiles(size) {
  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("");
  const base = `/letters/${encodeURIComponent(letterId)}/`;
  const out = [];
  for (const t of JSON.parse(wasm.leaf_tile_paths(size))) {
    try {
      out.push(hex((await api(base + t.path, { token, bytes: true })).data));
    } catch (e) {
      // A server may keep only the full tile; its first hashes are the partial tile's.
      if (!t.full || e.status !== 404) throw e;
      out.push(hex((await api(base + t.full, { token, bytes: true })).data));
    }
  }
  return out;
}

/** Every receipt checked against the newest signed checkpoint and all of the log's tiles, and
 *  the log held to the last checkpoint this browser saw. */
async function checkAll() {
  const note = (await api(`/letters/${encodeURIComponent(letterId)}/checkpoint`, { token, text: true })).data;
  const lines = [];
  let waiting = false;
  // With witnesses named, a checkpoint without their quorum is refused before anything else.
  const cosigners = JSON.parse(wasm.check_cosignatures(JSON.stringify(deployment), note));
  if (cosigners.length) {
    lines.push(`the checkpoint is cosigned by ${cosigners.map((c) => `${c.name} (${datetime(c.timestamp)})`).join(", ")}`);
  }
  const size = noteSize(note);
  const mine = receipts();
  const old = store.get(`checkpoint.${letterId}`);
  const checked = JSON.parse(wasm.check_tiles(JSON.stringify(mine.map((r) => r.receipt)), vkey, note, JSON.stringify(await leafTiles(size)), old || undefined, letterId));
  const now = Date.now() / 1000;
  for (const [n, r] of mine.entries()) {
    const what = r.action === "sign" ? "signature" : "withdrawal";
    const index = checked.entries[n];
    if (index === null) {
      if (now > r.receipt.include_by) throw new Error(`the log promised your ${what} by ${datetime(r.receipt.include_by)} and it is still not in the log`);
      waiting = true;
      lines.push(`your ${what} was received and waits for the next batch (due by ${datetime(r.receipt.include_by)})`);
    } else {
      lines.push(`your ${what} is in the public log (entry ${index} of ${checked.size})`);
    }
  }
  if (checked.consistent_from !== null) {
    lines.push(`nothing was removed or changed since your last check (${plural(checked.consistent_from, "entry", "entries")} then, ${checked.size} now)`);
  } else {
    lines.push("this browser remembers the log's state, so your next check also proves that nothing was removed since");
  }
  // Keep the newer of the two views: a later check must extend it.
  if (!old || noteSize(old) <= size) store.set(`checkpoint.${letterId}`, note);
  const text = lines.join("; ");
  return [(waiting ? "Not yet in the log: " : "Checked: ") + text.charAt(0) + text.slice(1) + ".", waiting ? "" : "ok"];
}

// ---- backup and bundle ---------------------------------------------------------------------------

/** Everything this browser keeps for signing and checking: credentials, receipts, checkpoints. */
function holderState() {
  const receipts = {};
  const checkpoints = {};
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    const m = /^undersigned\.(receipts|checkpoint)\.([0-9a-f]{64})$/.exec(k);
    if (!m) continue;
    if (m[1] === "receipts") receipts[m[2]] = store.get(`receipts.${m[2]}`) || [];
    else checkpoints[m[2]] = store.get(`checkpoint.${m[2]}`);
  }
  return { credentials: held(), receipts, checkpoints };
}

function wireBackup() {
  const st = $("#backup-status");
  // A generated passphrase (100 bits from the browser's CSPRNG, in groups a person can copy),
  // put in both fields and shown once to be written down.
  $("#suggest-passphrase").addEventListener("click", () => {
    const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
    const bytes = crypto.getRandomValues(new Uint8Array(20));
    const chars = [...bytes].map((b) => alphabet[b % 32]).join("");
    const pass = chars.match(/.{5}/g).join("-");
    $("#passphrase").value = pass;
    $("#passphrase-again").value = pass;
    const shown = $("#suggested");
    shown.hidden = false;
    shown.textContent = `Your passphrase: ${pass}. Write it down now, on paper kept apart from the backup file; it is not stored anywhere.`;
    shown.setAttribute("tabindex", "-1");
    shown.focus();
  });
  // Forget this browser: every key this site stored, here only; nothing is sent.
  $("#forget").addEventListener("click", () => {
    if (!confirm("Forget everything this site stored on this browser for signing? Without a backup you cannot check or withdraw your signatures afterwards.")) return;
    try {
      for (const key of Object.keys(localStorage).filter((k) => k.startsWith("undersigned."))) localStorage.removeItem(key);
      dropPending();
    } catch (e) {
      return status($("#forget-status"), `Could not clear this browser's storage: ${e.message}`, "bad");
    }
    renderReceipts();
    if (view.state === "open") renderCredential();
    const done = $("#forget-status");
    status(done, "This browser now holds nothing from this site. Close this tab to finish.", "ok");
    done.setAttribute("tabindex", "-1");
    done.focus();
  });
  $("#export").disabled = held().length === 0;
  $("#export").addEventListener("click", () => {
    const pass = $("#passphrase").value;
    if (pass.length < 8) return status(st, "Choose a passphrase of at least 8 characters.", "bad");
    // A mistyped passphrase would lock the backup for good: it must be typed twice.
    if ($("#passphrase-again").value !== pass) return status(st, "The two passphrases differ. Type the same one in both fields.", "bad");
    try {
      // A plain name: "undersigned" in a Downloads or synced folder would say what it is for.
      download(`backup-${new Date().toISOString().slice(0, 10)}.txt`, wasm.encrypt_backup(JSON.stringify(holderState()), pass), "text/plain");
      status(st, "Backup downloaded. Keep the file and the passphrase apart.", "ok");
    } catch (e) {
      status(st, e.message, "bad");
    }
  });
  $("#import").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    if (!$("#passphrase").value) {
      // Not "wrong passphrase": none was typed yet.
      status(st, "Type the backup's passphrase first, then choose the file again.", "bad");
      ev.target.value = "";
      $("#passphrase").focus();
      return;
    }
    try {
      const restored = JSON.parse(wasm.decrypt_backup(await file.text(), $("#passphrase").value));
      const keyOf = (c) => `${c.issuer_id}/${c.attributes.epoch}`;
      const fresh = new Set(restored.credentials.map(keyOf));
      store.set("credentials", [...held().filter((c) => !fresh.has(keyOf(c))), ...restored.credentials]);
      store.remove("credential");
      // Receipts join what this browser has (the same receipt is kept once); a remembered
      // checkpoint is kept only where this browser has none, the older view being the one
      // a later check must extend.
      for (const [id, list] of Object.entries(restored.receipts || {})) {
        const mine = store.get(`receipts.${id}`) || [];
        const seen = new Set(mine.map((r) => r.receipt.entry_hash));
        store.set(`receipts.${id}`, [...mine, ...list.filter((r) => !seen.has(r.receipt.entry_hash))]);
      }
      for (const [id, note] of Object.entries(restored.checkpoints || {})) {
        if (!store.get(`checkpoint.${id}`)) store.set(`checkpoint.${id}`, note);
      }
      acted = true;
      const n = letterId ? (restored.receipts?.[letterId] || []).length : 0;
      status(st, `Restored: ${restored.credentials.length === 1 ? "1 credential" : `${restored.credentials.length} credentials`}${n ? ` and your ${n === 1 ? "receipt" : "receipts"} for this letter` : ""}.`, "ok");
      renderReceipts();
      if (view.state === "open") await renderCredential();
    } catch (e) {
      status(st, `Could not restore: ${e.message}`, "bad");
    }
    ev.target.value = "";
  });
}

function wireBundle() {
  // A recipients-only letter's bundle needs the link's key: it rides in the fragment.
  const v = $("#verify-letter");
  if (v && !client) {
    v.href = `/verify#letter=${letterId}${token ? `&key=${encodeURIComponent(token)}` : ""}`;
    v.hidden = false;
  }
  const b = $("#download-bundle");
  if (!b) return;
  b.addEventListener("click", async () => {
    // Fetched rather than linked so a recipients-only letter's token goes in a header.
    const text = (await api(`/api/v1/letters/${encodeURIComponent(letterId)}/bundle`, { token, text: true })).data;
    download(`undersigned-${letterId.slice(0, 16)}.json`, text);
  });
}

