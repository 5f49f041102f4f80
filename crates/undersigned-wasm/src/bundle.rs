//! Offline bundle verification in the browser, with the same report `undersigned verify` gives.

use undersigned_core::bundle::Bundle;

/// Verifies a bundle and returns its report as JSON, with the plain-language `statement` added.
pub fn verify_bundle(bundle_json: &str) -> Result<String, String> {
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
    serde_json::to_string(&value).map_err(|e| e.to_string())
}
