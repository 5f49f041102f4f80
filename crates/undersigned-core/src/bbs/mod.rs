//! The only door to zkryptium: exact-length parsing in front of every call that could panic.
//!
//! zkryptium 0.8.0 slices untrusted input without checking lengths (`PoKSignature::from_bytes`,
//! `BBSplusPseudonym::from_bytes`) and accepts trailing bytes after a proof. Every byte string
//! from outside therefore becomes one of the fixed-size types below first, and only then reaches
//! zkryptium. Structural parameters (message count, nym vector length, header, disclosed
//! indexes) are arguments chosen by the caller from the schema, never read from a submission.

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;
use zkryptium::bbsplus::commitment::BlindFactor;
use zkryptium::bbsplus::keys::{BBSplusPublicKey, BBSplusSecretKey};
use zkryptium::bbsplus::pseudonym::{BBSplusPseudonym, PseudonymSecret};
use zkryptium::keys::pair::KeyPair;
use zkryptium::schemes::generics::{BlindSignature, Commitment, PoKSignature, Signature};

pub mod composite;
/// Our own verifier on blst, natively and in the browser's wasm alike.
pub mod fast;
pub mod octets;

/// The ciphersuite the design fixes: BLS12-381-SHA-256.
pub type Suite = zkryptium::schemes::algorithms::BbsBls12381Sha256;

// The octet lengths and the one error live in `octets`, the bottom of this folder, so that it
// imports nothing from here; their paths here stay.
pub use octets::{CryptoError, POINT_LEN, PUBLIC_KEY_LEN, SCALAR_LEN, SIGNATURE_LEN};
pub const PSEUDONYM_LEN: usize = POINT_LEN;
/// A commitment with proof to a nym vector of length 1 and no other committed messages:
/// one point, then s^, one m^ (the nym secret) and the challenge.
pub const COMMITMENT_LEN: usize = POINT_LEN + 3 * SCALAR_LEN;

/// The scalars of a commitment with proof: s^, one m^ (the nym secret) and the challenge.
pub const COMMITMENT_SCALARS: usize = 3;

/// The scalars of a proof that hides `undisclosed` of the signer's messages, plus the prover
/// blind and the nym secret: e^, r1^, r3^, one m^ per hidden scalar and the challenge.
pub const fn proof_scalars(undisclosed_messages: usize) -> usize {
    3 + undisclosed_messages + 2 + 1
}

/// Length of such a proof: three points, then its scalars.
pub const fn proof_len(undisclosed_messages: usize) -> usize {
    3 * POINT_LEN + proof_scalars(undisclosed_messages) * SCALAR_LEN
}

/// An issuer's BBS secret key. Zeroized on drop, never printed.
pub struct SecretKey(Zeroizing<[u8; SCALAR_LEN]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: &[u8; SCALAR_LEN]) -> Result<Self, CryptoError> {
        BBSplusSecretKey::from_bytes(bytes).map_err(|_| CryptoError)?;
        Ok(Self(Zeroizing::new(*bytes)))
    }
    pub fn to_bytes(&self) -> Zeroizing<[u8; SCALAR_LEN]> {
        self.0.clone()
    }
    fn inner(&self) -> Result<BBSplusSecretKey, CryptoError> {
        BBSplusSecretKey::from_bytes(&self.0[..]).map_err(|_| CryptoError)
    }
}

/// An issuer's BBS public key (a compressed G2 point), validated on construction.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; PUBLIC_KEY_LEN],
    inner: BBSplusPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

impl PublicKey {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bytes: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| CryptoError)?;
        octets::check_public_key(&bytes)?;
        let inner = BBSplusPublicKey::from_bytes(&bytes).map_err(|_| CryptoError)?;
        Ok(Self { bytes, inner })
    }
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.bytes
    }
}

/// Derives a fresh key pair from 64 bytes of the caller's RNG (draft KeyGen).
pub fn keygen(rng: &mut impl CryptoRngCore) -> Result<(SecretKey, PublicKey), CryptoError> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(&mut ikm[..]);
    let pair = KeyPair::<Suite>::generate(&ikm[..], None, None).map_err(|_| CryptoError)?;
    let sk = Zeroizing::new(pair.private_key().to_bytes());
    let pk = pair.public_key().to_bytes();
    Ok((SecretKey(sk), PublicKey::from_slice(&pk)?))
}

/// A scalar drawn uniformly from the caller's RNG by rejection (BLS12-381's r is just below 2^255).
pub fn random_scalar(rng: &mut impl CryptoRngCore) -> Zeroizing<[u8; SCALAR_LEN]> {
    let mut b = Zeroizing::new([0u8; SCALAR_LEN]);
    loop {
        rng.fill_bytes(&mut b[..]);
        if let Some(top) = b.first_mut() {
            *top &= 0x7f;
        }
        if PseudonymSecret::from_bytes(&b).is_ok() && b.iter().any(|&x| x != 0) {
            return b;
        }
    }
}

fn nym(bytes: &[u8; SCALAR_LEN]) -> Result<PseudonymSecret, CryptoError> {
    PseudonymSecret::from_bytes(bytes).map_err(|_| CryptoError)
}

fn blind_factor(bytes: &[u8; SCALAR_LEN]) -> Result<BlindFactor, CryptoError> {
    BlindFactor::from_bytes(bytes).map_err(|_| CryptoError)
}

/// Holder: commit to the prover nym secret. Returns the commitment with proof and the
/// secret prover blind (both needed again to finalize and to present).
pub fn commit(
    nym_secret: &[u8; SCALAR_LEN],
) -> Result<([u8; COMMITMENT_LEN], Zeroizing<[u8; SCALAR_LEN]>), CryptoError> {
    let (c, blind) = Commitment::<Suite>::commit_with_nym(None, vec![nym(nym_secret)?])
        .map_err(|_| CryptoError)?;
    let bytes: [u8; COMMITMENT_LEN] = c.to_bytes().try_into().map_err(|_| CryptoError)?;
    Ok((bytes, Zeroizing::new(blind.to_bytes())))
}

/// Issuer: blind-sign `messages` together with the holder's committed nym secret.
pub fn blind_sign(
    sk: &SecretKey,
    pk: &PublicKey,
    commitment: &[u8; COMMITMENT_LEN],
    header: &[u8],
    nym_entropy: &[u8; SCALAR_LEN],
    messages: &[Vec<u8>],
) -> Result<[u8; SIGNATURE_LEN], CryptoError> {
    // The commitment is the holder's: untrusted until it passes the blind draft's checks.
    octets::check_commitment(commitment, COMMITMENT_SCALARS)?;
    let sig = BlindSignature::<Suite>::blind_sign_with_nym(
        &sk.inner()?,
        &pk.inner,
        Some(&commitment[..]),
        1,
        Some(header),
        &nym(nym_entropy)?,
        Some(messages),
    )
    .map_err(|_| CryptoError)?;
    Ok(sig.to_bytes())
}

/// Holder: verify the blind signature and compute the final nym secret
/// (prover nym secret + signer nym entropy).
pub fn finalize(
    pk: &PublicKey,
    signature: &[u8; SIGNATURE_LEN],
    header: &[u8],
    messages: &[Vec<u8>],
    nym_secret: &[u8; SCALAR_LEN],
    nym_entropy: &[u8; SCALAR_LEN],
    prover_blind: &[u8; SCALAR_LEN],
) -> Result<Zeroizing<[u8; SCALAR_LEN]>, CryptoError> {
    // What the issuer returned is checked as strictly as what a verifier receives.
    octets::check_signature(signature)?;
    let sig = BlindSignature::<Suite>::from_bytes(signature).map_err(|_| CryptoError)?;
    let secrets = sig
        .verify_finalize_with_nym(
            &pk.inner,
            Some(header),
            Some(messages),
            None,
            vec![nym(nym_secret)?],
            Some(&nym(nym_entropy)?),
            Some(&blind_factor(prover_blind)?),
        )
        .map_err(|_| CryptoError)?;
    match secrets.as_slice() {
        [one] => Ok(Zeroizing::new(one.to_bytes())),
        _ => Err(CryptoError),
    }
}

/// What a presentation hands to the verifier: an exact-length proof and pseudonym.
#[derive(Debug)]
pub struct Presentation {
    pub proof: Vec<u8>,
    pub pseudonym: [u8; PSEUDONYM_LEN],
}

/// The secrets a holder keeps; borrowed for presenting.
pub struct HolderSecrets<'a> {
    pub signature: &'a [u8; SIGNATURE_LEN],
    pub nym_secret: &'a [u8; SCALAR_LEN],
    pub prover_blind: &'a [u8; SCALAR_LEN],
}

impl std::fmt::Debug for HolderSecrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HolderSecrets(<redacted>)")
    }
}

/// Holder: prove knowledge of the signature, disclosing `disclosed` (ascending indexes), and
/// derive the pseudonym for `context_id`.
pub fn present(
    pk: &PublicKey,
    secrets: &HolderSecrets<'_>,
    header: &[u8],
    ph: &[u8],
    context_id: &[u8],
    messages: &[Vec<u8>],
    disclosed: &[usize],
) -> Result<Presentation, CryptoError> {
    let (proof, pseudonym) = PoKSignature::<Suite>::proof_gen_with_nym(
        &pk.inner,
        &secrets.signature[..],
        Some(header),
        Some(ph),
        &vec![nym(secrets.nym_secret)?],
        context_id,
        Some(messages),
        None,
        Some(disclosed),
        None,
        Some(&blind_factor(secrets.prover_blind)?),
    )
    .map_err(|_| CryptoError)?;
    let pseudonym: [u8; PSEUDONYM_LEN] =
        pseudonym.to_bytes().try_into().map_err(|_| CryptoError)?;
    Ok(Presentation {
        proof: proof.to_bytes(),
        pseudonym,
    })
}

/// Verifier: check a presentation. `message_count` and `disclosed` come from the schema and the
/// letter; the proof must have exactly the length they imply or it never reaches zkryptium.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    pk: &PublicKey,
    header: &[u8],
    ph: &[u8],
    context_id: &[u8],
    message_count: usize,
    disclosed: &[(usize, Vec<u8>)],
    proof: &[u8],
    pseudonym: &[u8],
) -> Result<(), CryptoError> {
    let hidden = message_count
        .checked_sub(disclosed.len())
        .ok_or(CryptoError)?;
    let ascending = disclosed
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.0 < b.0));
    let in_range = disclosed.iter().all(|(i, _)| *i < message_count);
    if proof.len() != proof_len(hidden) || !ascending || !in_range {
        return Err(CryptoError);
    }
    let pseudonym: &[u8; PSEUDONYM_LEN] = pseudonym.try_into().map_err(|_| CryptoError)?;
    // The drafts' validity checks, ours: zkryptium's verify is not the specification.
    octets::check_pseudonym(pseudonym)?;
    octets::check_proof(proof, proof_scalars(hidden))?;
    let nym = BBSplusPseudonym::from_bytes(pseudonym).map_err(|_| CryptoError)?;
    let proof = PoKSignature::<Suite>::from_bytes(proof).map_err(|_| CryptoError)?;
    let indexes: Vec<usize> = disclosed.iter().map(|(i, _)| *i).collect();
    let values: Vec<Vec<u8>> = disclosed.iter().map(|(_, v)| v.clone()).collect();
    proof
        .proof_verify_with_nym(
            &pk.inner,
            Some(header),
            Some(ph),
            &nym,
            context_id,
            1,
            Some(message_count),
            Some(&values),
            None,
            Some(&indexes),
            None,
        )
        .map_err(|_| CryptoError)
}

/// Plain BBS Sign (no blinding, no pseudonym): how an issuer signs what it publishes.
pub fn sign(
    sk: &SecretKey,
    pk: &PublicKey,
    header: &[u8],
    messages: &[Vec<u8>],
) -> Result<[u8; SIGNATURE_LEN], CryptoError> {
    let sig = Signature::<Suite>::sign(Some(messages), &sk.inner()?, &pk.inner, Some(header))
        .map_err(|_| CryptoError)?;
    Ok(sig.to_bytes())
}

/// Plain BBS Verify, after `octets_to_signature`'s checks.
pub fn verify_signature(
    pk: &PublicKey,
    header: &[u8],
    messages: &[Vec<u8>],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let signature: &[u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| CryptoError)?;
    octets::check_signature(signature)?;
    let sig = Signature::<Suite>::from_bytes(signature).map_err(|_| CryptoError)?;
    sig.verify(&pk.inner, Some(messages), Some(header))
        .map_err(|_| CryptoError)
}

/// Scalars of a plain BBS proof hiding `undisclosed` messages: e^, r1^, r3^, one m^ each, c.
pub const fn plain_proof_scalars(undisclosed: usize) -> usize {
    3 + undisclosed + 1
}

/// Plain BBS ProofGen (no pseudonym, core draft): proves knowledge of `signature` on
/// `messages`, disclosing `disclosed` (ascending indexes). Used to cross-check other
/// implementations; the signature is checked with `octets_to_signature` first.
pub fn prove(
    pk: &PublicKey,
    signature: &[u8],
    header: &[u8],
    ph: &[u8],
    messages: &[Vec<u8>],
    disclosed: &[usize],
) -> Result<Vec<u8>, CryptoError> {
    let signature: &[u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| CryptoError)?;
    octets::check_signature(signature)?;
    let ascending = disclosed.windows(2).all(|w| matches!(w, [a, b] if a < b));
    if !ascending || disclosed.iter().any(|i| *i >= messages.len()) {
        return Err(CryptoError);
    }
    let proof = PoKSignature::<Suite>::proof_gen(
        &pk.inner,
        &signature[..],
        Some(header),
        Some(ph),
        Some(messages),
        Some(disclosed),
    )
    .map_err(|_| CryptoError)?;
    Ok(proof.to_bytes())
}

/// Plain BBS ProofVerify (core draft), after `octets_to_proof`'s checks. `message_count` is the
/// verifier's, so the proof must have exactly the length it implies.
pub fn verify_proof(
    pk: &PublicKey,
    header: &[u8],
    ph: &[u8],
    message_count: usize,
    disclosed: &[(usize, Vec<u8>)],
    proof: &[u8],
) -> Result<(), CryptoError> {
    let hidden = message_count
        .checked_sub(disclosed.len())
        .ok_or(CryptoError)?;
    let ascending = disclosed
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.0 < b.0));
    let in_range = disclosed.iter().all(|(i, _)| *i < message_count);
    if !ascending || !in_range {
        return Err(CryptoError);
    }
    octets::check_proof(proof, plain_proof_scalars(hidden))?;
    let proof = PoKSignature::<Suite>::from_bytes(proof).map_err(|_| CryptoError)?;
    let indexes: Vec<usize> = disclosed.iter().map(|(i, _)| *i).collect();
    let values: Vec<Vec<u8>> = disclosed.iter().map(|(_, v)| v.clone()).collect();
    proof
        .proof_verify(
            &pk.inner,
            Some(&values),
            Some(&indexes),
            Some(header),
            Some(ph),
        )
        .map_err(|_| CryptoError)
}
