// undersigned browser tests: headless Debian Chromium driven by playwright-core against a real
// server that scripts/web-test starts (BASE_URL). A tiny sequential runner, because the tests
// tell one story (create, sign, check, verify, withdraw) and each step needs the one before.
// Prints `N passed, M failed` last and exits non-zero on any failure.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

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

test("an organizer creates and opens a letter through the pages", async () => {
  const page = await newPage();
  await page.goto(`${BASE}/organize`);
  await page.fill("#title", "Review the policy");
  await page.fill("#body", "We ask for a **review** of the policy.\n\n<script>window.pwned = 1</script>\n");
  await page.fill("#interval", "2");
  // Two epochs would let one person sign twice: the page shows the server's refusal.
  await page.fill("#epoch", "2026-Q4, 2027-Q1");
  await page.click("#create");
  await until("the refusal", async () => /exactly one epoch per issuer/.test(await page.textContent("#organize-status")));
  assert.match(await page.getAttribute("#organize-status", "class"), /bad/);
  assert.match(page.url(), /\/organize$/, "no draft was created");
  await page.fill("#epoch", "");
  await page.click("#create");
  await page.waitForURL(/\/letters\/[^/]+\/manage#organizer=/);
  assert.ok(!page.url().includes("?"), "the organizer token must not be in a query string");
  await page.click("#open");
  await until("the letter to open", async () => (await page.textContent("#state")) === "open");
  const href = await page.getAttribute("#links a", "href");
  state.letterId = href.split("/").pop();
  assert.match(state.letterId, /^[0-9a-f]{64}$/);
  noProblems(page, ["status of 422"]);
  await page.context().close();
});

test("two signers from different organizations get credentials and sign", async () => {
  for (const email of ["alice@state.gov", "bob@usaid.gov"]) {
    const page = await newPage();
    await page.goto(`${BASE}/letters/${state.letterId}`);
    assert.equal(await page.evaluate(() => window.pwned), undefined, "markdown <script> ran");
    await page.waitForSelector("#code-form", { state: "visible" });
    await page.fill("#email", email);
    await page.selectOption("#role", "analyst");
    await page.selectOption("#age-band", "30-39");
    await page.click("#send-code");
    await page.waitForSelector("#redeem-form", { state: "visible" });
    await page.fill("#code", await codeFor(email));

    // From here on (finalization and signing) every request is recorded.
    const sent = [];
    page.on("request", (r) => sent.push({ url: r.url(), body: r.postData() || "" }));
    await page.click("#get-credential");
    await page.waitForSelector("#have-credential", { state: "visible" });
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
    await page.fill("#comment", `signed by a test browser`);
    await page.click("#sign-button");
    await until("the receipt", async () => (await page.getAttribute("#sign-status", "class")).includes("ok"));
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
    assert.match(await page.textContent("#check-result"), /sign: included as entry \d+/);
  }
  // A second check proves consistency with the checkpoint remembered by the first.
  const page = state.signers[0].page;
  await page.click("#check");
  await until("consistency", async () => /extends the checkpoint you saw before/.test(await page.textContent("#check-result")));
});

test("the letter page shows the tally chart and downloads the bundle", async () => {
  const page = state.signers[0].page;
  await page.reload();
  // What a reader sees, not what the markup carries.
  assert.match(await page.innerText("#tally-total"), /^2 distinct verified signatures from 2 organizations$/);
  assert.equal(await page.locator("svg.chart rect.bar-small").count(), 2, "two <k bars");
  assert.ok((await page.locator("td.below-k").count()) >= 2);
  await page.screenshot({ path: join(ARTIFACTS, "letter.png"), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-bundle")]);
  state.bundle = join(ARTIFACTS, "bundle.json");
  await download.saveAs(state.bundle);
  const bundle = JSON.parse(readFileSync(state.bundle, "utf8"));
  assert.equal(bundle.format, "undersigned-bundle/1");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, "letter-phone.png"), fullPage: true });
  noProblems(page);
});

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
  assert.equal(await page.textContent("#verdict"), "VERIFIED", await page.textContent("#statement"));
  assert.match(await page.textContent("#statement"), /^2 distinct verified signatures from 2 organizations on "Review the policy"/);
  await until("the key comparison", async () => (await page.textContent("#key-match")) !== "");
  assert.match(await page.textContent("#key-match"), /match the keys this site publishes/);
  await page.screenshot({ path: join(ARTIFACTS, "verify.png"), fullPage: true });

  // A valid bundle from another deployment (an offline demo): it verifies, under other keys.
  if (process.env.FOREIGN_BUNDLE) {
    await page.setInputFiles("#bundle-file", process.env.FOREIGN_BUNDLE);
    await until("the foreign verdict", async () => /do NOT match/.test(await page.textContent("#key-match")));
    assert.equal(await page.textContent("#verdict"), "VERIFIED");
    assert.match(await page.textContent("#key-match"), /log key/);
    await page.screenshot({ path: join(ARTIFACTS, "verify-foreign.png"), fullPage: true });
  }

  const bad = JSON.parse(readFileSync(state.bundle, "utf8"));
  assert.ok(tamper(bad), "the bundle has a proof to tamper with");
  const badPath = join(ARTIFACTS, "bundle-tampered.json");
  writeFileSync(badPath, JSON.stringify(bad, null, 2));
  await page.setInputFiles("#bundle-file", badPath);
  await until("the rejection", async () => (await page.textContent("#verdict")) === "REJECTED");
  assert.match(await page.textContent("#statement"), /does not verify/);
  await page.screenshot({ path: join(ARTIFACTS, "verify-rejected.png"), fullPage: true });
  noProblems(page);
  await page.context().close();
});

test("a signer withdraws and the tally changes after the next batch", async () => {
  const page = state.signers[1].page;
  await page.waitForSelector("#withdraw", { state: "visible" });
  await page.click("#withdraw");
  await until("the withdrawal receipt", async () => /Withdrawal accepted/.test(await page.textContent("#check-result")));
  await until("the tally to drop", async () => (await apiJson(`/api/v1/letters/${state.letterId}/tally`)).signatures === 1);
  await page.reload();
  assert.match(await page.innerText("#tally-total"), /^1 distinct verified signatures from 1 organizations \(1 withdrawn\)$/);
  await until("the withdrawal's inclusion", async () => {
    await page.click("#check");
    await sleep(300);
    return /withdraw: included as entry/.test(await page.textContent("#check-result"));
  });
  noProblems(page);
});

test("a recipients-only letter shows nothing without its link", async () => {
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      title: "Private title 7d1e",
      body: "Private body 93ac",
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
  noProblems(page);
  await page.context().close();
});

test("present in the browser: median time", async () => {
  const page = state.signers[0].page;
  const times = await page.evaluate(async (letterId) => {
    const m = await import("/static/wasm/undersigned_wasm.js");
    await m.default({ module_or_path: "/static/wasm/undersigned_wasm_bg.wasm" });
    const cred = JSON.stringify(JSON.parse(localStorage.getItem("undersigned.credentials"))[0]);
    const view = await (await fetch(`/api/v1/letters/${letterId}`)).json();
    const epoch = JSON.parse(cred).attributes.epoch;
    const sets = await (await fetch(`/api/v1/issuer/anonymity-sets?epoch=${epoch}`)).text();
    const letter = JSON.stringify(view.letter);
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

test("an organizer closes a letter and its recipient acknowledges and answers", async () => {
  const created = await apiJson("/api/v1/letters", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      title: "Answer us",
      body: "Please answer.",
      recipients: [{ name: "The Director", address: "director@state.gov" }],
      policy: { deadline: Math.floor(Date.now() / 1000) + 86400, publish_interval_secs: 2 },
    }),
  });
  const page = await newPage();
  await page.goto(`${BASE}/letters/${created.handle}/manage#organizer=${created.organizer_token}`);
  await page.click("#open");
  await until("open", async () => (await page.textContent("#state")) === "open");
  await page.click("#close");
  await until("closed", async () => (await page.textContent("#state")) === "closed");
  const link = await until("the delivery mail", async () => {
    const mails = await apiJson("/api/dev/outbox");
    const mail = mails.find((m) => m.to.includes("director@state.gov"));
    return mail && mail.body.match(/https?:\/\/\S+\/respond#\S+/)?.[0];
  });
  await page.reload();
  await until("delivery status", async () => {
    await page.reload();
    return /The Director: delivered/.test(await page.textContent("#deliveries"));
  });
  const recipient = await newPage();
  await recipient.goto(link.replace(/^https?:\/\/[^/]+/, BASE));
  await recipient.waitForSelector("#respond-body", { state: "visible" });
  assert.equal(await recipient.textContent("#respond-title"), "Answer us");
  await recipient.click("#acknowledge");
  await until("acknowledged", async () => /Acknowledged/.test(await recipient.textContent("#acknowledge")));
  await recipient.fill("#answer", "We will review it.");
  await recipient.click("#answer-form button");
  await until("answered", async () => /You answered/.test(await recipient.textContent("#respond-result")));
  const pub = await newPage();
  await pub.goto(`${BASE}/letters/${created.handle}`);
  assert.match(await pub.textContent("section.delivery"), /Answer from The Director[\s\S]*We will review it\./);
  for (const p of [page, recipient, pub]) {
    noProblems(p);
    await p.context().close();
  }
});

test("the home page lists the open letter with its count", async () => {
  const page = await newPage();
  await page.goto(`${BASE}/`);
  assert.match(await page.textContent("ul.letters"), /Review the policy[\s\S]*1 signature from 1 organization\b/);
  noProblems(page);
  await page.context().close();
});

browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let passed = 0;
let failed = 0;
for (const t of tests) {
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
