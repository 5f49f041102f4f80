// undersigned browser bench (scripts/browser-bench): the verify page in headless Chromium on
// bundles of several sizes, next to the CLI's `verify` of the same files. For each bundle:
// the time from choosing the file to the verdict, the longest main-thread task (PerformanceObserver
// "longtask"), the longest gap between two progress texts, the browser's peak memory (resident
// size of every Chromium process, sampled every 200 ms), and the CLI's time. Prints a table.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";

const BASE = process.env.BASE_URL;
const BIN = process.env.BIN;
const BUNDLES = process.env.BUNDLES.split(",");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });

/** Resident memory of every Chromium process, in MB. */
function chromiumRss() {
  const out = execFileSync("ps", ["-eo", "rss=,comm="], { encoding: "utf8" });
  return out.split("\n").filter((l) => /chrom/i.test(l)).reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0] || 0), 0) / 1024;
}

const rows = [];
for (const file of BUNDLES) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${BASE}/verify`);
  await page.evaluate(() => {
    window.benchLong = 0;
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.benchLong = Math.max(window.benchLong, e.duration);
    }).observe({ type: "longtask", buffered: false });
    window.benchTexts = [];
    new MutationObserver(() => window.benchTexts.push([performance.now(), document.querySelector("#verify-status").textContent]))
      .observe(document.querySelector("#verify-status"), { childList: true, characterData: true, subtree: true });
  });
  const before = chromiumRss();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, chromiumRss());
  }, 200);
  const t0 = Date.now();
  await page.setInputFiles("#bundle-file", file);
  await page.waitForFunction(() => document.querySelector("#verdict").textContent !== "", null, { timeout: 3_600_000, polling: 200 });
  const browserMs = Date.now() - t0;
  clearInterval(sampler);
  const { long, gap, verdict, signatures } = await page.evaluate(() => {
    const times = window.benchTexts.map(([t]) => t);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
    return { long: window.benchLong, gap, verdict: document.querySelector("#verdict").textContent, signatures: document.querySelector("#statement").textContent.split(" ")[0] };
  });
  const c0 = Date.now();
  execFileSync(BIN, ["verify", file], { stdio: "ignore" });
  const cliMs = Date.now() - c0;
  rows.push({ signatures, browserMs, cliMs, long, gap, verdict, before, peak });
  await page.context().close();
}
await browser.close();

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}, ${process.env.CORES} cores`);
console.log("| signatures | browser verify | CLI verify | ratio | longest main-thread task | longest progress gap | browser memory, before → peak | verdict |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---|");
for (const r of rows) {
  console.log(`| ${r.signatures} | ${(r.browserMs / 1000).toFixed(2)} s | ${(r.cliMs / 1000).toFixed(2)} s | ${(r.browserMs / r.cliMs).toFixed(1)}× | ${Math.round(r.long)} ms | ${Math.round(r.gap)} ms | ${Math.round(r.before)} → ${Math.round(r.peak)} MB | ${r.verdict} |`);
}
