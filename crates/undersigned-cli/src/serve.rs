//! `undersigned serve`: the platform on SQLite (default) or PostgreSQL, with the publisher.

use anyhow::{anyhow, Context};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use undersigned_outbox::Outbox;
use undersigned_server::keys::DeploymentKeys;
use undersigned_server::mailer::{Mailer, MailerConfig, TlsMode};
use undersigned_server::{app, deployment, AppState, Config};
use undersigned_store::{PgStore, SqliteStore, Store};

/// Flags override the deployment file (`--config`), which overrides the built-in defaults.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// The deployment file (TOML): organizations, roles, k, limits, mail relay, witnesses.
    /// See deploy/federal.toml and deploy/company.toml. Every flag below overrides it.
    #[arg(long, env = "UNDERSIGNED_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dev mode: mail goes to a local outbox (shown at /dev/outbox and printed here).
    #[arg(long)]
    pub dev: bool,
    /// Where to listen [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite database and the deployment's key file
    /// [default: undersigned-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The address-tag key (HMAC key of the one-credential-per-address rule), kept apart from
    /// the database: whoever has both can test addresses against the issued tags. Default
    /// `$XDG_CONFIG_HOME/undersigned/tag.key` (else `~/.config/undersigned/tag.key`).
    #[arg(long, env = "UNDERSIGNED_TAG_KEY")]
    pub tag_key_file: Option<PathBuf>,
    /// Code mails per organization (mail domain) per hour, across all its addresses
    /// [default: 1000].
    #[arg(long)]
    pub code_mails_per_domain_hour: Option<u32>,
    /// A PostgreSQL URL (postgres://...) to use instead of the embedded SQLite database. A URL
    /// with a password belongs in UNDERSIGNED_DATABASE (or the password in PGPASSWORD), never
    /// on the command line, where every user of the machine can read it.
    #[arg(long, env = "UNDERSIGNED_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Public base URL used in links (default: `http://` and the listen address).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Host name that names the logs (checkpoint origin `<host>/letters/<id>`)
    /// [default: localhost].
    #[arg(long)]
    pub host: Option<String>,
    /// Small-cell threshold k [default: 10].
    #[arg(long)]
    pub k: Option<u32>,
    /// Default publish interval of new letters, in seconds [default: 600].
    #[arg(long)]
    pub publish_interval: Option<u64>,
    /// Fixed credential epoch (default: the current calendar quarter).
    #[arg(long)]
    pub epoch: Option<String>,
    /// SMTP relay for outgoing mail (host:port). Without it (and without --dev) codes and
    /// deliveries cannot be sent; everything else works.
    #[arg(long)]
    pub smtp: Option<String>,
    /// [default: starttls]
    #[arg(long, value_parser = ["none", "starttls", "tls"])]
    pub smtp_tls: Option<String>,
    #[arg(long, env = "UNDERSIGNED_SMTP_USER")]
    pub smtp_user: Option<String>,
    /// A file holding the relay's password (its first line). Otherwise the password is read
    /// from UNDERSIGNED_SMTP_PASSWORD. There is no password flag: the process list would show it.
    #[arg(long, value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// (default: `undersigned <no-reply@localhost>`)
    #[arg(long)]
    pub mail_from: Option<String>,
    /// A witness that cosigns every checkpoint (C2SP tlog-witness): its verifier key, '@',
    /// and its URL prefix (`<url>/add-checkpoint`). Repeatable; replaces the file's list. A
    /// checkpoint is published only once it carries the quorum's cosignatures.
    #[arg(long, value_name = "VKEY@URL")]
    pub witness: Vec<undersigned_server::cosigning::WitnessSpec>,
    /// How many witnesses must cosign a checkpoint before it is published (default: all).
    #[arg(long, value_name = "N")]
    pub witness_quorum: Option<usize>,
    /// How much later receipts promise inclusion while the witness quorum is missing
    /// [default: 3600].
    #[arg(long, value_name = "SECS")]
    pub witness_grace: Option<u64>,
    /// How long one witness request may take, in milliseconds [default: 3000].
    #[arg(long, value_name = "MS")]
    pub witness_timeout_ms: Option<u64>,
    /// Also write every public letter's log as C2SP tlog-tiles (checkpoint, hash tiles, entry
    /// bundles, bundle context) below this directory, as `letters/<id>/...`, for a CDN or
    /// object storage to serve. The server serves the same paths itself either way.
    #[arg(long, value_name = "DIR")]
    pub tiles_dir: Option<PathBuf>,
    /// An independent issuer whose credentials this deployment's letters accept (its base
    /// URL; repeatable; replaces the file's `[[issuer]]` list). Its description and statement
    /// are fetched at start, and what they say (issuer id, log key, host, witnesses) is pinned
    /// and printed. Without any, this server runs its own issuer, as before.
    #[arg(long = "issuer", value_name = "URL")]
    pub issuers: Vec<undersigned_server::issuers::IssuerSpec>,
    /// How often the named issuers are fetched again, in seconds [default: 60].
    #[arg(long, value_name = "SECS")]
    pub issuer_refresh_secs: Option<u64>,
    /// How long one request to a named issuer may take, in milliseconds [default: 5000].
    #[arg(long, value_name = "MS")]
    pub issuer_timeout_ms: Option<u64>,
    /// Which epochs this server's own issuer issues; set by `issuer serve`, not a flag.
    #[arg(skip)]
    pub issuer_epochs: undersigned_server::config::IssuerEpochs,
    /// Log lines as text (default) or JSON objects, one a line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the server listens and keeps its data, and its mail relay, once the file and the
/// flags are merged.
struct Resolved {
    config: Config,
    listen: SocketAddr,
    data: PathBuf,
    relay: Option<MailerConfig>,
}

/// Defaults, then the deployment file, then the flags.
fn resolve(args: &Args) -> anyhow::Result<Resolved> {
    let file = match &args.config {
        Some(path) => Some(deployment::load(path)?),
        None => None,
    };
    let (mut config, file_listen, file_data, file_smtp) = match file {
        Some(d) => (d.config, d.listen, d.data, d.smtp),
        None => (Config::default(), None, None, None),
    };
    let listen = args
        .listen
        .or(file_listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let data = args
        .data
        .clone()
        .or(file_data)
        .unwrap_or_else(|| PathBuf::from("undersigned-data"));
    check_dev_listen(args.dev, &listen)?;
    config.dev = args.dev;
    if args.dev {
        // Dev mode shows every code it mails at /dev/outbox: there is nothing to hide in the
        // time of its answers, and the demo asks for many codes.
        config.code_answer_millis = 0;
    }
    apply_flags(args, &listen, &mut config)?;
    // The one check the file's settings passed too, now over everything merged.
    config.validate().map_err(|e| match flag_of(args, &e.key) {
        Some(flag) => anyhow!("{flag}: {}", e.reason),
        None => anyhow!("{}", e.reason),
    })?;
    check_database_flag(args.database.as_deref())?;
    let relay = resolve_relay(args, file_smtp, &config.mail_from)?;
    Ok(Resolved {
        config,
        listen,
        data,
        relay,
    })
}

/// The flags over the defaults and the file's settings (`--host`, `--k`, the witnesses, ...).
fn apply_flags(args: &Args, listen: &SocketAddr, config: &mut Config) -> anyhow::Result<()> {
    if let Some(h) = &args.host {
        config.host = h.clone();
    }
    match &args.public_url {
        Some(u) => config.public_url = u.clone(),
        // Without a file the links follow where we listen, as before the file existed.
        None if args.config.is_none() => config.public_url = format!("http://{listen}"),
        None => {}
    }
    if let Some(k) = args.k {
        config.k = k;
    }
    if let Some(p) = args.publish_interval {
        config.default_publish_interval_secs = p;
    }
    if let Some(m) = &args.mail_from {
        config.mail_from = m.clone();
    }
    if !args.witness.is_empty() {
        config.witnesses = args.witness.clone();
        config.witness_quorum = None;
    }
    if let Some(q) = args.witness_quorum {
        config.witness_quorum = Some(q);
    }
    if let Some(g) = args.witness_grace {
        config.witness_grace_secs = g;
    }
    if let Some(t) = &args.tiles_dir {
        config.tiles_dir = Some(t.clone());
    }
    if let Some(t) = args.witness_timeout_ms {
        config.witness_timeout_millis = t;
    }
    if let Some(c) = args.code_mails_per_domain_hour {
        config.code_mails_per_domain_hour = c;
    }
    if let Some(e) = &args.epoch {
        config.epoch = Some(undersigned_core::ids::Epoch::parse(e)?);
    }
    if !args.issuers.is_empty() {
        config.issuers = args.issuers.clone();
    }
    if let Some(r) = args.issuer_refresh_secs {
        config.issuer_refresh_secs = r;
    }
    if let Some(t) = args.issuer_timeout_ms {
        config.issuer_timeout_millis = t;
    }
    config.issuer_epochs = args.issuer_epochs.clone();
    Ok(())
}

/// The mail relay: `--smtp` over the file's `[smtp]`, then the TLS mode, user and password.
fn resolve_relay(
    args: &Args,
    file_smtp: Option<deployment::SmtpRelay>,
    mail_from: &str,
) -> anyhow::Result<Option<MailerConfig>> {
    let relay = match (&args.smtp, file_smtp) {
        (Some(relay), _) => {
            let (host, port) =
                deployment::parse_relay(relay).map_err(|r| anyhow!("--smtp: {r}"))?;
            Some(MailerConfig::plain(host, port, mail_from.to_owned()))
        }
        (None, Some(s)) => Some(MailerConfig {
            tls: s.tls,
            username: s.user,
            ..MailerConfig::plain(s.host, s.port, mail_from.to_owned())
        }),
        (None, None) => None,
    };
    let relay = relay.map(|r| MailerConfig {
        tls: match args.smtp_tls.as_deref() {
            Some("none") => TlsMode::None,
            Some("tls") => TlsMode::Wrapper,
            Some(_) => TlsMode::StartTls,
            None if args.smtp.is_some() => TlsMode::StartTls,
            None => r.tls,
        },
        username: args.smtp_user.clone().or(r.username.clone()),
        password: None,
        ..r
    });
    let relay = match relay {
        Some(r) => Some(MailerConfig {
            password: smtp_password(args.smtp_password_file.as_deref())?,
            ..r
        }),
        None => None,
    };
    if let Some(r) = &relay {
        if r.username.is_some() != r.password.is_some() {
            return Err(anyhow!(
                "the mail relay needs both a user ([smtp] user, --smtp-user or UNDERSIGNED_SMTP_USER) and a password (UNDERSIGNED_SMTP_PASSWORD or --smtp-password-file), or neither"
            ));
        }
    }
    Ok(relay)
}

/// The flag that set a setting `Config::validate` refused, if a flag did.
fn flag_of(args: &Args, key: &str) -> Option<&'static str> {
    let given = |set: bool, flag| set.then_some(flag);
    match key {
        "host" => given(args.host.is_some(), "--host"),
        "public_url" => given(args.public_url.is_some(), "--public-url"),
        "k" => given(args.k.is_some(), "--k"),
        "publish_interval_secs" => given(args.publish_interval.is_some(), "--publish-interval"),
        "mail_from" => given(args.mail_from.is_some(), "--mail-from"),
        "limits.code_mails_per_domain_hour" => given(
            args.code_mails_per_domain_hour.is_some(),
            "--code-mails-per-domain-hour",
        ),
        "witnesses.quorum" => given(args.witness_quorum.is_some(), "--witness-quorum"),
        "witnesses.timeout_ms" => given(args.witness_timeout_ms.is_some(), "--witness-timeout-ms"),
        k if k.starts_with("witnesses.witness.") => given(!args.witness.is_empty(), "--witness"),
        k if k.starts_with("issuer.") => given(!args.issuers.is_empty(), "--issuer"),
        "issuer_refresh_secs" => given(args.issuer_refresh_secs.is_some(), "--issuer-refresh-secs"),
        "issuer_timeout_ms" => given(args.issuer_timeout_ms.is_some(), "--issuer-timeout-ms"),
        _ => None,
    }
}

/// Secrets come from the environment or a file, never a flag: `--database` with a password in
/// its URL is refused unless the value came from `UNDERSIGNED_DATABASE` (clap fills the field
/// from either).
fn check_database_flag(database: Option<&str>) -> anyhow::Result<()> {
    let Some(url) = database else {
        return Ok(());
    };
    let from_env = std::env::var("UNDERSIGNED_DATABASE").is_ok_and(|v| v == url);
    let has_password = url::Url::parse(url).is_ok_and(|u| u.password().is_some());
    if has_password && !from_env {
        return Err(anyhow!(
            "--database: this URL carries a password, which the process list shows to every user of this machine; set UNDERSIGNED_DATABASE instead (or the password in PGPASSWORD)"
        ));
    }
    Ok(())
}

/// The relay's password: the first line of `--smtp-password-file`, else
/// `UNDERSIGNED_SMTP_PASSWORD`.
fn smtp_password(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    let env = std::env::var("UNDERSIGNED_SMTP_PASSWORD").ok();
    match file {
        Some(path) => {
            if env.is_some() {
                return Err(anyhow!(
                    "both --smtp-password-file and UNDERSIGNED_SMTP_PASSWORD are set: keep one"
                ));
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let line = text.lines().next().unwrap_or_default().to_owned();
            if line.is_empty() {
                return Err(anyhow!("{} holds no password", path.display()));
            }
            Ok(Some(line))
        }
        None => Ok(env.filter(|p| !p.is_empty())),
    }
}

/// Everything `serve` builds before it listens; tests and the demo reuse it.
pub struct Built {
    pub state: AppState,
    pub outbox: Option<Outbox>,
    pub listen: SocketAddr,
    pub data: PathBuf,
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
    let Resolved {
        config,
        listen,
        data,
        relay,
    } = resolve(args)?;
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let tag_key = tag_key_path(args)?;
    let keys =
        DeploymentKeys::load_or_create(&data.join("keys.json"), &tag_key, &config.issuer_name)?;
    let store: Arc<dyn Store> = match &args.database {
        Some(url) => Arc::new(
            PgStore::connect(url)
                .await
                .map_err(|e| anyhow!("PostgreSQL: {e}"))?,
        ),
        None => Arc::new(
            SqliteStore::open(&data.join("undersigned.db"))
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
        let Some(relay) = relay else {
            eprintln!(
                "warning: no mail relay (--smtp HOST:PORT or [smtp] in the file): pages and reading work, but codes and deliveries cannot be sent. For a local trial use --dev."
            );
            let state = AppState::new(
                config.clone(),
                store,
                keys,
                Mailer::unconfigured(&config.mail_from)?,
                None,
            )?;
            pin_issuers(&state).await?;
            return Ok(Built {
                state,
                outbox: None,
                listen,
                data,
            });
        };
        let mailer = Mailer::new(relay)?;
        (mailer, None)
    };
    let state = AppState::new(config, store, keys, mailer, outbox.clone())?;
    pin_issuers(&state).await?;
    Ok(Built {
        state,
        outbox,
        listen,
        data,
    })
}

/// The named independent issuers' first fetch: every one must answer with a description and a
/// statement that check out, and what is pinned of each is printed, for the deployment file.
async fn pin_issuers(state: &AppState) -> anyhow::Result<()> {
    if state.remote_issuers.is_empty() {
        return Ok(());
    }
    let issuers = state.remote_issuers.clone();
    let pinned = tokio::task::spawn_blocking(move || issuers.start())
        .await?
        .map_err(|e| anyhow!("{e}"))?;
    for r in pinned {
        println!(
            "issuer {} pinned: id = \"{}\", log_key = \"{}\", host {}, {} witness(es), quorum {}",
            r.url,
            r.pins.id,
            hex::encode(r.pins.log_key),
            r.pins.host,
            r.pins.witnesses.len(),
            r.pins.witness_quorum
        );
    }
    Ok(())
}

/// What a process serves: a letters deployment (with its own issuer or named ones), or an
/// issuer alone (`issuer serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Letters,
    Issuer,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    run_surface(args, Surface::Letters).await
}

pub async fn run_surface(args: Args, surface: Surface) -> anyhow::Result<()> {
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
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match args.log_format {
        LogFormat::Text => fmt.try_init(),
        LogFormat::Json => fmt.json().try_init(),
    };
    let built = build(&args).await?;
    let state = built.state.clone();
    // A log that does not extend what its witnesses last cosigned (a database restored from an
    // older backup) is never served; one they could not confirm waits for them (`cosigning`).
    let (forks, unconfirmed): (Vec<_>, Vec<_>) =
        undersigned_server::cosigning::check_before_serving(&state)
            .await?
            .into_iter()
            .partition(|f| f.is_fork());
    for f in unconfirmed {
        eprintln!("warning: {f}");
    }
    if !forks.is_empty() {
        let said: Vec<String> = forks.iter().map(ToString::to_string).collect();
        anyhow::bail!("refusing to serve a forked log:\n{}", said.join("\n"));
    }
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
    if !state.remote_issuers.is_empty() {
        tokio::spawn(undersigned_server::issuers::keep_fresh(
            state.remote_issuers.clone(),
            std::time::Duration::from_secs(state.config.issuer_refresh_secs),
        ));
    }
    // Timeouts and a connection bound, set by the UNDERSIGNED_HTTP_* environment variables.
    let limits = undersigned_server::listen::Limits::from_env()?;
    let listener = tokio::net::TcpListener::bind(built.listen)
        .await
        .with_context(|| format!("cannot listen on {}", built.listen))?;
    println!(
        "undersigned {} on http://{} ({}{}); data in {}",
        match surface {
            Surface::Letters => "serving",
            Surface::Issuer => "issuer serving",
        },
        built.listen,
        state.store.backend(),
        if args.dev {
            ", dev outbox at /dev/outbox"
        } else {
            ""
        },
        built.data.display()
    );
    // The witness operator's arguments (also in /api/v1/deployment as `witness_logs_under`).
    println!(
        "witnesses follow this deployment with: undersigned witness serve{}",
        state
            .ledger
            .witness_prefixes()?
            .iter()
            // An issuer has only its statement log.
            .filter(|v| surface == Surface::Letters || v.contains("/issuers/"))
            .map(|v| format!(" --logs-under {v}"))
            .collect::<String>()
    );
    let router = match surface {
        Surface::Letters => app(state),
        Surface::Issuer => {
            println!(
                "issuer id {} (its description: GET /api/v1/issuer)",
                state.issuer.id()
            );
            undersigned_server::issuer_app(state)
        }
    };
    undersigned_server::listen::serve(listener, router, limits, async {
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
            listen: Some(addr),
            data: Some(data.to_owned()),
            // Beside the throwaway data directory, not in it, as a deployment keeps it apart.
            tag_key_file: Some(data.with_extension("tag.key")),
            database,
            host: Some(host.to_owned()),
            publish_interval: Some(publish_interval),
            mail_from: Some(format!("undersigned <no-reply@{host}>")),
            ..Args::default()
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
