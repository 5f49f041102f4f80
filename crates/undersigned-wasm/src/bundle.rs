//! Offline bundle verification in the browser, with the same report `undersigned verify` gives.

use undersigned_core::bundle::Bundle;

/// Verifies a bundle and returns its report as JSON, with the plain-language `statement` added.
pub fn verify_bundle(bundle_json: &str) -> Result<String, String> {
    verify_bundle_at(bundle_json, 0)
}

/// Like `verify_bundle`, plus core's delivery statement with the clock at `now` (unix secs),
/// so the page prints exactly what `undersigned verify` prints.
pub fn verify_bundle_at(bundle_json: &str, now: u64) -> Result<String, String> {
    let bundle = Bundle::parse(bundle_json.as_bytes()).map_err(|e| e.to_string())?;
    let report = bundle.verify().map_err(|e| e.to_string())?;
    let mut value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(fields) = &mut value else {
        return Err("the report did not encode as an object".into());
    };
    fields.insert(
        "statement".into(),
        serde_json::Value::String(report.statement()),
    );
    fields.insert(
        "delivery_statement".into(),
        report
            .delivery_statement(now)
            .map_or(serde_json::Value::Null, serde_json::Value::String),
    );
    serde_json::to_string(&value).map_err(|e| e.to_string())
}
