//! The issuer (work-email attestor): keys, membership rules, blind issuance, one per address.
//!
//! The issuer learns an address only long enough to check it: what it keeps is an HMAC of the
//! normalized address under a server secret (so a leaked table cannot be reversed by hashing a
//! staff directory), plus the counts per cell that it publishes as anonymity sets.

use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use zeroize::Zeroizing;

use crate::anonymity::{IssuedCounts, PublishedSets};
// The keys live beside the credential schema they sign under, so the issuer statement can be
// signed with them without importing the issuer; their old path stays for callers.
pub use crate::credential::IssuerKeys;
use crate::credential::{Attributes, IssuanceRequest, IssuanceResponse};
use crate::error::IssueError;
use crate::ids::{AddressRules, AgeBand, Email, Epoch, IssuerId, OrgId, Role};

/// Domains that anyone can register; a code sent there proves no employment.
pub const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.net",
    "mail.com",
    "yandex.com",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "hey.com",
];

/// What a deployment accepts: organizations (domain to display name), the role list, and the
/// extra address rules of the organizations whose mail systems need them.
#[derive(Clone, Debug, Default)]
pub struct Membership {
    pub orgs: BTreeMap<OrgId, String>,
    pub roles: BTreeSet<Role>,
    /// Extra normalization per organization (keyed by its domain); absent means only the
    /// fixed rules (lowercase, strip a `+tag`).
    pub address_rules: BTreeMap<OrgId, AddressRules>,
    /// Organizations whose subdomains' mailboxes are theirs: `ann@eu.acme.com` belongs to
    /// `acme.com` when `acme.com` is here and `eu.acme.com` is no organization of its own. The
    /// address stays `ann@eu.acme.com`: only the organization is folded, never the address.
    pub subdomains: BTreeSet<OrgId>,
}

/// How one organization's addresses are normalized: its extra rules and whether its
/// subdomains' mailboxes are its own. Two issuers of one letter must agree on it for every
/// organization (`Policy::check_issuers`), or one person's parts would carry two addresses.
pub type OrgRule = (AddressRules, bool);

impl Membership {
    /// Every organization with its address rule, for `Policy::check_issuers`.
    pub fn org_rules(&self) -> BTreeMap<OrgId, OrgRule> {
        self.orgs
            .keys()
            .map(|o| {
                let rules = self.address_rules.get(o).copied().unwrap_or_default();
                (o.clone(), (rules, self.subdomains.contains(o)))
            })
            .collect()
    }

    /// What a holder needs to normalize an address as the issuer will: the organizations with
    /// their address rules and whether their subdomains count, as a deployment publishes them
    /// (`(domain, rules, subdomains)`). A domain that does not parse names no organization and
    /// is skipped. Roles are left empty: the holder does not check them.
    pub fn for_addresses<'a>(
        orgs: impl IntoIterator<Item = (&'a str, AddressRules, bool)>,
    ) -> Self {
        let mut m = Self {
            orgs: BTreeMap::new(),
            roles: BTreeSet::new(),
            address_rules: BTreeMap::new(),
            subdomains: BTreeSet::new(),
        };
        for (domain, rules, subdomains) in orgs {
            let Ok(org) = OrgId::parse(domain) else {
                continue;
            };
            if rules != AddressRules::default() {
                m.address_rules.insert(org.clone(), rules);
            }
            if subdomains {
                m.subdomains.insert(org.clone());
            }
            m.orgs.insert(org, String::new());
        }
        m
    }

    /// The address the one-credential rule counts (see `Email::normalize`): the address as
    /// typed, normalized within its own domain. Every tag, rate limit and credential
    /// attribute is computed from this form only.
    ///
    /// An organization's `address_rules` describe its own mail system, so they apply to
    /// addresses at its own domain only. A subdomain that belongs to it by the subdomain rule
    /// may be another mail system (a vendor's helpdesk): its addresses get the fixed rules
    /// alone, and keep their domain. So normalizing never turns one mailbox's address into
    /// another's (issue 21: `ceo@vendor-helpdesk.acme-group.example` once became
    /// `ceo@acme-group.example` and took the real CEO's credential).
    pub fn normalize(&self, email: &Email) -> Result<Email, IssueError> {
        let rules = self
            .address_rules
            .get(&email.org())
            .copied()
            .unwrap_or_default();
        email
            .normalize(&rules)
            .map_err(|_| IssueError::InvalidAddress)
    }

    /// The organization an address belongs to: its own domain when that is an organization,
    /// else the nearest parent domain that accepts its subdomains.
    fn org_of(&self, email: &Email) -> Option<OrgId> {
        let org = email.org();
        if self.orgs.contains_key(&org) {
            return Some(org);
        }
        // Nearest parent first: `a.b.acme.com` tries `b.acme.com`, then `acme.com`.
        let mut rest = org.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(o) = self.subdomains.iter().find(|o| o.as_str() == parent) {
                return Some(o.clone());
            }
            rest = parent;
        }
        None
    }

    /// Checks that an address belongs to an accepted, non-free-mail organization, and names
    /// it (the organization a credential attests, `Attributes::of_member`).
    pub fn check_address(&self, email: &Email) -> Result<OrgId, IssueError> {
        let own = email.org();
        let refused = || IssueError::OrgNotAccepted(own.as_str().to_owned());
        if FREE_MAIL.contains(&own.as_str()) {
            return Err(refused());
        }
        let org = self.org_of(email).ok_or_else(refused)?;
        if FREE_MAIL.contains(&org.as_str()) {
            return Err(refused());
        }
        Ok(org)
    }

    /// The attributes a holder expects in its credential for an address as typed: normalized
    /// (`normalize`), with the organization it belongs to by the subdomain rule (its own
    /// domain when the deployment names none). The issuer signs these after its own
    /// `check_address`; a mismatch shows when the holder verifies the credential.
    pub fn attributes(
        &self,
        email: &Email,
        epoch: Epoch,
        role: Role,
        age_band: AgeBand,
    ) -> Result<Attributes, IssueError> {
        let email = self.normalize(email)?;
        let org = self.org_of(&email).unwrap_or_else(|| email.org());
        Ok(Attributes::of_member(org, email, epoch, role, age_band))
    }

    pub fn check_role(&self, role: &Role) -> Result<(), IssueError> {
        if role.as_str() == crate::ids::UNSPECIFIED || self.roles.contains(role) {
            Ok(())
        } else {
            Err(IssueError::RoleNotAccepted)
        }
    }
}

/// The tag that keys an address's email code and its rate limits:
/// HMAC-SHA-256(secret, "code-tag" || issuer id || normalized address). It names no epoch,
/// because one code serves a request for every issuable epoch at once.
pub fn code_tag(secret: &[u8; 32], issuer: &IssuerId, email: &Email) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(b"undersigned/code-tag/v1\n");
    mac.update(&issuer.0);
    mac.update(email.expose().as_bytes());
    mac.finalize().into_bytes().into()
}

/// The tag stored instead of an address: HMAC-SHA-256(secret, issuer id || epoch || address),
/// over the normalized address.
pub fn address_tag(secret: &[u8; 32], issuer: &IssuerId, epoch: &Epoch, email: &Email) -> [u8; 32] {
    // new_from_slice only fails for invalid key lengths, which HMAC does not have.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(b"undersigned/address-tag/v1\n");
    mac.update(&issuer.0);
    mac.update(epoch.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(email.expose().as_bytes());
    mac.finalize().into_bytes().into()
}

/// An in-memory issuer: keys, membership, the issued-tag set and counts per epoch.
///
/// The server keeps the same state in its store; this type is what the demo and the protocol
/// tests use, and what the store-backed issuer must behave like.
#[derive(Debug)]
pub struct Issuer {
    pub keys: IssuerKeys,
    pub membership: Membership,
    tag_secret: Zeroizing<[u8; 32]>,
    issued: BTreeSet<[u8; 32]>,
    counts: BTreeMap<Epoch, IssuedCounts>,
}

impl Issuer {
    pub fn new(keys: IssuerKeys, membership: Membership, rng: &mut impl CryptoRngCore) -> Self {
        let mut tag_secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut tag_secret[..]);
        Self {
            keys,
            membership,
            tag_secret,
            issued: BTreeSet::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Issues one credential to a verified address for `epoch`, refusing a second one.
    pub fn issue(
        &mut self,
        request: &IssuanceRequest,
        email: &Email,
        epoch: &Epoch,
        role: &Role,
        age_band: AgeBand,
        rng: &mut impl CryptoRngCore,
    ) -> Result<IssuanceResponse, IssueError> {
        let mut issued = self.issue_epochs(
            &[(epoch.clone(), request.clone())],
            email,
            role,
            age_band,
            rng,
        )?;
        issued
            .pop()
            .map(|(_, response)| response)
            .ok_or_else(|| IssueError::AlreadyIssued(epoch.as_str().to_owned()))
    }

    /// Issues, in one request, a credential for each requested epoch the normalized address
    /// does not hold yet. Epochs it holds are skipped; if it holds them all, the request is
    /// refused as already issued. The caller has checked that the epochs are the issuable ones.
    pub fn issue_epochs(
        &mut self,
        requests: &[(Epoch, IssuanceRequest)],
        email: &Email,
        role: &Role,
        age_band: AgeBand,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<(Epoch, IssuanceResponse)>, IssueError> {
        let email = self.membership.normalize(email)?;
        let org = self.membership.check_address(&email)?;
        self.membership.check_role(role)?;
        let mut out = Vec::new();
        for (epoch, request) in requests {
            let tag = address_tag(&self.tag_secret, &self.keys.id(), epoch, &email);
            if self.issued.contains(&tag) || out.iter().any(|(e, _)| e == epoch) {
                continue;
            }
            let attributes = Attributes::of_member(
                org.clone(),
                email.clone(),
                epoch.clone(),
                role.clone(),
                age_band,
            );
            out.push((
                epoch.clone(),
                self.keys.blind_sign(request, &attributes, rng)?,
            ));
        }
        if out.is_empty() {
            let held: Vec<&str> = requests.iter().map(|(e, _)| e.as_str()).collect();
            return Err(IssueError::AlreadyIssued(held.join(", ")));
        }
        // Recorded only once every signature succeeded: a failure must not use up a credential.
        for (epoch, _) in &out {
            self.issued.insert(address_tag(
                &self.tag_secret,
                &self.keys.id(),
                epoch,
                &email,
            ));
            self.counts
                .entry(epoch.clone())
                .or_default()
                .record(&org, role, age_band);
        }
        Ok(out)
    }

    /// The anonymity sets this issuer publishes for an epoch, counts below k as `<k`.
    pub fn published_sets(&self, epoch: &Epoch, k: u32) -> PublishedSets {
        self.counts
            .get(epoch)
            .cloned()
            .unwrap_or_default()
            .publish(epoch, k)
    }

    /// Its signed-statement body: name, key, orgs and every epoch's sets (sequence and time
    /// are the issuer log's).
    pub fn statement(
        &self,
        k: u32,
        sequence: u64,
        published_at: u64,
    ) -> crate::statement::IssuerStatement {
        crate::statement::IssuerStatement::new(
            &self.keys,
            self.membership.orgs.clone(),
            sequence,
            published_at,
            self.counts.iter().map(|(e, c)| c.publish(e, k)).collect(),
        )
    }

    pub fn issued_tags(&self) -> usize {
        self.issued.len()
    }
}
