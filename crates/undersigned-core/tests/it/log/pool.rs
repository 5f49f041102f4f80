//! Pool shuffling and the publish schedule.

use crate::log::rng;
use undersigned_core::log::*;

#[test]
fn drain_returns_a_permutation_and_empties_pool() {
    let mut pool = Pool::new(1000);
    for i in 0..500u32 {
        pool.push(i, i.to_be_bytes().to_vec()).unwrap();
    }
    assert_eq!(pool.len(), 500);
    let out = pool.drain_shuffled(&mut rng(1));
    assert!(pool.is_empty());
    let mut ids: Vec<u32> = out.iter().map(|e| e.id).collect();
    assert_ne!(ids, (0..500).collect::<Vec<_>>());
    for e in &out {
        assert_eq!(e.leaf, e.id.to_be_bytes());
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..500).collect::<Vec<_>>());
    assert!(pool.drain_shuffled(&mut rng(2)).is_empty());
}

#[test]
fn shuffle_is_deterministic_in_rng_and_roughly_uniform() {
    let fill = || {
        let mut p = Pool::new(10);
        for i in 0..4u8 {
            p.push(i, vec![i]).unwrap();
        }
        p
    };
    let a: Vec<u8> = fill()
        .drain_shuffled(&mut rng(7))
        .iter()
        .map(|e| e.id)
        .collect();
    let b: Vec<u8> = fill()
        .drain_shuffled(&mut rng(7))
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(a, b);
    // Every one of the 24 orders should appear about 24000/24 = 1000 times.
    let mut r = rng(8);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..24_000 {
        let order: Vec<u8> = fill().drain_shuffled(&mut r).iter().map(|e| e.id).collect();
        *counts.entry(order).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 24);
    for (order, c) in counts {
        assert!((800..1200).contains(&c), "{order:?} appeared {c} times");
    }
}

#[test]
fn fail_push_to_full_pool() {
    let mut p = Pool::new(2);
    p.push("a", vec![]).unwrap();
    p.push("b", vec![]).unwrap();
    assert_eq!(p.push("c", vec![]), Err(PoolError::Full(2)));
    assert_eq!(p.pending().len(), 2);
}

#[test]
fn schedule_math() {
    let s = PublishSchedule::new(600, 60).unwrap();
    assert_eq!(s.next_publish_after(0).unwrap(), 600);
    assert_eq!(s.next_publish_after(599).unwrap(), 600);
    // Strictly after: the batch at 600 may already be drained.
    assert_eq!(s.next_publish_after(600).unwrap(), 1200);
    assert_eq!(s.include_by(599).unwrap(), 660);
    assert_eq!(s.include_by(600).unwrap(), 1260);
    for t in [0u64, 1, 599, 600, 601, 1_700_000_000] {
        let next = s.next_publish_after(t).unwrap();
        assert!(next > t && next - t <= 600 && next.is_multiple_of(600));
    }
}

#[test]
fn fail_schedule_edges() {
    assert_eq!(PublishSchedule::new(0, 0), Err(PoolError::ZeroInterval));
    let s = PublishSchedule::new(600, 60).unwrap();
    assert_eq!(s.next_publish_after(u64::MAX), Err(PoolError::TimeOverflow));
    assert!(s.include_by(u64::MAX - 100).is_err());
    let one = PublishSchedule::new(1, 0).unwrap();
    assert_eq!(one.next_publish_after(u64::MAX - 1).unwrap(), u64::MAX);
}
