//! The PostgreSQL server every PostgreSQL test runs against, never a silent skip.
//!
//! `UNDERSIGNED_TEST_PG` if set (used as given); otherwise 127.0.0.1:5432 (trust auth, user
//! postgres) when something listens there; otherwise a throwaway cluster this process starts
//! with the system's `initdb` and `pg_ctl` on a free loopback port in a temporary directory,
//! stopped and removed by a watchdog once the test process is gone. When none of these works,
//! the test fails saying why. Shared by the store, server and CLI test suites (`#[path]`).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL (database `postgres`) of the server the tests use, resolved once per process.
pub fn admin_url() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    match URL.get_or_init(resolve) {
        Ok(url) => url.clone(),
        Err(why) => panic!("{why}"),
    }
}

fn resolve() -> Result<String, String> {
    if let Ok(url) = std::env::var("UNDERSIGNED_TEST_PG") {
        return Ok(url);
    }
    let default: SocketAddr = ([127, 0, 0, 1], 5432).into();
    if TcpStream::connect_timeout(&default, Duration::from_secs(2)).is_ok() {
        return Ok(DEFAULT_PG.to_owned());
    }
    let port = throwaway_cluster().map_err(|e| {
        format!(
            "PostgreSQL is not reachable at {DEFAULT_PG} and no throwaway cluster could be \
             started ({e}); install PostgreSQL (scripts/setup) or set UNDERSIGNED_TEST_PG"
        )
    })?;
    eprintln!("PostgreSQL tests use a throwaway cluster on 127.0.0.1:{port}");
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// The directory holding `initdb` and `pg_ctl`: Debian's newest versioned one, else `PATH`.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn tool(dir: &Option<PathBuf>, name: &str) -> PathBuf {
    dir.as_ref()
        .map(|d| d.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `initdb` refuses to run as root: there, the cluster belongs to the `postgres` user.
fn as_owner(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn throwaway_cluster() -> Result<u16, String> {
    Cluster::start().map(|c| c.port)
}

/// A throwaway cluster of this test process: its own directory, port and `postmaster`, stopped
/// and removed by a watchdog once the process is gone. Fault tests restart it at will.
#[allow(dead_code)] // each suite that includes this file uses a different part
pub struct Cluster {
    pub port: u16,
    data: PathBuf,
    dir: PathBuf,
    pg_ctl: PathBuf,
    root: bool,
}

#[allow(dead_code)]
impl Cluster {
    /// `initdb` and `pg_ctl start` on a free loopback port.
    pub fn start() -> Result<Cluster, String> {
        let bin = bin_dir();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.trim_ascii() == b"0")
            .unwrap_or(false);
        let dir = std::env::temp_dir().join(format!(
            "undersigned-test-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if root {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(&dir);
                    c
                },
                "chown",
            )?;
        }
        let data = dir.join("data");
        let mut init = as_owner(&tool(&bin, "initdb"), root);
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(init, "initdb")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("free port: {e}"))?;
        let cluster = Cluster {
            port,
            data,
            dir,
            pg_ctl: tool(&bin, "pg_ctl"),
            root,
        };
        cluster.pg_ctl_start()?;
        // The watchdog: once this process is gone, stop the cluster and remove its directory.
        let stop = format!(
            "{} {} -D {} -m immediate stop",
            if root { "runuser -u postgres --" } else { "" },
            cluster.pg_ctl.display(),
            cluster.data.display()
        );
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                dir = cluster.dir.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("watchdog: {e}"))?;
        Ok(cluster)
    }

    /// The admin URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let mut start = as_owner(&self.pg_ctl, self.root);
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.display()
            ))
            .args(["-w", "start"]);
        run(start, "pg_ctl start")
    }

    /// `pg_ctl stop -m immediate`: every backend killed, no checkpoint, crash recovery at the
    /// next start, as when the machine loses the server.
    pub fn stop_immediate(&self) -> Result<(), String> {
        let mut stop = as_owner(&self.pg_ctl, self.root);
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop")
    }
}
