// undersigned browser tests: headless Debian Chromium driven by playwright-core against a real
// server that scripts/web-test starts (BASE_URL). A tiny sequential runner, because the tests
// tell one story (create, sign, check, verify, withdraw) and each step needs the one before.
// Prints `N passed, M failed` last and exits non-zero on any failure.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import jsQR from "jsqr";
import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";
import { PNG } from "pngjs";
import { join } from "node:path";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const AXE = require("axe-core").source;
const BASE = process.env.BASE_URL || "http://127.0.0.1:8080";
const ARTIFACTS = process.env.ARTIFACTS || "../target/web-artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(ARTIFACTS, { recursive: true });

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` until it returns a truthy value or the time is up. */
async function until(what, fn, ms = 30_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

async function apiJson(path, opts = {}) {
  const r = await fetch(BASE + path, opts);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** The newest code the dev outbox holds for this address. */
async function codeFor(email) {
  return until(`a code mail to ${email}`, async () => {
    const mails = await apiJson("/api/dev/outbox");
    const mine = mails.filter((m) => m.to.some((t) => t.toLowerCase() === email)).pop();
    return mine && mine.body.match(/\b\d{8}\b/)?.[0];
  });
}

const b64url = (hex) => Buffer.from(hex, "hex").toString("base64url");

// Shared by the story's steps.
const state = { signers: [] };
let browser;

/** A fresh browser profile (its own localStorage) that fails the run on CSP violations or page errors. */
async function newPage() {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") page.problems.push(`console: ${m.text()} at ${m.location().url}`);
  });
  page.on("dialog", (d) => d.accept());
  return page;
}

function noProblems(page, expected = []) {
  // A refusal the test provoked on purpose is not a page problem; anything else the page logs
  // (a failed request, a CSP refusal, an exception) is.
  const real = page.problems.filter((p) => !expected.some((e) => p.includes(e)));
  assert.deepEqual(real, [], "the page logged errors");
}

/** Pages audited so far, for the closing check that none was missed. */
const audited = new Set();

/**
 * Looks at a page as people do, at 1280 and 390 px: a screenshot of each under
 * target/web-artifacts/, no horizontal overflow on the phone, and no serious or critical
 * axe-core violation. Restores the desktop width after.
 */
async function audit(page, name) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await sleep(150);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
    if (width === 390) {
      const over = await page.evaluate(() => {
        const w = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= w) return [];
        return [...document.querySelectorAll("body *")]
          .filter((e) => e.getBoundingClientRect().right > w + 1 && e.getClientRects().length)
          .slice(0, 5)
          .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${[...e.classList].join(".")} right=${Math.round(e.getBoundingClientRect().right)}`);
      });
      assert.deepEqual(over, [], `${name}: horizontal overflow at 390 px`);
      // Text in charts and tables stays readable on a phone.
      const tiny = await page.evaluate(() => [...document.querySelectorAll(".chart *, table *")]
        .filter((e) => e.childNodes.length && [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
        .filter((e) => parseFloat(getComputedStyle(e).fontSize) < 12)
        .map((e) => e.textContent.trim().slice(0, 30)));
      assert.deepEqual(tiny, [], `${name}: text below 12 px at 390 px`);
    }
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
    });
    assert.deepEqual(violations, [], `${name} at ${width} px: axe-core violations`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  audited.add(name);
}

/**
 * Fills the code form as a signer would and asks for a code: the role and age band only where
 * the letter asks for them, and, when the page warns first that the organization has fewer
 * than k credential holders (before any mail goes out), accepting that warning. Returns the
 * warning's text, or "" when there was none.
 */
async function askForCode(page, email) {
  await page.fill("#email", email);
  if (await page.isVisible("#role")) await page.selectOption("#role", "analyst");
  if (await page.isVisible("#age-band")) await page.selectOption("#age-band", "30-39");
  await page.click("#send-code");
  const warned = await Promise.race([
    page.waitForSelector("#pre-consent-box", { state: "visible" }).then(() => true, () => false),
    page.waitForSelector("#redeem-form", { state: "visible" }).then(() => false, () => false),
  ]);
  if (!warned) return "";
  const text = await page.textContent("#pre-consent-text");
  await page.check("#pre-consent");
  await page.click("#send-code");
  await page.waitForSelector("#redeem-form", { state: "visible" });
  return text;
}

test("an organizer creates and opens a letter through the pages", async () => {
  const page = await newPage();
  await page.goto(`${BASE}/organize`);
  // The server's defaults are in the fields.
  assert.equal(await page.inputValue("#k"), "2");
  assert.equal(await page.inputValue("#interval"), "2");
  assert.equal(await page.inputValue("#response-days"), "30");
  await audit(page, "organize");
  await page.fill("#title", "Review the policy");
  await page.fill("#body", "## What we have seen\n\nWe ask for a **review** of the policy by **January 24**.\n\n- one\n- two\n\n<script>window.pwned = 1</script>\n");
  // A recipient without an address is refused in the page, next to the field.
  await page.fill("#recipients", "The Director");
  await page.click("#organize-form-submit");
  await until("the field error", async () => /Give each recipient an address/.test(await page.textContent("#recipients-error")));
  assert.equal(await page.getAttribute("#recipients", "aria-invalid"), "true");
  await page.fill("#recipients", "");
  // Two epochs would let one person sign twice: the page shows the server's refusal.
  await page.fill("#epoch", "2026-Q4, 2027-Q1");
  await page.click("#organize-form-submit");
  await until("the refusal", async () => /exactly one epoch per issuer/.test(await page.textContent("#organize-form-status")));
  assert.match(await page.getAttribute("#organize-form-status", "class"), /bad/);
  assert.match(await page.textContent("#organize-form-status"), /^[A-Z].*\.$/, "errors read as sentences");
  assert.match(page.url(), /\/organize$/, "no draft was created");
  await page.fill("#epoch", "");
  await page.click("#organize-form-submit");
  await page.waitForURL(/\/letters\/[^/]+\/manage#organizer=/);
  assert.ok(!page.url().includes("?"), "the organizer token must not be in a query string");
  // The preview shows the letter as signers will see it, before the irreversible step.
  await page.waitForSelector("#preview-body strong");
  assert.equal(await page.textContent("#preview-body h3"), "What we have seen");
  assert.ok(!(await page.textContent("#preview-body")).includes("**"));
  await audit(page, "manage-draft");
  await page.click("#open");
  await until("the letter to open", async () => (await page.getAttribute("#state", "data-state")) === "open");
  await until("the open result", async () => /^Opened\./.test(await page.textContent("#action-result")));
  const href = await page.getAttribute("#links a", "href");
  state.letterId = href.split("/").pop();
  assert.match(state.letterId, /^[0-9a-f]{64}$/);
  await audit(page, "manage-open");
  noProblems(page, ["status of 422"]);
  await page.context().close();
});

test("the organizer sees the error of opening a draft whose deadline passed, edits it and opens it", async () => {
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title: "Too late", body: "Text.", policy: { deadline: Math.floor(Date.now() / 1000) - 86400 } }),
  });
  const page = await newPage();
  await page.goto(`${BASE}/letters/${created.handle}/manage#organizer=${created.organizer_token}`);
  await page.click("#open");
  await until("the error", async () => /deadline has passed/.test(await page.textContent("#action-result")));
  await sleep(1500);
  assert.match(await page.textContent("#action-result"), /deadline has passed/, "the error survives the reload of the letter");
  assert.match(await page.getAttribute("#action-result", "class"), /bad/);
  assert.equal(await page.getAttribute("#state", "data-state"), "draft");
  await page.click("#edit");
  await page.waitForSelector("#edit-section", { state: "visible" });
  assert.equal(await page.inputValue("#title"), "Too late");
  await page.fill("#deadline", new Date(Date.now() + 7 * 86400_000).toISOString().slice(0, 10));
  await page.fill("#title", "Not too late");
  await page.click("#edit-form-submit");
  await until("saved", async () => /Draft saved/.test(await page.textContent("#action-result")));
  assert.equal(await page.textContent("#manage-title"), "Not too late");
  await page.click("#open");
  await until("opened", async () => /^Opened/.test(await page.textContent("#action-result")));
  assert.equal(await page.getAttribute("#state", "data-state"), "open");
  noProblems(page, ["status of 422"]);
  await page.context().close();
});

test("an organizer who opens with unsaved edits keeps them: they are saved, then the letter opens", async () => {
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title: "First words", body: "Text.", policy: { deadline: Math.floor(Date.now() / 1000) + 86400 } }),
  });
  const page = await newPage();
  await page.goto(`${BASE}/letters/${created.handle}/manage#organizer=${created.organizer_token}`);
  await page.click("#edit");
  await page.waitForSelector("#edit-section", { state: "visible" });
  await page.fill("#title", "Better words");
  await page.fill("#body", "The text as it was meant.");
  // Straight to "Open", without saving: the page saves first (after asking), then opens.
  const asked = [];
  page.removeAllListeners("dialog");
  page.on("dialog", (d) => {
    asked.push(d.message());
    d.accept();
  });
  await page.click("#open");
  await until("opened", async () => /^Opened/.test(await page.textContent("#action-result")));
  assert.match(asked[0], /not saved yet/);
  const v = await apiJson(`/api/v1/letters/${created.handle}`, { headers: { Authorization: `Bearer ${created.organizer_token}` } });
  assert.equal(v.state, "open");
  assert.equal(v.letter.title, "Better words");
  assert.match(v.letter.body, /as it was meant/);
  // Once open, the text is no preview: the heading says what it is.
  await until("the published heading", async () => (await page.textContent("#preview-heading")) === "The letter as published");
  assert.match(await page.textContent("#preview-note"), /can no longer change/);
  noProblems(page);
  await page.context().close();
});

test("without WebAssembly (Tor Browser's safer levels) the sign section says why and what to do", async () => {
  const page = await newPage();
  await page.addInitScript(() => {
    delete globalThis.WebAssembly;
  });
  await page.goto(`${BASE}/letters/${state.letterId}`);
  await until("the explanation", async () => /WebAssembly, which is turned off here/.test(await page.textContent("#wasm-status")));
  assert.match(await page.textContent("#wasm-status"), /security level to Standard/);
  assert.ok(!/not defined/.test(await page.textContent("#wasm-status")));
  noProblems(page);
  await page.context().close();
});

test("two signers from different organizations get credentials and sign", async () => {
  for (const email of ["alice@state.gov", "bob@usaid.gov"]) {
    const page = await newPage();
    await page.goto(`${BASE}/letters/${state.letterId}`);
    assert.equal(await page.evaluate(() => window.pwned), undefined, "markdown <script> ran");
    await page.waitForSelector("#code-form", { state: "visible" });
    // The safety advice sits where the work address is asked for.
    assert.match(await page.textContent("#safety"), /not the work network/);
    assert.match(await page.textContent("#safety"), /Tor Browser/);
    if (email.startsWith("alice")) await audit(page, "letter-open-new-signer");
    const outbox = (await apiJson("/api/dev/outbox")).length;
    await page.fill("#email", email);
    await page.click("#send-code");
    // A new organization is below k: the risk is shown before any mail goes out.
    await page.waitForSelector("#pre-consent-box", { state: "visible" });
    assert.match(await page.textContent("#pre-consent-text"), new RegExp(`Fewer than 2 people at ${email.split("@")[1].replace(".", "\\.")}`));
    assert.equal((await apiJson("/api/dev/outbox")).length, outbox, "no code mail before the risk was accepted");
    if (email.startsWith("alice")) await audit(page, "letter-small-org-warning");
    await page.selectOption("#role", "analyst");
    await page.selectOption("#age-band", "30-39");
    await page.check("#pre-consent");
    await page.click("#send-code");
    await page.waitForSelector("#redeem-form", { state: "visible" });
    // The message sits under the button that caused it, not at the panel's top.
    assert.match(await page.textContent("#issue-status"), /A code was sent/);
    await page.fill("#code", await codeFor(email));

    // From here on (finalization and signing) every request is recorded.
    const sent = [];
    page.on("request", (r) => sent.push({ url: r.url(), body: r.postData() || "" }));
    await page.click("#get-credential");
    await page.waitForSelector("#have-credential", { state: "visible" });
    // Right after issuance the page offers to come back later, and does not lead straight on.
    await page.waitForSelector("#later-box", { state: "visible" });
    // Focus lands on the next step (a keyboard or screen reader user is not sent to the top).
    assert.ok(await page.evaluate(() => document.activeElement.closest("#later-box") !== null), "focus is on the next step");
    assert.ok(await page.isHidden("#sign-form"));
    assert.match(await page.textContent("#credential-summary"), /valid for (Jan–Mar|Apr–Jun|Jul–Sep|Oct–Dec) \d{4}/);
    if (email.startsWith("alice")) await audit(page, "letter-come-back-later");
    await page.click("#sign-now");
    await page.waitForSelector("#sign-form", { state: "visible" });
    assert.ok(await page.isChecked("#delay"), "delayed submission is on by default");
    assert.equal(await page.getAttribute("#disclose-role", "aria-describedby"), "role-why");
    // One credential per issuable epoch, all from one request; the letter's is picked to sign.
    const creds = JSON.parse(await page.evaluate(() => localStorage.getItem("undersigned.credentials")));
    const issuable = await apiJson("/api/v1/issuance/epochs");
    assert.deepEqual(creds.map((c) => c.attributes.epoch).sort(), [...issuable.epochs].sort());
    const credentialRequest = sent.find((r) => r.url.endsWith("/api/v1/issuance/credential"));
    assert.equal(JSON.parse(credentialRequest.body).commitments.length, issuable.epochs.length);
    const cred = creds.find((c) => c.attributes.epoch === issuable.current);
    assert.equal(cred.attributes.org, email.split("@")[1]);

    // The small-cell guard: one analyst aged 30-39 per org is below k=2.
    assert.ok(await page.isDisabled("#disclose-role"), "role disclosure should be blocked");
    assert.match(await page.textContent("#role-why"), /Unavailable: .*role/);
    assert.ok(await page.isDisabled("#disclose-age"));
    // A single credential holder in the org: signing needs explicit consent.
    await page.waitForSelector("#consent-box", { state: "visible" });
    assert.ok(await page.isDisabled("#sign-button"), "no signing without consent");
    await page.check("#consent");
    await page.fill("#comment", `signed by a test browser from ${email.split("@")[1]}`);
    if (email.startsWith("alice")) await audit(page, "letter-sign-form");
    await page.click("#sign-button");
    await until("you signed", async () => (await page.textContent("#my-signature-title")) === "You signed this letter");
    assert.ok(await page.isVisible("#my-signature"));
    assert.ok(await page.isHidden("#sign"), "the signing panel goes once signed");
    const receipts = JSON.parse(await page.evaluate((id) => localStorage.getItem(`undersigned.receipts.${id}`), state.letterId));
    assert.equal(receipts.length, 1);

    // The secret never leaves the browser.
    const secrets = cred.secrets;
    const needles = [secrets.signature, secrets.nym_secret, secrets.prover_blind].flatMap((h) => [h, b64url(h)]);
    assert.ok(sent.some((r) => r.url.endsWith(`/letters/${state.letterId}/entries`)), "the entry was posted");
    for (const r of sent) {
      for (const n of needles) assert.ok(!r.url.includes(n) && !r.body.includes(n), `a credential secret was sent to ${r.url}`);
      const issuance = /\/api\/v1\/issuance\/(code|credential)$/.test(r.url);
      if (!issuance) assert.ok(!r.url.toLowerCase().includes(email) && !r.body.toLowerCase().includes(email), `the email was sent to ${r.url}`);
    }
    noProblems(page);
    state.signers.push({ email, page, cred });
  }
});

test("both signers check their signatures after the batch", async () => {
  for (const { page } of state.signers) {
    await until("inclusion in a signed checkpoint", async () => {
      await page.click("#check");
      await sleep(300);
      const cls = await page.getAttribute("#check-result", "class");
      if (cls.includes("bad")) throw new Error(await page.textContent("#check-result"));
      return cls.includes("ok");
    });
    assert.match(await page.textContent("#check-result"), /your signature is in the public log \(entry \d+ of \d+\)/);
  }
  // A second check proves consistency with the checkpoint remembered by the first, and reads
  // the log as everyone does: its checkpoint and every tile, never a request naming the entry.
  const page = state.signers[0].page;
  const receipt = JSON.parse(await page.evaluate((id) => localStorage.getItem(`undersigned.receipts.${id}`), state.letterId))[0].receipt;
  const asked = [];
  const record = (r) => asked.push(r.url());
  page.on("request", record);
  await page.click("#check");
  await until("consistency", async () => /nothing was removed or changed since your last check/.test(await page.textContent("#check-result")));
  page.off("request", record);
  const prefix = `${BASE}/letters/${state.letterId}/`;
  assert.ok(asked.some((u) => u.startsWith(`${prefix}tile/0/`)), asked.join("\n"));
  for (const u of asked) {
    assert.ok(u === `${prefix}checkpoint` || u.startsWith(`${prefix}tile/0/`), `the check asked for ${u}`);
    assert.ok(!u.includes(receipt.entry_hash), `the check named the entry: ${u}`);
  }
  // The server's own record of the check agrees.
  const log = readFileSync(join(ARTIFACTS, "server.log"), "utf8");
  assert.ok(!log.includes(receipt.entry_hash), "the server log holds the entry hash");
});

test("the letter page shows the tally, the comments and downloads the bundle", async () => {
  const page = state.signers[0].page;
  await page.reload();
  // What a reader sees, not what the markup carries.
  assert.match(await page.innerText("#tally-total"), /^2 verified signatures from 2 organizations/);
  // Counts by organization are exact, as the public record names each signer's organization:
  // one each, never a "<2" that hides nothing (issue 26).
  assert.equal(await page.locator(".chart").count(), 1);
  const byOrg = await page.locator("table.breakdown").first().innerText();
  assert.match(byOrg, /Department of State\s+1/);
  assert.ok(!/</.test(byOrg), byOrg);
  assert.match(await page.innerText("#cells-note"), /Counts by organization are exact/);
  assert.match(await page.textContent("#tally-section"), /Declared by the signers themselves, not checked: role and age band/);
  // The comments appear once their batch is published, with the signer's organization.
  const comments = await page.textContent("#comments");
  assert.match(comments, /signed by a test browser from state\.gov[\s\S]*a signer at /);
  assert.match(comments, /signed by a test browser from usaid\.gov/);
  // The letter's own headings sit below the page's title.
  assert.equal(await page.textContent(".letter-body h3"), "What we have seen");
  assert.equal(await page.locator(".letter-body h1, .letter-body h2").count(), 0);
  // The sign action is near the top: the call to sign comes before the letter's text.
  await audit(page, "letter-signed");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-bundle")]);
  state.bundle = join(ARTIFACTS, "bundle.json");
  await download.saveAs(state.bundle);
  const bundle = JSON.parse(readFileSync(state.bundle, "utf8"));
  assert.equal(bundle.format, "undersigned-bundle/1");
  noProblems(page);
});

test("'Verify this letter' on the letter page checks its bundle in this browser, with the site's keys", async () => {
  const page = await newPage();
  await page.goto(`${BASE}/letters/${state.letterId}`);
  await page.click("#verify-letter");
  await page.waitForURL(/\/verify#letter=/);
  await page.waitForSelector("#verify-result", { state: "visible", timeout: 60_000 });
  // The site names no witnesses: the same honest amber as for a chosen file, never green.
  assert.equal(await page.textContent("#verdict"), "CHECKED, WITH A CAVEAT");
  assert.match(await page.innerText("#caveat"), /names no independent witnesses/);
  assert.match(await page.innerText("#statement"), /^\d+ verified signatures? from \d+ organizations? on “Review the policy”/);
  assert.match(await page.innerText("#key-match"), /^The bundle's issuer key, log key and host match the ones this site publishes/);
  // A made-up id gets a plain error, not a verdict.
  await page.goto(`${BASE}/verify#letter=${"0".repeat(64)}`);
  await page.reload();
  await until("the refusal", async () => /Could not fetch the letter's bundle/.test(await page.textContent("#verify-status")));
  assert.ok(await page.isHidden("#verify-result"));
  noProblems(page, ["404"]);
  await page.context().close();
});

test("the printed letter carries the tally and a QR code of the bundle link", async () => {
  const page = state.signers[0].page;
  await page.emulateMedia({ media: "print" });
  assert.ok(await page.isHidden("header.site"), "no site menu on paper");
  assert.ok(await page.isHidden("#download-bundle"), "no buttons on paper");
  assert.ok(await page.isVisible("#tally-total"));
  assert.ok(await page.isVisible("#comments"));
  const qr = page.locator("figure.qr svg");
  assert.ok(await qr.isVisible());
  const png = PNG.sync.read(await qr.screenshot());
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, "the QR code decodes");
  assert.equal(code.data, `${BASE}/api/v1/letters/${state.letterId}/bundle`);
  await page.screenshot({ path: join(ARTIFACTS, "letter-print.png"), fullPage: true });
  const pdf = await page.pdf({ path: join(ARTIFACTS, "letter.pdf"), format: "A4", printBackground: true });
  assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
  // The PDF's own text (pdf.js extraction), compared without spaces: glyph runs and
  // ligatures split words in arbitrary places.
  const doc = await getDocument({ data: new Uint8Array(pdf), useSystemFonts: true }).promise;
  let text = "";
  for (let i = 1; i <= doc.numPages; i++) text += (await (await doc.getPage(i)).getTextContent()).items.map((it) => it.str).join("");
  const flat = text.replace(/\s+/g, "");
  for (const want of ["ReviewthePolicy".replace("P", "p"), "2verifiedsignaturesfrom2organizations", "signedbyatestbrowserfromstate.gov", "Thepublicrecord", "Scanforthebundle", `thenopeniton${BASE}/verify`.replace(/\s+/g, "")]) {
    assert.ok(flat.includes(want), `the PDF says ${want}: ${text.slice(0, 300)}`);
  }
  for (const absent of ["Signthisletter", "Downloadthebundle", "Checkmysignature", "verifypageorwith"]) {
    assert.ok(!flat.includes(absent), `no ${absent} on paper`);
  }
  await page.emulateMedia({ media: "screen" });
  noProblems(page);
});

/** The letter's Atom feed, parsed as XML in the browser; checks the elements Atom requires. */
async function feedEntries(page) {
  return page.evaluate(async (id) => {
    const text = await (await fetch(`/letters/${id}/feed.atom`)).text();
    const doc = new DOMParser().parseFromString(text, "application/xml");
    if (doc.querySelector("parsererror")) throw new Error("the feed is not XML");
    const NS = "http://www.w3.org/2005/Atom";
    const feed = doc.documentElement;
    if (feed.namespaceURI !== NS || feed.localName !== "feed") throw new Error("not an Atom feed");
    const child = (node, name) => [...node.children].filter((c) => c.namespaceURI === NS && c.localName === name);
    for (const name of ["id", "title", "updated", "author"]) if (child(feed, name).length !== 1) throw new Error(`feed lacks ${name}`);
    const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
    if (!rfc3339.test(child(feed, "updated")[0].textContent)) throw new Error("feed updated is not RFC 3339");
    return child(feed, "entry").map((e) => {
      for (const name of ["id", "title", "updated"]) if (child(e, name).length !== 1) throw new Error(`entry lacks ${name}`);
      if (!rfc3339.test(child(e, "updated")[0].textContent)) throw new Error("entry updated is not RFC 3339");
      return child(e, "title")[0].textContent;
    });
  }, state.letterId);
}

/** Finds the first string field named `proof` anywhere in the bundle and flips one of its bytes. */
function tamper(value) {
  if (Array.isArray(value)) return value.some(tamper);
  if (value && typeof value === "object") {
    if (typeof value.proof === "string") {
      const bytes = Buffer.from(value.proof, "base64url");
      bytes[20] ^= 0x01;
      value.proof = bytes.toString("base64url");
      return true;
    }
    return Object.values(value).some(tamper);
  }
  return false;
}

test("the verify page accepts the bundle and rejects a tampered copy", async () => {
  const page = await newPage();
  await page.goto(`${BASE}/verify`);
  await page.setInputFiles("#bundle-file", state.bundle);
  await until("a verdict", async () => (await page.textContent("#verdict")) !== "");
  // This site names no witnesses: every check passed, but only the operator vouches for the
  // history, so the one headline is amber and says so in words (issue 25).
  assert.equal(await page.textContent("#verdict"), "CHECKED, WITH A CAVEAT", await page.textContent("#statement"));
  assert.equal(await page.getAttribute("#verdict", "class"), "verdict warn");
  assert.match(await page.textContent("#caveat"), /names no independent witnesses, so only the operator vouches/);
  assert.match(await page.textContent("#statement"), /^2 verified signatures from 2 organizations on “Review the policy”/);
  assert.match(await page.textContent("#checks"), /no one checked them/);
  assert.match(await page.textContent("#breakdown"), /By organization \(checked\)/);
  // Organizations by the names the deployment gives them, with their domains.
  assert.match(await page.textContent("#breakdown"), /Department of State \(state\.gov\)/);
  assert.match(await page.textContent("#verify-comments"), /signed by a test browser/);
  // The receipt check finds the signer's entry in the bundle.
  const receipt = JSON.parse(await state.signers[0].page.evaluate((id) => localStorage.getItem(`undersigned.receipts.${id}`), state.letterId))[0].receipt;
  await page.fill("#receipt-hash", receipt.entry_hash);
  await page.click("#check-receipt");
  // Numbered from 0 as the CLI numbers entries: entry 0 opened the letter, so a signature is 1 or 2.
  await until("the receipt check", async () => /^Found: this receipt's signature is entry [12] of the log \(entries 0 to \d+\), and it is counted\.$/.test(await page.textContent("#receipt-result")));
  await page.fill("#receipt-hash", "00".repeat(32));
  await page.click("#check-receipt");
  await until("the refusal", async () => /not in this bundle/.test(await page.textContent("#receipt-result")));
  await until("the key comparison", async () => (await page.textContent("#key-match")) !== "");
  assert.match(await page.textContent("#key-match"), /key, log key and host match the ones this site publishes/);
  await audit(page, "verify");

  // A valid bundle from another deployment (an offline demo): it verifies, under other keys.
  if (process.env.FOREIGN_BUNDLE) {
    await page.setInputFiles("#bundle-file", process.env.FOREIGN_BUNDLE);
    await until("the foreign verdict", async () => /do NOT match/.test(await page.textContent("#key-match")));
    // Valid under keys it carries itself, which are not this site's: never green.
    assert.equal(await page.textContent("#verdict"), "CHECKED, WITH A CAVEAT");
    assert.equal(await page.getAttribute("#verdict", "class"), "verdict warn");
    assert.match(await page.textContent("#caveat"), /NOT the ones this site publishes\. Anyone can make such keys/);
    assert.match(await page.textContent("#key-match"), /log key/);
    await page.screenshot({ path: join(ARTIFACTS, "verify-foreign.png"), fullPage: true });
  }

  const bad = JSON.parse(readFileSync(state.bundle, "utf8"));
  assert.ok(tamper(bad), "the bundle has a proof to tamper with");
  const badPath = join(ARTIFACTS, "bundle-tampered.json");
  writeFileSync(badPath, JSON.stringify(bad, null, 2));
  await page.setInputFiles("#bundle-file", badPath);
  await until("the rejection", async () => (await page.textContent("#verdict")) === "REJECTED");
  assert.equal(await page.getAttribute("#verdict", "class"), "verdict bad");
  assert.match(await page.textContent("#statement"), /does not verify: \S.{10,}/);
  assert.equal(await page.textContent("#caveat"), "");
  await page.screenshot({ path: join(ARTIFACTS, "verify-rejected.png"), fullPage: true });
  noProblems(page);
  await page.context().close();
});

test("a signer withdraws and the tally changes after the next batch", async () => {
  const page = state.signers[1].page;
  const feedBefore = await feedEntries(page);
  assert.ok(feedBefore.includes("Opened for signatures"), feedBefore.join(" | "));
  assert.ok(feedBefore.includes("2 verified signatures"), feedBefore.join(" | "));
  await page.waitForSelector("#withdraw", { state: "visible" });
  await page.click("#withdraw");
  await until("you withdrew", async () => (await page.textContent("#my-signature-title")) === "You withdrew your signature");
  assert.ok(await page.isHidden("#withdraw"));
  await until("the tally to drop", async () => (await apiJson(`/api/v1/letters/${state.letterId}/tally`)).signatures === 1);
  // The feed has a new entry for the batch that lowered the count.
  const feedAfter = await until("the feed to update", async () => {
    const titles = await feedEntries(page);
    return titles.includes("1 verified signature") && titles;
  });
  assert.equal(feedAfter.length, feedBefore.length + 1);
  await page.reload();
  assert.match(await page.innerText("#tally-total"), /^1 verified signature from 1 organization \(1 withdrawn\)$/);
  // A return visit is discreet: a neutral heading, the receipt folded, nothing that says
  // "signed" or "withdrew" on the screen until the signer opens it.
  await page.waitForSelector("#my-signature", { state: "visible" });
  assert.equal(await page.textContent("#my-signature-title"), "Kept on this device");
  assert.ok(!(await page.$eval("#my-signature-details", (d) => d.open)), "folded on return");
  assert.ok(!/You (signed|withdrew)/.test(await page.innerText("body")), "nothing on the screen says what this browser did");
  await page.click("#my-signature-summary");
  await until("the withdrawal's inclusion", async () => {
    await page.click("#check");
    await sleep(300);
    return /your withdrawal is in the public log/.test(await page.textContent("#check-result"));
  });
  assert.match(await page.innerText("#my-signature-state"), /^You withdrew your signature/, "said once opened");
  // The withdrawn signer's comment goes with the signature.
  assert.ok(!/usaid\.gov/.test(await page.textContent("#comments")));
  noProblems(page);
});

test("the verify page reports a withdrawn signature's receipt as withdrawn, numbered as the CLI does", async () => {
  const signer = state.signers[1].page;
  const mine = JSON.parse(await signer.evaluate((id) => localStorage.getItem(`undersigned.receipts.${id}`), state.letterId));
  const signed = mine.find((r) => r.action !== "withdraw") || mine[0];
  const bundle = await (await fetch(`${BASE}/api/v1/letters/${state.letterId}/bundle`)).text();
  const path = join(ARTIFACTS, "bundle-withdrawn.json");
  writeFileSync(path, bundle);
  const page = await newPage();
  await page.goto(`${BASE}/verify`);
  await page.setInputFiles("#bundle-file", path);
  await until("a verdict", async () => (await page.textContent("#verdict")) !== "");
  await page.fill("#receipt-hash", signed.receipt.entry_hash);
  await page.click("#check-receipt");
  const said = await until("the receipt check", async () => {
    const t = await page.textContent("#receipt-result");
    return /^Found, and withdrawn: this receipt's signature is entry [12] of the log, withdrawn by entry [34]; it is not counted\.$/.test(t) && t;
  });
  assert.ok(said);
  assert.equal(await page.getAttribute("#receipt-result", "class"), "status warn");
  noProblems(page);
  await page.context().close();
});

test("the verify page checks a bundle in a worker: the page answers, progress moves, cancel stops it", async () => {
  if (!process.env.BIG_BUNDLE) return;
  const page = await newPage();
  await page.goto(`${BASE}/verify`);
  await page.setInputFiles("#bundle-file", process.env.BIG_BUNDLE);
  await until("progress", async () => / of \d+ signatures checked/.test(await page.textContent("#verify-status")));
  // One worker per core the browser reports (at most 8), each with its share of the proofs.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(page.workers().length, Math.max(1, Math.min(cores, 8)), "one verifying worker per core");
  const seen = new Set();
  let slowest = 0;
  for (let i = 0; i < 6; i++) {
    const t0 = Date.now();
    seen.add(await page.evaluate(() => document.querySelector("#verify-status").textContent));
    slowest = Math.max(slowest, Date.now() - t0);
    await sleep(400);
  }
  assert.ok(slowest < 1000, `a script call waited ${slowest} ms while the bundle verified`);
  assert.ok(seen.size >= 2, `the progress text moved: ${[...seen].join(" | ")}`);
  assert.ok(await page.isVisible("#verify-cancel"));
  await page.click("#verify-cancel");
  await until("the cancellation", async () => /Verification cancelled/.test(await page.textContent("#verify-status")));
  assert.ok(await page.isHidden("#verify-result"));
  // Run to the end: a valid bundle under another deployment's keys, amber.
  await page.setInputFiles("#bundle-file", []);
  await page.setInputFiles("#bundle-file", process.env.BIG_BUNDLE);
  const started = Date.now();
  await until("a verdict", async () => (await page.textContent("#verdict")) !== "", 180_000);
  assert.equal(await page.textContent("#verdict"), "CHECKED, WITH A CAVEAT");
  assert.match(await page.innerText("#statement"), /^\d+ verified signatures from \d+ organizations/);
  console.log(`  (the 1,000-signature bundle verified in the browser in about ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  noProblems(page);
  await page.context().close();
});

test("on a phone, a code sent before a reload is still asked for; a made-up passphrase; forget this browser", async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/letters/${state.letterId}`);
  await page.waitForSelector("#code-form", { state: "visible" });
  const email = "carol@state.gov";
  await askForCode(page, email);
  // The person switches to the mail app; the phone reloads the tab.
  await page.reload();
  await page.waitForSelector("#redeem-form", { state: "visible" });
  assert.equal(await page.inputValue("#email"), email);
  assert.match(await page.textContent("#issue-status"), /The code was sent to carol@state\.gov before this page reloaded/);
  // The first mail's code is the one that works.
  await page.fill("#code", await codeFor(email));
  await page.click("#get-credential");
  await page.waitForSelector("#have-credential", { state: "visible" });
  assert.equal(await page.evaluate(() => sessionStorage.getItem("undersigned.pending-code")), null, "the pending code is gone once used");

  // A passphrase made up by the page, in both fields, shown once and focused.
  await page.click("#backup summary");
  await page.click("#suggest-passphrase");
  const pass = await page.inputValue("#passphrase");
  assert.match(pass, /^([a-z2-9]{5}-){3}[a-z2-9]{5}$/);
  assert.equal(await page.inputValue("#passphrase-again"), pass);
  assert.ok((await page.textContent("#suggested")).includes(pass));
  assert.ok(await page.evaluate(() => document.activeElement.id === "suggested"));
  await page.screenshot({ path: join(ARTIFACTS, "letter-390-passphrase.png"), fullPage: true });

  // Forget this browser: nothing of this site is left in its storage, and the page says so.
  assert.ok(await page.evaluate(() => Object.keys(localStorage).some((k) => k.startsWith("undersigned."))));
  await page.click("details.forget summary");
  await page.click("#forget");
  await until("the forgetting", async () => /holds nothing from this site/.test(await page.textContent("#forget-status")));
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("undersigned."))), []);
  assert.ok(await page.evaluate(() => document.activeElement.id === "forget-status"));
  await page.waitForSelector("#code-form", { state: "visible" });
  noProblems(page);
  await page.context().close();
});

test("at 390 px with text at 200%, no page is wider than the screen", async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = [];
  for (const path of ["/", `/letters/${state.letterId}`, "/verify", "/organize", "/about/privacy"]) {
    await page.goto(`${BASE}${path}`);
    await page.waitForLoadState("networkidle");
    if (path === "/verify") {
      await page.setInputFiles("#bundle-file", state.bundle);
      await until("a verdict", async () => (await page.textContent("#verdict")) !== "");
    }
    // The reader's text size at 200%: every rem and em doubles, as a browser's setting does.
    await page.evaluate(() => { document.documentElement.style.fontSize = "200%"; });
    const found = await page.evaluate(() => {
      const limit = document.documentElement.clientWidth;
      const over = [...document.querySelectorAll("body *")]
        .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > limit + 1)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}${e.className && typeof e.className === "string" ? `.${e.className.split(" ").join(".")}` : ""} (${Math.round(e.getBoundingClientRect().right)} px)`);
      return { width: document.documentElement.scrollWidth, limit, over: over.slice(0, 8) };
    });
    if (found.width > found.limit) wide.push(`${path}: ${found.width} px > ${found.limit}: ${found.over.join(", ")}`);
    await page.screenshot({ path: join(ARTIFACTS, `text200-390${path.replace(/\//g, "_") || "_"}.png`), fullPage: true });
  }
  assert.deepEqual(wide, []);
  await page.context().close();
});

test("a recipients-only letter shows nothing without its link", async () => {
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      title: "Private title 7d1e",
      body: "## Private heading\n\nPrivate body 93ac with **bold**\n",
      policy: { deadline: Math.floor(Date.now() / 1000) + 86400, visibility: "recipients-only" },
    }),
  });
  const opened = await apiJson(`/api/v1/letters/${created.handle}/open`, {
    method: "POST",
    headers: { Authorization: `Bearer ${created.organizer_token}`, "Content-Type": "application/json" },
    body: "{}",
  });
  const page = await newPage();
  await page.goto(`${BASE}/letters/${opened.letter_id}`);
  const html = await page.content();
  assert.ok(!html.includes("Private title 7d1e") && !html.includes("Private body 93ac"));
  assert.match(html, /visible to its recipients and link holders/);
  await page.goto(`${BASE}/letters/${opened.letter_id}#key=${created.signer_token}`);
  await page.reload();
  await until("the shell to fill", async () => (await page.textContent("#letter-title")) === "Private title 7d1e");
  assert.match(await page.textContent("#letter-body"), /Private body 93ac/);
  // Rendered as on the public page, not shown as raw Markdown.
  assert.equal(await page.textContent("#letter-body strong"), "bold");
  assert.equal(await page.textContent("#letter-body h3"), "Private heading");
  assert.ok(!(await page.textContent("#letter-body")).includes("**"));
  await audit(page, "letter-recipients-only");
  noProblems(page);
  await page.context().close();
});

test("present in the browser: median time", async () => {
  const page = state.signers[0].page;
  const times = await page.evaluate(async (letterId) => {
    const m = await import("/static/wasm/undersigned_wasm.js");
    await m.default({ module_or_path: "/static/wasm/undersigned_wasm_bg.wasm" });
    const view = await (await fetch(`/api/v1/letters/${letterId}`)).json();
    const letter = JSON.stringify(view.letter);
    const held = localStorage.getItem("undersigned.credentials");
    const cred = JSON.stringify(JSON.parse(m.pick_credentials(held, letter)).credentials);
    const { issuer_id: issuer, attributes: { epoch } } = JSON.parse(cred)[0];
    const sets = JSON.stringify({ [issuer]: await (await fetch(`/api/v1/issuer/anonymity-sets?issuer=${issuer}&epoch=${epoch}`)).json() });
    const out = [];
    for (let i = 0; i < 11; i++) {
      const t = performance.now();
      m.present(cred, letter, "sign", false, false, false, null, sets, true);
      out.push(performance.now() - t);
    }
    return out.sort((a, b) => a - b);
  }, state.letterId);
  const median = times[Math.floor(times.length / 2)];
  console.log(`# browser present (proof + nym): median ${median.toFixed(1)} ms of ${times.length} runs (min ${times[0].toFixed(1)}, max ${times[times.length - 1].toFixed(1)})`);
  writeFileSync(join(ARTIFACTS, "present-browser-ms.txt"), `${median.toFixed(2)}\n`);
  assert.ok(median > 0);
});

test("an organizer closes a letter and its recipient reads, acknowledges and answers", async () => {
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      title: "Answer us",
      body: "## What we have seen\n\nPlease answer by **January 24**.\n\n- first point\n- second point\n",
      recipients: [{ name: "The Director of the Department of Very Long Names and Titles", address: "director@state.gov" }],
      response_days: 14,
      policy: { deadline: Math.floor(Date.now() / 1000) + 86400, publish_interval_secs: 2 },
    }),
  });
  const page = await newPage();
  await page.goto(`${BASE}/letters/${created.handle}/manage#organizer=${created.organizer_token}`);
  await page.click("#open");
  await until("open", async () => (await page.getAttribute("#state", "data-state")) === "open");
  await until("the open result", async () => /^Opened/.test(await page.textContent("#action-result")));
  await page.click("#close");
  await until("closed", async () => (await page.getAttribute("#state", "data-state")) === "closed");
  await until("the close result", async () => /^Closed with \d+ verified signatures? from \d+ organizations?\. Delivery to the recipients has started\./.test(await page.textContent("#action-result")));
  // Closing again is refused, and the page says so.
  const link = await until("the delivery mail", async () => {
    const mails = await apiJson("/api/dev/outbox");
    const mail = mails.find((m) => m.to.includes("director@state.gov"));
    return mail && mail.body.match(/https?:\/\/\S+\/respond#\S+/)?.[0];
  });
  // The delivery status arrives on the open page by itself, with no reload.
  await until("delivery status", async () => /The Director of the Department of Very Long Names and Titles: delivered/.test(await page.textContent("#deliveries")), 45_000);
  // The public link comes with a word on how to share it, and the feed with what it is.
  assert.match(await page.innerText("#share-advice"), /personal account and device/);
  assert.match(await page.innerText("#links"), /feed reader/);
  // The organizer reads the count first, in words, not the number of log entries.
  assert.match(await page.textContent("#signed-count"), /^\d+ verified signatures? from \d+ organizations?/);
  assert.ok(!/so far/.test(await page.textContent("#signed-count")), "a closed letter's count is final");
  await audit(page, "manage-closed");
  const recipient = await newPage();
  await recipient.goto(link.replace(/^https?:\/\/[^/]+/, BASE));
  await recipient.waitForSelector("#respond-body", { state: "visible" });
  assert.equal(await recipient.textContent("#respond-title"), "Answer us");
  // The letter is rendered, not shown as Markdown source.
  const text = await recipient.textContent("#respond-text");
  for (const raw of ["**", "## ", "- first"]) assert.ok(!text.includes(raw), `literal Markdown ${raw} on the recipient page`);
  assert.equal(await recipient.textContent("#respond-text strong"), "January 24");
  assert.equal(await recipient.locator("#respond-text li").count(), 2);
  assert.match(await recipient.textContent("#respond-meta"), /14 days after delivery, set by the organizer/);
  assert.match(await recipient.textContent("#ack-help"), /Acknowledging is public/);
  await audit(recipient, "respond");
  await recipient.click("#acknowledge");
  await until("acknowledged", async () => /Acknowledged/.test(await recipient.textContent("#acknowledge")));
  await recipient.fill("#answer", "We will **review** it. See [the policy](https://example.org/policy).");
  await recipient.click("#preview-answer");
  await recipient.waitForSelector("#answer-preview-box", { state: "visible" });
  assert.equal(await recipient.textContent("#answer-preview strong"), "review");
  await audit(recipient, "respond-preview");
  await recipient.click("#publish-answer");
  await until("answered", async () => /You answered/.test(await recipient.textContent("#respond-result")));
  const pubHref = await recipient.getAttribute("#public-link a", "href");
  const pub = await newPage();
  await pub.goto(`${BASE}${pubHref}`);
  assert.match(await pub.textContent("section.delivery"), /Answer from The Director[\s\S]*We will review it\./);
  assert.equal(await pub.getAttribute("section.answer a", "href"), "https://example.org/policy", "links in answers are links");
  // On a phone, the count and the answer are the first thing a reader sees, above the text.
  await pub.setViewportSize({ width: 390, height: 844 });
  await pub.evaluate(() => window.scrollTo(0, 0));
  const outcome = await pub.locator("#outcome").boundingBox();
  assert.ok(outcome && outcome.y + outcome.height <= 844, `the outcome is above the fold: ${JSON.stringify(outcome)}`);
  const said = await pub.innerText("#outcome");
  assert.match(said, /\d+ (person|people) signed, from \d+ organizations?\./);
  assert.match(said, /The Director of the Department of Very Long Names and Titles: answered .*Read the answer/);
  await pub.click("#outcome a");
  assert.ok(await pub.locator("#answer-0").isVisible());
  assert.match(await pub.innerText("#answer-0"), /We will review it/);
  // The Atom link says what a feed is for and that a browser shows raw XML.
  assert.match(await pub.innerText("section.feed"), /feed reader[\s\S]*raw XML/);
  await pub.setViewportSize({ width: 1280, height: 900 });
  await audit(pub, "letter-closed-answered");
  // The organizer's open page shows the answer by itself.
  await until("the answer on the manage page", async () => /answered/.test(await page.textContent("#deliveries")), 45_000);
  for (const p of [page, recipient, pub]) {
    noProblems(p);
    await p.context().close();
  }
});

test("the home page lists the open letter with its count", async () => {
  const page = await newPage();
  await page.goto(`${BASE}/`);
  assert.match(await page.textContent("ul.letters"), /Review the policy[\s\S]*1 signature from 1 organization\b/);
  await audit(page, "home");
  for (const [path, name] of [["/about/privacy", "privacy"], ["/dev/outbox", "dev-outbox"], ["/letters/nosuchletter", "not-found"]]) {
    await page.goto(`${BASE}${path}`);
    await audit(page, name);
  }
  // The not-found page is asked for on purpose: its own 404 is the answer under test.
  noProblems(page, ["404 (Not Found) at " + BASE + "/letters/nosuchletter"]);
  await page.context().close();
});

test("a restored backup brings back the receipts: the new browser checks and withdraws", async () => {
  const old = state.signers[0].page;
  await old.reload();
  await old.waitForSelector("#backup", { state: "visible" });
  await old.click("#backup summary");
  await old.fill("#passphrase", "correct horse battery");
  // A mistyped confirmation is caught before anything is written.
  await old.fill("#passphrase-again", "correct horse batery");
  await old.click("#export");
  await until("the mismatch", async () => /passphrases differ/.test(await old.textContent("#backup-status")));
  await old.fill("#passphrase-again", "correct horse battery");
  const [download] = await Promise.all([old.waitForEvent("download"), old.click("#export")]);
  // A name that does not say what the file is for.
  assert.match(download.suggestedFilename(), /^backup-\d{4}-\d{2}-\d{2}\.txt$/);
  const file = join(ARTIFACTS, "backup.txt");
  await download.saveAs(file);
  // Neither the name nor the content says what the file is: base64url text alone.
  const text = readFileSync(file, "utf8");
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  assert.ok(!/undersigned|credential|letter/i.test(text), "the backup's text names nothing");

  const page = await newPage();
  await page.goto(`${BASE}/letters/${state.letterId}`);
  await page.waitForSelector("#backup", { state: "visible" });
  assert.ok(await page.isHidden("#my-signature"), "a new browser knows of no signature");
  await page.click("#backup summary");
  // The file chosen before the passphrase: asked for the passphrase, not told it is wrong.
  await page.setInputFiles("#import", file);
  await until("the request for the passphrase", async () => /Type the backup's passphrase first/.test(await page.textContent("#backup-status")));
  await page.fill("#passphrase", "wrong passphrase");
  await page.setInputFiles("#import", file);
  await until("the refusal", async () => /Could not restore: wrong passphrase/i.test(await page.textContent("#backup-status")));
  await page.fill("#passphrase", "correct horse battery");
  await page.setInputFiles("#import", file);
  await until("the restore", async () => /Restored: .* and your receipt for this letter/.test(await page.textContent("#backup-status")));
  assert.equal(await page.textContent("#my-signature-title"), "You signed this letter");
  await page.click("#check");
  await until("the check", async () => /your signature is in the public log/.test(await page.textContent("#check-result")));
  // The restored checkpoint is the old browser's: this check proved the log only grew since.
  assert.match(await page.textContent("#check-result"), /nothing was removed or changed since your last check/);
  await audit(page, "letter-restored");
  await page.click("#withdraw");
  await until("you withdrew", async () => (await page.textContent("#my-signature-title")) === "You withdrew your signature");
  await until("the tally to drop", async () => (await apiJson(`/api/v1/letters/${state.letterId}/tally`)).signatures === 0);
  noProblems(page);
  await page.context().close();
});

// A second deployment that scripts/web-test starts: three independent `issuer serve`
// processes (THREE_ISSUERS, each with its own dev outbox) and a letters server naming them
// all (THREE_URL). Letters there default to every issuer with t = n = 3.
const THREE = process.env.THREE_URL;
const THREE_ISSUERS = (process.env.THREE_ISSUERS || "").split(",").filter(Boolean);

test("a signer gets three codes on one screen and signs a letter needing all three issuers", async () => {
  assert.ok(THREE && THREE_ISSUERS.length === 3, "scripts/web-test starts the three-issuer deployment (THREE_URL, THREE_ISSUERS)");
  const json = async (url, opts) => {
    const r = await fetch(url, opts);
    if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  const deployment = await json(`${THREE}/api/v1/deployment`);
  assert.deepEqual(deployment.issuers.map((i) => i.url).sort(), [...THREE_ISSUERS].sort());
  const created = await json(`${THREE}/api/v1/letters`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      title: "Three issuers vouch",
      body: "We ask for a review.\n",
      policy: { deadline: Math.floor(Date.now() / 1000) + 86400, publish_interval_secs: 2 },
    }),
  });
  const opened = await json(`${THREE}/api/v1/letters/${created.handle}/open`, {
    method: "POST",
    headers: { Authorization: `Bearer ${created.organizer_token}`, "Content-Type": "application/json" },
    body: "{}",
  });
  const letter = await json(`${THREE}/api/v1/letters/${opened.letter_id}`);
  assert.equal(letter.letter.policy.threshold, 3);
  assert.equal(letter.letter.policy.issuers.length, 3);

  const page = await newPage();
  const email = "tri@state.gov";
  await page.goto(`${THREE}/letters/${opened.letter_id}`);
  await page.waitForSelector("#code-form", { state: "visible" });
  const sent = [];
  page.on("request", (r) => sent.push({ url: r.url(), body: r.postData() || "" }));
  // This letter takes no role or age band: the page does not ask for them.
  assert.ok(await page.isHidden("#role") && await page.isHidden("#age-band"));
  assert.match(await page.textContent("#not-asked"), /does not ask for your role or age band/);
  await askForCode(page, email);
  // One screen, three labelled fields, and one sentence saying why.
  assert.match(await page.textContent("#codes-why"), /3 codes, one from each of 3 independent issuers/);
  for (const [n, issuer] of deployment.issuers.entries()) {
    const label = await page.textContent(`label[for="code-${n + 1}"]`);
    assert.ok(label.includes(issuer.host), `${label} names ${issuer.host}`);
    // Each issuer mailed its own code, read from its own outbox.
    const code = await until(`a code from ${issuer.host}`, async () => {
      const mails = await json(`${issuer.url}/api/dev/outbox`);
      const mine = mails.filter((m) => m.to.some((t) => t.toLowerCase() === email)).pop();
      return mine && mine.body.match(/\b\d{8}\b/)?.[0];
    });
    await page.fill(`#code-${n + 1}`, code);
  }
  await audit(page, "letter-three-codes");
  await page.click("#get-credential");
  await page.waitForSelector("#have-credential", { state: "visible" });
  const summary = await page.textContent("#credential-summary");
  assert.match(summary, /this letter takes 3 of them/);
  for (const i of deployment.issuers) assert.ok(summary.includes(i.host), `${summary} names ${i.host}`);
  // Each issuer was asked directly, from the page, and no request carried the nym secrets.
  for (const i of deployment.issuers) assert.ok(sent.some((r) => r.url === `${i.url}/api/v1/issuance/credential`), `asked ${i.url}`);
  const creds = JSON.parse(await page.evaluate(() => localStorage.getItem("undersigned.credentials")));
  assert.equal(new Set(creds.map((c) => c.issuer_id)).size, 3);
  for (const c of creds) assert.ok(!sent.some((r) => r.body.includes(c.secrets.nym_secret)), "a nym secret left the page");

  // Each issuer's next signed statement counts the credential, and the letters server
  // carries it: a bundle's signers per organization are at most what each issuer issued.
  await until("the issuers' statements to count state.gov", async () => {
    const dep = await json(`${THREE}/api/v1/deployment`);
    for (const i of deployment.issuers) {
      const st = (await json(`${i.url}/api/v1/issuer/statement`)).signed.statement;
      const counted = st.epochs.some((e) => e.cells.some((c) => c.org === "state.gov"));
      const carried = dep.issuers.find((d) => d.url === i.url)?.statement_sequence >= st.sequence;
      if (!counted || !carried) return false;
    }
    return true;
  });
  await page.click("#sign-now");
  await page.waitForSelector("#sign-form", { state: "visible" });
  await page.uncheck("#delay");
  if (await page.isVisible("#consent-box")) await page.check("#consent");
  await page.click("#sign-button");
  await page.waitForSelector("#my-signature", { state: "visible" });
  const entryPost = sent.find((r) => r.url.endsWith(`/api/v1/letters/${opened.letter_id}/entries`));
  const entry = JSON.parse(entryPost.body);
  assert.equal(entry.parts.length, 3, "a composite entry with one part per issuer");

  await until("the signature to be counted", async () => (await json(`${THREE}/api/v1/letters/${opened.letter_id}/tally`)).signatures === 1);
  // The letter page says which issuers back each signature and what cheating would take.
  await page.reload();
  await page.waitForSelector("#trust");
  const trust = await page.textContent("#trust");
  assert.match(trust, /each signature is backed by 3 of these 3 issuers/);
  assert.match(trust, /needs all 3 to collude/);
  for (const i of deployment.issuers) assert.ok(trust.includes(i.name), `${trust} names ${i.name}`);

  // The verify page, with this deployment's bundle: verified, and the same statement.
  const bundle = await (await fetch(`${THREE}/api/v1/letters/${opened.letter_id}/bundle`)).text();
  const bundlePath = join(ARTIFACTS, "bundle-three-issuers.json");
  writeFileSync(bundlePath, bundle);
  const verify = await newPage();
  await verify.goto(`${THREE}/verify`);
  await verify.setInputFiles("#bundle-file", bundlePath);
  await until("a verdict", async () => (await verify.textContent("#verdict")) !== "");
  // This deployment names a witness, and its bundle carries the cosignature: green.
  assert.equal(await verify.textContent("#verdict"), "VERIFIED", `${await verify.textContent("#statement")} ${await verify.textContent("#key-match")}`);
  assert.equal(await verify.getAttribute("#verdict", "class"), "verdict ok");
  assert.match(await verify.textContent("#key-match"), /carry the cosignatures of 1 of this site's witnesses/);
  const checks = await verify.textContent("#checks");
  assert.match(checks, /backed by 3 of these 3 issuers/);
  for (const i of deployment.issuers) assert.ok(checks.includes(i.name), `${checks} names ${i.name}`);
  await verify.screenshot({ path: join(ARTIFACTS, "verify-three-issuers.png"), fullPage: true });
  noProblems(page);
  noProblems(verify);
  await page.context().close();
  await verify.context().close();
});

test("the exported client, from a static host and from disk, signs, checks and withdraws", async () => {
  const CLIENT_URL = process.env.CLIENT_URL;
  const CLIENT_DIR = process.env.CLIENT_DIR;
  assert.ok(CLIENT_URL && CLIENT_DIR, "scripts/web-test exports the client and serves it (CLIENT_URL, CLIENT_DIR)");
  const manifest = JSON.parse(readFileSync(join(CLIENT_DIR, "manifest.json"), "utf8"));
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      title: "Signed from anywhere",
      body: "We ask for a review.\n\nSigned with a client the operator did not serve.\n",
      policy: { deadline: Math.floor(Date.now() / 1000) + 86400, publish_interval_secs: 2 },
    }),
  });
  const opened = await apiJson(`/api/v1/letters/${created.handle}/open`, {
    method: "POST",
    headers: { Authorization: `Bearer ${created.organizer_token}`, "Content-Type": "application/json" },
    body: "{}",
  });
  const id = opened.letter_id;
  const copies = [
    { where: "a static host", url: `${CLIENT_URL}/index.html`, csp: manifest.csp, email: `erin${Date.now() % 100000}@state.gov` },
    { where: "disk", url: `file://${join(CLIENT_DIR, "undersigned-client.html")}`, csp: manifest.single_file_csp, email: `finn${Date.now() % 100000}@usaid.gov` },
  ];
  for (const [n, copy] of copies.entries()) {
    const page = await newPage();
    const sent = [];
    page.on("request", (r) => sent.push(r.url()));
    await page.goto(`${copy.url}#deployment=${encodeURIComponent(BASE)}&letter=${id}`);
    await until(`the letter from ${copy.where}`, async () => (await page.textContent("#letter-title")) === "Signed from anywhere");
    assert.match(await page.textContent("#letter-body"), /operator did not serve/);
    // Its links lead to the deployment's pages, not to the host the copy came from.
    assert.equal(await page.getAttribute('#safety a[href*="privacy"]', "href"), `${BASE}/about/privacy#own-copy`);
    // The copy carries exactly the policy its manifest names.
    assert.equal(await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', "content"), copy.csp);
    await page.waitForSelector("#code-form", { state: "visible" });
    await askForCode(page, copy.email);
    await page.fill("#code", await codeFor(copy.email));
    await page.click("#get-credential");
    await page.waitForSelector("#have-credential", { state: "visible" });
    await page.click("#sign-now");
    await page.waitForSelector("#sign-form", { state: "visible" });
    await page.uncheck("#delay");
    if (await page.isVisible("#consent-box")) await page.check("#consent");
    await page.click("#sign-button");
    await page.waitForSelector("#my-signature", { state: "visible" });
    // Each copy's signer withdraws before the next signs: one standing signature at a time.
    await until("the signature to be counted", async () => {
      const t = await apiJson(`/api/v1/letters/${id}/tally`);
      return t.signatures === 1 && t.withdrawn === n;
    });
    await until("the check", async () => {
      await page.click("#check");
      await sleep(300);
      return /your signature is in the public log/.test(await page.textContent("#check-result"));
    });
    await page.click("#withdraw");
    await until("you withdrew", async () => (await page.textContent("#my-signature-title")) === "You withdrew your signature");
    // Only the deployment's API and the copy itself were asked for anything; the check read tiles.
    const origin = new URL(copy.url).origin;
    for (const u of sent) {
      assert.ok(u.startsWith(`${BASE}/`) || u.startsWith(copy.url.startsWith("file:") ? "file://" : origin), `asked ${u}`);
      assert.ok(!u.includes("/proof/inclusion"), `asked for a proof naming an entry: ${u}`);
    }
    if (n === 0) await audit(page, "client-export");
    noProblems(page);
    await page.context().close();
  }
  await until("both withdrawals to be counted", async () => (await apiJson(`/api/v1/letters/${id}/tally`)).withdrawn === 2);
});

test("every page was looked at, at both widths", async () => {
  for (const name of ["organize", "manage-draft", "manage-open", "manage-closed", "letter-open-new-signer", "letter-come-back-later", "letter-sign-form", "letter-signed", "letter-recipients-only", "letter-closed-answered", "letter-restored", "verify", "respond", "respond-preview", "home", "privacy", "dev-outbox", "not-found", "letter-three-codes", "client-export", "letter-small-org-warning"]) {
    assert.ok(audited.has(name), `${name} was not audited`);
  }
});

browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let passed = 0;
let failed = 0;
// ONLY=text runs the tests whose name contains it (for debugging one step; CI runs them all).
for (const t of tests.filter((t) => !process.env.ONLY || t.name.includes(process.env.ONLY))) {
  const start = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`ok - ${t.name} (${Date.now() - start} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${t.name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
