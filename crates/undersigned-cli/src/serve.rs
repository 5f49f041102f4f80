//! `undersigned serve`: the platform on SQLite (default) or PostgreSQL, with the publisher.

use anyhow::{anyhow, Context};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use undersigned_server::keys::DeploymentKeys;
use undersigned_server::mailer::{Mailer, MailerConfig, TlsMode};
use undersigned_server::outbox::Outbox;
use undersigned_server::{app, AppState, Config};
use undersigned_store::{PgStore, SqliteStore, Store};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Dev mode: mail goes to a local outbox (shown at /dev/outbox and printed here).
    #[arg(long)]
    pub dev: bool,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the deployment's key file.
    #[arg(long, default_value = "undersigned-data")]
    pub data: PathBuf,
    /// The address-tag key (HMAC key of the one-credential-per-address rule), kept apart from
    /// the database: whoever has both can test addresses against the issued tags. Default
    /// `$XDG_CONFIG_HOME/undersigned/tag.key` (else `~/.config/undersigned/tag.key`).
    #[arg(long, env = "UNDERSIGNED_TAG_KEY")]
    pub tag_key_file: Option<PathBuf>,
    /// Code mails per organization (mail domain) per hour, across all its addresses.
    #[arg(long, default_value_t = Config::default().code_mails_per_domain_hour)]
    pub code_mails_per_domain_hour: u32,
    /// A PostgreSQL URL (postgres://...) to use instead of the embedded SQLite database.
    #[arg(long)]
    pub database: Option<String>,
    /// Public base URL used in links; default `http://<listen>`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Host name that names the logs (checkpoint origin `<host>/letters/<id>`).
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Small-cell threshold k.
    #[arg(long, default_value_t = undersigned_core::letter::DEFAULT_K)]
    pub k: u32,
    /// Default publish interval of new letters, in seconds.
    #[arg(long, default_value_t = 600)]
    pub publish_interval: u64,
    /// Fixed credential epoch (default: the current calendar quarter).
    #[arg(long)]
    pub epoch: Option<String>,
    /// SMTP relay for outgoing mail (host:port). Without it (and without --dev) codes and
    /// deliveries cannot be sent; everything else works.
    #[arg(long)]
    pub smtp: Option<String>,
    #[arg(long, default_value = "starttls", value_parser = ["none", "starttls", "tls"])]
    pub smtp_tls: String,
    #[arg(long, env = "UNDERSIGNED_SMTP_USER")]
    pub smtp_user: Option<String>,
    #[arg(long, env = "UNDERSIGNED_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    #[arg(long, default_value = "undersigned <no-reply@localhost>")]
    pub mail_from: String,
    /// A witness that cosigns every checkpoint (C2SP tlog-witness): its verifier key, '@',
    /// and its URL prefix (`<url>/add-checkpoint`). Repeatable. A checkpoint is published
    /// only once it carries the quorum's cosignatures.
    #[arg(long, value_name = "VKEY@URL")]
    pub witness: Vec<undersigned_server::cosigning::WitnessSpec>,
    /// How many witnesses must cosign a checkpoint before it is published (default: all).
    #[arg(long, value_name = "N", requires = "witness")]
    pub witness_quorum: Option<usize>,
    /// How much later receipts promise inclusion while the witness quorum is missing.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub witness_grace: u64,
    /// How long one witness request may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub witness_timeout_ms: u64,
}

/// Everything `serve` builds before it listens; tests and the demo reuse it.
pub struct Built {
    pub state: AppState,
    pub outbox: Option<Outbox>,
}

/// Dev mode's outbox page shows every code and address it mailed to whoever reaches the
/// server, so dev mode listens on a loopback address only.
pub fn check_dev_listen(dev: bool, listen: &SocketAddr) -> anyhow::Result<()> {
    if dev && !listen.ip().is_loopback() {
        return Err(anyhow!(
            "--dev shows every code and address it mails at /dev/outbox to anyone who can reach it, so it listens only on a loopback address (e.g. --listen 127.0.0.1:8080), not {listen}"
        ));
    }
    Ok(())
}

/// `--tag-key-file`, else the default outside the data directory.
fn tag_key_path(args: &Args) -> anyhow::Result<PathBuf> {
    args.tag_key_file
        .clone()
        .or_else(undersigned_server::keys::default_tag_key_path)
        .ok_or_else(|| {
            anyhow!("no place for the address-tag key: pass --tag-key-file (or set UNDERSIGNED_TAG_KEY, XDG_CONFIG_HOME or HOME)")
        })
}

pub async fn build(args: &Args) -> anyhow::Result<Built> {
    check_dev_listen(args.dev, &args.listen)?;
    let mut config = Config {
        host: args.host.clone(),
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.listen)),
        k: args.k,
        default_publish_interval_secs: args.publish_interval,
        dev: args.dev,
        mail_from: args.mail_from.clone(),
        witnesses: args.witness.clone(),
        witness_quorum: args.witness_quorum,
        witness_grace_secs: args.witness_grace,
        witness_timeout_millis: args.witness_timeout_ms,
        code_mails_per_domain_hour: args.code_mails_per_domain_hour,
        ..Config::default()
    };
    if let Some(e) = &args.epoch {
        config.epoch = Some(undersigned_core::ids::Epoch::parse(e)?);
    }
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let tag_key = tag_key_path(args)?;
    let keys = DeploymentKeys::load_or_create(
        &args.data.join("keys.json"),
        &tag_key,
        &config.issuer_name,
    )?;
    let store: Arc<dyn Store> = match &args.database {
        Some(url) => Arc::new(
            PgStore::connect(url)
                .await
                .map_err(|e| anyhow!("PostgreSQL: {e}"))?,
        ),
        None => Arc::new(
            SqliteStore::open(&args.data.join("undersigned.db"))
                .await
                .map_err(|e| anyhow!("SQLite: {e}"))?,
        ),
    };
    // Read back from the database itself, so a weaker setting than the receipts promise shows
    // (the crash test reads this line).
    let durability = store
        .durability()
        .await
        .map_err(|e| anyhow!("store durability: {e}"))?;
    println!(
        "store durability: {}",
        durability
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (mailer, outbox) = if args.dev {
        let outbox = Outbox::start("127.0.0.1:0".parse()?).await?;
        let mailer = Mailer::new(MailerConfig::plain(
            outbox.addr().ip().to_string(),
            outbox.addr().port(),
            config.mail_from.clone(),
        ))?;
        (mailer, Some(outbox))
    } else {
        let Some(relay) = args.smtp.as_deref() else {
            eprintln!(
                "warning: no mail relay (--smtp HOST:PORT): pages and reading work, but codes and deliveries cannot be sent. For a local trial use --dev."
            );
            return Ok(Built {
                state: AppState::new(
                    config.clone(),
                    store,
                    keys,
                    Mailer::unconfigured(&config.mail_from)?,
                    None,
                )?,
                outbox: None,
            });
        };
        let (host, port) = relay
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("--smtp must be HOST:PORT"))?;
        let mailer = Mailer::new(MailerConfig {
            tls: match args.smtp_tls.as_str() {
                "none" => TlsMode::None,
                "tls" => TlsMode::Wrapper,
                _ => TlsMode::StartTls,
            },
            username: args.smtp_user.clone(),
            password: args.smtp_password.clone(),
            ..MailerConfig::plain(
                host,
                port.parse().context("--smtp port")?,
                config.mail_from.clone(),
            )
        })?;
        (mailer, None)
    };
    let state = AppState::new(config, store, keys, mailer, outbox.clone())?;
    Ok(Built { state, outbox })
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    // Logs carry methods, statuses, counts and errors: never addresses (none are logged anywhere).
    // Even at RUST_LOG=trace: the dependencies that would log a peer address stay silent.
    let filter = undersigned_server::NO_ADDRESS_LOGS.iter().fold(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        |f, d| match d.parse() {
            Ok(directive) => f.add_directive(directive),
            Err(_) => f,
        },
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
    let built = build(&args).await?;
    let state = built.state.clone();
    if let Some(outbox) = &built.outbox {
        let mut rx = outbox.subscribe();
        tokio::spawn(async move {
            // Dev mode only: the console doubles as the outbox, so the code is visible here.
            while let Ok(m) = rx.recv().await {
                println!(
                    "\n--- dev outbox: mail \"{}\" ---\n{}\n--- end of mail ---",
                    m.subject,
                    m.body_text.trim_end()
                );
            }
        });
    }
    tokio::spawn(undersigned_server::publisher::run(state.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "undersigned serving on http://{} ({}{}); data in {}",
        args.listen,
        state.store.backend(),
        if args.dev {
            ", dev outbox at /dev/outbox"
        } else {
            ""
        },
        args.data.display()
    );
    // The witness operator's arguments (also in /api/v1/deployment as `witness_logs_under`).
    println!(
        "witnesses follow this deployment with: undersigned witness serve{}",
        state
            .ledger
            .witness_prefixes()?
            .iter()
            .map(|v| format!(" --logs-under {v}"))
            .collect::<String>()
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Starts a dev server (mail to the built-in outbox) on a free loopback port, in a background
/// runtime, for the demo and the load bench. Returns its URL and the runtime that keeps it alive.
pub fn start_in_process(
    data: &std::path::Path,
    database: Option<String>,
    host: &str,
    publish_interval: u64,
) -> anyhow::Result<(String, tokio::runtime::Runtime)> {
    let rt = tokio::runtime::Runtime::new()?;
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let args = Args {
            dev: true,
            listen: addr,
            data: data.to_owned(),
            // Beside the throwaway data directory, not in it, as a deployment keeps it apart.
            tag_key_file: Some(data.with_extension("tag.key")),
            code_mails_per_domain_hour: Config::default().code_mails_per_domain_hour,
            database,
            public_url: None,
            host: host.to_owned(),
            k: undersigned_core::letter::DEFAULT_K,
            publish_interval,
            epoch: None,
            smtp: None,
            smtp_tls: "none".into(),
            smtp_user: None,
            smtp_password: None,
            mail_from: format!("undersigned <no-reply@{host}>"),
            witness: Vec::new(),
            witness_quorum: None,
            witness_grace: 3600,
            witness_timeout_ms: 3000,
        };
        let built = build(&args).await?;
        tokio::spawn(undersigned_server::publisher::run(built.state.clone()));
        let app = app(built.state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok::<_, anyhow::Error>(format!("http://{addr}"))
    })?;
    Ok((url, rt))
}

/// A progress bar in the style every long command shares.
pub fn bar(len: usize, msg: &'static str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg:>22} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}
