//! Credential schema v1 and both sides of blind issuance: the issuer's keys that sign, the
//! holder's request, receive and keep.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::bbs::{self, PublicKey, SecretKey, COMMITMENT_LEN, SCALAR_LEN, SIGNATURE_LEN};
use crate::encoding::sha256;
use crate::error::IssueError;
use crate::ids::{AgeBand, Email, Epoch, IssuerId, OrgId, Role};

/// Domain tag that starts every credential header.
pub(crate) const HEADER_TAG: &[u8] = b"undersigned/credential/v1";

/// Message indexes of schema v1, in signing order.
pub const ORG: usize = 0;
pub const EPOCH: usize = 1;
pub const ROLE: usize = 2;
pub const AGE_BAND: usize = 3;
pub const EMAIL: usize = 4;
pub const MESSAGE_COUNT: usize = 5;

/// The BBS header: binds every signature to schema v1 and to one issuer.
pub fn header(issuer: &IssuerId) -> Vec<u8> {
    [HEADER_TAG, &issuer.0[..]].concat()
}

/// Issuer id = SHA-256 of its BBS public key.
pub fn issuer_id(pk: &PublicKey) -> IssuerId {
    IssuerId(sha256(&[&pk.to_bytes()]))
}

/// The five signed attributes of schema v1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    pub org: OrgId,
    pub epoch: Epoch,
    pub role: Role,
    pub age_band: AgeBand,
    pub email: Email,
}

impl Attributes {
    /// For an address whose domain is its organization's own (`ann@state.gov`).
    pub fn new(email: Email, epoch: Epoch, role: Role, age_band: AgeBand) -> Self {
        Self::of_member(email.org(), email, epoch, role, age_band)
    }

    /// For an address and the organization `Membership::check_address` found for it, which
    /// may be the parent of the address's domain (`ann@eu.acme.com` of `acme.com`): the
    /// address stays the one the code went to, so no two people share message 4.
    pub fn of_member(
        org: OrgId,
        email: Email,
        epoch: Epoch,
        role: Role,
        age_band: AgeBand,
    ) -> Self {
        Self {
            org,
            epoch,
            role,
            age_band,
            email,
        }
    }

    /// The messages in schema order; zeroized when dropped since one of them is the email.
    pub fn messages(&self) -> Zeroizing<Vec<Vec<u8>>> {
        Zeroizing::new(vec![
            self.org.as_str().as_bytes().to_vec(),
            self.epoch.as_str().as_bytes().to_vec(),
            self.role.as_str().as_bytes().to_vec(),
            self.age_band.as_str().as_bytes().to_vec(),
            self.email.expose().as_bytes().to_vec(),
        ])
    }
}

/// What the holder sends the issuer: a commitment (with proof) to a fresh nym secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuanceRequest {
    pub commitment: [u8; COMMITMENT_LEN],
}

impl IssuanceRequest {
    /// Parses exactly `COMMITMENT_LEN` bytes; anything else is a bad request.
    pub fn from_slice(b: &[u8]) -> Result<Self, IssueError> {
        Ok(Self {
            commitment: b.try_into().map_err(|_| IssueError::BadRequest)?,
        })
    }
}

/// What the holder keeps between request and response. Never leaves the device; serializable
/// so a browser holder can keep it in session storage across the issuance round trip.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingIssuance {
    #[serde(with = "hex_array")]
    nym_secret: [u8; SCALAR_LEN],
    #[serde(with = "hex_array")]
    prover_blind: [u8; SCALAR_LEN],
}

impl std::fmt::Debug for PendingIssuance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingIssuance(<secret>)")
    }
}

/// The issuer's answer: blind signature plus its share of the nym secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuanceResponse {
    pub signature: [u8; SIGNATURE_LEN],
    pub nym_entropy: [u8; SCALAR_LEN],
}

impl IssuanceResponse {
    pub fn from_slices(signature: &[u8], nym_entropy: &[u8]) -> Result<Self, IssueError> {
        Ok(Self {
            signature: signature.try_into().map_err(|_| IssueError::BadResponse)?,
            nym_entropy: nym_entropy
                .try_into()
                .map_err(|_| IssueError::BadResponse)?,
        })
    }
}

/// An issuer's keys and name. The secret key never leaves the issuer.
#[derive(Debug)]
pub struct IssuerKeys {
    pub name: String,
    sk: SecretKey,
    pk: PublicKey,
    id: IssuerId,
}

impl IssuerKeys {
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, IssueError> {
        let (sk, pk) = bbs::keygen(rng).map_err(|_| IssueError::Signing)?;
        Ok(Self::from_parts(name, sk, pk))
    }
    pub fn from_parts(name: &str, sk: SecretKey, pk: PublicKey) -> Self {
        let id = issuer_id(&pk);
        Self {
            name: name.to_owned(),
            sk,
            pk,
            id,
        }
    }
    pub fn id(&self) -> IssuerId {
        self.id
    }
    pub fn public_key(&self) -> &PublicKey {
        &self.pk
    }
    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    /// Blind-signs the attributes with the holder's committed nym secret. Pure crypto: the
    /// caller has checked membership and the one-per-address rule (see `Issuer::issue`).
    pub fn blind_sign(
        &self,
        request: &IssuanceRequest,
        attributes: &Attributes,
        rng: &mut impl CryptoRngCore,
    ) -> Result<IssuanceResponse, IssueError> {
        let entropy = bbs::random_scalar(rng);
        let signature = bbs::blind_sign(
            &self.sk,
            &self.pk,
            &request.commitment,
            &header(&self.id),
            &entropy,
            &attributes.messages(),
        )
        .map_err(|_| IssueError::BadRequest)?;
        Ok(IssuanceResponse {
            signature,
            nym_entropy: *entropy,
        })
    }
}

/// Holder, step 1: draw a nym secret and commit to it.
pub fn request_credential(
    rng: &mut impl CryptoRngCore,
) -> Result<(IssuanceRequest, PendingIssuance), IssueError> {
    let nym_secret = bbs::random_scalar(rng);
    let (commitment, blind) = bbs::commit(&nym_secret).map_err(|_| IssueError::BadRequest)?;
    Ok((
        IssuanceRequest { commitment },
        PendingIssuance {
            nym_secret: *nym_secret,
            prover_blind: *blind,
        },
    ))
}

/// Holder, step 3: verify the issuer's answer over the attributes we expect and keep the
/// finished credential. An answer over any other attributes fails here.
pub fn receive_credential(
    pending: PendingIssuance,
    response: &IssuanceResponse,
    issuer_pk: &PublicKey,
    attributes: Attributes,
) -> Result<Credential, IssueError> {
    let id = issuer_id(issuer_pk);
    let nym = bbs::finalize(
        issuer_pk,
        &response.signature,
        &header(&id),
        &attributes.messages(),
        &pending.nym_secret,
        &response.nym_entropy,
        &pending.prover_blind,
    )
    .map_err(|_| IssueError::BadResponse)?;
    Ok(Credential {
        issuer_id: id,
        issuer_pk: issuer_pk.to_bytes().to_vec(),
        attributes,
        secrets: CredentialSecrets {
            signature: response.signature,
            nym_secret: *nym,
            prover_blind: pending.prover_blind,
        },
    })
}

#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
struct CredentialSecrets {
    #[serde(with = "hex_array")]
    signature: [u8; SIGNATURE_LEN],
    #[serde(with = "hex_array")]
    nym_secret: [u8; SCALAR_LEN],
    #[serde(with = "hex_array")]
    prover_blind: [u8; SCALAR_LEN],
}

/// A finished credential, held only on the signer's device (browser storage or a 0600 file).
///
/// Debug prints the public parts only.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub issuer_id: IssuerId,
    #[serde(with = "hex_vec")]
    issuer_pk: Vec<u8>,
    pub attributes: Attributes,
    secrets: CredentialSecrets,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("issuer_id", &self.issuer_id)
            .field("org", &self.attributes.org)
            .field("epoch", &self.attributes.epoch)
            .finish_non_exhaustive()
    }
}

impl Credential {
    pub fn issuer_public_key(&self) -> Result<PublicKey, crate::error::Error> {
        PublicKey::from_slice(&self.issuer_pk)
            .map_err(|_| crate::error::Error::Encoding("issuer public key"))
    }

    /// The secrets, borrowed for presenting (never serialized: Debug redacts them).
    pub fn holder_secrets(&self) -> bbs::HolderSecrets<'_> {
        bbs::HolderSecrets {
            signature: &self.secrets.signature,
            nym_secret: &self.secrets.nym_secret,
            prover_blind: &self.secrets.prover_blind,
        }
    }

    /// Serialized secret material, for tests that prove it never leaves the device.
    pub fn secret_fingerprints(&self) -> Vec<String> {
        vec![
            hex::encode(self.secrets.signature),
            hex::encode(self.secrets.nym_secret),
            hex::encode(self.secrets.prover_blind),
            self.attributes.email.expose().to_owned(),
        ]
    }
}

mod hex_array {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        let mut out = [0u8; N];
        hex::decode_to_slice(s.as_bytes(), &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

mod hex_vec {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(D::Error::custom)
    }
}
