//! Cosigned checkpoints: the newest one per log origin is the published checkpoint.

use std::sync::Arc;

use undersigned_store::Store;

use crate::harness::{checkpoint, on_both};

on_both!(cosigned_newest_per_origin, cosigned_same_size_replaced);

async fn cosigned_newest_per_origin(s: Arc<dyn Store>) {
    assert_eq!(s.latest_cosigned("h/letters/a").await.unwrap(), None);
    s.put_cosigned("h/letters/a", &checkpoint(2, 12))
        .await
        .unwrap();
    s.put_cosigned("h/letters/a", &checkpoint(1, 11))
        .await
        .unwrap();
    s.put_cosigned("h/issuers/b", &checkpoint(5, 15))
        .await
        .unwrap();
    assert_eq!(
        s.latest_cosigned("h/letters/a").await.unwrap(),
        Some(checkpoint(2, 12))
    );
    assert_eq!(
        s.latest_cosigned("h/issuers/b").await.unwrap(),
        Some(checkpoint(5, 15))
    );
}

async fn cosigned_same_size_replaced(s: Arc<dyn Store>) {
    s.put_cosigned("o", &checkpoint(3, 13)).await.unwrap();
    let mut more = checkpoint(3, 13);
    more.note.push_str("\u{2014} w2 AAAA\n");
    more.created_at = 99;
    s.put_cosigned("o", &more).await.unwrap();
    assert_eq!(s.latest_cosigned("o").await.unwrap(), Some(more));
}
