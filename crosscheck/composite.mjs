// An independent verifier of undersigned's composite BBS presentation (issue 23), written from
// the design text (protocol.md: "Cryptographic suite", "Credential schema v1", "Several
// issuers", "Signature entries") and the CFRG drafts (bbs-signatures, bbs-blind-signatures,
// bbs-per-verifier-linkability), on @noble/curves (pinned in package-lock.json). It shares no
// code with the Rust side (zkryptium and our blst verifier); crates/undersigned-core/tests/it/
// composite_crosscheck.rs drives it and compares verdicts.
//
// Reads one JSON request on stdin:
//   {"cases": [{"name", "parts": [{"publicKey": hex96, "header": hex, "proof": hex,
//               "pseudonym": hex48}], "ph": hex, "contextId": hex, "messageCount": 5,
//               "disclosed": [[index, hexValue], ...], "shared": [4]}]}
// and writes {"verdicts": [true|false, ...]}, one per case, in order. A malformed case is
// `false`; nothing in a case can crash the run.
//
// What a case must satisfy to be `true` (t = number of parts, t >= 1):
// - parts in strictly ascending issuer-id order, issuer id = SHA-256(public key) (the design:
//   the challenge runs over the parts "in issuer-id order"; so no issuer appears twice);
// - every public key a canonical, non-identity G2 point in the subgroup;
// - every proof exactly 3 points + (4 + U) scalars long, U = messageCount - #disclosed + 2
//   (the hidden signer messages, the prover blind, the one nym secret); every point canonical,
//   in G1 and not the identity; every scalar canonical, non-zero and below r;
// - every pseudonym canonical, in G1, neither the identity nor the base point;
// - every part's challenge the same scalar c, and c = the challenge recomputed over all parts'
//   challenge arrays (each up to and including its domain) in part order, then ph and
//   context_id once, as the pseudonym draft appends them (so t = 1 is exactly a draft proof);
// - each part's Uv = OP * m^_nym - pseudonym * c not the identity;
// - each part's pairing equation e(Abar, W) * e(Bbar, -BP2) = 1;
// - for each shared index that is hidden, the response m^ byte-equal in every part.
import {bls12_381} from '@noble/curves/bls12-381.js';
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {pathToFileURL} from 'node:url';

const {G1, G2, fields} = bls12_381;
const {Fp12} = fields;
const r = fields.Fr.ORDER;

const enc = s => new TextEncoder().encode(s);
const cat = (...arrays) => {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
};
const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const cmp = (a, b) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
};
const i2osp = (n, len) => {
  let v = BigInt(n);
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new Error('i2osp overflow');
  return out;
};
const os2ip = b => b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
const unhex = s => {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new Error('bad hex');
  }
  return Uint8Array.from(Buffer.from(s, 'hex'));
};

// RFC 9380 expand_message_xmd with SHA-256 (b_in_bytes 32, s_in_bytes 64).
function expandMessageXmd(msg, dst, len) {
  if (dst.length > 255) dst = sha256(enc('H2C-OVERSIZE-DST-'), dst);
  const ell = Math.ceil(len / 32);
  if (ell > 255 || len > 65535) throw new Error('xmd length');
  const dstPrime = cat(dst, i2osp(dst.length, 1));
  const b0 = sha256(new Uint8Array(64), msg, i2osp(len, 2), i2osp(0, 1), dstPrime);
  const blocks = [sha256(b0, i2osp(1, 1), dstPrime)];
  for (let i = 2; i <= ell; i++) {
    const prev = blocks[blocks.length - 1];
    blocks.push(sha256(b0.map((x, j) => x ^ prev[j]), i2osp(i, 1), dstPrime));
  }
  return cat(...blocks).slice(0, len);
}

// The BBS draft's hash_to_scalar: 48 uniform bytes, reduced mod r.
const hashToScalar = (msg, dst) => os2ip(expandMessageXmd(msg, dst, 48)) % r;
const hashToCurveG1 = (msg, dst) => G1.hashToCurve(msg, {DST: dst});

// Ciphersuite BLS12-381-SHA-256.
const CIPHERSUITE_ID = 'BBS_BLS12381G1_XMD:SHA-256_SSWU_RO_';
const P1 = G1.Point.fromHex(
  'a8ce256102840821a3e94ea9025e4662b205762f9776b3a766c872b948f1fd225e7c59698588e70d11406d161b4e28c9'
);
// The pseudonym draft's interface: api_id = ciphersuite_id || "H2G_HM2S_PSEUDONYM_" (its
// section "BBS Pseudonym Interface" and its fixtures' generators). The draft's ProofGenWithNym
// and ProofVerifyWithNym "Parameters" blocks name other ids ("BLIND_H2G_HM2S_", "H2G_HM2S_"),
// left over from the blind draft; proofs made under those do not verify here.
const API_ID = enc(CIPHERSUITE_ID + 'H2G_HM2S_PSEUDONYM_');
const NYM_LENGTH = 1;
const G1_LEN = 48;
const SCALAR_LEN = 32;

// The BBS draft's create_generators(count, api_id).
function createGenerators(count, apiId) {
  const seedDst = cat(apiId, enc('SIG_GENERATOR_SEED_'));
  const genDst = cat(apiId, enc('SIG_GENERATOR_DST_'));
  let v = expandMessageXmd(cat(apiId, enc('MESSAGE_GENERATOR_SEED')), seedDst, 48);
  const out = [];
  for (let i = 1; i <= count; i++) {
    v = expandMessageXmd(cat(v, i2osp(i, 8)), seedDst, 48);
    out.push(hashToCurveG1(v, genDst));
  }
  return out;
}

const fixedPoints = new WeakSet();
const fixed = P => {
  P.precompute(8, false);
  fixedPoints.add(P);
  return P;
};
const generatorCache = new Map();
// (Q1, [H_1..H_L, blind generator of the prover blind, nym generator]) for L signer messages.
function generators(L) {
  if (!generatorCache.has(L)) {
    // Fixed points: precomputed windows make their multiplications several times faster.
    const [Q1, ...H] = createGenerators(L + 1, API_ID).map(fixed);
    const blind = createGenerators(1 + NYM_LENGTH, cat(enc('BLIND_'), API_ID)).map(fixed);
    generatorCache.set(L, {Q1, H: [...H, ...blind]});
  }
  return generatorCache.get(L);
}

const scalarBytes = s => i2osp(s, SCALAR_LEN);
const pointBytes = P => P.toBytes(true);

// octets_to_point_g1 with the drafts' checks: canonical compressed encoding, on the curve, in
// the subgroup, and not the identity.
// Decoding is deterministic, and a batch repeats the same points many times (the same parts
// in many cases): each distinct encoding is decoded and checked once.
const decoded = new Map();
const memo = (tag, check) => bytes => {
  const key = tag + Buffer.from(bytes).toString('hex');
  if (!decoded.has(key)) {
    try {
      decoded.set(key, {point: check(bytes)});
    } catch (e) {
      decoded.set(key, {error: e});
    }
  }
  const d = decoded.get(key);
  if (d.error) throw d.error;
  return d.point;
};

const g1 = memo('g1:', bytes => {
  if (bytes.length !== G1_LEN) throw new Error('g1 length');
  const P = G1.Point.fromBytes(bytes);
  if (P.is0()) throw new Error('g1 identity');
  P.assertValidity();
  if (!P.isTorsionFree()) throw new Error('g1 subgroup');
  if (!eq(pointBytes(P), bytes)) throw new Error('g1 not canonical');
  return P;
});

// octets_to_pubkey: a canonical G2 point in the subgroup, not the identity.
const publicKey = memo('g2:', bytes => {
  if (bytes.length !== 96) throw new Error('pk length');
  const W = G2.Point.fromBytes(bytes);
  if (W.is0()) throw new Error('pk identity');
  W.assertValidity();
  if (!W.isTorsionFree()) throw new Error('pk subgroup');
  if (!eq(W.toBytes(true), bytes)) throw new Error('pk not canonical');
  return W;
});

// A proof scalar: canonical (below r) and non-zero.
function scalar(bytes) {
  const s = os2ip(bytes);
  if (s === 0n || s >= r) throw new Error('bad scalar');
  return s;
}

function calculateDomain(pkBytes, Q1, H, header) {
  const domOcts = cat(i2osp(H.length, 8), pointBytes(Q1), ...H.map(pointBytes), API_ID);
  const input = cat(pkBytes, domOcts, i2osp(header.length, 8), header);
  return hashToScalar(input, cat(API_ID, enc('H2S_')));
}

// sum of points[k] * scalars[k], scalars in [0, r) (public values: variable time is fine).
const times = (P, s) =>
  fixedPoints.has(P) ? (s === 0n ? G1.Point.ZERO : P.multiply(s)) : P.multiplyUnsafe(s);
const msm = (points, scalars) =>
  points.reduce((acc, P, k) => acc.add(times(P, scalars[k])), G1.Point.ZERO);

// One part: deserialized and checked, its challenge-array prefix computed (everything of the
// pseudonym draft's c_arr up to and including the domain), the pairing checked.
function part(p, ctx) {
  const {L, disclosedIdx, disclosedScalars, contextId} = ctx;
  const pkBytes = unhex(p.publicKey);
  const W = publicKey(pkBytes);
  const header = unhex(p.header);
  const proof = unhex(p.proof);
  const pseudonym = g1(unhex(p.pseudonym));
  if (pseudonym.equals(G1.Point.BASE)) throw new Error('pseudonym is the base point');

  const total = L + 1 + NYM_LENGTH; // signer messages, prover blind, nym secret
  const undisclosed = [];
  for (let i = 0; i < total; i++) if (!disclosedIdx.includes(i)) undisclosed.push(i);
  const U = undisclosed.length;
  if (proof.length !== 3 * G1_LEN + (4 + U) * SCALAR_LEN) throw new Error('proof length');
  const pts = [0, 1, 2].map(k => g1(proof.subarray(k * G1_LEN, (k + 1) * G1_LEN)));
  const [Abar, Bbar, D] = pts;
  const sc = [];
  for (let off = 3 * G1_LEN; off < proof.length; off += SCALAR_LEN) {
    sc.push(scalar(proof.subarray(off, off + SCALAR_LEN)));
  }
  const [eHat, r1Hat, r3Hat] = sc;
  const mHats = sc.slice(3, 3 + U);
  const c = sc[3 + U];

  const {Q1, H} = generators(L);
  const combinedHeader = cat(header, i2osp(NYM_LENGTH, 8));
  const domain = calculateDomain(pkBytes, Q1, H, combinedHeader);

  // ProofVerifyInit (sums of products as multi-scalar multiplications)
  const T1 = msm([Bbar, Abar, D], [c, eHat, r1Hat]);
  const Bv = P1.add(msm([Q1, ...disclosedIdx.map(i => H[i])], [domain, ...disclosedScalars]));
  const T2 = msm([Bv, D, ...undisclosed.map(j => H[j])], [c, r3Hat, ...mHats]);

  // PseudonymProofVerifyInit with a nym vector of length 1: the polynomial is m^_nym.
  const OP = ctx.OP;
  const nymHat = mHats[U - 1];
  const Uv = msm([OP, pseudonym], [nymHat, r - c]);
  if (Uv.is0()) throw new Error('Uv identity');

  const prefix = cat(
    i2osp(disclosedIdx.length, 8),
    ...disclosedIdx.flatMap((i, k) => [i2osp(i, 8), scalarBytes(disclosedScalars[k])]),
    ...[Abar, Bbar, D, T1, T2, pseudonym, Uv].map(P => (P.is0() ? null : pointBytes(P))).map(b => {
      if (b === null) throw new Error('identity in challenge array');
      return b;
    }),
    scalarBytes(domain)
  );

  // e(Abar, W) * e(Bbar, -BP2) = 1, checked last (it is the expensive step).
  const pairingOk = () =>
    Fp12.eql(
      bls12_381.pairingBatch([
        {g1: Abar, g2: W},
        {g1: Bbar, g2: G2.Point.BASE.negate()},
      ]),
      Fp12.ONE
    );

  const hatOf = new Map(undisclosed.map((j, k) => [j, proof.subarray(3 * G1_LEN + (3 + k) * SCALAR_LEN, 3 * G1_LEN + (4 + k) * SCALAR_LEN)]));
  return {issuerId: sha256(pkBytes), c, prefix, pairingOk, hatOf};
}

function verifyCase(cs) {
  const L = cs.messageCount;
  if (!Number.isInteger(L) || L < 0 || L > 64) return false;
  if (!Array.isArray(cs.parts) || cs.parts.length < 1 || cs.parts.length > 16) return false;
  if (!Array.isArray(cs.disclosed) || !Array.isArray(cs.shared)) return false;
  const disclosedIdx = cs.disclosed.map(d => d[0]);
  for (let k = 0; k < disclosedIdx.length; k++) {
    const i = disclosedIdx[k];
    if (!Number.isInteger(i) || i < 0 || i >= L) return false;
    if (k > 0 && i <= disclosedIdx[k - 1]) return false;
  }
  for (const s of cs.shared) if (!Number.isInteger(s) || s < 0 || s >= L) return false;
  const mapDst = cat(API_ID, enc('MAP_MSG_TO_SCALAR_AS_HASH_'));
  const disclosedScalars = cs.disclosed.map(d => hashToScalar(unhex(d[1]), mapDst));
  const ph = unhex(cs.ph);
  const contextId = unhex(cs.contextId);
  const OP = hashToCurveG1(contextId, API_ID);
  const ctx = {L, disclosedIdx, disclosedScalars, contextId, OP};

  const parts = cs.parts.map(p => part(p, ctx));
  for (let k = 1; k < parts.length; k++) {
    if (cmp(parts[k - 1].issuerId, parts[k].issuerId) >= 0) return false;
  }
  const c = parts[0].c;
  if (!parts.every(p => p.c === c)) return false;
  const challenge = hashToScalar(
    cat(...parts.map(p => p.prefix), i2osp(ph.length, 8), ph, i2osp(contextId.length, 8), contextId),
    cat(API_ID, enc('H2S_'))
  );
  if (challenge !== c) return false;
  if (!parts.every(p => p.pairingOk())) return false;
  for (const s of cs.shared) {
    if (disclosedIdx.includes(s)) continue; // disclosed: one value for every part already
    const first = parts[0].hatOf.get(s);
    if (!parts.every(p => eq(p.hatOf.get(s), first))) return false;
  }
  return true;
}

function verdict(cs) {
  try {
    return verifyCase(cs) === true;
  } catch {
    return false;
  }
}

export {
  API_ID,
  NYM_LENGTH,
  P1,
  calculateDomain,
  cat,
  createGenerators,
  enc,
  expandMessageXmd,
  generators,
  g1,
  hashToCurveG1,
  hashToScalar,
  i2osp,
  os2ip,
  pointBytes,
  r,
  scalarBytes,
  sha256,
  unhex,
  verifyCase,
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let request;
  try {
    request = JSON.parse(readFileSync(0, 'utf8'));
  } catch {
    request = {cases: []};
  }
  const cases = Array.isArray(request?.cases) ? request.cases : [];
  const started = process.hrtime.bigint();
  const verdicts = cases.map(verdict);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({verdicts, ms}));
}
