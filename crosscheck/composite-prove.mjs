// A composite prover written from the same texts as composite.mjs (the design's "Several
// issuers" and the drafts' ProofInit / ProofFinalize / PseudonymProofInit), so that
// presentations made without our Rust code can be checked by our verifiers. Test tooling only.
//
// Reads {"parts": [{"publicKey": hex96, "header": hex, "messages": [hex, ...],
//                   "signature": hex80, "nymSecret": hex32, "proverBlind": hex32}],
//        "ph": hex, "contextId": hex, "disclosed": [index, ...], "shared": [index, ...]}
// and writes {"parts": [{"proof": hex, "pseudonym": hex48}]}: one challenge over all parts'
// challenge arrays in the given order, one blinding for each shared hidden message.
import {bls12_381} from '@noble/curves/bls12-381.js';
import {randomBytes} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {
  API_ID,
  NYM_LENGTH,
  P1,
  calculateDomain,
  cat,
  enc,
  g1,
  generators,
  hashToCurveG1,
  hashToScalar,
  i2osp,
  os2ip,
  pointBytes,
  r,
  scalarBytes,
  unhex,
} from './composite.mjs';

const {G1, fields} = bls12_381;
const Fr = fields.Fr;
const random = () => {
  for (;;) {
    const s = os2ip(randomBytes(48)) % r;
    if (s !== 0n) return s;
  }
};
const sum = pairs => pairs.reduce((acc, [P, s]) => acc.add(P.multiplyUnsafe(s)), G1.Point.ZERO);

const req = JSON.parse(readFileSync(0, 'utf8'));
const ph = unhex(req.ph);
const contextId = unhex(req.contextId);
const disclosed = req.disclosed;
const OP = hashToCurveG1(contextId, API_ID);
const mapDst = cat(API_ID, enc('MAP_MSG_TO_SCALAR_AS_HASH_'));
const sharedTilde = new Map(req.shared.map(i => [i, random()]));

const inits = req.parts.map(p => {
  const pkBytes = unhex(p.publicKey);
  const header = unhex(p.header);
  const L = p.messages.length;
  const sig = unhex(p.signature);
  const A = g1(sig.subarray(0, 48));
  const e = os2ip(sig.subarray(48, 80));
  const nym = os2ip(unhex(p.nymSecret));
  const blind = os2ip(unhex(p.proverBlind));
  const scalars = [...p.messages.map(m => hashToScalar(unhex(m), mapDst)), blind, nym];
  const {Q1, H} = generators(L);
  const domain = calculateDomain(pkBytes, Q1, H, cat(header, i2osp(NYM_LENGTH, 8)));
  const undisclosed = scalars.map((_, i) => i).filter(i => !disclosed.includes(i));
  const [r1, r2, eT, r1T, r3T] = [random(), random(), random(), random(), random()];
  const mT = undisclosed.map(j => sharedTilde.get(j) ?? random());
  const B = P1.add(sum([[Q1, domain], ...scalars.map((m, i) => [H[i], m])]));
  const D = B.multiply(r2);
  const Abar = A.multiply(Fr.mul(r1, r2));
  const Bbar = D.multiply(r1).subtract(Abar.multiply(e));
  const T1 = Abar.multiply(eT).add(D.multiply(r1T));
  const T2 = D.multiply(r3T).add(sum(undisclosed.map((j, k) => [H[j], mT[k]])));
  const pseudonym = OP.multiply(nym);
  const Ut = OP.multiply(mT[mT.length - 1]);
  const prefix = cat(
    i2osp(disclosed.length, 8),
    ...disclosed.flatMap(i => [i2osp(i, 8), scalarBytes(scalars[i])]),
    ...[Abar, Bbar, D, T1, T2, pseudonym, Ut].map(pointBytes),
    scalarBytes(domain)
  );
  return {e, r1, r2, eT, r1T, r3T, mT, undisclosed, scalars, Abar, Bbar, D, pseudonym, prefix};
});

const c = hashToScalar(
  cat(...inits.map(i => i.prefix), i2osp(ph.length, 8), ph, i2osp(contextId.length, 8), contextId),
  cat(API_ID, enc('H2S_'))
);
const parts = inits.map(x => {
  const eHat = Fr.add(x.eT, Fr.mul(x.e, c));
  const r1Hat = Fr.sub(x.r1T, Fr.mul(x.r1, c));
  const r3Hat = Fr.sub(x.r3T, Fr.mul(Fr.inv(x.r2), c));
  const mHats = x.undisclosed.map((j, k) => Fr.add(x.mT[k], Fr.mul(x.scalars[j], c)));
  const proof = cat(
    ...[x.Abar, x.Bbar, x.D].map(pointBytes),
    ...[eHat, r1Hat, r3Hat, ...mHats, c].map(scalarBytes)
  );
  return {proof: Buffer.from(proof).toString('hex'), pseudonym: Buffer.from(pointBytes(x.pseudonym)).toString('hex')};
});
process.stdout.write(JSON.stringify({parts}));
