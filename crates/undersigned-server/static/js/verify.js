// undersigned: the verify page's script. The bundle file is read locally and checked by the
// wasm module (core's bundle verifier, the same code as `undersigned verify`); nothing is
// uploaded. Shows the CLI's statement, or names what broke.
import { $, el, loadWasm, status, wasm } from "/static/js/common.js";

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
  } catch (e) {
    line.textContent = `Could not compare the bundle's keys with this site's keys: ${e.message}`;
    line.className = "bad";
  }
}

async function check(file) {
  const result = $("#verify-result");
  const verdict = $("#verdict");
  status(st, `Verifying ${file.name}…`);
  result.hidden = true;
  try {
    await loadWasm();
    const text = await file.text();
    const report = JSON.parse(wasm.verify_bundle(text, Math.floor(Date.now() / 1000)));
    verdict.textContent = "VERIFIED";
    verdict.className = "verdict ok";
    $("#statement").textContent = report.statement;
    $("#delivery-statement").textContent = report.delivery_statement || "";
    await compareKeys(text);
    const rows = [
      ["Letter", report.title],
      ["Letter id", report.letter_id],
      ["Signatures", String(report.signatures)],
      ["Organizations", String(report.organizations)],
      ["Withdrawn", String(report.withdrawn)],
      ["Log size", String(report.log_size)],
      ["Log root", report.log_root],
      ["Signed by", report.log_key],
      ["Closed", report.closed ? "yes" : "no"],
    ];
    $("#report").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    status(st, "");
  } catch (e) {
    verdict.textContent = "REJECTED";
    verdict.className = "verdict bad";
    $("#statement").textContent = `This bundle does not verify: ${e.message}`;
    $("#delivery-statement").textContent = "";
    $("#key-match").textContent = "";
    $("#report").replaceChildren();
    status(st, "");
  }
  result.hidden = false;
}
