//! The composite presentation (protocol v1.2, "Several issuers"): t BBS proofs with
//! pseudonyms, one per issuer, under one Fiat–Shamir challenge and one shared blinding for a
//! hidden message the parts must have in common (the address, message 4).
//!
//! Proof generation and this reference verifier are ours, on `bls12_381_plus` (the curve crate
//! zkryptium is built on, so both run in the browser), with zkryptium's own hashing
//! (`prepare_parameters` for generators and message scalars, `hash_to_scalar`, hash-to-curve).
//! A part is byte for byte a proof of the pseudonym draft as zkryptium 0.8.0 implements it; only
//! its challenge covers every part. With one part the challenge input is exactly the draft's,
//! so a t = 1 presentation is a draft proof and zkryptium's `proof_verify_with_nym` accepts it
//! (tests/it/composite.rs). The fast verifier (`fast::verify_composite`) and an independent one
//! in JavaScript (crosscheck/composite.mjs) are differential-tested against this one.
//!
//! # Why it is sound
//!
//! Per part i the prover shows knowledge of a BBS signature (A_i, e_i) of issuer i on messages
//! m_i = (org, epoch, role, age band, address, prover blind, nym secret) and that the pseudonym
//! is OP·nym secret. Each part is the draft's sigma protocol: commitments (Abar, Bbar, D, T1, T2,
//! Uv), challenge c, responses (e^, r1^, r3^, m^_j). The composite is their AND-composition
//! with one challenge c = H(part_1's transcript prefix ‖ … ‖ part_t's ‖ ph ‖ context): every
//! part's commitments enter c before c exists, so no part can be chosen after seeing it.
//! Special soundness: from two accepting composite transcripts with the same commitments and
//! c ≠ c′, each part yields, exactly as in the draft's extractor, a signature of issuer i on
//! messages whose hidden message j is (m^_j − m^_j′)/(c − c′). The verifier requires the
//! response for a shared message to be one value m^ in every part, so the extracted address is
//! the same value in every part: one address stands behind all t signatures. Disclosed messages
//! are given once and used in every part, so they are equal by construction. Parts of two
//! people cannot share one response for the address (their addresses differ), a part replayed
//! from another presentation fails the new challenge, and a missing, extra or repeated issuer
//! is refused by the caller's structure (exactly the letter's t issuers, distinct, in issuer-id
//! order) and here (distinct keys). Zero knowledge: each part is the draft's honest-verifier
//! simulation with the shared m^ drawn once, uniform, as the draft draws each m~.
//!
//! What this does not prove by itself: that the issuers are honest. A corrupt issuer signs
//! whatever it likes; the count holds because a signature needs t parts (see protocol.md).

use bls12_381_plus::elliptic_curve::Field;
use bls12_381_plus::{multi_miller_loop, G1Affine, G1Projective, G2Affine, G2Prepared, Scalar};
use rand_core::CryptoRngCore;
use zkryptium::bbsplus::blind::prepare_parameters;
use zkryptium::bbsplus::ciphersuites::{BbsCiphersuite, Bls12381Sha256};
use zkryptium::bbsplus::commitment::BlindFactor;
use zkryptium::bbsplus::generators::Generators;
use zkryptium::utils::util::bbsplus_utils::{hash_to_scalar, i2osp};

use super::octets::{self, g1_point, nonzero_scalar};
use super::{
    proof_len, proof_scalars, CryptoError, HolderSecrets, Presentation, PublicKey, POINT_LEN,
    PSEUDONYM_LEN, SCALAR_LEN,
};

type Cs = Bls12381Sha256;

/// The committed messages after the signer's: the prover blind, then the nym secret.
const COMMITTED: usize = 2;

/// The most parts a presentation may have: far above any sensible threshold, and it bounds the
/// work one submission can ask for.
pub const MAX_PARTS: usize = 16;

/// One issuer's credential, as the holder presents it.
pub struct PartSecret<'a> {
    pub public_key: &'a PublicKey,
    /// The credential header (`credential::header` of the issuer id).
    pub header: &'a [u8],
    /// The signer's messages, in schema order.
    pub messages: &'a [Vec<u8>],
    pub secrets: HolderSecrets<'a>,
}

impl std::fmt::Debug for PartSecret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartSecret(<redacted>)")
    }
}

/// One part as the verifier receives it: untrusted bytes and the issuer they claim.
#[derive(Debug, Clone, Copy)]
pub struct PartStatement<'a> {
    pub public_key: &'a PublicKey,
    pub header: &'a [u8],
    pub proof: &'a [u8],
    pub pseudonym: &'a [u8],
}

fn api_id() -> &'static [u8] {
    <Cs as BbsCiphersuite>::API_ID_NYM
}

fn h2s_dst() -> Vec<u8> {
    [api_id(), <Cs as BbsCiphersuite>::H2S].concat()
}

fn compressed(p: &G1Projective) -> [u8; POINT_LEN] {
    G1Affine::from(p).to_compressed()
}

/// P1 and the generators `prepare_parameters` creates for `message_count` signer messages
/// (Q1 and one per message, then the blind draft's set under `BLIND_` || api id), by
/// zkryptium's `Generators::create`. They are constants of the suite, so each count's are made
/// once per process: the BBS draft allows caching them, and hashing nine points to the curve
/// on every presentation was most of the browser's time to sign. A count is kept at most
/// once; only a few counts exist (the schema fixes one).
fn cached_generators(message_count: usize) -> (G1Projective, Vec<G1Projective>) {
    type Kept = Vec<(usize, G1Projective, Vec<G1Projective>)>;
    static KEPT: std::sync::OnceLock<std::sync::Mutex<Kept>> = std::sync::OnceLock::new();
    let kept = KEPT.get_or_init(Default::default);
    if let Ok(list) = kept.lock() {
        if let Some((_, p1, all)) = list.iter().find(|(n, _, _)| *n == message_count) {
            return (*p1, all.clone());
        }
    }
    let signer = Generators::create::<Cs>(message_count + 1, Some(api_id()));
    let blind = Generators::create::<Cs>(COMMITTED, Some(&[b"BLIND_", api_id()].concat()));
    let mut all = signer.values;
    all.extend(blind.values);
    let p1 = signer.g1_base_point;
    if let Ok(mut list) = kept.lock() {
        if list.len() < 8 {
            list.push((message_count, p1, all.clone()));
        }
    }
    (p1, all)
}

/// The generators and scalars of one part: zkryptium's `prepare_parameters`, as its
/// `proof_gen_with_nym` calls it (signer messages, then the blind draft's two generators).
struct Params {
    p1: G1Projective,
    q1: G1Projective,
    /// Generator of message index j: signer messages, prover blind, nym secret.
    h: Vec<G1Projective>,
    /// Every generator after P1, compressed: the domain's fixed part.
    all: Vec<G1Projective>,
}

impl Params {
    /// Parameters for `message_count` signer messages; `values` are mapped to scalars (the
    /// disclosed ones at verification, all of them at proof generation), `blind` appended.
    fn new(
        message_count: usize,
        values: &[Vec<u8>],
        blind: Option<&BlindFactor>,
    ) -> Result<(Self, Vec<Scalar>), CryptoError> {
        // The scalars as `prepare_parameters` maps them; with no generators asked for, it
        // hashes no point, since the generators come from `cached_generators`.
        let (scalars, _) =
            prepare_parameters::<Cs>(Some(values), None, 0, 0, blind, Some(api_id()))
                .map_err(|_| CryptoError)?;
        let (p1, all) = cached_generators(message_count);
        let (q1, h) = all.split_first().ok_or(CryptoError)?;
        if h.len() != message_count + COMMITTED {
            return Err(CryptoError);
        }
        let params = Self {
            p1,
            q1: *q1,
            h: h.to_vec(),
            all: all.to_vec(),
        };
        Ok((params, scalars.iter().map(|m| m.value).collect()))
    }

    fn gen(&self, j: usize) -> Result<G1Projective, CryptoError> {
        self.h.get(j).copied().ok_or(CryptoError)
    }

    /// `calculate_domain(PK, generators, header || I2OSP(1, 8), api_id)`: the pseudonym
    /// interface binds the nym vector's length (1) to the header.
    fn domain(&self, pk: &PublicKey, header: &[u8]) -> Result<Scalar, CryptoError> {
        let combined = [header, &i2osp::<8>(1)[..]].concat();
        let mut dom = pk.to_bytes().to_vec();
        dom.extend_from_slice(&i2osp::<8>(self.h.len()));
        for g in &self.all {
            dom.extend_from_slice(&compressed(g));
        }
        dom.extend_from_slice(api_id());
        dom.extend_from_slice(&i2osp::<8>(combined.len()));
        dom.extend_from_slice(&combined);
        hash_to_scalar::<Cs>(&dom, &h2s_dst()).map_err(|_| CryptoError)
    }
}

/// OP, the letter's point: hash-to-curve of the context id under the api id.
fn op(context_id: &[u8]) -> G1Projective {
    G1Projective::hash::<<Cs as BbsCiphersuite>::Expander>(context_id, api_id())
}

/// One part's challenge input up to and including its domain: the draft's c_arr before the
/// presentation header (the pseudonym draft puts the pseudonym and Uv after T2).
fn transcript(
    disclosed: &[(usize, Scalar)],
    points: [&G1Projective; 7],
    domain: &Scalar,
) -> Vec<u8> {
    let mut c_arr = Vec::with_capacity(8 + disclosed.len() * 40 + 7 * POINT_LEN + SCALAR_LEN);
    c_arr.extend_from_slice(&i2osp::<8>(disclosed.len()));
    for (i, m) in disclosed {
        c_arr.extend_from_slice(&i2osp::<8>(*i));
        c_arr.extend_from_slice(&m.to_be_bytes());
    }
    for p in points {
        c_arr.extend_from_slice(&compressed(p));
    }
    c_arr.extend_from_slice(&domain.to_be_bytes());
    c_arr
}

/// The one challenge: every part's transcript in order, then the presentation header and the
/// context id, each after its length, as the draft appends them.
pub(crate) fn challenge_of(
    transcripts: &[Vec<u8>],
    ph: &[u8],
    context_id: &[u8],
) -> Result<Scalar, CryptoError> {
    let mut c_arr: Vec<u8> = transcripts.concat();
    c_arr.extend_from_slice(&i2osp::<8>(ph.len()));
    c_arr.extend_from_slice(ph);
    c_arr.extend_from_slice(&i2osp::<8>(context_id.len()));
    c_arr.extend_from_slice(context_id);
    hash_to_scalar::<Cs>(&c_arr, &h2s_dst()).map_err(|_| CryptoError)
}

/// The structural checks every path shares: 1..=MAX_PARTS parts in strictly ascending
/// issuer-id order,
/// disclosed indexes ascending and in range, shared indexes in range.
pub(crate) fn check_shape(
    keys: &[[u8; super::PUBLIC_KEY_LEN]],
    message_count: usize,
    disclosed: &[(usize, Vec<u8>)],
    shared: &[usize],
) -> Result<usize, CryptoError> {
    if keys.is_empty() || keys.len() > MAX_PARTS {
        return Err(CryptoError);
    }
    // Issuer-id order (an issuer id is the SHA-256 of its key), strictly: each issuer once,
    // and one order for the challenge, whoever calls.
    let ids: Vec<[u8; 32]> = keys
        .iter()
        .map(|k| crate::encoding::sha256(&[&k[..]]))
        .collect();
    if !ids.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        return Err(CryptoError);
    }
    let ascending = disclosed
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.0 < b.0));
    if !ascending
        || disclosed.iter().any(|(i, _)| *i >= message_count)
        || shared.iter().any(|i| *i >= message_count)
    {
        return Err(CryptoError);
    }
    message_count
        .checked_sub(disclosed.len())
        .ok_or(CryptoError)
}

/// The hidden indexes a proof responds for: undisclosed signer messages, then the prover
/// blind and the nym secret.
fn hidden_indexes(message_count: usize, disclosed: &[usize]) -> Vec<usize> {
    (0..message_count + COMMITTED)
        .filter(|j| !disclosed.contains(j))
        .collect()
}

/// The prover's state of one part between its commitments and the challenge.
struct Committed {
    abar: G1Projective,
    bbar: G1Projective,
    d: G1Projective,
    pseudonym: G1Projective,
    r1: Scalar,
    r3: Scalar,
    e: Scalar,
    e_t: Scalar,
    r1_t: Scalar,
    r3_t: Scalar,
    /// (hidden message, its blinding), in hidden-index order.
    hidden: Vec<(Scalar, Scalar)>,
    transcript: Vec<u8>,
}

/// The shared blindings, one per shared hidden index, drawn once for every part.
type SharedBlindings = Vec<(usize, Scalar)>;

fn commit_part(
    part: &PartSecret<'_>,
    op: &G1Projective,
    disclosed: &[usize],
    shared: &SharedBlindings,
    rng: &mut impl CryptoRngCore,
) -> Result<Committed, CryptoError> {
    let l = part.messages.len();
    octets::check_signature(part.secrets.signature)?;
    let (a_bytes, e_bytes) = part.secrets.signature.split_at(POINT_LEN);
    let a = G1Projective::from(g1_point(a_bytes)?);
    let e = nonzero_scalar(e_bytes)?;
    let blind = BlindFactor::from_bytes(part.secrets.prover_blind).map_err(|_| CryptoError)?;
    let (params, mut scalars) = Params::new(l, part.messages, Some(&blind))?;
    scalars.push(nonzero_scalar(part.secrets.nym_secret)?);
    if scalars.len() != l + COMMITTED {
        return Err(CryptoError);
    }
    let domain = params.domain(part.public_key, part.header)?;
    let mut b = params.p1 + params.q1 * domain;
    for (j, m) in scalars.iter().enumerate() {
        b += params.gen(j)? * m;
    }
    let (r1, r2) = (Scalar::random(&mut *rng), Scalar::random(&mut *rng));
    let r3 = Option::<Scalar>::from(r2.invert()).ok_or(CryptoError)?;
    let (e_t, r1_t, r3_t) = (
        Scalar::random(&mut *rng),
        Scalar::random(&mut *rng),
        Scalar::random(&mut *rng),
    );
    let d = b * r2;
    let abar = a * (r1 * r2);
    let bbar = d * r1 - abar * e;
    let t1 = abar * e_t + d * r1_t;
    let mut t2 = d * r3_t;
    let mut hidden = Vec::new();
    for j in hidden_indexes(l, disclosed) {
        let m = *scalars.get(j).ok_or(CryptoError)?;
        let m_t = match shared.iter().find(|(s, _)| *s == j) {
            Some((_, t)) => *t,
            None => Scalar::random(&mut *rng),
        };
        t2 += params.gen(j)? * m_t;
        hidden.push((m, m_t));
    }
    let (nym, nym_t) = *hidden.last().ok_or(CryptoError)?;
    let pseudonym = op * nym;
    let ut = op * nym_t;
    let disclosed_scalars: Vec<(usize, Scalar)> = disclosed
        .iter()
        .map(|i| scalars.get(*i).map(|m| (*i, *m)).ok_or(CryptoError))
        .collect::<Result<_, _>>()?;
    let transcript = transcript(
        &disclosed_scalars,
        [&abar, &bbar, &d, &t1, &t2, &pseudonym, &ut],
        &domain,
    );
    Ok(Committed {
        abar,
        bbar,
        d,
        pseudonym,
        r1,
        r3,
        e,
        e_t,
        r1_t,
        r3_t,
        hidden,
        transcript,
    })
}

fn finish_part(p: &Committed, c: &Scalar) -> Result<Presentation, CryptoError> {
    let mut proof = Vec::with_capacity(proof_len(p.hidden.len() - COMMITTED));
    for point in [&p.abar, &p.bbar, &p.d] {
        proof.extend_from_slice(&compressed(point));
    }
    for s in [p.e_t + p.e * c, p.r1_t - p.r1 * c, p.r3_t - p.r3 * c] {
        proof.extend_from_slice(&s.to_be_bytes());
    }
    for (m, m_t) in &p.hidden {
        proof.extend_from_slice(&(m_t + m * c).to_be_bytes());
    }
    proof.extend_from_slice(&c.to_be_bytes());
    let pseudonym: [u8; PSEUDONYM_LEN] = compressed(&p.pseudonym);
    Ok(Presentation { proof, pseudonym })
}

/// Holder: one presentation of `parts` (in the order the verifier will take them: issuer-id
/// order), disclosing `disclosed` (ascending indexes) in every part, with one blinding for
/// each index in `shared` that is hidden. Every part must carry the same values at the shared
/// and disclosed indexes, or the verifier refuses the result.
pub fn prove(
    parts: &[PartSecret<'_>],
    ph: &[u8],
    context_id: &[u8],
    disclosed: &[usize],
    shared: &[usize],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<Presentation>, CryptoError> {
    let message_count = parts.first().ok_or(CryptoError)?.messages.len();
    let keys: Vec<_> = parts.iter().map(|p| p.public_key.to_bytes()).collect();
    let shape: Vec<(usize, Vec<u8>)> = disclosed.iter().map(|i| (*i, Vec::new())).collect();
    check_shape(&keys, message_count, &shape, shared)?;
    if parts.iter().any(|p| p.messages.len() != message_count) {
        return Err(CryptoError);
    }
    let shared: SharedBlindings = shared
        .iter()
        .filter(|i| !disclosed.contains(i))
        .map(|i| (*i, Scalar::random(&mut *rng)))
        .collect();
    let op = op(context_id);
    let committed = parts
        .iter()
        .map(|p| commit_part(p, &op, disclosed, &shared, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let transcripts: Vec<Vec<u8>> = committed.iter().map(|p| p.transcript.clone()).collect();
    let c = challenge_of(&transcripts, ph, context_id)?;
    committed.iter().map(|p| finish_part(p, &c)).collect()
}

/// One part's points and scalars, each valid, at the length the hidden count gives.
struct ReadPart {
    abar: G1Affine,
    bbar: G1Affine,
    d: G1Projective,
    e_cap: Scalar,
    r1_cap: Scalar,
    r3_cap: Scalar,
    /// One per hidden index, in hidden-index order (the nym secret's last).
    m_cap: Vec<Scalar>,
    c: Scalar,
    pseudonym: G1Projective,
}

fn read_part(part: &PartStatement<'_>, hidden: usize) -> Result<ReadPart, CryptoError> {
    let scalars = proof_scalars(hidden);
    if part.proof.len() != proof_len(hidden) {
        return Err(CryptoError);
    }
    let pseudonym: &[u8; PSEUDONYM_LEN] = part.pseudonym.try_into().map_err(|_| CryptoError)?;
    // The drafts' validity checks, ours, before any arithmetic.
    octets::check_pseudonym(pseudonym)?;
    octets::check_proof(part.proof, scalars)?;
    let (points, rest) = part.proof.split_at(3 * POINT_LEN);
    let (abar, points) = points.split_at(POINT_LEN);
    let (bbar, d) = points.split_at(POINT_LEN);
    let values = rest
        .chunks_exact(SCALAR_LEN)
        .map(nonzero_scalar)
        .collect::<Result<Vec<_>, _>>()?;
    let [e_cap, r1_cap, r3_cap, m_and_c @ ..] = values.as_slice() else {
        return Err(CryptoError);
    };
    let [m_cap @ .., c] = m_and_c else {
        return Err(CryptoError);
    };
    Ok(ReadPart {
        abar: g1_point(abar)?,
        bbar: g1_point(bbar)?,
        d: G1Projective::from(g1_point(d)?),
        e_cap: *e_cap,
        r1_cap: *r1_cap,
        r3_cap: *r3_cap,
        m_cap: m_cap.to_vec(),
        c: *c,
        pseudonym: G1Projective::from(g1_point(pseudonym)?),
    })
}

/// One part's relations recomputed (T1, T2, Uv) into its transcript; its pairing equation
/// `e(Abar, PK) · e(Bbar, −P2) = 1` checked.
fn check_part(
    part: &PartStatement<'_>,
    p: &ReadPart,
    op: &G1Projective,
    message_count: usize,
    disclosed: &[(usize, Vec<u8>)],
) -> Result<Vec<u8>, CryptoError> {
    let values: Vec<Vec<u8>> = disclosed.iter().map(|(_, v)| v.clone()).collect();
    let (params, scalars) = Params::new(message_count, &values, None)?;
    let disclosed_scalars: Vec<(usize, Scalar)> = disclosed
        .iter()
        .zip(&scalars)
        .map(|((i, _), m)| (*i, *m))
        .collect();
    let domain = params.domain(part.public_key, part.header)?;
    let mut bv = params.p1 + params.q1 * domain;
    for (i, m) in &disclosed_scalars {
        bv += params.gen(*i)? * m;
    }
    let c = p.c;
    let (abar, bbar) = (G1Projective::from(p.abar), G1Projective::from(p.bbar));
    let t1 = bbar * c + abar * p.e_cap + p.d * p.r1_cap;
    let mut t2 = bv * c + p.d * p.r3_cap;
    let indexes: Vec<usize> = disclosed.iter().map(|(i, _)| *i).collect();
    let hidden = hidden_indexes(message_count, &indexes);
    if hidden.len() != p.m_cap.len() {
        return Err(CryptoError);
    }
    for (j, m) in hidden.iter().zip(&p.m_cap) {
        t2 += params.gen(*j)? * m;
    }
    let nym_cap = p.m_cap.last().ok_or(CryptoError)?;
    let uv = op * nym_cap - p.pseudonym * c;
    if bool::from(uv.is_identity()) {
        return Err(CryptoError);
    }
    let pk = octets::g2_point(&part.public_key.to_bytes())?;
    let minus_p2 = G2Prepared::from(-G2Affine::generator());
    let pairing = multi_miller_loop(&[(&p.abar, &G2Prepared::from(pk)), (&p.bbar, &minus_p2)])
        .final_exponentiation();
    if pairing != bls12_381_plus::Gt::IDENTITY {
        return Err(CryptoError);
    }
    Ok(transcript(
        &disclosed_scalars,
        [&abar, &bbar, &p.d, &t1, &t2, &p.pseudonym, &uv],
        &domain,
    ))
}

/// Verifier (reference): a presentation of `parts` (in issuer-id order, chosen by the caller
/// from the letter), every part disclosing `disclosed` and responding with one value for each
/// hidden index in `shared`. `message_count`, `disclosed` and `shared` come from the schema and
/// the letter, never from the submission.
pub fn verify(
    parts: &[PartStatement<'_>],
    ph: &[u8],
    context_id: &[u8],
    message_count: usize,
    disclosed: &[(usize, Vec<u8>)],
    shared: &[usize],
) -> Result<(), CryptoError> {
    let keys: Vec<_> = parts.iter().map(|p| p.public_key.to_bytes()).collect();
    let hidden = check_shape(&keys, message_count, disclosed, shared)?;
    let read = parts
        .iter()
        .map(|p| read_part(p, hidden))
        .collect::<Result<Vec<_>, _>>()?;
    check_common(
        &read
            .iter()
            .map(|p| (&p.c, &p.m_cap[..]))
            .collect::<Vec<_>>(),
        message_count,
        disclosed,
        shared,
    )?;
    let op = op(context_id);
    let transcripts = parts
        .iter()
        .zip(&read)
        .map(|(part, p)| check_part(part, p, &op, message_count, disclosed))
        .collect::<Result<Vec<_>, _>>()?;
    let c = read.first().map(|p| p.c).ok_or(CryptoError)?;
    if challenge_of(&transcripts, ph, context_id)? != c {
        return Err(CryptoError);
    }
    Ok(())
}

/// What binds the parts together, checked on the parsed responses: one challenge in every
/// part, and one response for each shared hidden index. `parts` holds each part's challenge
/// and its responses for the hidden indexes (hidden-index order).
pub(crate) fn check_common(
    parts: &[(&Scalar, &[Scalar])],
    message_count: usize,
    disclosed: &[(usize, Vec<u8>)],
    shared: &[usize],
) -> Result<(), CryptoError> {
    let (first_c, first_m) = parts.first().ok_or(CryptoError)?;
    let indexes: Vec<usize> = disclosed.iter().map(|(i, _)| *i).collect();
    let hidden = hidden_indexes(message_count, &indexes);
    let shared_at: Vec<usize> = hidden
        .iter()
        .enumerate()
        .filter(|(_, j)| shared.contains(j))
        .map(|(k, _)| k)
        .collect();
    for (c, m) in parts {
        if c != first_c || m.len() != first_m.len() {
            return Err(CryptoError);
        }
        for k in &shared_at {
            if m.get(*k) != first_m.get(*k) {
                return Err(CryptoError);
            }
        }
    }
    Ok(())
}
