//! `/healthz`, `/readyz` (with a database whose schema moved ahead of this build) and the
//! served `/openapi.json`.

use crate::harness::TestServer;
use axum::http::StatusCode;

async fn ready_on(t: &TestServer) {
    let (s, body) = t.get_text("/healthz").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "ok\n"));
    let (s, body) = t.get_text("/readyz").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.starts_with("ready\n"), "{body}");
    for part in ["database: ok", "migrations: ok (version ", "keys: ok"] {
        assert!(body.contains(part), "{part} missing: {body}");
    }
}

#[tokio::test]
async fn ready_on_sqlite_and_postgres() {
    ready_on(&TestServer::sqlite(Default::default()).await).await;
    ready_on(&TestServer::postgres(Default::default()).await).await;
}

/// A database migrated by a newer build (or half-migrated) is not ready, and `/readyz` says
/// which part failed; the process itself stays healthy.
#[tokio::test]
async fn fail_readyz_names_a_schema_this_build_does_not_know() {
    let t = TestServer::sqlite(Default::default()).await;
    let db = t.dir.path().join("undersigned.db");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        db.display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer build', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (s, body) = t.get_text("/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.starts_with("not ready\n"), "{body}");
    assert!(
        body.contains("migrations: not current (database at 99990101000000"),
        "{body}"
    );
    let (s, _) = t.get_text("/healthz").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn openapi_document_is_served_as_shipped() {
    let t = TestServer::sqlite(Default::default()).await;
    let (s, body) = t.get_text("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let served: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shipped: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    assert_eq!(served, shipped);
    assert!(served["paths"]["/readyz"].is_object());
}
