//! What the published tally lets a reader compute (issue 26): organization counts are exact and
//! equal the record's; no role or age-band group under k can be computed from any total or
//! breakdown, for every letter size from 1 to 2k + 1 and several ways signers fill the groups.

use std::collections::BTreeMap;

use undersigned_core::entry::{Action, Disclosed, Pseudonym, VerifiedEntry};
use undersigned_core::ids::{AgeBand, Epoch, OrgId, Role};
use undersigned_core::tally::{Cell, Summary, Tally, UNDISCLOSED};

/// One signer: organization, role and age band (each `None` when not disclosed).
type Signer = (&'static str, Option<&'static str>, Option<AgeBand>);

fn summarize(signers: &[Signer], k: u32) -> Summary {
    let mut t = Tally::new();
    for (i, (org, role, age)) in signers.iter().enumerate() {
        let mut nym = [0u8; 48];
        nym[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        t.apply(VerifiedEntry {
            action: Action::Sign,
            pseudonyms: vec![Pseudonym(nym)],
            disclosed: Disclosed {
                org: OrgId::parse(org).unwrap(),
                epoch: Epoch::parse("2026-Q4").unwrap(),
                role: role.map(|r| Role::parse(r).unwrap()),
                age_band: *age,
                email: None,
            },
        })
        .unwrap();
    }
    t.summarize(k)
}

/// The same signers with every member of a role or age-band group under k made undisclosed:
/// a world a reader cannot tell apart from the real one if the summaries are equal.
fn small_groups_undisclosed(signers: &[Signer], k: u32) -> Vec<Signer> {
    let count = |f: &dyn Fn(&Signer) -> Option<String>| {
        let mut m: BTreeMap<String, u32> = BTreeMap::new();
        for s in signers {
            if let Some(v) = f(s) {
                *m.entry(v).or_default() += 1;
            }
        }
        m
    };
    let roles = count(&|s| s.1.map(str::to_owned));
    let ages = count(&|s| s.2.map(|a| a.to_string()));
    signers
        .iter()
        .map(|&(org, role, age)| {
            let role = role.filter(|r| roles[*r] >= k);
            let age = age.filter(|a| ages[&a.to_string()] >= k);
            (org, role, age)
        })
        .collect()
}

/// Signers filling groups in several shapes: all alike, round-robin, one odd one out, and
/// some who do not disclose.
fn shapes(n: usize) -> Vec<Vec<Signer>> {
    let orgs = ["state.gov", "usaid.gov", "justice.gov"];
    let roles = ["analyst", "manager", "director"];
    let ages = [AgeBand::Under30, AgeBand::From30To39, AgeBand::From40To49];
    let alike = (0..n)
        .map(|i| (orgs[i % 3], Some(roles[0]), Some(ages[0])))
        .collect();
    let round = (0..n)
        .map(|i| (orgs[i % 2], Some(roles[i % 3]), Some(ages[(i + 1) % 3])))
        .collect();
    let odd = (0..n)
        .map(|i| {
            if i == 0 {
                (orgs[2], Some(roles[2]), Some(ages[2]))
            } else {
                (orgs[0], Some(roles[0]), Some(ages[1]))
            }
        })
        .collect();
    let quiet = (0..n)
        .map(|i| {
            let role = (i % 3 != 0).then_some(roles[i % 2]);
            let age = (i % 4 != 1).then_some(ages[i % 3]);
            (orgs[i % 3], role, age)
        })
        .collect();
    vec![alike, round, odd, quiet]
}

#[test]
fn no_role_or_age_band_group_under_k_can_be_computed_and_org_counts_match_the_record() {
    for k in [2u32, 3, 5] {
        for n in 1..=(2 * k as usize + 1) {
            for signers in shapes(n) {
                let s = summarize(&signers, k);
                let shown = |cells: &BTreeMap<String, Cell>| -> u64 {
                    cells
                        .values()
                        .map(|c| match c {
                            Cell::Count(v) => *v,
                            Cell::BelowK(_) => panic!("a '<k' cell beside an exact total"),
                        })
                        .sum()
                };
                // Every breakdown adds up to the exact total: nothing is left to subtract.
                assert_eq!(shown(&s.by_org), s.signatures);
                assert_eq!(shown(&s.by_role), s.signatures, "{s:?}");
                assert_eq!(shown(&s.by_age_band), s.signatures, "{s:?}");
                // Organizations as the record names them, exactly.
                let mut record: BTreeMap<String, u64> = BTreeMap::new();
                for (org, _, _) in &signers {
                    *record.entry((*org).to_owned()).or_default() += 1;
                }
                let by_org: BTreeMap<String, u64> = s
                    .by_org
                    .iter()
                    .map(|(o, c)| (o.clone(), if let Cell::Count(v) = c { *v } else { 0 }))
                    .collect();
                assert_eq!(by_org, record, "k={k} n={n}");
                // A named group is at least k.
                for (key, c) in s.by_role.iter().chain(&s.by_age_band) {
                    if key != UNDISCLOSED {
                        assert!(
                            matches!(c, Cell::Count(v) if *v >= u64::from(k)),
                            "{key}: {c:?}"
                        );
                    }
                }
                // The reader sees exactly what they would if every small group had not
                // disclosed at all: no small group's size follows from what is shown.
                let alt = summarize(&small_groups_undisclosed(&signers, k), k);
                assert_eq!(s, alt, "k={k} n={n} {signers:?}");
            }
        }
    }
}
