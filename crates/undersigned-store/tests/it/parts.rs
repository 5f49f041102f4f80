//! Signatures of several parts (one pseudonym per issuer used): two entries conflict when they
//! share a pseudonym; a sign conflicts with no earlier signature, a withdrawal with exactly one
//! live signature, which it withdraws whole. Races and old rows (written before signatures had
//! parts) included.

use std::sync::Arc;

use undersigned_store::{MalformedEntry, PendingEntry, SqliteStore, Store, StoreError};

use crate::harness::{
    accept, as_leaf, checkpoint, on_both, open_letter, parts, pseudonym, try_accept, PgDb,
};

on_both!(
    three_part_sign_is_pooled_whole,
    fail_sign_sharing_a_part,
    fail_sign_sharing_a_part_after_batch,
    fail_sign_sharing_a_part_of_a_withdrawn_signature,
    withdrawal_withdraws_the_whole_signature,
    fail_ambiguous_withdrawal_changes_nothing,
    fail_malformed_pseudonyms,
    concurrent_signatures_sharing_a_part_one_wins,
    concurrent_withdrawals_of_one_signature_one_wins,
);

fn is_double_sign(r: &Result<(), StoreError>) -> bool {
    matches!(r, Err(StoreError::DoubleSign))
}

async fn three_part_sign_is_pooled_whole(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let sign = parts(&[3, 1, 2], false, 0, 100);
    accept(&*s, &id, &sign).await;
    // The pool gives the parts back in the entry's order.
    let pending = s.pending(&id, 100).await.unwrap();
    assert_eq!(pending, vec![sign.clone()]);
    assert_eq!(
        pending[0].pseudonyms,
        vec![pseudonym(3), pseudonym(1), pseudonym(2)]
    );
    // Signing again with the same parts, in any order, is refused.
    let r = try_accept(&*s, &id, &parts(&[1, 2, 3], false, 0, 100)).await;
    assert!(is_double_sign(&r), "{r:?}");
}

async fn fail_sign_sharing_a_part(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    accept(&*s, &id, &parts(&[1, 2, 3], false, 0, 100)).await;
    // One shared part is enough, wherever it stands, with three parts or one.
    for shared in [
        parts(&[4, 5, 3], false, 0, 100),
        parts(&[2, 4, 5], false, 0, 100),
        parts(&[1], false, 0, 100),
    ] {
        let r = try_accept(&*s, &id, &shared).await;
        assert!(is_double_sign(&r), "{:?}: {r:?}", shared.pseudonyms);
        assert!(!s.is_pending(&id, &shared.entry_hash).await.unwrap());
    }
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 1);
    // The refused entries' own parts were not kept: they sign now.
    accept(&*s, &id, &parts(&[4, 5, 6], false, 0, 100)).await;
    // The same parts on another letter are another signer.
    let other = open_letter(&*s, "other").await;
    accept(&*s, &other, &parts(&[4, 5, 3], false, 0, 100)).await;
}

async fn fail_sign_sharing_a_part_after_batch(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let sign = parts(&[1, 2, 3], false, 0, 100);
    accept(&*s, &id, &sign).await;
    s.append_batch(&id, 1, &[as_leaf(&sign)], &checkpoint(2, 2))
        .await
        .unwrap();
    assert!(s.pending(&id, u64::MAX).await.unwrap().is_empty());
    let r = try_accept(&*s, &id, &parts(&[7, 8, 2], false, 0, 100)).await;
    assert!(is_double_sign(&r), "{r:?}");
    // And a withdrawal of the logged signature by one part withdraws it.
    accept(&*s, &id, &parts(&[3], true, 0, 100)).await;
    let r = try_accept(&*s, &id, &parts(&[1, 2], true, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
}

async fn fail_sign_sharing_a_part_of_a_withdrawn_signature(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    accept(&*s, &id, &parts(&[1, 2, 3], false, 0, 100)).await;
    accept(&*s, &id, &parts(&[2], true, 0, 100)).await;
    // Nobody signs again after withdrawing, with the part the withdrawal named or another.
    for again in [
        parts(&[9, 3, 10], false, 0, 100),
        parts(&[2, 9, 10], false, 1, 100),
    ] {
        let r = try_accept(&*s, &id, &again).await;
        assert!(is_double_sign(&r), "{:?}: {r:?}", again.pseudonyms);
    }
    accept(&*s, &id, &parts(&[9, 10, 11], false, 0, 100)).await;
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 3);
}

async fn withdrawal_withdraws_the_whole_signature(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let sign = parts(&[1, 2, 3], false, 0, 100);
    accept(&*s, &id, &sign).await;
    // Two of the three parts and one no signature has.
    let withdraw = parts(&[2, 99, 1], true, 0, 100);
    accept(&*s, &id, &withdraw).await;
    // The part it did not name is withdrawn too.
    let r = try_accept(&*s, &id, &parts(&[3], true, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
    // The unknown part was not recorded: it has no signature to withdraw, and it may sign.
    let r = try_accept(&*s, &id, &parts(&[99], true, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::WithdrawWithoutSign)), "{r:?}");
    accept(&*s, &id, &parts(&[99, 98], false, 0, 100)).await;
    assert_eq!(
        s.pending(&id, 100).await.unwrap(),
        vec![
            sign.clone(),
            withdraw.clone(),
            parts(&[99, 98], false, 0, 100)
        ]
    );
    // Once logged, the same.
    s.append_batch(
        &id,
        1,
        &[as_leaf(&sign), as_leaf(&withdraw)],
        &checkpoint(3, 3),
    )
    .await
    .unwrap();
    let r = try_accept(&*s, &id, &parts(&[3, 2], true, 1, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
}

async fn fail_ambiguous_withdrawal_changes_nothing(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    accept(&*s, &id, &parts(&[1, 2, 3], false, 0, 100)).await;
    accept(&*s, &id, &parts(&[4, 5, 6], false, 0, 100)).await;
    accept(&*s, &id, &parts(&[7], false, 0, 100)).await;
    for (ambiguous, signatures) in [
        (parts(&[3, 4], true, 0, 100), 2),
        (parts(&[99, 6, 1, 2], true, 0, 100), 2),
        (parts(&[7, 5, 1], true, 0, 100), 3),
    ] {
        let r = try_accept(&*s, &id, &ambiguous).await;
        match r {
            Err(StoreError::AmbiguousWithdrawal { signatures: n }) => {
                assert_eq!(n, signatures, "{:?}", ambiguous.pseudonyms);
            }
            other => panic!(
                "{:?}: expected AmbiguousWithdrawal, got {other:?}",
                ambiguous.pseudonyms
            ),
        }
        assert!(!s.is_pending(&id, &ambiguous.entry_hash).await.unwrap());
    }
    let message = StoreError::AmbiguousWithdrawal { signatures: 2 }.to_string();
    assert!(message.contains("2 different signatures"), "{message}");
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 3);
    // Nothing was withdrawn: each signature withdraws now, once.
    for (n, one) in [3u16, 4, 7].into_iter().enumerate() {
        accept(&*s, &id, &parts(&[one], true, 0, 100)).await;
        assert_eq!(s.pending(&id, 100).await.unwrap().len(), 4 + n);
    }
    // Touching two signatures is refused even when both are withdrawn already.
    let r = try_accept(&*s, &id, &parts(&[1, 5], true, 1, 100)).await;
    assert!(
        matches!(r, Err(StoreError::AmbiguousWithdrawal { signatures: 2 })),
        "{r:?}"
    );
}

async fn fail_malformed_pseudonyms(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let with = |pseudonyms: Vec<Vec<u8>>, withdraw: bool| PendingEntry {
        pseudonyms,
        ..parts(&[1], withdraw, 9, 100)
    };
    let len = undersigned_store::PSEUDONYM_LEN;
    let cases = [
        (
            with(vec![pseudonym(1), pseudonym(2), pseudonym(1)], false),
            MalformedEntry::RepeatedPseudonym { part: 2 },
        ),
        (
            with(vec![pseudonym(1), pseudonym(1)], true),
            MalformedEntry::RepeatedPseudonym { part: 1 },
        ),
        (
            with(vec![pseudonym(1), vec![7; len - 1]], false),
            MalformedEntry::PseudonymLength {
                part: 1,
                len: len - 1,
            },
        ),
        (
            with(vec![vec![7; len + 1]], false),
            MalformedEntry::PseudonymLength {
                part: 0,
                len: len + 1,
            },
        ),
        (
            with(vec![Vec::new()], true),
            MalformedEntry::PseudonymLength { part: 0, len: 0 },
        ),
        (with(Vec::new(), false), MalformedEntry::NoPseudonym),
        (with(Vec::new(), true), MalformedEntry::NoPseudonym),
    ];
    for (entry, want) in cases {
        let r = try_accept(&*s, &id, &entry).await;
        match r {
            Err(StoreError::MalformedEntry(got)) => assert_eq!(got, want),
            other => panic!("{:?}: expected {want:?}, got {other:?}", entry.pseudonyms),
        }
    }
    // Nothing of them was kept: no pool entry, and their pseudonyms are free.
    assert!(s.pending(&id, u64::MAX).await.unwrap().is_empty());
    accept(&*s, &id, &parts(&[1, 2], false, 0, 100)).await;
}

/// Two signatures sharing one of three parts (and two with two shared parts named in opposite
/// orders, which would deadlock on PostgreSQL if rows were taken in the entries' orders),
/// submitted at once: exactly one of each pair is accepted, the other is a double signature,
/// and the loser's other parts stay free.
async fn concurrent_signatures_sharing_a_part_one_wins(s: Arc<dyn Store>) {
    const ROUNDS: u16 = 8;
    let id = open_letter(&*s, "hdl").await;
    for round in 0..ROUNDS {
        let b = 100 * (round + 1);
        let pairs = [
            [
                parts(&[b + 1, b + 2, b + 3], false, 0, 100),
                parts(&[b + 4, b + 5, b + 3], false, 0, 100),
            ],
            [
                parts(&[b + 6, b + 7, b + 8], false, 0, 100),
                parts(&[b + 8, b + 9, b + 6], false, 0, 100),
            ],
        ];
        for pair in pairs {
            let tasks = crate::harness::spawn_each(&s, &id, pair.clone(), |s, id, e| async move {
                try_accept(&*s, &id, &e).await.map(|()| e)
            });
            let won = crate::harness::winners(tasks, |e| matches!(e, StoreError::DoubleSign)).await;
            assert_eq!(won.len(), 1, "round {round}");
            assert!(s.is_pending(&id, &won[0].entry_hash).await.unwrap());
            // The parts only the loser had were not kept: they sign now.
            let lost = pair.iter().find(|e| **e != won[0]).unwrap();
            let own: Vec<u16> = lost
                .pseudonyms
                .iter()
                .filter(|p| !won[0].pseudonyms.contains(p))
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            assert!(!own.is_empty());
            accept(&*s, &id, &parts(&own, false, 1, 100)).await;
        }
    }
    assert_eq!(
        s.pending(&id, 100).await.unwrap().len(),
        usize::from(4 * ROUNDS)
    );
}

/// Twenty withdrawals of one three-part signature at once, each naming other parts of it:
/// exactly one goes through, the others find it withdrawn.
async fn concurrent_withdrawals_of_one_signature_one_wins(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    accept(&*s, &id, &parts(&[1, 2, 3], false, 0, 100)).await;
    let named: [&[u16]; 5] = [&[1], &[2], &[3], &[3, 2], &[2, 99, 1]];
    let tasks = crate::harness::spawn_each(&s, &id, 0..20u8, move |s, id, variant| async move {
        let ns = named[usize::from(variant) % named.len()];
        try_accept(&*s, &id, &parts(ns, true, variant, 100)).await
    });
    let won = crate::harness::winners(tasks, |e| matches!(e, StoreError::DoubleWithdraw)).await;
    assert_eq!(won.len(), 1);
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 2);
}

/// On SQLite, signatures sharing a part that arrive together share one group commit and are
/// applied in turn: of each conflicting pair exactly one is accepted, as across transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_group_applies_conflicting_signatures_in_turn() {
    const PAIRS: u16 = 32;
    let db = crate::harness::SqliteDb::new().await;
    let s = db.store();
    let id = open_letter(&*s, "hdl").await;
    let (tx_before, n_before) = db.store.commit_groups().counts();
    let entries = (0..PAIRS).flat_map(|i| {
        let b = 10 * (i + 1);
        [
            parts(&[b + 1, b + 2, b + 3], false, 0, 100),
            parts(&[b + 3, b + 4, b + 5], false, 0, 100),
        ]
    });
    let tasks = crate::harness::spawn_each(&s, &id, entries, |s, id, e| async move {
        try_accept(&*s, &id, &e).await.map(|()| e)
    });
    let won = crate::harness::winners(tasks, |e| matches!(e, StoreError::DoubleSign)).await;
    let (tx, n) = db.store.commit_groups().counts();
    let (transactions, submissions) = (tx - tx_before, n - n_before);
    assert_eq!(submissions, u64::from(2 * PAIRS));
    assert!(
        transactions <= 16,
        "{transactions} transactions for {submissions} submissions"
    );
    assert_eq!(won.len(), usize::from(PAIRS));
    for i in 0..PAIRS {
        let shared = pseudonym(10 * (i + 1) + 3);
        let of_pair = won.iter().filter(|e| e.pseudonyms.contains(&shared));
        assert_eq!(of_pair.count(), 1, "pair {i}");
    }
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), usize::from(PAIRS));
}

/// Rows written before signatures had parts have no `signature`: each is a one-part signature
/// of its own pseudonym. Written here as that older version wrote them, they conflict and
/// withdraw like any signature.
async fn old_rows_conflict_and_withdraw(s: &dyn Store, id: &str) {
    let r = try_accept(s, id, &parts(&[30, 1], false, 0, 100)).await;
    assert!(is_double_sign(&r), "{r:?}");
    accept(s, id, &parts(&[30, 31, 32], false, 0, 100)).await;
    // An old signature and a new one at once.
    let r = try_accept(s, id, &parts(&[1, 32], true, 0, 100)).await;
    assert!(
        matches!(r, Err(StoreError::AmbiguousWithdrawal { signatures: 2 })),
        "{r:?}"
    );
    // Old signature 1 withdraws (with an unknown part alongside), once, and does not sign
    // again; old signature 2 is untouched by that.
    accept(s, id, &parts(&[1, 77], true, 0, 100)).await;
    let r = try_accept(s, id, &parts(&[1], true, 1, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
    let r = try_accept(s, id, &parts(&[40, 1], false, 0, 100)).await;
    assert!(is_double_sign(&r), "{r:?}");
    accept(s, id, &parts(&[2], true, 0, 100)).await;
    let r = try_accept(s, id, &parts(&[2, 40], true, 1, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
    // The new signature is still live.
    accept(s, id, &parts(&[31], true, 0, 100)).await;
}

/// The insert an older version made for a signature by pseudonym `n`.
const OLD_ROW: &str =
    "INSERT INTO pseudonyms (letter_id, pseudonym, withdrawn) VALUES ($1, $2, FALSE)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_old_rows_conflict_and_withdraw() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let s = SqliteStore::open(&path).await.unwrap();
    let id = open_letter(&s, "hdl").await;
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    for n in [1, 2] {
        sqlx::query(OLD_ROW)
            .bind(&id)
            .bind(pseudonym(n))
            .execute(&mut raw)
            .await
            .unwrap();
    }
    sqlx::Connection::close(raw).await.unwrap();
    old_rows_conflict_and_withdraw(&s, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_old_rows_conflict_and_withdraw() {
    let db = PgDb::new().await;
    let s = db.store();
    let id = open_letter(&*s, "hdl").await;
    let mut raw = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    for n in [1, 2] {
        sqlx::query(OLD_ROW)
            .bind(&id)
            .bind(pseudonym(n))
            .execute(&mut raw)
            .await
            .unwrap();
    }
    sqlx::Connection::close(raw).await.unwrap();
    old_rows_conflict_and_withdraw(&*s, &id).await;
}
