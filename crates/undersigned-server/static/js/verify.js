// undersigned: the verify page's script. The bundle file is read locally and checked by the
// wasm module (core's bundle verifier, the same code as `undersigned verify`) in a worker;
// nothing is uploaded. Shows one verdict for every check, the CLI's statement, or what broke.
import { $, api, commentList, el, epochWords, fragment, loadWasm, plural, status, wasm } from "./common.js";

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
// of the deployment the reader chose (a deployment file), or else the ones this site publishes
// at /api/v1/deployment, and whether that deployment's witnesses cosigned its history (the
// comparison runs in the wasm module).
let chosen = null;
let orgNames = {};
$("#deployment-file").addEventListener("change", async (ev) => {
  const f = ev.target.files[0];
  chosen = f ? { name: f.name, text: await f.text() } : null;
  if (current) check(current.file);
});

async function compareKeys(text) {
  const line = $("#key-match");
  line.className = "";
  try {
    let deployment = chosen && chosen.text;
    if (!deployment) {
      const res = await fetch("/api/v1/deployment");
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      deployment = await res.text();
    }
    const cmp = JSON.parse(wasm.compare_keys(text, deployment));
    // The organizations' names as that deployment lists them, to label its domains.
    try {
      orgNames = Object.fromEntries((JSON.parse(deployment).orgs || []).map((o) => [o.domain, o.name]));
    } catch {
      orgNames = {};
    }
    line.textContent = chosen ? cmp.message.replace(/this site/g, `your deployment file (${chosen.name})`) : cmp.message;
    return cmp;
  } catch (e) {
    line.textContent = `Could not compare the bundle's keys with ${chosen ? "your deployment file" : "this site's keys"}: ${e.message}`;
    return null;
  }
}

/** One headline for every check: green only when everything passed and the keys are pinned to
 *  a deployment the reader chose whose witnesses cosigned the history; amber, in words, for
 *  what was not independently checked; red (elsewhere) when anything failed. */
function verdictOf(cmp) {
  const whose = chosen ? "your deployment file" : "this site";
  if (!cmp) {
    return ["warn", "CHECKED, WITH A CAVEAT", `Every proof and count in the bundle checks out, but its keys could not be compared with ${whose}'s: it proves itself only under keys it carries, which anyone can make.`];
  }
  if (cmp.witnessed) return ["ok", "VERIFIED", ""];
  if (cmp.match) {
    return ["warn", "CHECKED, WITH A CAVEAT", `Every proof and count checks out under ${whose}'s keys. But ${whose} names no independent witnesses, so only the operator vouches that everyone is shown this same history.`];
  }
  return ["warn", "CHECKED, WITH A CAVEAT", `Every proof and count checks out, but under keys the bundle carries itself, which are NOT ${chosen ? "the ones in your deployment file" : "the ones this site publishes"}. Anyone can make such keys: hold the bundle to the keys of the site that published it (choose its deployment file above) before relying on it.`];
}

/** How many workers share the proofs: one per core the browser reports, within reason. */
const WORKERS = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 8));

/** Runs the verifier in workers, each with its share of the proofs and every other check:
 *  progress at least once a second, a cancel button, and the page responsive throughout.
 *  Resolves with the report (JSON text) that `combine_shares` makes of every share's outcome,
 *  or rejects with why the bundle fails. */
function verifyInWorkers(text) {
  // A file chosen while another verifies stops that one's workers: one verification at a time.
  if ($("#verify-cancel").onclick) $("#verify-cancel").onclick();
  return new Promise((resolve, reject) => {
    const url = new URL("./verify-worker.js", import.meta.url);
    const workers = Array.from({ length: WORKERS }, () => new Worker(url, { type: "module" }));
    const cancel = $("#verify-cancel");
    const started = Date.now();
    const done = new Array(WORKERS).fill(0);
    const total = new Array(WORKERS).fill(0);
    const outcomes = new Array(WORKERS);
    let left = WORKERS;
    const finish = () => {
      for (const w of workers) w.terminate();
      cancel.hidden = true;
      cancel.onclick = null;
    };
    cancel.hidden = false;
    cancel.onclick = () => {
      finish();
      reject(Object.assign(new Error("Verification cancelled."), { cancelled: true }));
    };
    workers.forEach((worker, index) => {
      worker.onmessage = (ev) => {
        const m = ev.data;
        if (m.progress) {
          [done[index], total[index]] = m.progress;
          const sum = (a) => a.reduce((x, y) => x + y, 0);
          status(st, `${sum(done)} of ${plural(sum(total), "signature", "signatures")} checked (${Math.round((Date.now() - started) / 1000)} s)…`);
        } else if (m.outcome) {
          outcomes[index] = JSON.parse(m.outcome);
          if (--left > 0) return;
          finish();
          // The verdict is core's rule over every share (it refuses a missing one).
          try {
            resolve(wasm.combine_shares(JSON.stringify(outcomes)));
          } catch (e) {
            reject(e);
          }
        } else {
          finish();
          reject(new Error(m.error));
        }
      };
      worker.onerror = (e) => {
        finish();
        reject(new Error(e.message || "the verifier stopped"));
      };
      worker.postMessage({ text, now: Math.floor(Date.now() / 1000), index, of: WORKERS });
    });
  });
}

/** One breakdown table, as on the letter page; `names` labels keys (organizations). */
function table(caption, head, cells, names = {}) {
  const rows = Object.entries(cells || {}).map(([k, v]) => [names[k] ? `${names[k]} (${k})` : k, v]);
  return el("table", { class: "breakdown" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, head), el("th", { scope: "col" }, "Signers"))),
    el("tbody", {}, ...(rows.length ? rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, String(v)))) : [el("tr", {}, el("td", { colspan: "2" }, "none"))])));
}

/** Published comments of signatures not withdrawn, read from the verified bundle. */
function bundleComments(bundle) {
  const withdrawn = new Set(bundle.entries.filter((e) => e.kind === "withdrawal").map((e) => e.pseudonym));
  const names = orgNames;
  return bundle.entries
    .filter((e) => e.kind === "signature" && e.comment && !withdrawn.has(e.pseudonym))
    .map((e) => ({ text: e.comment, org: e.disclosed.org, org_name: names[e.disclosed.org] || e.disclosed.org, role: e.disclosed.role, age_band: e.disclosed.age_band, email: e.disclosed.email }));
}

let current = null;

let running = 0;

async function check(file) {
  const result = $("#verify-result");
  const verdict = $("#verdict");
  const run = ++running;
  status(st, `Verifying ${file.name}…`);
  result.hidden = true;
  current = null;
  $("#receipt-result").textContent = "";
  $("#receipt-result").className = "status";
  let text;
  let report;
  try {
    await loadWasm();
    text = await file.text();
    report = JSON.parse(await verifyInWorkers(text));
  } catch (e) {
    if (run !== running) return;
    if (e.cancelled) {
      status(st, "Verification cancelled. Choose the file again to start over.");
      return;
    }
    report = { error: e.message };
  }
  if (run !== running) return;
  try {
    if (report.error) throw new Error(report.error);
    const bundle = JSON.parse(text);
    current = { file, text, report, bundle };
    $("#statement").textContent = `${plural(report.signatures, "verified signature", "verified signatures")} from ${plural(report.organizations, "organization", "organizations")} on “${report.title}”${report.withdrawn ? ` (${report.withdrawn} withdrawn)` : ""}. ${report.closed ? "The letter is closed." : "The letter is still open."}`;
    $("#delivery-statement").textContent = report.delivery_statement ? `${report.delivery_statement.charAt(0).toUpperCase()}${report.delivery_statement.slice(1)}.` : "";
    const cmp = await compareKeys(text);
    // Names label the domains only of a bundle under the keys they came with.
    if (!cmp || !cmp.match) orgNames = {};
    // A bundle of this site whose checkpoints lack its witnesses' quorum proves only what the
    // operator says: the verdict says so, not just the key line.
    if (cmp && cmp.witness_error) {
      current = null;
      throw new Error(cmp.witness_error);
    }
    const [kind, headline, caveat] = verdictOf(cmp);
    verdict.textContent = headline;
    verdict.className = `verdict ${kind}`;
    $("#caveat").textContent = caveat;
    $("#caveat").className = caveat ? `status ${kind}` : "";
    $("#key-match").className = kind === "ok" ? "" : "note";
    const epochs = [...new Set(bundle.letter.policy.issuers.flatMap((i) => i.epochs))].map(epochWords).join(", ");
    $("#checks").replaceChildren(
      el("li", {}, `Every signature carries a valid proof from a credential of ${report.threshold > 1 ? `${report.threshold} of the issuers` : "the issuer"} (${report.issuers.join(", ") || "the issuer"}): each checked the signer's work address at the organization shown, for ${epochs}.`),
      el("li", {}, report.trust.charAt(0).toUpperCase() + report.trust.slice(1) + "."),
      el("li", {}, "No one signed twice: every signature has a distinct pseudonym, and withdrawals remove exactly one signature each."),
      el("li", {}, `The log holds exactly these ${plural(report.log_size, "entry", "entries")}: its fingerprint matches the checkpoint the site signed, so none was dropped or changed.`),
      el("li", {}, `Counts by organization are exact, as every entry of the record names its organization; role and age-band groups with fewer than ${report.k} signers are counted together with the signers who did not say, and every disclosure respected the rules.`),
      el("li", {}, "Role and age band are declared by the signers; no one checked them."),
    );
    $("#breakdown").replaceChildren(
      table("By organization (checked)", "Organization", report.by_org, orgNames),
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
    $("#caveat").textContent = "";
    $("#caveat").className = "";
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
    // Entries are numbered from 0, as `undersigned verify` and the log's tiles number them.
    const found = JSON.parse(wasm.find_entry(current.text, hash));
    if (found.kind === "withdrawal") {
      status(out, `Found: this receipt's withdrawal is entry ${found.index} of the log (entries 0 to ${current.report.log_size - 1}).`, "ok");
    } else if (found.withdrawn_by != null) {
      status(out, `Found, and withdrawn: this receipt's signature is entry ${found.index} of the log, withdrawn by entry ${found.withdrawn_by}; it is not counted.`, "warn");
    } else {
      status(out, `Found: this receipt's signature is entry ${found.index} of the log (entries 0 to ${current.report.log_size - 1}), and it is counted.`, "ok");
    }
  } catch (e) {
    status(out, e.message, "bad");
  }
});

// "Verify this letter" on a letter page leads here with the letter's id in the fragment (and,
// for a recipients-only letter, its link's key): the bundle is fetched from this site and
// checked exactly as a chosen file is, held to this site's published keys and witnesses.
async function verifyNamedLetter() {
  const { letter, key } = fragment();
  if (!letter) return;
  if (!/^[0-9a-f]{64}$/.test(letter)) return status(st, "The address names no letter id (64 hex digits).", "bad");
  status(st, "Fetching the letter's bundle from this site…");
  try {
    const text = (await api(`/api/v1/letters/${letter}/bundle`, { token: key, text: true })).data;
    await check(new File([text], `the bundle of letter ${letter.slice(0, 16)}…`, { type: "application/json" }));
  } catch (e) {
    status(st, `Could not fetch the letter's bundle: ${e.message}`, "bad");
  }
}
verifyNamedLetter();
