//! A small blocking HTTP client for the undersigned API, and the holder's local files.
//!
//! The holder's directory (default `~/.undersigned`, or `$UNDERSIGNED_HOME`) keeps the
//! credential (0600; it never leaves the device), receipts, and the last checkpoint seen per
//! letter, so that a later check can demand a consistency proof from it.

use anyhow::{anyhow, bail, Context};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

fn refusal(code: u16, body: &str) -> anyhow::Error {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    anyhow!("server answered {code}: {message}")
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn finish(r: Result<ureq::Response, ureq::Error>) -> anyhow::Result<ureq::Response> {
        match r {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                Err(refusal(code, &body))
            }
            Err(e) => Err(anyhow!("cannot reach the server: {e}")),
        }
    }

    pub fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<T> {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = Self::finish(req.call())?;
        resp.into_json()
            .context("unexpected answer from the server")
    }

    /// The bytes at `path`, at most `limit` of them (a longer answer is an error, not cut).
    pub fn get_bytes(&self, path: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        use std::io::Read;
        let resp = Self::finish(self.agent.get(&format!("{}{path}", self.base)).call())?;
        let mut out = Vec::new();
        resp.into_reader()
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            bail!("{path}: the answer is larger than {limit} bytes");
        }
        Ok(out)
    }

    pub fn get_text(&self, path: &str, token: Option<&str>) -> anyhow::Result<String> {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        Ok(Self::finish(req.call())?.into_string()?)
    }

    pub fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
        token: Option<&str>,
    ) -> anyhow::Result<T> {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = Self::finish(req.send_json(serde_json::to_value(body)?))?;
        resp.into_json()
            .context("unexpected answer from the server")
    }

    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        token: Option<&str>,
    ) -> anyhow::Result<T> {
        self.send_json("POST", path, body, token)
    }
}

/// The holder's directory.
pub fn home(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os("UNDERSIGNED_HOME") {
        return Ok(PathBuf::from(p));
    }
    let h = std::env::var_os("HOME").ok_or_else(|| anyhow!("set HOME or UNDERSIGNED_HOME"))?;
    Ok(PathBuf::from(h).join(".undersigned"))
}

/// Writes a file readable only by its owner, atomically (write then rename).
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not what was expected", path.display()))
}

/// A 64-hex letter id or a handle: both are accepted by the server; ids are checked locally.
pub fn check_letter_key(key: &str) -> anyhow::Result<()> {
    if key.is_empty()
        || key.len() > 100
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("{key:?} is not a letter id or handle");
    }
    Ok(())
}
