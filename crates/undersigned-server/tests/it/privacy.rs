//! After a full run over a real loopback socket, neither the SQLite file nor the server's log
//! output holds an email or IP address.

use crate::harness::*;
use axum::http::StatusCode;
use std::io::Write;
use std::sync::{Arc, Mutex};
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn find_email(hay: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(hay);
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('@') {
        let local = bytes[..i]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_alphanumeric() || b"._+-".contains(b))
            .count();
        let domain = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || b".-".contains(b))
            .count();
        if local > 0 && domain > 2 && text[i + 1..i + 1 + domain].contains('.') {
            return Some(text[i - local..i + 1 + domain].to_owned());
        }
    }
    None
}

fn find_ipv4(hay: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(hay);
    for w in text.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let parts: Vec<&str> = w.split('.').collect();
        if parts.len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u16>().is_ok_and(|n| n < 256))
        {
            return Some(w.to_owned());
        }
    }
    None
}

#[test]
fn detectors_work() {
    assert_eq!(
        find_email(b"xx alice.b@state.gov yy").as_deref(),
        Some("alice.b@state.gov")
    );
    assert_eq!(
        find_ipv4(b"from 127.0.0.1:5000").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(find_email(b"version 1.2.3 and @ alone"), None);
}

#[test]
fn no_email_or_ip_in_database_or_logs() {
    no_email_or_ip_with(LogFormat::Text);
}

/// `serve --log-format json`: the same events as JSON objects, held to the same rule.
#[test]
fn no_email_or_ip_in_database_or_json_logs() {
    no_email_or_ip_with(LogFormat::Json);
}

#[derive(Clone, Copy)]
enum LogFormat {
    Text,
    Json,
}

fn no_email_or_ip_with(format: LogFormat) {
    let capture = Capture::default();
    let sink = capture.clone();
    // Everything at trace level, with the same address filter as `serve`.
    let filter = undersigned_server::NO_ADDRESS_LOGS
        .iter()
        .fold(tracing_subscriber::EnvFilter::new("trace"), |f, d| {
            f.add_directive(d.parse().unwrap())
        });
    let fmt = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_env_filter(filter)
        .with_ansi(false);
    let dispatch = match format {
        LogFormat::Text => tracing::Dispatch::new(fmt.finish()),
        LogFormat::Json => tracing::Dispatch::new(fmt.json().finish()),
    };
    let _guard = tracing::dispatcher::set_default(&dispatch);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(async {
        let t = TestServer::sqlite(Default::default()).await;
        // Every request of this run comes from 127.0.0.1 over a real socket.
        let addr = t.listen().await;
        assert!(addr.ip().is_loopback());
        let mut creds = vec![];
        for i in 0..3 {
            creds.push(
                t.credential(
                    &format!("private.person{i}@state.gov"),
                    "analyst",
                    AgeBand::From40To49,
                )
                .await,
            );
        }
        let (handle, token, id, letter) = t.open_letter("Privacy", default_policy()).await;
        for c in &creds {
            let e = t
                .entry(
                    c,
                    &letter,
                    Action::Sign,
                    DisclosureChoice {
                        role: true,
                        age_band: true,
                        email: false,
                    },
                    Some("no names"),
                )
                .await;
            assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
        }
        let w = t
            .entry(
                &creds[0],
                &letter,
                Action::Withdraw,
                DisclosureChoice::default(),
                None,
            )
            .await;
        assert_eq!(t.submit(&id, &w).await.0, StatusCode::ACCEPTED);
        // Refusals log too; they must not carry addresses either.
        let _ = t
            .post(
                "/api/v1/issuance/code",
                &serde_json::json!({"email": "someone@gmail.com"}),
                None,
            )
            .await;
        let _ = t
            .post(
                "/api/v1/letters/{handle}/close",
                &serde_json::json!({}),
                None,
            )
            .await;
        let (s, _) = t
            .post(
                &format!("/api/v1/letters/{handle}/close"),
                &serde_json::json!({}),
                Some(&token),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        tracing::info!("end of run");
        t
    });
    let logs = capture.0.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&logs).contains("end of run"),
        "the capture works"
    );
    if let LogFormat::Json = format {
        for line in String::from_utf8_lossy(&logs).lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
            assert!(v["fields"].is_object(), "{line}");
        }
    }
    assert_eq!(find_email(&logs), None, "email address in the logs");
    assert_eq!(find_ipv4(&logs), None, "IP address in the logs");
    assert!(
        !String::from_utf8_lossy(&logs).contains("127.0.0.1"),
        "the client's address is in the logs"
    );
    let mut db = Vec::new();
    for entry in std::fs::read_dir(t.dir.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("undersigned.db") {
            db.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    assert!(
        db.len() > 10_000,
        "the database was found ({} bytes)",
        db.len()
    );
    assert_eq!(find_email(&db), None, "email address in the database");
    assert_eq!(find_ipv4(&db), None, "IP address in the database");
    assert!(
        !String::from_utf8_lossy(&db).contains("127.0.0.1"),
        "the client's address is in the database"
    );
    assert!(
        !String::from_utf8_lossy(&db).contains("private.person"),
        "a local part of an address is in the database"
    );
    drop(rt);
}
