// undersigned: helpers shared by the page scripts — the wasm module, API calls with the
// token from the URL fragment, and this browser's storage. No secret leaves the device here:
// the API helpers send only what a caller passes as a body.
import init from "/static/wasm/undersigned_wasm.js";

export * as wasm from "/static/wasm/undersigned_wasm.js";

let ready = null;
/** Loads the wasm module once; every page awaits this before calling into it. */
export function loadWasm() {
  if (!ready) ready = init({ module_or_path: "/static/wasm/undersigned_wasm_bg.wasm" });
  return ready;
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
export async function api(path, { method = "GET", body, token, text = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const payload = text ? await resp.text() : await resp.json().catch(() => null);
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

/** Sets a status line; `kind` is "", "ok" or "bad". */
export function status(el, text, kind = "") {
  el.textContent = text;
  el.className = `status ${kind}`.trim();
}

export function date(unix) {
  return new Date(unix * 1000).toISOString().slice(0, 10);
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
