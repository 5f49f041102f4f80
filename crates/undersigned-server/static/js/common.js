// undersigned: helpers shared by the page scripts — the wasm module, API calls with the
// token from the URL fragment, and this browser's storage. No secret leaves the device here:
// the API helpers send only what a caller passes as a body.
// Relative paths, so the same files work served by a deployment (/static/js/), from an exported
// client directory on any static host (js/), and bundled into one file.
import init from "../wasm/undersigned_wasm.js";

export * as wasm from "../wasm/undersigned_wasm.js";

let ready = null;
/** Loads the wasm module once; every page awaits this before calling into it. The single-file
 *  client carries the module in a data block (base64) instead of beside the script. */
export function loadWasm() {
  const embedded = document.getElementById("undersigned-wasm");
  const module_or_path = embedded
    ? Uint8Array.from(atob(embedded.textContent.trim()), (c) => c.charCodeAt(0))
    : new URL("../wasm/undersigned_wasm_bg.wasm", import.meta.url);
  if (!ready) ready = init({ module_or_path });
  return ready;
}

let base = "";
/** Where the API lives when the page was not served by the deployment itself (the exported
 *  client): an http(s) origin with an optional path, nothing else. Paths given to `api` that
 *  start with "/" are then asked there. */
export function setBase(url) {
  const u = new URL(url);
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("the deployment must be an http(s) URL");
  if (u.search || u.hash || u.username || u.password) throw new Error("the deployment URL must have no query, fragment or password");
  base = u.href.replace(/\/$/, "");
}

/** Parameters from the fragment (`#key=...`, `#organizer=...` or a bare `#TOKEN`). */
export function fragment() {
  const raw = location.hash.replace(/^#/, "");
  const out = {};
  if (!raw) return out;
  if (!raw.includes("=")) {
    out.token = decodeURIComponent(raw);
    return out;
  }
  for (const part of raw.split("&")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i)] = decodeURIComponent(part.slice(i + 1));
  }
  return out;
}

/** Calls the JSON API. The bearer token, if any, goes in a header, never in the URL. */
export async function api(path, { method = "GET", body, token, text = false, bytes = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path.startsWith("/") ? base + path : path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (bytes && resp.ok) return { status: resp.status, data: new Uint8Array(await resp.arrayBuffer()) };
  const payload = text || bytes ? await resp.text() : await resp.json().catch(() => null);
  if (!resp.ok) {
    const msg = payload && payload.message ? payload.message : `${resp.status} ${resp.statusText}`;
    const err = new Error(msg);
    err.status = resp.status;
    err.payload = payload;
    throw err;
  }
  return { status: resp.status, data: payload };
}

/** JSON in localStorage under one prefix, so everything of ours is easy to find and clear. */
export const store = {
  get(key) {
    try {
      return JSON.parse(localStorage.getItem(`undersigned.${key}`));
    } catch {
      return null;
    }
  },
  set(key, value) {
    localStorage.setItem(`undersigned.${key}`, JSON.stringify(value));
  },
  remove(key) {
    localStorage.removeItem(`undersigned.${key}`);
  },
};

export const $ = (sel) => document.querySelector(sel);

/** Sets a status line; `kind` is "", "ok" or "bad". An error reads as a sentence. */
export function status(el, text, kind = "") {
  el.textContent = kind === "bad" ? sentence(text) : text;
  el.className = `status ${kind}`.trim();
}

export function date(unix) {
  return new Date(unix * 1000).toISOString().slice(0, 10);
}

/** A deadline as people need it: the day, the minute and the zone (the day alone reads as the
 *  end of the reader's own day). */
export function until(unix) {
  return datetime(unix).replace(/:\d\d UTC$/, " UTC");
}

/** A span of time in the words every message about it uses ("20 seconds", "5 minutes"). */
export function span(secs) {
  return secs < 120 ? plural(secs, "second", "seconds") : plural(Math.round(secs / 60), "minute", "minutes");
}

export function datetime(unix) {
  return new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** Offers text as a file download without a server round trip. */
export function download(name, text, type = "application/json") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Builds an element with text content (never HTML) and attributes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

/** Plain text shown as paragraphs: the safe way to show Markdown without a renderer. */
export function paragraphs(container, text) {
  container.replaceChildren(
    ...text.split(/\n{2,}/).map((p) => el("p", {}, p.trim())),
  );
}

/** Puts HTML the server rendered and sanitized (the Markdown renderer behind ammonia) in place. */
export function serverHtml(container, html) {
  const doc = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html");
  container.replaceChildren(...doc.body.firstChild.childNodes);
}

/** `one` or `many` by count: "1 signature", "2 signatures". */
export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** A credential period in plain words: "2026-Q4" is "Oct–Dec 2026". */
export function epochWords(epoch) {
  const m = /^(\d{4})-Q([1-4])$/.exec(epoch || "");
  if (!m) return epoch;
  return `${["Jan–Mar", "Apr–Jun", "Jul–Sep", "Oct–Dec"][Number(m[2]) - 1]} ${m[1]}`;
}

/** The tally's one-line total, as the server's letter page says it. */
export function tallyLine(t) {
  return `${plural(t.signatures, "verified signature", "verified signatures")} from ${plural(t.organizations, "organization", "organizations")}`;
}

/** Who a comment comes from, as the server's page says it. */
export function commentCell(c) {
  let out = c.email ? `${c.email}, ${c.org_name}` : `a signer at ${c.org_name}`;
  const extra = [c.role, c.age_band].filter(Boolean);
  if (extra.length) out += ` (${extra.join(", ")})`;
  return out;
}

/** The published comments as the server's page lists them. */
export function commentList(comments) {
  return el("ul", { class: "comment-list" }, ...comments.map((c) => {
    const quote = el("blockquote");
    c.text.split("\n").forEach((line, i) => {
      if (i > 0) quote.append(el("br"));
      quote.append(line);
    });
    return el("li", { class: "comment" }, quote, el("p", { class: "meta" }, `— ${commentCell(c)}`));
  }));
}

/** A "Copy" button for a text, with its result said in the button itself. */
export function copyButton(text, label = "Copy") {
  const b = el("button", { type: "button", class: "secondary copy" }, label);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = "Copied";
    } catch {
      b.textContent = "Select and copy it";
    }
    setTimeout(() => (b.textContent = label), 2500);
  });
  return b;
}

/** A message as a sentence: capital first letter, final full stop. The API's are fragments. */
export function sentence(text) {
  const t = String(text || "").trim();
  return t ? `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?…]$/.test(t) ? "" : "."}` : t;
}
