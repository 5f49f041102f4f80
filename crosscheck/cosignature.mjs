// An independent check of C2SP tlog-cosignature/v1 (Ed25519) cosignatures, written from the
// specification text alone (https://c2sp.org/tlog-cosignature, https://c2sp.org/signed-note),
// with nothing but node's built-in crypto. It shares no code with the Rust implementation.
//
// Input on stdin, one JSON object:
//   { "verify": [ { "note": "...", "vkey": "name+hex+base64" }, ... ],
//     "cosign": [ { "seed": "<64 hex>", "name": "...", "body": "...", "timestamp": 123 }, ... ] }
// Output on stdout: { "verify": [ { "ok": bool, "timestamp": n|null, "reason": "..." } ],
//                     "cosign": [ { "line": "— name base64\n", "vkey": "..." } ] }
import { createHash, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";

const EM_DASH = "\u2014";

// RFC 8410 DER wrappers for raw Ed25519 keys.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

// "key ID = SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]"
function keyId(name, pub) {
  return createHash("sha256")
    .update(Buffer.concat([Buffer.from(name, "utf8"), Buffer.from([0x0a, 0x04]), pub]))
    .digest()
    .subarray(0, 4);
}

// "The signed message MUST be two newline (U+000A) terminated lines (one header line and one
// timestamp line) followed by the whole note body of the cosigned checkpoint"
function message(timestamp, body) {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${body}`, "utf8");
}

// vkey: "<key name>+hex(32-bit key ID)+base64(signature type || public key)"
function parseVkey(vkey) {
  // The name has no "+" but base64 may: split on the first two.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("vkey must have three parts");
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  const b64 = vkey.slice(second + 1);
  const raw = Buffer.from(b64, "base64");
  if (raw.length !== 33 || raw[0] !== 0x04) throw new Error("vkey is not a 0x04 Ed25519 key");
  const pub = raw.subarray(1);
  if (keyId(name, pub).toString("hex") !== idHex) throw new Error("vkey key ID mismatch");
  return { name, pub, id: keyId(name, pub) };
}

// "the text is separated from the signatures by the last empty line in the note"
function splitNote(note) {
  const blank = note.lastIndexOf("\n\n");
  if (blank < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
  const text = note.slice(0, blank + 1);
  const lines = note.slice(blank + 2, -1).split("\n");
  return { text, lines };
}

function verifyOne({ note, vkey }) {
  const key = parseVkey(vkey);
  const { text, lines } = splitNote(note);
  const publicKey = createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, key.pub]),
    format: "der",
    type: "spki",
  });
  let found = null;
  for (const line of lines) {
    // "em dash (U+2014), space (U+0020), key name, space, base64-encoded signature"
    if (!line.startsWith(EM_DASH + " ")) return { ok: false, timestamp: null, reason: "bad line" };
    const rest = line.slice(2);
    const sp = rest.indexOf(" ");
    const name = rest.slice(0, sp);
    const sig = Buffer.from(rest.slice(sp + 1), "base64");
    if (name !== key.name || sig.length < 4 || !sig.subarray(0, 4).equals(key.id)) continue;
    // key ID || u64 big-endian timestamp || 64-byte Ed25519 signature
    if (sig.length !== 4 + 8 + 64) return { ok: false, timestamp: null, reason: "length" };
    const timestamp = sig.readBigUInt64BE(4);
    if (timestamp > 2n ** 63n - 1n) return { ok: false, timestamp: null, reason: "timestamp" };
    const good = verify(null, message(timestamp.toString(), text), publicKey, sig.subarray(12));
    if (!good) return { ok: false, timestamp: null, reason: "signature" };
    found = Number(timestamp);
  }
  if (found === null) return { ok: false, timestamp: null, reason: "no line" };
  return { ok: true, timestamp: found, reason: "" };
}

function cosignOne({ seed, name, body, timestamp }) {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, Buffer.from(seed, "hex")]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const pub = spki.subarray(spki.length - 32);
  const id = keyId(name, pub);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(timestamp));
  const sig = sign(null, message(String(timestamp), body), privateKey);
  const blob = Buffer.concat([id, ts, sig]).toString("base64");
  const vkey = `${name}+${id.toString("hex")}+${Buffer.concat([Buffer.from([0x04]), pub]).toString("base64")}`;
  return { line: `${EM_DASH} ${name} ${blob}\n`, vkey };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  const out = {
    verify: (req.verify ?? []).map(verifyOne),
    cosign: (req.cosign ?? []).map(cosignOne),
  };
  process.stdout.write(JSON.stringify(out));
});
