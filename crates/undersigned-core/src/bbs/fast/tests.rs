//! The fast verifier's arithmetic against the plain one and against zkryptium: generators,
//! point decoding, the endomorphism's split, the fixed-base tables and the batching
//! coefficients. Unit tests, because these are internals no other crate sees; the verdicts of
//! whole proofs against the reference are in `tests/it/fast.rs`.

// Tests may panic: as in the integration tests (tests/it/main.rs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{
    coefficients, combine, g1_point, glv_msm, msm, split, table_sum, CryptoError, Generators, Table,
};
use crate::bbs::octets;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// blst's decoding of a G1 point with every validity check of `octets::g1_point`.
fn check_g1_point(bytes: &[u8]) -> Result<(), CryptoError> {
    g1_point(bytes).map(|_| ())
}

#[test]
fn generators_match_zkryptium() {
    use zkryptium::bbsplus::ciphersuites::{BbsCiphersuite, Bls12381Sha256};
    use zkryptium::bbsplus::generators::Generators as ZkGenerators;
    let api = Bls12381Sha256::API_ID_NYM;
    let signer = ZkGenerators::create::<Bls12381Sha256>(6, Some(api));
    let blind = ZkGenerators::create::<Bls12381Sha256>(2, Some(&[b"BLIND_", api].concat()));
    let expected: Vec<u8> = signer
        .values
        .iter()
        .chain(&blind.values)
        .flat_map(|p| bls12_381_plus::G1Affine::from(p).to_compressed())
        .collect();
    assert_eq!(Generators::new(5).unwrap().to_compressed(), expected);
}

#[test]
fn g1_decoding_matches_octets() {
    let mut rng = rng(77);
    // A valid pseudonym is a point of G1's subgroup, not the identity: any random one.
    let good = {
        use bls12_381_plus::elliptic_curve::group::Group;
        use bls12_381_plus::{G1Affine, G1Projective};
        G1Affine::from(G1Projective::random(&mut rng))
            .to_compressed()
            .to_vec()
    };
    let mut cases = vec![good.clone(), vec![0u8; 48], {
        let mut b = vec![0u8; 48];
        b[0] = 0xc0;
        b
    }];
    for pos in 0..48 {
        let mut b = good.clone();
        b[pos] ^= (rng.next_u32() % 255 + 1) as u8;
        cases.push(b);
    }
    // x = p (not canonical) with the compression flag.
    let mut p = hex::decode("1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab").unwrap();
    p[0] |= 0x80;
    cases.push(p);
    let mut agree_ok = 0;
    for b in &cases {
        let ours = check_g1_point(b).is_ok();
        assert_eq!(ours, octets::g1_point(b).is_ok(), "{}", hex::encode(b));
        agree_ok += usize::from(ours);
    }
    assert!(agree_ok >= 1, "the valid pseudonym decodes");
}

/// Random points of G1, decoded by blst.
fn random_points(n: usize, rng: &mut ChaCha20Rng) -> Vec<blst::blst_p1_affine> {
    use bls12_381_plus::elliptic_curve::group::Group;
    use bls12_381_plus::{G1Affine, G1Projective};
    (0..n)
        .map(|_| {
            let p = G1Affine::from(G1Projective::random(&mut *rng)).to_compressed();
            g1_point(&p).unwrap()
        })
        .collect()
}

/// A 128-bit integer as a scalar.
fn s128(v: u128) -> bls12_381_plus::Scalar {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&v.to_le_bytes());
    bls12_381_plus::Scalar::from_le_bytes(&b).unwrap()
}

/// Random scalars and the edge scalars: 0, ±1, -2, r - 1 and r - z² (the largest quotients),
/// z² ± 1 and z² itself (the split's boundary), and 2^b, 2^b - 1 around every window and half.
fn scalars_for_round(n: usize, round: usize, rng: &mut ChaCha20Rng) -> Vec<bls12_381_plus::Scalar> {
    use bls12_381_plus::elliptic_curve::Field;
    use bls12_381_plus::Scalar;
    let two = Scalar::from(2u64);
    let z2 = s128(0xac45_a401_0001_a402_0000_0001_0000_0000);
    let mut edge = vec![
        Scalar::ZERO,
        Scalar::ONE,
        -Scalar::ONE,
        -two,
        z2,
        z2 - Scalar::ONE,
        z2 + Scalar::ONE,
        -z2,
        z2 * z2,
    ];
    for bit in [7u64, 8, 15, 16, 127, 128, 129, 247, 248, 253, 254] {
        edge.push(two.pow_vartime(&[bit, 0, 0, 0]));
        edge.push(two.pow_vartime(&[bit, 0, 0, 0]) - Scalar::ONE);
        // All digits at the signed recoding's boundary: 0x80 in every byte.
        edge.push(
            s128(0x8080_8080_8080_8080_8080_8080_8080_8080) * two.pow_vartime(&[bit, 0, 0, 0]),
        );
    }
    (0..n)
        .map(|i| match round {
            0 => edge[(i * 7 + n) % edge.len()],
            1 => edge[(i * 5 + 3 * n + 1) % edge.len()],
            _ => Scalar::random(&mut *rng),
        })
        .collect()
}

/// The split of a scalar for the endomorphism: k = q·z² + rem, both halves below 2^128 and rem
/// below z², for the edge scalars and random ones.
#[test]
fn split_halves_recombine() {
    let mut rng = rng(0x5917);
    let z2 = 0xac45_a401_0001_a402_0000_0001_0000_0000u128;
    let mut checked = 0;
    for round in 0..40 {
        for k in scalars_for_round(16, round, &mut rng) {
            let (rem, q) = split(&k);
            let (rem, q) = (u128::from_le_bytes(rem), u128::from_le_bytes(q));
            assert!(rem < z2);
            assert_eq!(s128(q) * s128(z2) + s128(rem), k);
            checked += 1;
        }
    }
    assert_eq!(checked, 640);
}

/// The two fast paths of the multi-scalar multiplications (what `prepare` uses) against blst's
/// plain multiplication over the same points: the endomorphism path (`glv_msm`) and the
/// fixed-base tables (`table_sum`), for random points and the edge scalars, for every term count
/// a proof uses and more.
#[test]
fn fast_sums_match_plain_msm() {
    let mut rng = rng(0xc0b);
    let mut checked = 0;
    for n in 1..=10usize {
        for round in 0..4 {
            let points = random_points(n, &mut rng);
            let scalars = scalars_for_round(n, round, &mut rng);
            let plain = msm(&points, &scalars).unwrap();
            let glv = blst::min_pk::AggregatePublicKey::from(glv_msm(&points, &scalars).unwrap());
            assert_eq!(
                blst::blst_p1_affine::from(glv.to_public_key()),
                plain,
                "glv: {n} terms, round {round}"
            );
            let tables = Table::of_points(&points);
            assert_eq!(tables.len(), n);
            let terms: Vec<(&Table, _)> = tables.iter().zip(scalars.iter().copied()).collect();
            assert_eq!(
                table_sum(&terms).unwrap(),
                plain,
                "tables: {n} terms, round {round}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 40);
}

/// The batching coefficients `a + b·z²`, applied through the endomorphism, are the plain
/// multiplications by those scalars; none is zero.
#[test]
fn batch_coefficients_combine_as_their_scalars() {
    use bls12_381_plus::elliptic_curve::Field;
    let mut rng = rng(0xb47);
    for n in [1usize, 2, 7, 64] {
        let points = random_points(n, &mut rng);
        let coefs = coefficients(n, &mut rng);
        let scalars: Vec<_> = coefs.iter().map(|k| k.to_scalar()).collect();
        assert!(scalars.iter().all(|s| !bool::from(s.is_zero())));
        let refs: Vec<_> = coefs.iter().collect();
        assert_eq!(
            combine(&points, &refs),
            msm(&points, &scalars).unwrap(),
            "{n} points"
        );
    }
}

/// Sums that cancel give the identity on every path (a forged proof can aim for one: `prepare`
/// refuses an identity Uv, and T1, T2 enter the challenge as what they are).
#[test]
fn fast_sums_cancelling_terms_give_the_identity() {
    use bls12_381_plus::elliptic_curve::Field;
    use bls12_381_plus::Scalar;
    let mut rng = rng(0x1d);
    let p = g1_point(&bls12_381_plus::G1Affine::generator().to_compressed()).unwrap();
    let s = Scalar::random(&mut rng);
    let plain = msm(&[p, p], &[s, -s]).unwrap();
    assert_eq!(plain, Default::default());
    let tables = Table::of_points(&[p]);
    let terms: Vec<(&Table, Scalar)> = vec![(&tables[0], s), (&tables[0], -s)];
    assert_eq!(table_sum(&terms).unwrap(), plain);
    assert_eq!(table_sum(&[]).unwrap(), plain);
    assert_eq!(table_sum(&[(&tables[0], Scalar::ZERO)]).unwrap(), plain);
    let glv = blst::min_pk::AggregatePublicKey::from(glv_msm(&[p, p], &[s, -s]).unwrap());
    assert_eq!(blst::blst_p1_affine::from(glv.to_public_key()), plain);
    assert!(glv_msm(&[], &[]).is_err());
    assert!(Table::of_points(&[]).is_empty());
}
