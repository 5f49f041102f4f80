//! `undersigned witness`: print the witness's verifier key, or run the witness (C2SP
//! tlog-witness) for the logs named with `--log` and every log under the prefixes named with
//! `--logs-under`. The logic lives in the `undersigned-witness` crate; this is argument parsing
//! and the listener (the platform server's, with its slots and timeouts).

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use undersigned_core::log::LogVerifier;
use undersigned_server::listen::{self, Limits};
use undersigned_witness::{self as witness, LogPrefix, Witness, WitnessStore};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Print the witness's verifier key, creating the key in DIR on first use.
    Key {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Run the witness: cosign each checkpoint of the followed logs that is consistent with the
    /// last one it cosigned.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// A log to follow: its verifier key (`name+id+key`); the log's origin is the key's name.
        /// Repeatable.
        #[arg(long = "log", required_unless_present = "prefixes")]
        logs: Vec<String>,
        /// Every log whose origin starts with a prefix: a verifier key whose name is the prefix,
        /// ending in '/' (e.g. `example.org/letters/+id+key`), each log signing under its own
        /// origin with that key. A deployment lists its own in `/api/v1/deployment`
        /// (`witness_logs_under`). Repeatable.
        #[arg(long = "logs-under")]
        prefixes: Vec<String>,
        /// The most logs kept under each prefix (logs named with --log always are): a new
        /// log under a prefix beyond this is refused (507), so a log key's holder cannot fill
        /// the disk, and one prefix's logs never crowd out another's.
        #[arg(long, default_value_t = witness::DEFAULT_MAX_LOGS)]
        max_logs: u64,
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// The listener's limits (`undersigned_server::listen`); each also read from its environment
/// variable, which `serve` reads too.
#[derive(clap::Args, Debug)]
pub struct HttpArgs {
    /// Seconds a request head may take to arrive once it has begun.
    #[arg(long, env = listen::HEADER_TIMEOUT_ENV, value_parser = seconds("--header-timeout"))]
    header_timeout: Option<Duration>,
    /// Seconds a request body may take to arrive whole.
    #[arg(long, env = listen::BODY_TIMEOUT_ENV, value_parser = seconds("--body-timeout"))]
    body_timeout: Option<Duration>,
    /// Seconds a connection with no request in progress is kept open.
    #[arg(long, env = listen::IDLE_TIMEOUT_ENV, value_parser = seconds("--idle-timeout"))]
    idle_timeout: Option<Duration>,
    /// The most connections served at once (default: as many as the process's open-file
    /// limit allows, after a reserve); when all are taken, the one idle longest is closed.
    #[arg(long, env = listen::MAX_CONNECTIONS_ENV)]
    max_connections: Option<std::num::NonZeroUsize>,
}

impl HttpArgs {
    fn limits(&self) -> Limits {
        let d = Limits::default();
        Limits {
            header_timeout: self.header_timeout.unwrap_or(d.header_timeout),
            body_timeout: self.body_timeout.unwrap_or(d.body_timeout),
            idle_timeout: self.idle_timeout.unwrap_or(d.idle_timeout),
            max_connections: self.max_connections.map(std::num::NonZeroUsize::get),
        }
    }
}

fn seconds(name: &'static str) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    move |v| listen::parse_seconds(name, v).map_err(|e| e.to_string())
}

#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    /// Directory holding the witness key (0600) and its database.
    #[arg(long, default_value = "undersigned-witness")]
    data: PathBuf,
    /// The witness's name, a schema-less URL (e.g. witness.example.org/w1); needed to create
    /// the key, checked against it afterwards.
    #[arg(long)]
    name: Option<String>,
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Key { key } => {
            let signer =
                witness::load_or_create_key(&key.data, key.name.as_deref(), &mut rand_core::OsRng)?;
            println!("{}", signer.verifier().to_vkey());
            Ok(())
        }
        Cmd::Serve {
            listen,
            logs,
            prefixes,
            max_logs,
            http,
            key,
        } => {
            let follow = Follow {
                logs: logs
                    .iter()
                    .map(|v| LogVerifier::from_vkey(v).with_context(|| format!("--log {v}")))
                    .collect::<anyhow::Result<Vec<_>>>()?,
                prefixes: prefixes
                    .iter()
                    .map(|v| LogPrefix::from_vkey(v).with_context(|| format!("--logs-under {v}")))
                    .collect::<anyhow::Result<Vec<_>>>()?,
                max_logs,
            };
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(serve(listen, follow, http.limits(), key))
        }
    }
}

/// What `serve` follows.
struct Follow {
    logs: Vec<LogVerifier>,
    prefixes: Vec<LogPrefix>,
    max_logs: u64,
}

async fn serve(
    listen: SocketAddr,
    follow: Follow,
    limits: Limits,
    key: KeyArgs,
) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
    let signer =
        witness::load_or_create_key(&key.data, key.name.as_deref(), &mut rand_core::OsRng)?;
    let store = WitnessStore::open(&witness::database_path(&key.data)).await?;
    let w = Arc::new(
        Witness::new(signer, follow.logs, store.clone())?
            .with_prefixes(follow.prefixes)?
            .with_max_logs(follow.max_logs)
            .with_pause_from_env(),
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // The first line names the key and the bound address (useful with port 0), then what is
    // followed (a prefix ends in '*').
    println!(
        "witness {} listening on http://{} for {}",
        w.signer().verifier().to_vkey(),
        listener.local_addr()?,
        w.describe().join(", ")
    );
    listen::serve(listener, witness::router(w), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    store.close().await;
    Ok(())
}
