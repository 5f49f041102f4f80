// undersigned: the verify page's script. The bundle file is read locally and checked by the
// wasm module (core's bundle verifier, the same code as `undersigned verify`); nothing is
// uploaded. Shows the CLI's statement, or names what broke.
import { $, commentList, el, epochWords, loadWasm, plural, status, wasm } from "./common.js";

const st = $("#verify-status");
const drop = $("#drop");

loadWasm().catch((e) => status(st, `Could not load the verifier: ${e.message}`, "bad"));

$("#bundle-file").addEventListener("change", (ev) => {
  if (ev.target.files[0]) check(ev.target.files[0]);
});
drop.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  if (ev.dataTransfer.files[0]) check(ev.dataTransfer.files[0]);
});

// A bundle proves itself only under the keys it carries; this says whether those are the keys
// this site publishes at /api/v1/deployment (the comparison runs in the wasm module).
async function compareKeys(text) {
  const line = $("#key-match");
  line.className = "";
  try {
    const res = await fetch("/api/v1/deployment");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const deployment = await res.text();
    const cmp = JSON.parse(wasm.compare_keys(text, deployment));
    line.textContent = cmp.message;
    line.className = cmp.match ? "ok" : "bad";
    return cmp;
  } catch (e) {
    line.textContent = `Could not compare the bundle's keys with this site's keys: ${e.message}`;
    line.className = "bad";
    return null;
  }
}

/** One breakdown table, as on the letter page. */
function table(caption, head, cells) {
  const rows = Object.entries(cells || {});
  return el("table", { class: "breakdown" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, head), el("th", { scope: "col" }, "Signers"))),
    el("tbody", {}, ...(rows.length ? rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, String(v)))) : [el("tr", {}, el("td", { colspan: "2" }, "none"))])));
}

/** Published comments of signatures not withdrawn, read from the verified bundle. */
function bundleComments(bundle) {
  const withdrawn = new Set(bundle.entries.filter((e) => e.kind === "withdrawal").map((e) => e.pseudonym));
  const names = {};
  return bundle.entries
    .filter((e) => e.kind === "signature" && e.comment && !withdrawn.has(e.pseudonym))
    .map((e) => ({ text: e.comment, org: e.disclosed.org, org_name: names[e.disclosed.org] || e.disclosed.org, role: e.disclosed.role, age_band: e.disclosed.age_band, email: e.disclosed.email }));
}

let current = null;

async function check(file) {
  const result = $("#verify-result");
  const verdict = $("#verdict");
  status(st, `Verifying ${file.name}…`);
  result.hidden = true;
  current = null;
  $("#receipt-result").textContent = "";
  $("#receipt-result").className = "status";
  try {
    await loadWasm();
    const text = await file.text();
    const report = JSON.parse(wasm.verify_bundle(text, Math.floor(Date.now() / 1000)));
    const bundle = JSON.parse(text);
    current = { text, report, bundle };
    verdict.textContent = "VERIFIED";
    verdict.className = "verdict ok";
    $("#statement").textContent = `${plural(report.signatures, "verified signature", "verified signatures")} from ${plural(report.organizations, "organization", "organizations")} on “${report.title}”${report.withdrawn ? ` (${report.withdrawn} withdrawn)` : ""}. ${report.closed ? "The letter is closed." : "The letter is still open."}`;
    $("#delivery-statement").textContent = report.delivery_statement ? `${report.delivery_statement.charAt(0).toUpperCase()}${report.delivery_statement.slice(1)}.` : "";
    const cmp = await compareKeys(text);
    // A bundle of this site whose checkpoints lack its witnesses' quorum proves only what the
    // operator says: the verdict says so, not just the key line.
    if (cmp && cmp.witness_error) {
      current = null;
      throw new Error(cmp.witness_error);
    }
    const epochs = [...new Set(bundle.letter.policy.issuers.flatMap((i) => i.epochs))].map(epochWords).join(", ");
    $("#checks").replaceChildren(
      el("li", {}, `Every signature carries a valid proof from a credential of ${report.threshold > 1 ? `${report.threshold} of the issuers` : "the issuer"} (${report.issuers.join(", ") || "the issuer"}): each checked the signer's work address at the organization shown, for ${epochs}.`),
      el("li", {}, report.trust.charAt(0).toUpperCase() + report.trust.slice(1) + "."),
      el("li", {}, "No one signed twice: every signature has a distinct pseudonym, and withdrawals remove exactly one signature each."),
      el("li", {}, `The log holds exactly these ${plural(report.log_size, "entry", "entries")}: its fingerprint matches the checkpoint the site signed, so none was dropped or changed.`),
      el("li", {}, `Groups with fewer than ${report.k} signers are shown as “<${report.k}”, and every disclosure respected that rule.`),
      el("li", {}, "Role and age band are declared by the signers; no one checked them."),
    );
    $("#breakdown").replaceChildren(
      table("By organization (checked)", "Organization", report.by_org),
      table("By role (declared)", "Role", report.by_role),
      table("By age band (declared)", "Age band", report.by_age_band),
    );
    const comments = bundleComments(bundle);
    $("#verify-comments-section").hidden = comments.length === 0;
    $("#verify-comments").replaceChildren(commentList(comments));
    const rows = [
      ["Letter", report.title],
      ["Letter id", report.letter_id],
      ["Entries in the log", String(report.log_size)],
      ["Fingerprint (root hash)", report.log_root],
      ["Signed by", report.log_key],
      ["Technical statement", report.statement],
    ];
    $("#report").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    status(st, "");
  } catch (e) {
    verdict.textContent = "REJECTED";
    verdict.className = "verdict bad";
    $("#statement").textContent = `This bundle does not verify: ${e.message}`;
    $("#delivery-statement").textContent = "";
    $("#key-match").textContent = "";
    $("#checks").replaceChildren();
    $("#breakdown").replaceChildren();
    $("#verify-comments-section").hidden = true;
    $("#report").replaceChildren();
    status(st, "");
  }
  $("#receipt-check").hidden = !current;
  result.hidden = false;
}

// A receipt's entry hash, looked up among the bundle's entries by the wasm module (leaf hashes
// are core's to compute). A receipt file (JSON) works too: its entry_hash is used.
$("#check-receipt").addEventListener("click", () => {
  const out = $("#receipt-result");
  if (!current) return;
  let hash = $("#receipt-hash").value.trim();
  try {
    if (hash.startsWith("{")) hash = JSON.parse(hash).entry_hash || "";
    const found = JSON.parse(wasm.find_entry(current.text, hash));
    status(out, `Found: this receipt's ${found.kind === "withdrawal" ? "withdrawal" : "signature"} is entry ${found.index + 1} of ${current.report.log_size} in this bundle.`, "ok");
  } catch (e) {
    status(out, e.message, "bad");
  }
});
