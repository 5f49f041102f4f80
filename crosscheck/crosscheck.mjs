// Plain BBS interop with @digitalbazaar/bbs-signatures (BLS12-381-SHA-256).
// Reads one JSON request on stdin (hex everywhere), writes one JSON answer on stdout:
// its verdicts on our signature and proof (and on a tampered proof, as a control), and a
// signature and a proof of its own over the same messages, for our side to verify.
import * as bbs from '@digitalbazaar/bbs-signatures';
import {readFileSync} from 'node:fs';

const hex = s => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = b => Buffer.from(b).toString('hex');
const ciphersuite = 'BLS12-381-SHA-256';

const req = JSON.parse(readFileSync(0, 'utf8'));
const publicKey = hex(req.publicKey);
const header = hex(req.header);
const presentationHeader = hex(req.presentationHeader);
const messages = req.messages.map(hex);
const disclosedMessageIndexes = req.disclosed;
const disclosedMessages = disclosedMessageIndexes.map(i => messages[i]);

const ourSignatureValid = await bbs.verifySignature({
  publicKey, signature: hex(req.signature), header, messages, ciphersuite
});
const verify = proof => bbs.verifyProof({
  publicKey, proof, header, presentationHeader, disclosedMessages,
  disclosedMessageIndexes, ciphersuite
});
const ourProofValid = await verify(hex(req.proof));
const tampered = hex(req.proof);
tampered[tampered.length - 1] ^= 1;
const tamperedProofValid = await verify(tampered).catch(() => false);

// Its own signature and proof, under a key pair of its own.
const keys = await bbs.generateKeyPair({ciphersuite});
const signature = await bbs.sign({
  secretKey: keys.secretKey, publicKey: keys.publicKey, header, messages, ciphersuite
});
const proof = await bbs.deriveProof({
  publicKey: keys.publicKey, signature, header, messages, presentationHeader,
  disclosedMessageIndexes, ciphersuite
});

process.stdout.write(JSON.stringify({
  ourSignatureValid, ourProofValid, tamperedProofValid,
  publicKey: toHex(keys.publicKey), signature: toHex(signature), proof: toHex(proof)
}));
