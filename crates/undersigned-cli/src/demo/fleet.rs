//! `demo --issuers N`: N independent issuers (`issuer serve --dev`, each with its own data
//! directory and its own SMTP outbox) and a letters server naming each with `--issuer URL`, all
//! as processes of this binary, stopped when the demo ends.

use anyhow::{anyhow, bail, Context};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use undersigned_core::statement::IssuerStatement;
use undersigned_server::api::issuance::DeploymentInfo;

/// The processes the demo started; dropping it stops them.
pub struct Fleet {
    children: Vec<Child>,
    /// Each issuer's base URL, in the order the letters server names them.
    pub issuers: Vec<String>,
    pub letters: String,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The demo's issuers, each run by a different organization.
const NAMES: &[&str] = &[
    "The Newsroom",
    "The Staff Union",
    "The Law Clinic",
    "The Ombudsman",
    "The Bar Association",
];

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `undersigned <surface> --dev` on a free local port with its own data directory.
fn spawn(surface: &[&str], data: &Path, extra: &[String]) -> anyhow::Result<(Child, String)> {
    let port = free_port()?;
    let exe = std::env::current_exe().context("cannot find this program to start its servers")?;
    let child = Command::new(exe)
        .args(surface)
        .args(["--dev", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .arg("--tag-key-file")
        .arg(data.with_extension("tag.key"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start a server process")?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// Waits until `url` + `path` answers.
fn wait_up(url: &str, path: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    let client = Client::new(url);
    while client.get_json::<serde_json::Value>(path, None).is_err() {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("{url} did not start within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Starts `n` issuers and the letters server naming them, under `work`.
pub fn start(n: usize, work: &Path, publish_interval: u64) -> anyhow::Result<Fleet> {
    let mut fleet = Fleet {
        children: Vec::new(),
        issuers: Vec::new(),
        letters: String::new(),
    };
    let interval = publish_interval.to_string();
    for i in 1..=n {
        let host = format!("issuer{i}.demo.undersigned.local");
        // Each issuer is run by another organization, and named after it.
        let name = NAMES
            .get(i - 1)
            .map_or_else(|| format!("Issuer {i}"), |n| (*n).to_owned());
        let config = work.join(format!("issuer{i}.toml"));
        std::fs::write(&config, format!("issuer_name = {name:?}\n"))?;
        let extra = [
            "--config".to_owned(),
            config.display().to_string(),
            "--host".to_owned(),
            host.clone(),
            "--publish-interval".to_owned(),
            "1".to_owned(),
            "--mail-from".to_owned(),
            format!("issuer {i} <no-reply@{host}>"),
        ];
        let (child, url) = spawn(
            &["issuer", "serve"],
            &work.join(format!("issuer{i}")),
            &extra,
        )?;
        fleet.children.push(child);
        fleet.issuers.push(url);
    }
    for url in &fleet.issuers {
        wait_up(url, "/api/v1/issuer")?;
    }
    let mut extra = vec![
        "--host".to_owned(),
        "demo.undersigned.local".to_owned(),
        "--publish-interval".to_owned(),
        interval,
        "--issuer-refresh-secs".to_owned(),
        "1".to_owned(),
    ];
    for url in &fleet.issuers {
        extra.push("--issuer".to_owned());
        extra.push(url.clone());
    }
    let (child, url) = spawn(&["serve"], &work.join("letters"), &extra)?;
    fleet.children.push(child);
    wait_up(&url, "/api/v1/deployment")?;
    fleet.letters = url;
    Ok(fleet)
}

impl Fleet {
    /// Waits until every issuer's signed statement counts credentials issued to each of `orgs`
    /// and the letters server carries that statement: only then may a letter count their
    /// signers.
    pub fn wait_for_statements(&self, orgs: &BTreeSet<String>) -> anyhow::Result<()> {
        let start = Instant::now();
        let letters = Client::new(&self.letters);
        loop {
            let dep: DeploymentInfo = letters.get_json("/api/v1/deployment", None)?;
            let mut fresh = true;
            for url in &self.issuers {
                let st: serde_json::Value =
                    Client::new(url).get_json("/api/v1/issuer/statement", None)?;
                let st: IssuerStatement = serde_json::from_value(
                    st.pointer("/signed/statement")
                        .cloned()
                        .ok_or_else(|| anyhow!("{url}: an answer without a statement"))?,
                )?;
                let counted: BTreeSet<String> = st
                    .epochs
                    .iter()
                    .flat_map(|e| e.cells.iter().map(|c| c.key.org.to_string()))
                    .collect();
                fresh &= orgs.iter().all(|o| counted.contains(o))
                    && dep
                        .issuers
                        .iter()
                        .any(|i| i.url == *url && i.statement_sequence >= Some(st.sequence));
            }
            if fresh {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("the issuers' statements did not reach the letters server within a minute");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
