//! What an attacker of a deployment with several issuers builds: a corrupt issuer's credential
//! minted with no mail sent, and a composite entry proved honestly over credentials that do not
//! belong together (two people's, or a minted one with a real person's). Shared by core's
//! tests and the CLI's tests against a live deployment, so both refuse the same forgeries.

use rand_chacha::ChaCha20Rng;
use undersigned_core::bbs::composite::{self, PartSecret};
use undersigned_core::bbs::SecretKey;
use undersigned_core::credential::{self, receive_credential, request_credential, Credential};
use undersigned_core::entry::{presentation_header, SignatureEntry, SHARED};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};

/// A corrupt issuer's credential for `email`: its key, with none of its memory of who already
/// holds one, and no code mail.
#[allow(clippy::too_many_arguments)] // an issuance's every input, as the attacker picks them
pub fn mint(
    keys: &IssuerKeys,
    membership: &Membership,
    epoch: &Epoch,
    email: &str,
    role: &str,
    age: AgeBand,
    rng: &mut ChaCha20Rng,
) -> Credential {
    let sk = SecretKey::from_bytes(&keys.secret_key().to_bytes()).unwrap();
    let twin = IssuerKeys::from_parts(&keys.name, sk, keys.public_key().clone());
    let mut corrupt = Issuer::new(twin, membership.clone(), rng);
    let email = Email::parse(email).unwrap();
    let role = Role::parse(role).unwrap();
    let (req, pending) = request_credential(rng).unwrap();
    let resp = corrupt.issue(&req, &email, epoch, &role, age, rng).unwrap();
    let attrs = corrupt
        .membership
        .attributes(&email, epoch.clone(), role, age)
        .unwrap();
    receive_credential(pending, &resp, corrupt.keys.public_key(), attrs).unwrap()
}

/// `template` with its parts re-proved, by the composite prover itself, over `mixed` (one
/// credential per part, in the template's issuer order), whatever their addresses: the
/// holder's `present_with` refuses to mix, an attacker calls the prover directly.
pub fn prove_mixed(
    template: &SignatureEntry,
    mixed: &[&Credential],
    rng: &mut ChaCha20Rng,
) -> SignatureEntry {
    let secrets: Vec<_> = mixed.iter().map(|c| c.holder_secrets()).collect();
    let keys: Vec<_> = mixed
        .iter()
        .map(|c| c.issuer_public_key().unwrap())
        .collect();
    let headers: Vec<_> = mixed
        .iter()
        .map(|c| credential::header(&c.issuer_id))
        .collect();
    let messages: Vec<_> = mixed.iter().map(|c| c.attributes.messages()).collect();
    let parts: Vec<PartSecret<'_>> = (0..mixed.len())
        .map(|i| PartSecret {
            public_key: &keys[i],
            header: &headers[i],
            messages: &messages[i],
            secrets: undersigned_core::bbs::HolderSecrets { ..secrets[i] },
        })
        .collect();
    let ph = presentation_header(
        &template.letter_id,
        template.action,
        template.comment.as_deref(),
    );
    let proved =
        composite::prove(&parts, &ph, &template.letter_id.0, &[0, 1], &SHARED, rng).unwrap();
    let mut entry = template.clone();
    for (part, p) in entry.parts.iter_mut().zip(proved) {
        part.proof = p.proof;
        part.pseudonym = p.pseudonym.to_vec();
    }
    entry
}
