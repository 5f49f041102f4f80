//! `undersigned verify`: offline verification of a bundle file, and of receipts against it.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use undersigned_core::bundle::Bundle;
use undersigned_core::log::Receipt;
use undersigned_core::pins::Pins;

/// The keys to insist on. Without them `verify` uses the keys the bundle carries, and says so.
#[derive(clap::Args, Debug, Default)]
pub struct PinArgs {
    /// A saved `/api/v1/deployment` answer: pins its issuer key, log key, host and witnesses.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["issuer_key", "log_key", "host"])]
    pub deployment: Option<PathBuf>,
    /// The issuer's BBS public key (base64url, as the deployment publishes it) or its issuer
    /// id (64 hex digits). Repeatable for letters that accept several issuers.
    #[arg(long, value_name = "KEY")]
    pub issuer_key: Vec<String>,
    /// The deployment's Ed25519 log key: 64 hex digits, or a signed-note verifier key.
    #[arg(long, value_name = "KEY")]
    pub log_key: Option<String>,
    /// The deployment's host, as its `/api/v1/deployment` publishes it (`example.org`): every
    /// log origin must be exactly `<host>/letters/<id>` or `<host>/issuers/<id>`.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// A witness's signed-note verifier key: the checkpoints must carry its cosignature
    /// (with `--quorum`, cosignatures from that many of the named witnesses). Repeatable;
    /// overrides the witnesses a `--deployment` file names.
    #[arg(long, value_name = "VKEY")]
    pub witness: Vec<String>,
    /// How many of the `--witness` keys must have cosigned (default: all of them).
    #[arg(long, value_name = "N", requires = "witness")]
    pub quorum: Option<usize>,
}

impl PinArgs {
    pub fn pins(&self) -> anyhow::Result<Pins> {
        let pins = self.keys()?;
        if self.witness.is_empty() {
            return Ok(pins);
        }
        Ok(pins.with_witnesses(self.witness.clone(), self.quorum)?)
    }

    fn keys(&self) -> anyhow::Result<Pins> {
        if let Some(path) = &self.deployment {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            return Pins::from_deployment(&bytes)
                .with_context(|| format!("{} is not a deployment file", path.display()));
        }
        let issuers = self
            .issuer_key
            .iter()
            .map(|k| Pins::parse_issuer_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pins {
            issuers: (!issuers.is_empty()).then_some(issuers),
            log_key: self
                .log_key
                .as_deref()
                .map(Pins::parse_log_key)
                .transpose()?,
            host: self.host.as_deref().map(Pins::parse_host).transpose()?,
            ..Pins::default()
        })
    }
}

fn load_receipt(path: &Path) -> anyhow::Result<Receipt> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // A receipt file is either a bare receipt or what `undersigned sign` keeps.
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let inner = v.get("receipt").cloned().unwrap_or(v);
    serde_json::from_value(inner).with_context(|| format!("{} is not a receipt", path.display()))
}

/// Where the bundle comes from: a file, or a letter's log served as tlog-tiles.
pub enum Source<'a> {
    File(&'a Path),
    Tiles(&'a str),
}

pub fn run(
    source: Source<'_>,
    json: bool,
    receipts: &[PathBuf],
    pins: &PinArgs,
) -> anyhow::Result<ExitCode> {
    let pins = pins.pins()?;
    let fail = |msg: String| {
        if json {
            println!("{}", serde_json::json!({ "verified": false, "error": msg }));
        }
        eprintln!("NOT VERIFIED: {msg}");
        Ok(ExitCode::from(1))
    };
    let bundle = match source {
        Source::File(file) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            match Bundle::parse(&bytes) {
                Ok(b) => b,
                Err(e) => return fail(e.to_string()),
            }
        }
        // Whatever the tiles fail on (missing, malformed, a hash tile that disagrees) is a
        // verification failure of what was served, named like any other.
        Source::Tiles(prefix) => match crate::tiles::TileReader::new(prefix).bundle(&pins) {
            Ok(b) => b,
            Err(e) => return fail(format!("{e:#}")),
        },
    };
    let report = match bundle.verify_pinned_with(&pins, &mut rand::rngs::OsRng) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let mut included = Vec::new();
    for path in receipts {
        let receipt = load_receipt(path)?;
        match bundle.check_receipt(&receipt) {
            Ok(index) => included.push((path.display().to_string(), index)),
            Err(e) => return fail(format!("{}: {e}", path.display())),
        }
    }
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("verified".into(), true.into());
            o.insert("receipts_included".into(), included.len().into());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("VERIFIED: {}", report.statement());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Some(d) = report.delivery_statement(now) {
            println!("{d}");
        }
        for (path, index) in included {
            match bundle.withdrawal_of(index) {
                Some(w) => println!(
                    "receipt {path}: its entry is entry {index} of the log, a signature withdrawn by entry {w}"
                ),
                None => println!("receipt {path}: its entry is entry {index} of the log"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
