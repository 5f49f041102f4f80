// undersigned: the letter page's script — issuance, the small-cell guard, signing, receipts,
// "check my signature", withdrawal, credential backup and the bundle download. Every check
// runs in the wasm module (core's own code); this file only moves JSON between the API, the
// module and the page. The credential stays in this browser: only the proof, the pseudonym
// and the disclosures the signer chose are sent.
import { $, api, datetime, download, el, fragment, loadWasm, paragraphs, status, store, wasm } from "/static/js/common.js";

const root = $("#letter");
const key = root.dataset.letter;
const frag = fragment();
// A recipients-only letter is read and signed with the link's token; the organizer's works too.
const token = frag.key || frag.organizer || undefined;

let deployment, view, letterId, vkey, setsJson, credential;
let pending = null; // the holder's half of issuance, between the two requests
let requestToken = ""; // the code request's token: the code is checked under it alone

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
  if (root.dataset.public === "false") fillShell();
  wireBundle();
  wireCheck();
  renderReceipts();
  if (view.state !== "open") {
    const sign = $("#sign");
    if (sign) sign.hidden = true;
    return;
  }
  status($("#wasm-status"), "");
  $("#credential-box").hidden = false;
  wireIssuance();
  wireBackup();
  wireSign();
  await renderCredential();
}

// ---- recipients-only shell -------------------------------------------------------------

function fillShell() {
  $("#letter-title").textContent = view.letter.title;
  $("#shell-note").hidden = true;
  paragraphs($("#letter-body"), view.letter.body);
  $("#letter-body").className = "letter-body";
  const t = view.tally;
  if (!t) return;
  $("#tally-section").hidden = false;
  const total = $("#tally-total");
  total.dataset.signatures = t.signatures;
  total.textContent = `${t.signatures} distinct verified signatures from ${t.organizations} organizations`;
  $("#tally-chart").replaceChildren(chart(t.by_org, view.letter.policy.k));
}

/** The same chart the server draws for public letters, built with DOM calls (no markup strings). */
function chart(byOrg, k) {
  const NS = "http://www.w3.org/2000/svg";
  const rows = Object.entries(byOrg);
  const value = (c) => (typeof c === "number" ? c : k - 1);
  const max = Math.max(1, ...rows.map(([, c]) => value(c)));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 570 ${Math.max(22, rows.length * 30)}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Signatures by organization");
  rows.forEach(([org, c], i) => {
    const y = i * 30;
    const w = Math.max(2, Math.floor((value(c) * 300) / max));
    const label = document.createElementNS(NS, "text");
    Object.entries({ x: 202, y: y + 16, "text-anchor": "end", class: "label" }).forEach(([a, v]) => label.setAttribute(a, v));
    label.textContent = org;
    const bar = document.createElementNS(NS, "rect");
    Object.entries({ x: 210, y, width: w, height: 22, class: typeof c === "number" ? "bar" : "bar-small" }).forEach(([a, v]) => bar.setAttribute(a, v));
    const val = document.createElementNS(NS, "text");
    Object.entries({ x: 216 + w, y: y + 16, class: "value" }).forEach(([a, v]) => val.setAttribute(a, v));
    val.textContent = String(c);
    svg.append(label, bar, val);
  });
  return svg;
}

// ---- issuance ----------------------------------------------------------------------------

function wireIssuance() {
  const roles = ["unspecified", ...deployment.roles.filter((r) => r !== "unspecified")];
  const bands = ["unspecified", ...deployment.age_bands.filter((a) => a !== "unspecified")];
  $("#role").replaceChildren(...roles.map((r) => el("option", { value: r }, r)));
  $("#age-band").replaceChildren(...bands.map((a) => el("option", { value: a }, a)));
  const st = $("#wasm-status");
  $("#code-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("#email").value.trim();
    try {
      requestToken = (await api("/api/v1/issuance/code", { method: "POST", body: { email } })).data.request_token;
      $("#redeem-form").hidden = false;
      status(st, `A code was sent to ${email}. Enter it below.`, "ok");
      $("#code").focus();
    } catch (e) {
      status(st, e.message, "bad");
    }
  });
  $("#redeem-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("#email").value.trim();
    const role = $("#role").value;
    const age = $("#age-band").value;
    try {
      // Every issuable epoch at once, never one alone: the issuer sees which epochs are asked
      // for, and a single old epoch would point at the letter. Fresh commitments per attempt;
      // the nym secrets are generated here and never sent.
      const epochs = (await api("/api/v1/issuance/epochs")).data;
      pending = JSON.parse(wasm.request_credentials(JSON.stringify(epochs)));
      const issued = (await api("/api/v1/issuance/credential", {
        method: "POST",
        body: { email, code: $("#code").value.trim(), request_token: requestToken, commitments: pending.commitments, role, age_band: age },
      })).data;
      const creds = JSON.parse(wasm.receive_credentials(pending.pending, JSON.stringify(issued), JSON.stringify(deployment), email, role, age));
      pending = null;
      const fresh = new Set(creds.map((c) => `${c.issuer_id}/${c.attributes.epoch}`));
      store.set("credentials", [...held().filter((c) => !fresh.has(`${c.issuer_id}/${c.attributes.epoch}`)), ...creds]);
      store.remove("credential");
      $("#code").value = "";
      status(st, "Your credential is stored in this browser. Back it up below.", "ok");
      await renderCredential();
    } catch (e) {
      status(st, e.message, "bad");
    }
  });
}

async function renderCredential() {
  // The credential whose issuer and epoch this letter accepts, if this browser holds one.
  credential = null;
  let why = "";
  if (held().length > 0) {
    try {
      credential = JSON.parse(wasm.pick_credential(JSON.stringify(held()), JSON.stringify(view.letter)));
    } catch (e) {
      why = e.message;
    }
  }
  const have = !!credential;
  if (!have && why) status($("#wasm-status"), `${why}. Ask for a code again to get the credentials of every open period.`, "bad");
  $("#have-credential").hidden = !have;
  $("#code-form").hidden = have;
  $("#redeem-form").hidden = true;
  $("#export").disabled = !have;
  if (!have) {
    $("#sign-form").hidden = true;
    return;
  }
  const a = credential.attributes;
  const name = (deployment.orgs.find((o) => o.domain === a.org) || {}).name || a.org;
  $("#credential-summary").textContent = `You hold a credential for ${name} (${a.org}), epoch ${a.epoch}. It is kept only in this browser.`;
  setsJson = JSON.stringify((await api(`/api/v1/issuer/anonymity-sets?epoch=${encodeURIComponent(a.epoch)}`)).data);
  const signed = receipts().some((r) => r.action === "sign");
  $("#sign-form").hidden = signed;
  if (!signed) guard();
}

// ---- the small-cell guard ----------------------------------------------------------------

function check(role, age) {
  return JSON.parse(wasm.check_disclosure(setsJson, JSON.stringify(credential), view.letter.policy.k, role, age));
}

/** Greys out every disclosure the letter forbids or that would fall in a cell below k, and says why. */
function guard() {
  const allowed = view.letter.policy.disclosures;
  const k = view.letter.policy.k;
  const one = (box, why, label, isAllowed, verdict) => {
    let reason = "";
    if (!isAllowed) reason = `This letter does not collect your ${label}.`;
    else if (!verdict.ok) reason = `Unavailable: ${verdict.reason}. Fewer than ${k} credential holders share your ${label}, so showing it could identify you.`;
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
  $("#combo-why").textContent = combo.ok ? "" : `Not both: ${combo.reason}.`;
  const org = check(false, false);
  $("#consent-box").hidden = !org.org_below_k;
  $("#consent-text").textContent = org.org_below_k
    ? `Fewer than ${k} people of your organization hold a credential. Your organization is always shown, so signing could narrow down who you are.`
    : "";
  $("#sign-button").disabled = !combo.ok || (org.org_below_k && !$("#consent").checked);
}

// ---- signing and withdrawing ---------------------------------------------------------------

function receipts() {
  return store.get(`receipts.${letterId}`) || [];
}

async function submit(action, role, age, email, comment, consent) {
  const entry = wasm.present(JSON.stringify(credential), JSON.stringify(view.letter), action, role, age, email, comment || null, setsJson, consent);
  const receipt = (await api(`/api/v1/letters/${encodeURIComponent(letterId)}/entries`, { method: "POST", body: entry, token })).data;
  // The receipt must be signed by this letter's log key and name exactly the entry we sent.
  wasm.verify_receipt(JSON.stringify(receipt), vkey, entry, letterId);
  store.set(`receipts.${letterId}`, [...receipts(), { action, receipt }]);
  return receipt;
}

function wireSign() {
  for (const id of ["#disclose-role", "#disclose-age", "#consent"]) $(id).addEventListener("change", guard);
  $("#sign-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const st = $("#sign-status");
    $("#sign-button").disabled = true;
    try {
      if ($("#delay").checked) {
        // A random moment within the publish interval: the operator then cannot tie the
        // arrival to the moment the signer pressed the button.
        const secs = Math.floor(Math.random() * view.letter.policy.publish_interval_secs);
        status(st, `Your signature will be sent in ${secs} seconds. Keep this page open.`);
        await new Promise((r) => setTimeout(r, secs * 1000));
      }
      status(st, "Signing…");
      const r = await submit("sign", $("#disclose-role").checked, $("#disclose-age").checked, $("#disclose-email").checked, $("#comment").value, $("#consent").checked);
      status(st, `Signed. Your receipt promises inclusion by ${datetime(r.include_by)}.`, "ok");
      $("#sign-form").hidden = true;
      renderReceipts();
    } catch (e) {
      status(st, e.message, "bad");
      guard();
    }
  });
  $("#withdraw").addEventListener("click", async () => {
    const st = $("#check-result");
    if (!confirm("Withdraw your signature? The withdrawal is public; the count goes down by one.")) return;
    try {
      // Withdrawing discloses nothing beyond org and epoch; consent was given when signing.
      const r = await submit("withdraw", false, false, false, null, true);
      status(st, `Withdrawal accepted; it is included by ${datetime(r.include_by)}.`, "ok");
      renderReceipts();
    } catch (e) {
      status(st, e.message, "bad");
    }
  });
}

function renderReceipts() {
  const list = receipts();
  $("#my-signature").hidden = list.length === 0;
  $("#receipts").replaceChildren(
    ...list.map((r) =>
      el("p", { class: "receipt" },
        el("strong", {}, r.action === "sign" ? "Signed" : "Withdrawn"),
        ` — received ${datetime(r.receipt.received_at)}, included by ${datetime(r.receipt.include_by)}. Entry `,
        el("code", { class: "hash" }, r.receipt.entry_hash)),
    ),
  );
  const signed = list.some((r) => r.action === "sign");
  const withdrawn = list.some((r) => r.action === "withdraw");
  $("#withdraw").hidden = !signed || withdrawn || view.state !== "open" || held().length === 0;
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

/** Inclusion of every receipt in the newest signed checkpoint, and consistency with the last one seen. */
async function checkAll() {
  const base = `/api/v1/letters/${encodeURIComponent(letterId)}`;
  const note = (await api(`${base}/checkpoint`, { token, text: true })).data;
  const size = noteSize(note);
  const lines = [];
  let waiting = false;
  // With witnesses named, a checkpoint without their quorum is refused before anything else.
  const cosigners = JSON.parse(wasm.check_cosignatures(JSON.stringify(deployment), note));
  if (cosigners.length) {
    lines.push(`the checkpoint is cosigned by ${cosigners.map((c) => `${c.name} (${datetime(c.timestamp)})`).join(", ")}`);
  }
  for (const r of receipts()) {
    const resp = await api(`${base}/proof/inclusion?entry_hash=${r.receipt.entry_hash}&size=${size}`, { token });
    if (resp.status === 202) {
      waiting = true;
      lines.push(`${r.action}: accepted, waiting for its batch (due by ${datetime(r.receipt.include_by)})`);
      continue;
    }
    const inc = JSON.parse(wasm.check_inclusion(JSON.stringify(r.receipt), vkey, note, JSON.stringify(resp.data), letterId));
    lines.push(`${r.action}: included as entry ${inc.index} of ${inc.size}`);
  }
  const old = store.get(`checkpoint.${letterId}`);
  if (old) {
    const from = noteSize(old);
    if (from > size) throw new Error(`the log shrank from ${from} to ${size} entries`);
    if (from < size) {
      const cons = (await api(`${base}/proof/consistency?from=${from}&to=${size}`, { token })).data;
      wasm.check_consistency(vkey, old, note, JSON.stringify(cons));
    } else if (old.split("\n")[2] !== note.split("\n")[2]) {
      // Same size, different root: two signed histories of one log.
      throw new Error(`the log was rewritten: two different roots for size ${size}`);
    }
    lines.push(`the log (size ${size}) extends the checkpoint you saw before (size ${from})`);
  } else {
    lines.push(`checkpoint of size ${size} remembered for next time`);
  }
  store.set(`checkpoint.${letterId}`, note);
  return [(waiting ? "Not yet in the log. " : "Verified: ") + lines.join("; ") + ".", waiting ? "" : "ok"];
}

// ---- backup and bundle ---------------------------------------------------------------------------

function wireBackup() {
  const st = $("#backup-status");
  $("#export").addEventListener("click", () => {
    const pass = $("#passphrase").value;
    if (pass.length < 8) return status(st, "Choose a passphrase of at least 8 characters.", "bad");
    try {
      // The credential this letter accepts (one file per credential, as the backup format holds one).
      download(`undersigned-credential-${credential.attributes.epoch}.json`, wasm.encrypt_export(JSON.stringify(credential), pass));
      status(st, "Backup downloaded. Keep the file and the passphrase apart.", "ok");
    } catch (e) {
      status(st, e.message, "bad");
    }
  });
  $("#import").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    try {
      const cred = JSON.parse(wasm.decrypt_import(await file.text(), $("#passphrase").value));
      const key = `${cred.issuer_id}/${cred.attributes.epoch}`;
      store.set("credentials", [...held().filter((c) => `${c.issuer_id}/${c.attributes.epoch}` !== key), cred]);
      status(st, "Credential restored.", "ok");
      await renderCredential();
    } catch (e) {
      status(st, `Could not restore: ${e.message}`, "bad");
    }
    ev.target.value = "";
  });
}

function wireBundle() {
  const b = $("#download-bundle");
  if (!b) return;
  b.addEventListener("click", async () => {
    // Fetched rather than linked so a recipients-only letter's token goes in a header.
    const text = (await api(`/api/v1/letters/${encodeURIComponent(letterId)}/bundle`, { token, text: true })).data;
    download(`undersigned-${letterId.slice(0, 16)}.json`, text);
  });
}

