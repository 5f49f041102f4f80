//! An attacker's forger (issue 9, finding 1), kept so tests can prove our checks refuse it.
//!
//! zkryptium 0.8.0's `proof_verify_with_nym` skips `octets_to_proof`'s identity checks. With
//! `Abar = Bbar = identity` its pairing check `e(Abar, W) * e(Bbar, -BP2) = 1` holds for any
//! key, and what remains are two Schnorr-style relations (T2 and the pseudonym's Uv) about
//! values the attacker picks itself. This module builds such a proof exactly as an attacker
//! would, from nothing but the issuer's public key and the public statement, for any disclosed
//! messages and any nym secret. It is compiled only with the non-default `forge` feature,
//! which only tests enable.
//!
//! The equations follow zkryptium 0.8.0 `src/bbsplus/pseudonym.rs`
//! (`proof_verify_with_nym`, `core_proof_verify_with_nym`, `pseudonym_proof_verify_init`,
//! `proof_with_nym_challenge_calculate`), `src/bbsplus/proof.rs` (`proof_verify_init`) and
//! `src/utils/util.rs` (`calculate_domain`, which is crate-private and so restated here).
//! Curve arithmetic is bls12_381_plus; hashing is zkryptium's own `hash_to_scalar`,
//! `Generators::create` (through `prepare_parameters`) and hash-to-curve.

use bls12_381_plus::elliptic_curve::Field;
use bls12_381_plus::{G1Affine, G1Projective, G2Affine, Scalar};
use rand_core::CryptoRngCore;
use zkryptium::bbsplus::blind::prepare_parameters;
use zkryptium::bbsplus::ciphersuites::{BbsCiphersuite, Bls12381Sha256};
use zkryptium::utils::util::bbsplus_utils::{hash_to_scalar, i2osp};

use crate::bbs::{
    CryptoError, PublicKey, COMMITMENT_LEN, POINT_LEN, PSEUDONYM_LEN, PUBLIC_KEY_LEN, SCALAR_LEN,
    SIGNATURE_LEN,
};
use crate::credential::{self, MESSAGE_COUNT};
use crate::entry::{presentation_header, Action, Disclosed, Part, SignatureEntry};
use crate::ids::{IssuerId, LetterId};

type Cs = Bls12381Sha256;

/// The order r of BLS12-381's prime-order subgroups, big-endian: a scalar encoded as this is
/// the smallest non-canonical one.
pub const R_BYTES: [u8; SCALAR_LEN] = [
    0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48, 0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
    0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
];

/// The base field modulus p, big-endian, for encodings of x + p.
const P_BYTES: [u8; POINT_LEN] = [
    0x1a, 0x01, 0x11, 0xea, 0x39, 0x7f, 0xe6, 0x9a, 0x4b, 0x1b, 0xa7, 0xb6, 0x43, 0x4b, 0xac, 0xd7,
    0x64, 0x77, 0x4b, 0x84, 0xf3, 0x85, 0x12, 0xbf, 0x67, 0x30, 0xd2, 0xa0, 0xf6, 0xb0, 0xf6, 0x24,
    0x1e, 0xab, 0xff, 0xfe, 0xb1, 0x53, 0xff, 0xff, 0xb9, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xaa, 0xab,
];

/// The three flag bits of a compressed point (compression, infinity, sign).
const FLAGS: u8 = 0xe0;
const COMPRESSED: u8 = 0x80;
const INFINITY: u8 = 0x40;

/// What the verifier checks a presentation against: all public.
#[derive(Debug, Clone, Copy)]
pub struct Statement<'a> {
    pub public_key: &'a PublicKey,
    pub header: &'a [u8],
    pub ph: &'a [u8],
    pub context_id: &'a [u8],
    pub message_count: usize,
    /// (index, value), ascending, as `bbs::verify` takes them.
    pub disclosed: &'a [(usize, Vec<u8>)],
}

/// A forged presentation: the bytes a verifier would receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgery {
    pub proof: Vec<u8>,
    pub pseudonym: [u8; PSEUDONYM_LEN],
}

fn compressed(p: &G1Projective) -> [u8; POINT_LEN] {
    G1Affine::from(p).to_compressed()
}

/// x + p fits in 381 bits only when x < 2^381 - p, about a quarter of all points.
fn x_plus_p(point: &[u8; POINT_LEN]) -> Option<[u8; POINT_LEN]> {
    let flags = point.first().copied().unwrap_or(0) & FLAGS;
    let mut out = *point;
    if let Some(top) = out.first_mut() {
        *top &= !FLAGS;
    }
    let mut carry = 0u16;
    for (o, p) in out.iter_mut().zip(P_BYTES.iter()).rev() {
        let sum = u16::from(*o) + u16::from(*p) + carry;
        *o = sum.to_le_bytes().first().copied().unwrap_or(0);
        carry = sum >> 8;
    }
    let top = out.first_mut()?;
    if carry != 0 || *top & FLAGS != 0 {
        return None;
    }
    *top |= flags;
    Some(out)
}

/// The first x (counting up) whose compressed encoding is a curve point outside the
/// prime-order subgroup, and the first that is on no curve point at all.
fn off_subgroup_and_off_curve() -> ([u8; POINT_LEN], [u8; POINT_LEN]) {
    let (mut off_subgroup, mut off_curve) = (None, None);
    for x in 1u8..=255 {
        let mut bytes = [0u8; POINT_LEN];
        if let Some(last) = bytes.last_mut() {
            *last = x;
        }
        if let Some(top) = bytes.first_mut() {
            *top = COMPRESSED;
        }
        match Option::<G1Affine>::from(G1Affine::from_compressed_unchecked(&bytes)) {
            Some(p) if !bool::from(p.is_torsion_free()) => {
                off_subgroup.get_or_insert(bytes);
            }
            Some(_) => {}
            None => {
                off_curve.get_or_insert(bytes);
            }
        }
        if let (Some(a), Some(b)) = (off_subgroup, off_curve) {
            return (a, b);
        }
    }
    // Unreachable for BLS12-381 (half of all x are on the curve, almost none in the subgroup);
    // fall back to values that are invalid anyway.
    (
        off_subgroup.unwrap_or([0xff; POINT_LEN]),
        off_curve.unwrap_or([0xff; POINT_LEN]),
    )
}

/// Builds the finding-1 forgery for `st`, for a nym secret of the attacker's choosing.
///
/// With `Abar = Bbar = identity`, zkryptium's T1 is `D * r1^` and its T2 is
/// `Bv * c + D * r3^ + sum(H_j * m^_j)` over the hidden indexes. The attacker picks hidden
/// values x_j (the last is the nym secret s), sets `B = Bv + sum(H_j * x_j)`, `D = B * r2`,
/// and answers like an honest prover: `r3^ = t3 - c / r2`, `m^_j = t_j + c * x_j`, so that T2
/// equals the committed `D * t3 + sum(H_j * t_j)` and Uv equals `OP * t_s`.
pub fn forge(st: &Statement<'_>, rng: &mut impl CryptoRngCore) -> Result<Forgery, CryptoError> {
    let api_id = <Cs as BbsCiphersuite>::API_ID_NYM;
    let l = st.message_count;
    let r = st.disclosed.len();
    // Two committed messages follow the signer's: the prover blind, then the nym secret.
    let total = l.checked_add(2).ok_or(CryptoError)?;
    let values: Vec<Vec<u8>> = st.disclosed.iter().map(|(_, v)| v.clone()).collect();
    let disclosed_idx: Vec<usize> = st.disclosed.iter().map(|(i, _)| *i).collect();
    let (scalars, generators) =
        prepare_parameters::<Cs>(Some(&values), None, l + 1, 2, None, Some(api_id))
            .map_err(|_| CryptoError)?;
    let gen = |i: usize| generators.values.get(i + 1).copied().ok_or(CryptoError);
    let q1 = generators.values.first().copied().ok_or(CryptoError)?;

    // calculate_domain over the combined header (header || I2OSP(length_nym_vector, 8)).
    let combined_header = [st.header, &i2osp::<8>(1)[..]].concat();
    let mut dom = st.public_key.to_bytes().to_vec();
    dom.extend_from_slice(&i2osp::<8>(generators.values.len().saturating_sub(1)));
    for g in &generators.values {
        dom.extend_from_slice(&compressed(g));
    }
    dom.extend_from_slice(api_id);
    dom.extend_from_slice(&i2osp::<8>(combined_header.len()));
    dom.extend_from_slice(&combined_header);
    let h2s_dst = [api_id, <Cs as BbsCiphersuite>::H2S].concat();
    let domain = hash_to_scalar::<Cs>(&dom, &h2s_dst).map_err(|_| CryptoError)?;

    let mut bv = generators.g1_base_point + q1 * domain;
    for (i, m) in disclosed_idx.iter().zip(&scalars) {
        bv += gen(*i)? * m.value;
    }
    let hidden: Vec<usize> = (0..total).filter(|i| !disclosed_idx.contains(i)).collect();
    if hidden.len() != total.saturating_sub(r) || hidden.last() != Some(&(l + 1)) {
        return Err(CryptoError);
    }
    let xs: Vec<Scalar> = hidden.iter().map(|_| Scalar::random(&mut *rng)).collect();
    let ts: Vec<Scalar> = hidden.iter().map(|_| Scalar::random(&mut *rng)).collect();
    let mut b = bv;
    for (j, x) in hidden.iter().zip(&xs) {
        b += gen(*j)? * x;
    }
    // D is random in the group; the forger redraws it until x + p also encodes it, so the
    // non-canonical variant of D always exists (a cosmetic choice: any D works).
    let (d, r3) = loop {
        let r2 = Scalar::random(&mut *rng);
        let Some(r3) = Option::<Scalar>::from(r2.invert()) else {
            continue;
        };
        let d = b * r2;
        if x_plus_p(&compressed(&d)).is_some() {
            break (d, r3);
        }
    };
    let e_hat = Scalar::random(&mut *rng);
    let r1_hat = Scalar::random(&mut *rng);
    let t3 = Scalar::random(&mut *rng);
    let identity = G1Projective::IDENTITY;
    let t1 = d * r1_hat;
    let mut t2 = d * t3;
    for (j, t) in hidden.iter().zip(&ts) {
        t2 += gen(*j)? * t;
    }
    let op = G1Projective::hash::<<Cs as BbsCiphersuite>::Expander>(st.context_id, api_id);
    let s = xs.last().copied().ok_or(CryptoError)?;
    let t_s = ts.last().copied().ok_or(CryptoError)?;
    let pseudonym = op * s;
    let uv = op * t_s;

    let mut c_arr = i2osp::<8>(r).to_vec();
    for (i, m) in disclosed_idx.iter().zip(&scalars) {
        c_arr.extend_from_slice(&i2osp::<8>(*i));
        c_arr.extend_from_slice(&m.value.to_be_bytes());
    }
    for p in [identity, identity, d, t1, t2, pseudonym, uv] {
        c_arr.extend_from_slice(&compressed(&p));
    }
    c_arr.extend_from_slice(&domain.to_be_bytes());
    c_arr.extend_from_slice(&i2osp::<8>(st.ph.len()));
    c_arr.extend_from_slice(st.ph);
    c_arr.extend_from_slice(&i2osp::<8>(st.context_id.len()));
    c_arr.extend_from_slice(st.context_id);
    let c = hash_to_scalar::<Cs>(&c_arr, &h2s_dst).map_err(|_| CryptoError)?;

    let r3_hat = t3 - c * r3;
    let mut proof = Vec::new();
    for p in [identity, identity, d] {
        proof.extend_from_slice(&compressed(&p));
    }
    for s in [e_hat, r1_hat, r3_hat] {
        proof.extend_from_slice(&s.to_be_bytes());
    }
    for (t, x) in ts.iter().zip(&xs) {
        proof.extend_from_slice(&(t + c * x).to_be_bytes());
    }
    proof.extend_from_slice(&c.to_be_bytes());
    Ok(Forgery {
        proof,
        pseudonym: compressed(&pseudonym),
    })
}

fn replace(bytes: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if let Some(dst) = out.get_mut(at..at + with.len()) {
        dst.copy_from_slice(with);
    }
    out
}

/// Every way of spoiling one G1 point that the drafts' `octets_to_point_E1` plus the identity
/// check must refuse. `point` is a valid non-identity encoding.
pub fn bad_g1_points(point: &[u8; POINT_LEN]) -> Vec<(String, [u8; POINT_LEN])> {
    let identity = G1Affine::identity().to_compressed();
    let mut out = vec![("identity".to_owned(), identity)];
    if let Some(p) = x_plus_p(point) {
        out.push(("x + p".to_owned(), p));
    }
    let mut flag = |name: &str, f: fn(u8) -> u8| {
        let mut p = *point;
        if let Some(top) = p.first_mut() {
            *top = f(*top);
        }
        out.push((name.to_owned(), p));
    };
    flag("compression flag cleared", |b| b & !COMPRESSED);
    flag("infinity flag set", |b| b | INFINITY);
    let mut signed_identity = identity;
    if let Some(top) = signed_identity.first_mut() {
        *top |= FLAGS;
    }
    out.push(("identity with sign flag".to_owned(), signed_identity));
    let (off_subgroup, off_curve) = off_subgroup_and_off_curve();
    out.push(("outside the subgroup".to_owned(), off_subgroup));
    out.push(("not on the curve".to_owned(), off_curve));
    out
}

/// Every way of spoiling the scalar at `at`: zero, r, and all ones.
fn bad_scalars(bytes: &[u8], at: usize, name: &str) -> Vec<(String, Vec<u8>)> {
    [
        ("0", [0u8; SCALAR_LEN]),
        ("r", R_BYTES),
        ("2^256 - 1", [0xff; SCALAR_LEN]),
    ]
    .into_iter()
    .map(|(v, s)| (format!("{name} = {v}"), replace(bytes, at, &s)))
    .collect()
}

/// The finding-1 variants: D replaced by the identity and by each other bad encoding, Abar
/// with a non-canonical identity, each scalar set to 0 and to r, the pseudonym spoiled, and
/// the lengths wrong. Every one must be refused.
pub fn variants(f: &Forgery) -> Vec<(String, Forgery)> {
    let mut out = vec![];
    let proof = |p: Vec<u8>| Forgery {
        proof: p,
        pseudonym: f.pseudonym,
    };
    let mut d = [0u8; POINT_LEN];
    if let Some(src) = f.proof.get(2 * POINT_LEN..3 * POINT_LEN) {
        d.copy_from_slice(src);
    }
    for (name, bad) in bad_g1_points(&d) {
        out.push((
            format!("D {name}"),
            proof(replace(&f.proof, 2 * POINT_LEN, &bad)),
        ));
    }
    // Abar and Bbar are already the identity; their other non-canonical spellings too.
    let mut signed_identity = G1Affine::identity().to_compressed();
    if let Some(top) = signed_identity.first_mut() {
        *top |= FLAGS;
    }
    for (k, name) in ["Abar", "Bbar"].iter().enumerate() {
        out.push((
            format!("{name} identity with sign flag"),
            proof(replace(&f.proof, k * POINT_LEN, &signed_identity)),
        ));
    }
    let scalars = f.proof.len().saturating_sub(3 * POINT_LEN) / SCALAR_LEN;
    for k in 0..scalars {
        let name = match k {
            0 => "e^".to_owned(),
            1 => "r1^".to_owned(),
            2 => "r3^".to_owned(),
            k if k + 1 == scalars => "c".to_owned(),
            k => format!("m^_{}", k - 3),
        };
        for (n, p) in bad_scalars(&f.proof, 3 * POINT_LEN + k * SCALAR_LEN, &name) {
            out.push((n, proof(p)));
        }
    }
    for (name, bad) in bad_g1_points(&f.pseudonym) {
        out.push((
            format!("pseudonym {name}"),
            Forgery {
                proof: f.proof.clone(),
                pseudonym: bad,
            },
        ));
    }
    out.push((
        "pseudonym the G1 base point".to_owned(),
        Forgery {
            proof: f.proof.clone(),
            pseudonym: G1Affine::generator().to_compressed(),
        },
    ));
    let mut long = f.proof.clone();
    long.push(0);
    out.push(("a trailing byte".to_owned(), proof(long)));
    let mut short = f.proof.clone();
    short.truncate(short.len().saturating_sub(SCALAR_LEN));
    out.push(("one scalar short".to_owned(), proof(short)));
    out
}

/// A forged sign or withdraw entry for `letter_id`, as an attacker would POST it: any org,
/// epoch, role and age band, no credential.
pub fn forge_entry(
    public_key: &PublicKey,
    issuer_id: &IssuerId,
    letter_id: &LetterId,
    action: Action,
    disclosed: Disclosed,
    comment: Option<&str>,
    rng: &mut impl CryptoRngCore,
) -> Result<SignatureEntry, CryptoError> {
    let messages = disclosed.messages();
    let ph = presentation_header(letter_id, action, comment);
    let f = forge(
        &Statement {
            public_key,
            header: &credential::header(issuer_id),
            ph: &ph,
            context_id: &letter_id.0,
            message_count: MESSAGE_COUNT,
            disclosed: &messages,
        },
        rng,
    )?;
    Ok(SignatureEntry {
        letter_id: *letter_id,
        action,
        parts: vec![Part {
            issuer_id: *issuer_id,
            pseudonym: f.pseudonym.to_vec(),
            proof: f.proof,
        }],
        disclosed,
        comment: comment.map(str::to_owned),
    })
}

/// The finding-1 forgery for part `index` of `entry`, at that part's issuer (`public_key`): a
/// part made with no credential, for the entry's letter, action, comment and disclosures, to
/// put in place of the honest one (`with_forgery_at`).
pub fn forge_part(
    public_key: &PublicKey,
    entry: &SignatureEntry,
    index: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<Forgery, CryptoError> {
    let issuer = entry.parts.get(index).ok_or(CryptoError)?.issuer_id;
    forge(
        &Statement {
            public_key,
            header: &credential::header(&issuer),
            ph: &presentation_header(&entry.letter_id, entry.action, entry.comment.as_deref()),
            context_id: &entry.letter_id.0,
            message_count: MESSAGE_COUNT,
            disclosed: &entry.disclosed.messages(),
        },
        rng,
    )
}

/// `entry` carrying another forgery's bytes in its first part (for the variants).
pub fn with_forgery(entry: &SignatureEntry, f: &Forgery) -> SignatureEntry {
    with_forgery_at(entry, 0, f)
}

/// `entry` carrying another forgery's bytes in part `index`.
pub fn with_forgery_at(entry: &SignatureEntry, index: usize, f: &Forgery) -> SignatureEntry {
    let mut out = entry.clone();
    if let Some(part) = out.parts.get_mut(index) {
        part.pseudonym = f.pseudonym.to_vec();
        part.proof = f.proof.clone();
    }
    out
}

/// A commitment with proof spoiled every way `octets_to_commitment_with_proof` must refuse.
pub fn bad_commitments(valid: &[u8; COMMITMENT_LEN]) -> Vec<(String, [u8; COMMITMENT_LEN])> {
    let mut c = [0u8; POINT_LEN];
    c.copy_from_slice(valid.get(..POINT_LEN).unwrap_or(&[0u8; POINT_LEN]));
    let mut out: Vec<(String, Vec<u8>)> = bad_g1_points(&c)
        .into_iter()
        .map(|(n, p)| (format!("C {n}"), replace(valid, 0, &p)))
        .collect();
    for (k, name) in ["s^", "m^ (nym secret)", "c"].iter().enumerate() {
        out.extend(bad_scalars(valid, POINT_LEN + k * SCALAR_LEN, name));
    }
    out.into_iter()
        .filter_map(|(n, v)| Some((n, v.try_into().ok()?)))
        .collect()
}

/// A signature spoiled every way `octets_to_signature` must refuse.
pub fn bad_signatures(valid: &[u8; SIGNATURE_LEN]) -> Vec<(String, [u8; SIGNATURE_LEN])> {
    let mut a = [0u8; POINT_LEN];
    a.copy_from_slice(valid.get(..POINT_LEN).unwrap_or(&[0u8; POINT_LEN]));
    let mut out: Vec<(String, Vec<u8>)> = bad_g1_points(&a)
        .into_iter()
        .map(|(n, p)| (format!("A {n}"), replace(valid, 0, &p)))
        .collect();
    out.extend(bad_scalars(valid, POINT_LEN, "e"));
    out.into_iter()
        .filter_map(|(n, v)| Some((n, v.try_into().ok()?)))
        .collect()
}

/// A public key spoiled every way `octets_to_pubkey` must refuse.
pub fn bad_public_keys(valid: &[u8; PUBLIC_KEY_LEN]) -> Vec<(String, Vec<u8>)> {
    let identity = G2Affine::identity().to_compressed();
    let mut out = vec![("identity".to_owned(), identity.to_vec())];
    let mut flag = |name: &str, f: fn(u8) -> u8| {
        let mut p = *valid;
        if let Some(top) = p.first_mut() {
            *top = f(*top);
        }
        out.push((name.to_owned(), p.to_vec()));
    };
    flag("compression flag cleared", |b| b & !COMPRESSED);
    flag("infinity flag set", |b| b | INFINITY);
    let mut signed_identity = identity;
    if let Some(top) = signed_identity.first_mut() {
        *top |= FLAGS;
    }
    out.push((
        "identity with sign flag".to_owned(),
        signed_identity.to_vec(),
    ));
    // A G2 point on the curve but outside the subgroup: the first small x that has one.
    for x in 1u8..=255 {
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        if let Some(b) = bytes.get_mut(PUBLIC_KEY_LEN / 2 - 1) {
            *b = x;
        }
        if let Some(top) = bytes.first_mut() {
            *top = COMPRESSED;
        }
        if let Some(p) = Option::<G2Affine>::from(G2Affine::from_compressed_unchecked(&bytes)) {
            if !bool::from(p.is_torsion_free()) {
                out.push(("outside the subgroup".to_owned(), bytes.to_vec()));
                break;
            }
        }
    }
    out.push((
        "one byte short".to_owned(),
        valid.get(1..).unwrap_or(&[]).to_vec(),
    ));
    out
}
