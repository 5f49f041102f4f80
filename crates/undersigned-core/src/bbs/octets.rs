//! The drafts' deserialization with every validity check, applied before any library sees the bytes.
//!
//! zkryptium 0.8.0 decodes points and scalars but skips the checks that the BBS drafts put in
//! `octets_to_proof`, `octets_to_signature` and `octets_to_pubkey`: with `Abar` and `Bbar` the
//! identity, its pairing check holds for anyone and a proof can be simulated without a
//! credential. So this module decides validity itself, from the drafts' text:
//!
//! - a point is a canonical compressed encoding of a point on the curve, in the prime-order
//!   subgroup, and not the identity (every point these formats carry is forbidden to be it);
//! - a scalar is a canonical big-endian integer below r, and not zero where the drafts say so.
//!
//! Checked against the drafts' text (fetched 2026): draft-irtf-cfrg-bbs-signatures (repository
//! decentralized-identity/bbs-signature at a6a445dd, "Octets to Signature", "Octets to Proof",
//! "Octets to Public Key"), draft-irtf-cfrg-bbs-blind-signatures (cfrg, cf6ad940, "Octets to
//! Commitment with Proof") and draft-irtf-cfrg-bbs-per-verifier-linkability (cfrg
//! draft-irtf-cfrg-bbs-pseudonyms, fcbba956, "Pseudonyms", "Core Proof Verification"). Every
//! scalar these formats carry must be in 1..r-1: none may be zero.
//!
//! The curve arithmetic is `bls12_381_plus`, the curve crate zkryptium itself is built on,
//! pinned to the same version; nothing here is a primitive of our own.

use bls12_381_plus::elliptic_curve::Field;
use bls12_381_plus::{G1Affine, G2Affine, Scalar};

pub const PUBLIC_KEY_LEN: usize = 96;
pub const SIGNATURE_LEN: usize = 80;
pub const SCALAR_LEN: usize = 32;
pub const POINT_LEN: usize = 48;

/// A failed cryptographic check. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoError;

/// A G1 point that passed `octets_to_point_g1` and is not the identity.
pub fn g1_point(bytes: &[u8]) -> Result<G1Affine, CryptoError> {
    let bytes: &[u8; POINT_LEN] = bytes.try_into().map_err(|_| CryptoError)?;
    // from_compressed refuses a missing compression flag, a non-canonical x (>= p), a point
    // off the curve and a point outside the prime-order subgroup; the identity it accepts.
    let point = Option::<G1Affine>::from(G1Affine::from_compressed(bytes)).ok_or(CryptoError)?;
    if bool::from(point.is_identity()) {
        return Err(CryptoError);
    }
    Ok(point)
}

/// A G2 point that passed `octets_to_point_g2` and is not the identity (`octets_to_pubkey`).
pub fn g2_point(bytes: &[u8]) -> Result<G2Affine, CryptoError> {
    let bytes: &[u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| CryptoError)?;
    let point = Option::<G2Affine>::from(G2Affine::from_compressed(bytes)).ok_or(CryptoError)?;
    if bool::from(point.is_identity()) {
        return Err(CryptoError);
    }
    Ok(point)
}

/// A scalar that is canonical (below r) and not zero. Core draft "Octets to Signature" step
/// 11 (`if e = 0 or e >= r`), "Octets to Proof" step 14 (`if s_j = 0 or if s_j >= r`) and the
/// blind draft's "Octets to Commitment with Proof" step 12 all refuse zero.
pub fn nonzero_scalar(bytes: &[u8]) -> Result<Scalar, CryptoError> {
    let bytes: &[u8; SCALAR_LEN] = bytes.try_into().map_err(|_| CryptoError)?;
    let s = Option::<Scalar>::from(Scalar::from_be_bytes(bytes)).ok_or(CryptoError)?;
    if bool::from(s.is_zero()) {
        return Err(CryptoError);
    }
    Ok(s)
}

/// `octets_to_pubkey` (core draft "Octets to Public Key", steps 1-4): a valid G2 point in the
/// subgroup and not `Identity_G2`.
pub fn check_public_key(bytes: &[u8]) -> Result<(), CryptoError> {
    g2_point(bytes).map(|_| ())
}

/// `octets_to_signature` (core draft "Octets to Signature", steps 1-11): exactly 80 bytes, A a
/// valid G1 point in the subgroup and not `Identity_G1`, e in 1..r-1. A blind signature has the
/// same encoding (the blind draft returns it through `signature_to_octets`).
pub fn check_signature(bytes: &[u8]) -> Result<(), CryptoError> {
    if bytes.len() != SIGNATURE_LEN {
        return Err(CryptoError);
    }
    let (a, e) = bytes.split_at(POINT_LEN);
    g1_point(a)?;
    nonzero_scalar(e)?;
    Ok(())
}

/// A pseudonym (pseudonym draft, "Pseudonyms"): decoded with `octets_to_point_g1`, and "a point
/// of the G1 group different from the Identity (`Identity_G1`) or the base point (`BP1`)".
/// The identity would be the pseudonym of every nym secret at once.
pub fn check_pseudonym(bytes: &[u8]) -> Result<(), CryptoError> {
    let point = g1_point(bytes)?;
    if point == G1Affine::generator() {
        return Err(CryptoError);
    }
    Ok(())
}

/// `octets_to_proof` (core draft "Octets to Proof", steps 1-17) for a proof of `scalars`
/// scalars: three valid G1 points in the subgroup, none `Identity_G1` (Abar, Bbar, D), then
/// `scalars` scalars in 1..r-1, and nothing after them. The pseudonym draft's
/// `CoreProofVerifyWithNym` decodes its proof with this same `octets_to_proof`.
pub fn check_proof(bytes: &[u8], scalars: usize) -> Result<(), CryptoError> {
    let expected = scalars
        .checked_mul(SCALAR_LEN)
        .and_then(|n| n.checked_add(3 * POINT_LEN))
        .ok_or(CryptoError)?;
    if bytes.len() != expected {
        return Err(CryptoError);
    }
    let (points, rest) = bytes.split_at(3 * POINT_LEN);
    for p in points.chunks_exact(POINT_LEN) {
        g1_point(p)?;
    }
    for s in rest.chunks_exact(SCALAR_LEN) {
        nonzero_scalar(s)?;
    }
    Ok(())
}

/// A commitment with proof (blind draft "Octets to Commitment with Proof", steps 1-16, called by
/// `deserialize_and_validate_commit`): one valid G1 point that is not `Identity_G1`, then
/// `scalars` scalars in 1..r-1 (at least two), and nothing after them.
pub fn check_commitment(bytes: &[u8], scalars: usize) -> Result<(), CryptoError> {
    // Step 16: s^ and the challenge at least.
    if scalars < 2 {
        return Err(CryptoError);
    }
    let expected = scalars
        .checked_mul(SCALAR_LEN)
        .and_then(|n| n.checked_add(POINT_LEN))
        .ok_or(CryptoError)?;
    if bytes.len() != expected {
        return Err(CryptoError);
    }
    let (point, rest) = bytes.split_at(POINT_LEN);
    g1_point(point)?;
    for s in rest.chunks_exact(SCALAR_LEN) {
        nonzero_scalar(s)?;
    }
    Ok(())
}
