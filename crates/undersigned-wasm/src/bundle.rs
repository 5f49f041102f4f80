//! Offline bundle verification in the browser, with the same report `undersigned verify` gives.

use undersigned_core::bundle::Bundle;
use undersigned_core::pins::Pins;
use undersigned_core::share::{self, Share, ShareOutcome};

/// Verifies a bundle and returns its report as JSON, with the plain-language `statement` added.
pub fn verify_bundle(bundle_json: &str) -> Result<String, String> {
    verify_bundle_at(bundle_json, 0)
}

/// Like `verify_bundle`, plus core's delivery statement with the clock at `now` (unix secs),
/// so the page prints exactly what `undersigned verify` prints.
pub fn verify_bundle_at(bundle_json: &str, now: u64) -> Result<String, String> {
    verify_bundle_observed(bundle_json, now, &mut |_, _| {})
}

/// `verify_bundle_at`, telling `progress(done, total)` as the proofs are checked.
pub fn verify_bundle_observed(
    bundle_json: &str,
    now: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<String, String> {
    let outcome = verify_bundle_share(bundle_json, now, 0, 1, progress)?;
    let outcome: ShareOutcome = serde_json::from_str(&outcome).map_err(|e| e.to_string())?;
    match share::combine(&[outcome]).map_err(|e| e.to_string())? {
        Ok(report) => serde_json::to_string(&report).map_err(|e| e.to_string()),
        Err(message) => Err(message),
    }
}

/// One worker's share of a bundle's verification (`Bundle::verify_share`): every check, and
/// the proofs of share `index` of `of`. Returns the share's outcome (`share::ShareOutcome`) as
/// JSON, a failure included; only `combine_shares` over every share's outcome is a verdict.
pub fn verify_bundle_share(
    bundle_json: &str,
    now: u64,
    index: usize,
    of: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<String, String> {
    let share = Share::new(index, of).map_err(|e| e.to_string())?;
    let result = Bundle::parse(bundle_json.as_bytes()).and_then(|bundle| {
        bundle.verify_share(
            &undersigned_core::pins::Pins::default(),
            &mut bundle.batch_rng(),
            progress,
            share,
        )
    });
    let result = match result {
        Ok((report, checked)) => report_json(&report, now).map(|r| Ok((r, checked)))?,
        Err(e) => Err(e),
    };
    serde_json::to_string(&ShareOutcome::of_result(share, result)).map_err(|e| e.to_string())
}

/// The bundle's verdict from every worker's `verify_bundle_share` outcome (a JSON array): the
/// report JSON, or an error that says why the bundle, or the set of outcomes, fails.
pub fn combine_shares(outcomes_json: &str) -> Result<String, String> {
    let outcomes: Vec<ShareOutcome> =
        serde_json::from_str(outcomes_json).map_err(|e| format!("the workers' outcomes: {e}"))?;
    match share::combine(&outcomes).map_err(|e| e.to_string())? {
        Ok(report) => serde_json::to_string(&report).map_err(|e| e.to_string()),
        Err(message) => Err(message),
    }
}

/// The report as the page shows it: core's report plus its plain-language `statement` and
/// the delivery statement with the clock at `now`.
fn report_json(
    report: &undersigned_core::bundle::Report,
    now: u64,
) -> Result<serde_json::Value, String> {
    let mut value = serde_json::to_value(report).map_err(|e| e.to_string())?;
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
    Ok(value)
}

/// Compares a bundle's issuer and log keys with a deployment's (`/api/v1/deployment`), so the
/// verify page can say whether the bundle was signed under this site's keys; and when the keys
/// are this site's and the site names witnesses, whether its checkpoints carry the quorum of
/// their cosignatures (without it the operator alone vouches for the history shown). Returns
/// `{"match": bool, "witnessed": bool, "message": "...", "witness_error": null | "..."}`, where
/// `witnessed` means the keys match and the named witnesses' quorum cosigned; only unreadable
/// input is an error.
pub fn compare_keys(bundle_json: &str, deployment_json: &str) -> Result<String, String> {
    let bundle = Bundle::parse(bundle_json.as_bytes()).map_err(|e| e.to_string())?;
    let pins = Pins::from_deployment(deployment_json.as_bytes()).map_err(|e| e.to_string())?;
    let ids: Vec<_> = bundle.issuers.iter().map(|i| i.id).collect();
    let log_key = bundle
        .verifier()
        .map_err(|e| e.to_string())?
        .verifying_key()
        .to_bytes();
    let host = bundle.origin().map_err(|e| e.to_string())?.host;
    let mut witness_error = None;
    let pinned = pins
        .check(&ids, &log_key)
        .and_then(|()| pins.check_host(&host));
    let (matches, message) = match pinned {
        Err(e) => (
            false,
            format!("The bundle's keys do NOT match the keys this site publishes: {e}."),
        ),
        Ok(()) if pins.witnesses.is_empty() => (
            true,
            "The bundle's issuer key, log key and host match the ones this site publishes.".to_owned(),
        ),
        Ok(()) => match bundle.check_cosignatures(&pins) {
            Ok(by) => (
                true,
                format!(
                    "The bundle's issuer key, log key and host match the ones this site publishes, and its checkpoints carry the cosignatures of {} of this site's witnesses (quorum {}): {}.",
                    by.len(),
                    pins.quorum,
                    by.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
            Err(e) => {
                let m = format!(
                    "The bundle's keys are this site's, but its checkpoints lack the cosignatures this site's witnesses must give (quorum {}): {e}. Only the operator vouches for this history.",
                    pins.quorum
                );
                witness_error = Some(m.clone());
                (false, m)
            }
        },
    };
    // Witnessed: the keys are the pinned ones and the pinned witnesses' quorum cosigned the
    // history, so the reader does not rely on the operator alone.
    let witnessed = matches && !pins.witnesses.is_empty() && witness_error.is_none();
    serde_json::to_string(&serde_json::json!({
        "match": matches,
        "witnessed": witnessed,
        "message": message,
        "witness_error": witness_error,
    }))
    .map_err(|e| e.to_string())
}

/// The index and kind of the bundle entry whose leaf hash is `entry_hash_hex`.
pub fn find_entry(bundle_json: &str, entry_hash_hex: &str) -> Result<String, String> {
    let want: [u8; 32] = hex::decode(entry_hash_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a receipt's entry is 64 hex digits".to_owned())?;
    let bundle = undersigned_core::bundle::Bundle::parse(bundle_json.as_bytes())
        .map_err(|e| e.to_string())?;
    for (index, entry) in bundle.entries.iter().enumerate() {
        if undersigned_core::log::leaf_hash(&entry.leaf_bytes()) == want {
            let kind = serde_json::to_value(entry)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let withdrawn_by = bundle.withdrawal_of(index);
            return crate::json::to_string(
                &serde_json::json!({ "index": index, "kind": kind, "withdrawn_by": withdrawn_by }),
            );
        }
    }
    Err("this receipt's entry is not in this bundle (it may be in a later batch: download the bundle again)".into())
}
