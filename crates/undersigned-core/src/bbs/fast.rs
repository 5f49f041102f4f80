//! Our own verifier of BBS proofs with pseudonyms on blst: the drafts' equations, cached and batched.
//!
//! zkryptium 0.8.0 (`bbs::verify`) is the reference; this module computes the same verdict, faster:
//!
//! - the generators (BBS draft `create_generators`, with the blind draft's second set under
//!   `"BLIND_" || api_id`), the domain of each issuer (`calculate_domain`) and each issuer key's
//!   G2 point are computed once and kept, instead of on every call;
//! - arithmetic is variable-time (blst's Pippenger multi-scalar multiplication): a verifier
//!   handles only public data;
//! - the pairing check `e(Abar, PK) = e(Bbar, P2)` of many proofs is folded into one through a
//!   random linear combination with 128-bit coefficients drawn from the caller's RNG; a failed
//!   batch is bisected so that exactly the bad proofs are named.
//!
//! The equations follow zkryptium 0.8.0's `core_proof_verify_with_nym`, `proof_verify_init`,
//! `pseudonym_proof_verify_init` and `proof_with_nym_challenge_calculate` (BBS draft 08+,
//! blind draft 02, per-verifier-linkability draft 03), with a nym vector of length one.
//! Every validity check of `octets` applies, on blst's decoder: canonical compressed encoding,
//! on the curve, in the subgroup, not the identity; scalars below r and not zero.
//!
//! Curve, pairing and hash-to-curve are blst's; scalar arithmetic mod r is `bls12_381_plus`'s
//! (zkryptium's curve crate); `expand_message_xmd` for the generator seeds is `elliptic_curve`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bls12_381_plus::elliptic_curve::hash2curve::{ExpandMsg, ExpandMsgXmd, Expander};
use bls12_381_plus::{G1Affine, G2Affine, Scalar};
use blst::MultiPoint;
use blst::{blst_fp12, blst_p1, blst_p1_affine, blst_p2_affine, blst_scalar, min_pk, min_sig};
use rand_core::CryptoRngCore;
use sha2::Sha256;

use super::octets::nonzero_scalar;
use super::{proof_scalars, CryptoError, PublicKey, POINT_LEN, PSEUDONYM_LEN, SCALAR_LEN};

/// The pseudonym interface's api_id for BLS12-381-SHA-256.
const API_ID: &[u8] = b"BBS_BLS12381G1_XMD:SHA-256_SSWU_RO_H2G_HM2S_PSEUDONYM_";
/// P1 of the BLS12-381-SHA-256 ciphersuite (BBS draft, "ciphersuites").
const P1: &str = "a8ce256102840821a3e94ea9025e4662b205762f9776b3a766c872b948f1fd225e7c59698588e70d11406d161b4e28c9";
const EXPAND_LEN: usize = 48;
/// The prover blind and the one nym secret: the committed messages after the signer's.
const COMMITTED: usize = 2;

fn i2osp8(x: usize) -> [u8; 8] {
    (x as u64).to_be_bytes()
}

fn dst(tag: &[u8]) -> Vec<u8> {
    [API_ID, tag].concat()
}

/// `hash_to_scalar`: expand_message_xmd to 48 bytes, then OS2IP mod r.
fn hash_to_scalar(msg: &[u8], dst: &[u8]) -> Result<Scalar, CryptoError> {
    // blst returns None only for a zero result, which zkryptium would accept as the scalar 0;
    // a SHA-256 output reducing to 0 mod r is not going to be found.
    let s = blst_scalar::hash_to(msg, dst).ok_or(CryptoError)?;
    Option::from(Scalar::from_le_bytes(&s.b)).ok_or(CryptoError)
}

/// A G1 point from the wire: `octets_to_point_g1` (blst's uncompress: flag bits, x < p, on the
/// curve), in the subgroup and not the identity.
pub fn g1_point(bytes: &[u8]) -> Result<blst_p1_affine, CryptoError> {
    let p = min_pk::PublicKey::uncompress(bytes).map_err(|_| CryptoError)?;
    // validate() refuses the identity and points outside the prime-order subgroup.
    p.validate().map_err(|_| CryptoError)?;
    Ok(blst_p1_affine::from(p))
}

/// A point computed here, back to affine form (blst's own conversion, via its key types).
fn to_affine(p: blst_p1) -> blst_p1_affine {
    blst_p1_affine::from(min_pk::AggregatePublicKey::from(p).to_public_key())
}

fn compress(p: &blst_p1_affine) -> [u8; POINT_LEN] {
    min_pk::PublicKey::from(*p).compress()
}

fn is_identity(p: &blst_p1_affine) -> bool {
    *p == blst_p1_affine::default()
}

/// `hash_to_curve` into G1 (BLS12381G1_XMD:SHA-256_SSWU_RO_). blst's safe API exposes it only
/// through signing: a min-sig signature under the secret key 1 is exactly the hashed point.
fn hash_to_g1(msg: &[u8], dst: &[u8]) -> Result<blst_p1_affine, CryptoError> {
    let mut one = [0u8; 32];
    if let Some(last) = one.last_mut() {
        *last = 1;
    }
    let sk = min_sig::SecretKey::from_bytes(&one).map_err(|_| CryptoError)?;
    Ok(blst_p1_affine::from(sk.sign(msg, dst, &[])))
}

/// Σ scalars·points over G1, variable time. Both slices have the same, non-zero, length.
///
/// The plain path: the reference the comb path (`comb_msm`) is tested against.
pub fn msm(points: &[blst_p1_affine], scalars: &[Scalar]) -> Result<blst_p1_affine, CryptoError> {
    msm_projective(points, scalars).map(to_affine)
}

fn msm_projective(points: &[blst_p1_affine], scalars: &[Scalar]) -> Result<blst_p1, CryptoError> {
    if points.is_empty() || points.len() != scalars.len() {
        return Err(CryptoError);
    }
    let bytes: Vec<u8> = scalars.iter().flat_map(|s| s.to_le_bytes()).collect();
    Ok(points.mult(&bytes, 255))
}

/// Bits of one limb in the comb representation.
const LIMB_BITS: usize = 16;
/// Limbs per scalar: 16 × 16 = 256 bits hold any scalar below r (255 bits).
const LIMBS: usize = 16;

/// A point P as its comb: the `LIMBS` points 2^(16·i)·P. With it, s·P is Σ s_i·(2^(16·i)·P)
/// over the 16-bit limbs s_i of s, so a sum of several s·P is one multi-scalar multiplication
/// of 16-bit scalars over 16 times as many points.
///
/// Why: blst's Pippenger picks its window from the number of points alone. A proof's sums have
/// 2 to 10 terms of 255-bit scalars, for which it uses 2-bit windows: 255 doublings and about
/// 128·(n + 4) additions. Over combs the doublings drop to 16 and the window grows with the
/// point count. Measured with callgrind (instructions per sum, release dependencies): the
/// nine generator terms of T2 cost 2.4 M over combs against 4.5 M plainly.
///
/// Combs pay only for fixed points, built once: the safe API doubles only through its complete
/// addition (`add_aggregate` of a point with itself, about 7.5 k instructions), so the comb of
/// a proof's own point costs 1.8 M, more than it saves. Only blst's safe API is used: that
/// doubling and batch normalisation (`p1_affines`).
#[derive(Debug, Clone)]
pub struct Comb(Vec<blst_p1_affine>);

impl Comb {
    /// The combs of several points with one batch normalisation (one field inversion).
    pub fn of_points(points: &[blst_p1_affine]) -> Vec<Comb> {
        let mut projective: Vec<blst_p1> = Vec::with_capacity(points.len() * LIMBS);
        for p in points {
            let mut acc = min_pk::AggregatePublicKey::from_public_key(&min_pk::PublicKey::from(*p));
            projective.push(blst_p1::from(acc));
            for _ in 1..LIMBS {
                for _ in 0..LIMB_BITS {
                    let twice = acc;
                    acc.add_aggregate(&twice);
                }
                projective.push(blst_p1::from(acc));
            }
        }
        if projective.is_empty() {
            return Vec::new();
        }
        blst::p1_affines::from(&projective)
            .as_slice()
            .chunks_exact(LIMBS)
            .map(|c| Comb(c.to_vec()))
            .collect()
    }
}

/// a + b in affine form, with blst's complete addition (either may be the identity, or both
/// equal).
fn add(a: blst_p1, b: blst_p1) -> blst_p1_affine {
    let mut sum = min_pk::AggregatePublicKey::from(a);
    sum.add_aggregate(&min_pk::AggregatePublicKey::from(b));
    to_affine(blst_p1::from(sum))
}

/// Σ scalar·point over combs, variable time; the same sum as `msm` over the combs' points.
pub fn comb_msm(terms: &[(&Comb, Scalar)]) -> Result<blst_p1_affine, CryptoError> {
    comb_msm_projective(terms).map(to_affine)
}

fn comb_msm_projective(terms: &[(&Comb, Scalar)]) -> Result<blst_p1, CryptoError> {
    if terms.is_empty() || terms.iter().any(|(c, _)| c.0.len() != LIMBS) {
        return Err(CryptoError);
    }
    let mut points = Vec::with_capacity(terms.len() * LIMBS);
    let mut limbs = Vec::with_capacity(terms.len() * LIMBS * LIMB_BITS / 8);
    for (comb, scalar) in terms {
        points.extend_from_slice(&comb.0);
        // Little-endian bytes, two per limb: limb i is bits 16·i.. of the scalar, as blst reads it.
        limbs.extend_from_slice(&scalar.to_le_bytes());
    }
    Ok(points.mult(&limbs, LIMB_BITS))
}

fn expand_message(msg: &[u8], dst: &[u8]) -> Result<[u8; EXPAND_LEN], CryptoError> {
    let mut out = [0u8; EXPAND_LEN];
    ExpandMsgXmd::<Sha256>::expand_message(&[msg], &[dst], EXPAND_LEN)
        .map_err(|_| CryptoError)?
        .fill_bytes(&mut out);
    Ok(out)
}

/// BBS draft `create_generators(count, api_id)`.
fn create_generators(count: usize, api_id: &[u8]) -> Result<Vec<blst_p1_affine>, CryptoError> {
    let seed_dst = [api_id, b"SIG_GENERATOR_SEED_"].concat();
    let generator_dst = [api_id, b"SIG_GENERATOR_DST_"].concat();
    let seed = [api_id, b"MESSAGE_GENERATOR_SEED"].concat();
    let mut v = expand_message(&seed, &seed_dst)?;
    let mut out = Vec::with_capacity(count);
    for i in 1..=count {
        v = expand_message(&[&v[..], &i2osp8(i)].concat(), &seed_dst)?;
        out.push(hash_to_g1(&v, &generator_dst)?);
    }
    Ok(out)
}

/// The fixed points of one schema: P1, Q1, one generator per signer message, then the blind
/// draft's generators for the prover blind and the nym secret.
#[derive(Debug, Clone)]
pub struct Generators {
    /// Generator of message index j (signer messages, then prover blind, then nym secret).
    h: Vec<blst_p1_affine>,
    /// Q1, H_1.., blind generators, compressed and concatenated: the domain's fixed part.
    compressed: Vec<u8>,
    message_count: usize,
    /// The combs of P1, Q1 and each H_j (in that order), for `comb_msm`.
    p1_comb: Comb,
    q1_comb: Comb,
    h_combs: Vec<Comb>,
}

impl Generators {
    /// The generators for proofs over `message_count` signer messages (as `prepare_parameters`
    /// of the blind draft with one committed nym secret).
    pub fn new(message_count: usize) -> Result<Self, CryptoError> {
        let p1_bytes = hex::decode(P1).map_err(|_| CryptoError)?;
        let p1 = g1_point(&p1_bytes)?;
        let signer = create_generators(message_count + 1, API_ID)?;
        let blind = create_generators(COMMITTED, &[b"BLIND_", API_ID].concat())?;
        let all: Vec<blst_p1_affine> = signer.into_iter().chain(blind).collect();
        let compressed = all.iter().flat_map(compress).collect();
        let (q1, h) = all.split_first().ok_or(CryptoError)?;
        let mut combs = Comb::of_points(&[&[p1, *q1][..], h].concat()).into_iter();
        let (p1_comb, q1_comb) = combs.next().zip(combs.next()).ok_or(CryptoError)?;
        let h_combs: Vec<Comb> = combs.collect();
        if h_combs.len() != h.len() {
            return Err(CryptoError);
        }
        Ok(Self {
            h: h.to_vec(),
            compressed,
            message_count,
            p1_comb,
            q1_comb,
            h_combs,
        })
    }

    /// The generators of schema v1 (five signer messages), computed once per process.
    pub fn cached(message_count: usize) -> Result<&'static Self, CryptoError> {
        static CACHE: OnceLock<Result<Generators, CryptoError>> = OnceLock::new();
        let g = CACHE
            .get_or_init(|| Generators::new(crate::credential::MESSAGE_COUNT))
            .as_ref()
            .map_err(|e| *e)?;
        if g.message_count == message_count {
            Ok(g)
        } else {
            Err(CryptoError)
        }
    }

    /// The compressed encoding of every generator from Q1 on (for tests against zkryptium).
    pub fn to_compressed(&self) -> Vec<u8> {
        self.compressed.clone()
    }
}

/// One issuer's key as the verifier keeps it: the G2 point, the domain for its header, and the
/// disclosed parts of T2 seen so far.
#[derive(Debug, Clone)]
pub struct IssuerKey {
    g2: blst_p2_affine,
    domain: Scalar,
    bases: Arc<DisclosedBases>,
}

/// Beyond this many disclosed-message sets an issuer's kept bases start over (each is 16
/// points, 1.5 kB).
const MAX_BASES: usize = 4096;

/// The comb of `Bv = P1 + Q1·domain + Σ H_i·m_i` for each set of disclosed messages, per issuer.
///
/// Why: the disclosed messages of most proofs repeat (org and epoch, sometimes role or age
/// band), and `Bv·c` over one comb replaces its `2 + disclosed` comb terms of T2, about a third
/// of T2's cost. A comb costs about as much as six proofs save, so it is built the second time
/// a set is seen: a set seen once costs nothing more than before. `Bv` depends on the issuer
/// (domain) and the messages only, never on the proof or the letter, so kept bases cannot make
/// a verdict differ from the uncached equation (tests/it/fast.rs checks both paths against
/// zkryptium).
#[derive(Default)]
struct DisclosedBases(Mutex<HashMap<Disclosed, Option<Arc<Comb>>>>);

/// Disclosed messages as a proof lists them: (index, message), ascending.
type Disclosed = Vec<(usize, Vec<u8>)>;

impl std::fmt::Debug for DisclosedBases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisclosedBases").finish_non_exhaustive()
    }
}

impl DisclosedBases {
    /// The kept comb of `Bv` for these messages, building it if they were seen before; `None`
    /// the first time (the caller uses the generators' combs).
    fn get(
        &self,
        gens: &Generators,
        domain: Scalar,
        disclosed: &[(usize, Vec<u8>)],
        messages: &[(usize, Scalar)],
    ) -> Option<Arc<Comb>> {
        {
            // A panic elsewhere while holding the lock only costs the cache.
            let mut kept = self.0.lock().ok()?;
            match kept.get(disclosed) {
                Some(Some(comb)) => return Some(Arc::clone(comb)),
                Some(None) => {}
                None => {
                    if kept.len() >= MAX_BASES {
                        kept.clear();
                    }
                    kept.insert(disclosed.to_vec(), None);
                    return None;
                }
            }
        }
        // Built without the lock: two threads may both build it, and both get the same point.
        let comb = Arc::new(disclosed_base(gens, domain, messages).ok()?);
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(disclosed.to_vec(), Some(Arc::clone(&comb)));
        }
        Some(comb)
    }
}

/// The comb of `Bv = P1 + Q1·domain + Σ H_i·m_i`. Refused for the identity (never reached by
/// hashed messages), whose comb blst's normalisation is not asked to handle.
fn disclosed_base(
    gens: &Generators,
    domain: Scalar,
    messages: &[(usize, Scalar)],
) -> Result<Comb, CryptoError> {
    let mut terms = vec![(&gens.p1_comb, Scalar::ONE), (&gens.q1_comb, domain)];
    for (i, m) in messages {
        terms.push((gens.h_combs.get(*i).ok_or(CryptoError)?, *m));
    }
    let bv = comb_msm(&terms)?;
    if is_identity(&bv) {
        return Err(CryptoError);
    }
    Comb::of_points(&[bv]).pop().ok_or(CryptoError)
}

impl IssuerKey {
    /// `calculate_domain(PK, generators, header || I2OSP(1, 8), api_id)` and the decoded key.
    pub fn new(gens: &Generators, pk: &PublicKey, header: &[u8]) -> Result<Self, CryptoError> {
        let bytes = pk.to_bytes();
        let key = min_sig::PublicKey::uncompress(&bytes).map_err(|_| CryptoError)?;
        key.validate().map_err(|_| CryptoError)?;
        // The pseudonym interface binds the nym vector's length to the header.
        let header = [header, &i2osp8(1)[..]].concat();
        let input = [
            &bytes[..],
            &i2osp8(gens.h.len())[..],
            &gens.compressed,
            API_ID,
            &i2osp8(header.len())[..],
            &header,
        ]
        .concat();
        Ok(Self {
            g2: blst_p2_affine::from(key),
            domain: hash_to_scalar(&input, &dst(b"H2S_"))?,
            bases: Arc::default(),
        })
    }
}

/// What one letter fixes for every proof on it: the context id and its point OP.
#[derive(Debug, Clone)]
pub struct LetterContext {
    context_id: Vec<u8>,
    op: blst_p1_affine,
}

impl LetterContext {
    pub fn new(context_id: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            context_id: context_id.to_vec(),
            op: hash_to_g1(context_id, API_ID)?,
        })
    }
}

/// A proof whose every check passed except the pairing equation `e(Abar, PK) = e(Bbar, P2)`,
/// which is left for one shared check over many proofs.
#[derive(Debug, Clone, Copy)]
pub struct PairingClaim {
    abar: blst_p1_affine,
    bbar: blst_p1_affine,
    pk: blst_p2_affine,
}

/// Everything of a proof verification but the pairing: validity checks, the two relations (T1,
/// T2) and the pseudonym's (Uv) recomputed, and the challenge compared.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    gens: &Generators,
    issuer: &IssuerKey,
    letter: &LetterContext,
    ph: &[u8],
    disclosed: &[(usize, Vec<u8>)],
    proof: &[u8],
    pseudonym: &[u8],
) -> Result<PairingClaim, CryptoError> {
    let l = gens.message_count;
    let hidden = l.checked_sub(disclosed.len()).ok_or(CryptoError)?;
    let ascending = disclosed
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.0 < b.0));
    if !ascending || disclosed.iter().any(|(i, _)| *i >= l) {
        return Err(CryptoError);
    }
    let pseudonym: &[u8; PSEUDONYM_LEN] = pseudonym.try_into().map_err(|_| CryptoError)?;
    let nym = g1_point(pseudonym)?;
    // The pseudonym draft also refuses the base point, as `octets::check_pseudonym` does; the
    // encoding is canonical, so comparing bytes is exact.
    if pseudonym == &G1Affine::generator().to_compressed() {
        return Err(CryptoError);
    }
    let scalar_count = proof_scalars(hidden);
    if proof.len() != 3 * POINT_LEN + scalar_count * SCALAR_LEN {
        return Err(CryptoError);
    }
    let (points, rest) = proof.split_at(3 * POINT_LEN);
    let (abar_b, points) = points.split_at(POINT_LEN);
    let (bbar_b, d_b) = points.split_at(POINT_LEN);
    let (abar, bbar, d) = (g1_point(abar_b)?, g1_point(bbar_b)?, g1_point(d_b)?);
    let scalars = rest
        .chunks_exact(SCALAR_LEN)
        .map(nonzero_scalar)
        .collect::<Result<Vec<_>, _>>()?;
    // e^, r1^, r3^, then one m^ per undisclosed index (the nym secret last), then c.
    let [e_cap, r1_cap, r3_cap, m_and_c @ ..] = scalars.as_slice() else {
        return Err(CryptoError);
    };
    let [m_cap @ .., c] = m_and_c else {
        return Err(CryptoError);
    };
    let nym_cap = m_cap.last().ok_or(CryptoError)?;
    let map_dst = dst(b"MAP_MSG_TO_SCALAR_AS_HASH_");
    let messages = disclosed
        .iter()
        .map(|(i, m)| hash_to_scalar(m, &map_dst).map(|s| (*i, s)))
        .collect::<Result<Vec<_>, _>>()?;

    // T1 = Bbar * c + Abar * e^ + D * r1^
    let t1 = msm(&[bbar, abar, d], &[*c, *e_cap, *r1_cap])?;
    // T2 = Bv * c + D * r3^ + Σ H_j * m^_j, Bv = P1 + Q1 * domain + Σ H_i * m_i: the
    // generators' terms over their combs (Bv's over its own comb once its messages repeat),
    // D's alone (a comb of D would cost more than it saves).
    let base = issuer.bases.get(gens, issuer.domain, disclosed, &messages);
    let mut t2_terms = Vec::with_capacity(gens.h_combs.len() + 2);
    match &base {
        Some(bv) => t2_terms.push((&**bv, *c)),
        None => {
            t2_terms.push((&gens.p1_comb, *c));
            t2_terms.push((&gens.q1_comb, *c * issuer.domain));
            for (i, m) in &messages {
                t2_terms.push((gens.h_combs.get(*i).ok_or(CryptoError)?, *c * m));
            }
        }
    }
    let undisclosed = (0..gens.h.len()).filter(|j| !messages.iter().any(|(i, _)| i == j));
    let mut undisclosed_count = 0;
    for (j, m) in undisclosed.zip(m_cap) {
        t2_terms.push((gens.h_combs.get(j).ok_or(CryptoError)?, *m));
        undisclosed_count += 1;
    }
    if undisclosed_count != m_cap.len() || m_cap.len() != hidden + COMMITTED {
        return Err(CryptoError);
    }
    let t2 = add(
        comb_msm_projective(&t2_terms)?,
        msm_projective(&[d], &[*r3_cap])?,
    );
    // Uv = OP * m^_nym - pseudonym * c; the draft refuses the identity.
    let uv = msm(&[letter.op, nym], &[*nym_cap, -*c])?;
    if is_identity(&uv) {
        return Err(CryptoError);
    }

    let mut c_arr = Vec::with_capacity(512 + ph.len() + letter.context_id.len());
    c_arr.extend_from_slice(&i2osp8(messages.len()));
    for (i, m) in &messages {
        c_arr.extend_from_slice(&i2osp8(*i));
        c_arr.extend_from_slice(&m.to_be_bytes());
    }
    for p in [&abar, &bbar, &d, &t1, &t2, &nym, &uv] {
        c_arr.extend_from_slice(&compress(p));
    }
    c_arr.extend_from_slice(&issuer.domain.to_be_bytes());
    c_arr.extend_from_slice(&i2osp8(ph.len()));
    c_arr.extend_from_slice(ph);
    c_arr.extend_from_slice(&i2osp8(letter.context_id.len()));
    c_arr.extend_from_slice(&letter.context_id);
    if hash_to_scalar(&c_arr, &dst(b"H2S_"))? != *c {
        return Err(CryptoError);
    }
    Ok(PairingClaim {
        abar,
        bbar,
        pk: issuer.g2,
    })
}

fn p2_generator() -> Result<blst_p2_affine, CryptoError> {
    static P2: OnceLock<Option<blst_p2_affine>> = OnceLock::new();
    P2.get_or_init(|| {
        let bytes = G2Affine::generator().to_compressed();
        min_sig::PublicKey::uncompress(&bytes)
            .ok()
            .map(blst_p2_affine::from)
    })
    .ok_or(CryptoError)
}

/// The pairing equation of one proof, checked alone (no randomness needed).
pub fn check_claim(claim: &PairingClaim) -> bool {
    let Ok(p2) = p2_generator() else {
        return false;
    };
    let lhs = blst_fp12::miller_loop(&claim.pk, &claim.abar);
    let rhs = blst_fp12::miller_loop(&p2, &claim.bbar);
    blst_fp12::finalverify(&lhs, &rhs)
}

/// A 128-bit batching coefficient, never zero (a zero would drop its proof from the check).
#[derive(Debug, Clone, Copy)]
pub struct Coefficient([u8; 16]);

/// One coefficient per claim, all drawn from the caller's RNG before any checking starts.
pub fn coefficients(n: usize, rng: &mut impl CryptoRngCore) -> Vec<Coefficient> {
    (0..n)
        .map(|_| loop {
            let mut b = [0u8; 16];
            rng.fill_bytes(&mut b);
            if b.iter().any(|&x| x != 0) {
                break Coefficient(b);
            }
        })
        .collect()
}

/// Σ_i r_i (e(Abar_i, PK_i) - e(Bbar_i, P2)) = 0, as one product of pairings: per distinct key
/// one Miller loop over Σ r_i Abar_i, and one over Σ r_i Bbar_i.
fn combined_holds(claims: &[PairingClaim], coefs: &[Coefficient]) -> bool {
    if claims.is_empty() {
        return true;
    }
    if claims.len() != coefs.len() {
        return false;
    }
    let Ok(p2) = p2_generator() else {
        return false;
    };
    // Few issuers in practice: a linear search groups the claims by key.
    let mut by_key: Vec<(blst_p2_affine, Vec<blst_p1_affine>, Vec<u8>)> = Vec::new();
    for (claim, coef) in claims.iter().zip(coefs) {
        match by_key.iter_mut().find(|(k, _, _)| *k == claim.pk) {
            Some((_, points, scalars)) => {
                points.push(claim.abar);
                scalars.extend_from_slice(&coef.0);
            }
            None => by_key.push((claim.pk, vec![claim.abar], coef.0.to_vec())),
        }
    }
    let bbars: Vec<blst_p1_affine> = claims.iter().map(|c| c.bbar).collect();
    let bbar_scalars: Vec<u8> = coefs.iter().flat_map(|c| c.0).collect();
    let b_sum = to_affine(bbars.mult(&bbar_scalars, 128));
    let keys: Vec<blst_p2_affine> = by_key.iter().map(|(k, _, _)| *k).collect();
    let a_sums: Vec<blst_p1_affine> = by_key
        .iter()
        .map(|(_, points, scalars)| to_affine(points.mult(scalars, 128)))
        .collect();
    let lhs = blst_fp12::miller_loop_n(&keys, &a_sums);
    let rhs = blst_fp12::miller_loop(&p2, &b_sum);
    blst_fp12::finalverify(&lhs, &rhs)
}

/// The pairing equations of many proofs in one check; on failure, bisection names exactly the
/// claims that do not hold. Returns one verdict per claim, in order.
pub fn check_claims(claims: &[PairingClaim], coefs: &[Coefficient]) -> Vec<bool> {
    let mut verdicts = vec![false; claims.len()];
    if claims.len() == coefs.len() {
        bisect(claims, coefs, &mut verdicts, None);
    }
    verdicts
}

/// `known` is Some(false) when the caller already knows this range fails (its sibling passed
/// and their union failed), which saves one check per level.
fn bisect(
    claims: &[PairingClaim],
    coefs: &[Coefficient],
    verdicts: &mut [bool],
    known: Option<bool>,
) {
    let holds = match known {
        Some(v) => v,
        None => combined_holds(claims, coefs),
    };
    if holds {
        verdicts.iter_mut().for_each(|v| *v = true);
        return;
    }
    if claims.len() <= 1 {
        // A single claim that failed the combined check fails on its own: with a non-zero
        // coefficient, r·x = 0 only if x = 0.
        return;
    }
    let mid = claims.len() / 2;
    let (cl, cr) = claims.split_at(mid);
    let (kl, kr) = coefs.split_at(mid);
    let (vl, vr) = verdicts.split_at_mut(mid);
    let left = combined_holds(cl, kl);
    bisect(cl, kl, vl, Some(left));
    bisect(cr, kr, vr, if left { Some(false) } else { None });
}

/// One proof, verified alone: `prepare` and then its own pairing check.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    gens: &Generators,
    issuer: &IssuerKey,
    letter: &LetterContext,
    ph: &[u8],
    disclosed: &[(usize, Vec<u8>)],
    proof: &[u8],
    pseudonym: &[u8],
) -> Result<(), CryptoError> {
    let claim = prepare(gens, issuer, letter, ph, disclosed, proof, pseudonym)?;
    if check_claim(&claim) {
        Ok(())
    } else {
        Err(CryptoError)
    }
}

/// blst's decoding of a G1 point with every validity check of `octets::g1_point`; tested
/// against it byte for byte.
pub fn check_g1_point(bytes: &[u8]) -> Result<(), CryptoError> {
    g1_point(bytes).map(|_| ())
}
