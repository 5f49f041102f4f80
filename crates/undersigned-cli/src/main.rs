//! The `undersigned` command: a thin layer over core, store and server that turns typed errors
//! into messages.
#![forbid(unsafe_code)]

mod backup;
mod bench;
mod benchcomposite;
mod benchfast;
mod client;
mod cover;
mod demo;
mod holder;
mod issued;
mod issuer;
mod loadbench;
mod logcheck;
mod monitor;
mod organizer;
mod release;
mod serve;
mod tiles;
mod verify;
mod witness;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use undersigned_core::entry::{Action, DisclosureChoice};

#[derive(Parser, Debug)]
#[command(
    name = "undersigned",
    version,
    about = "Anonymous, verifiable collective letters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct ServerOpt {
    /// The undersigned server to talk to.
    #[arg(
        long,
        env = "UNDERSIGNED_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The holder's directory (credential, receipts, seen checkpoints, organizer tokens).
    #[arg(long, env = "UNDERSIGNED_HOME")]
    home: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the platform (embedded SQLite by default; --dev for the local mail outbox).
    Serve(Box<serve::Args>),
    /// Deployment file tools.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The signer's client as a release: export it, check a copy of it.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Credentials: get one for your work address.
    #[command(subcommand)]
    Credential(CredentialCmd),
    /// Sign a letter with your credential; prints and keeps a signed receipt.
    Sign(SignArgs),
    /// Withdraw your signature from a letter.
    Withdraw(SignArgs),
    /// Check that your signatures are in their letters' logs, and that the logs were not rewritten.
    Check {
        #[command(flatten)]
        server: ServerOpt,
        /// A receipt file; default: every receipt in the holder's directory.
        #[arg(long)]
        receipt: Option<PathBuf>,
        /// Read the logs as C2SP tlog-tiles from this base URL or directory (a CDN or static
        /// copy, holding `letters/<id>/...`) instead of the server the receipt names.
        #[arg(long, value_name = "URL")]
        tiles: Option<String>,
    },
    /// Organizer commands.
    #[command(subcommand)]
    Letter(LetterCmd),
    /// Print a letter's live tally.
    Tally {
        // A handle is random base64url and may begin with `-`: a value, never a flag.
        #[arg(allow_hyphen_values = true)]
        letter: String,
        #[command(flatten)]
        server: ServerOpt,
    },
    /// Download a letter's bundle.
    Bundle {
        // A handle is random base64url and may begin with `-`: a value, never a flag.
        #[arg(allow_hyphen_values = true)]
        letter: String,
        #[arg(long, default_value = "bundle.json")]
        out: PathBuf,
        #[command(flatten)]
        server: ServerOpt,
    },
    /// Simulate a whole letter: by default against a server started in this process, over HTTP
    /// and SMTP (the dev outbox); --server to drive another one; --offline for the core alone.
    Demo(demo::Args),
    /// Verify a bundle offline and state what it proves. Exits non-zero naming the first failure.
    Verify {
        /// The bundle file.
        #[arg(required_unless_present = "tiles")]
        file: Option<PathBuf>,
        /// Read the letter's log from C2SP tlog-tiles instead of a bundle file: the letter's
        /// prefix (`https://HOST/letters/ID`, a CDN or static copy of it, or a local directory),
        /// holding `checkpoint`, `tile/` and `bundle-context.json`.
        #[arg(long, value_name = "URL", conflicts_with = "file")]
        tiles: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Also prove that the entry behind this receipt is in the bundle (repeatable).
        #[arg(long)]
        receipt: Vec<PathBuf>,
        #[command(flatten)]
        pins: verify::PinArgs,
    },
    /// Transparency log tools.
    #[command(subcommand)]
    Log(LogCmd),
    /// Follow every public letter and the issuer log of a deployment: verify each new entry,
    /// check that every checkpoint extends the last one seen and carries its witnesses'
    /// cosignatures, and report any inconsistency (exit status 1). No account needed.
    Monitor(monitor::Args),
    /// A transparency-log witness (C2SP tlog-witness): cosigns checkpoints consistent with
    /// what it saw before.
    #[command(subcommand)]
    Witness(witness::Cmd),
    /// An issuer on its own (`issuer serve`): code mails, blind credentials and its signed
    /// statement log, for letters deployments that name it.
    #[command(subcommand)]
    Issuer(issuer::Cmd),
    /// Write a consistent backup of the database and the key file (not the address-tag key,
    /// which is kept apart) while the server runs.
    Backup(backup::BackupArgs),
    /// Restore a backup into a fresh data directory (or an empty PostgreSQL database), checking
    /// every letter's log against the log key and the backup's manifest.
    Restore(backup::RestoreArgs),
    /// Time issue, present and verify through our wrapper next to raw zkryptium calls, and the log.
    Bench(bench::Args),
    /// Load test over loopback: N signers submit with C concurrent clients; prints accepted/s
    /// and latency next to the core's single-core verify rate.
    LoadBench(loadbench::Args),
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Check a deployment file (as `serve --config` reads it) and print what it decides.
    /// Exits non-zero with FILE:LINE and the reason when it is wrong.
    Check { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum ClientCmd {
    /// Write the signer's client into DIR: index.html with its script, stylesheet and wasm
    /// module, one self-contained undersigned-client.html that works opened from disk, and
    /// manifest.json (every file's SHA-256 and the exact CSP). Serve DIR from any static host,
    /// or open the single file, with `#deployment=URL&letter=ID`.
    Export { dir: PathBuf },
    /// Append a client manifest to the release log in --log (tlog-tiles any static host can
    /// serve), signed with the release key in --key (created when missing; never a
    /// deployment's key) under `<host>/releases/<key id>`.
    Release {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        log: PathBuf,
        /// The host that keeps the release log (its origin's first part).
        #[arg(long)]
        host: String,
        /// The exported directory whose manifest to log (checked against its files first);
        /// default: this binary's release.
        #[arg(long)]
        from: Option<PathBuf>,
        /// A witness to cosign the new checkpoint, `VKEY@URL` (repeatable).
        #[arg(long)]
        witness: Vec<String>,
        /// How many witnesses must cosign (default: all named).
        #[arg(long)]
        quorum: Option<usize>,
    },
    /// Whether FILE, DIR or URL (an exported copy on a static host, or a deployment's served
    /// signer code) holds a release's client. With --release-log: a release in that log
    /// (directory or URL) signed by --release-key (default: the release key this binary
    /// ships) under its exact origin, with --witness keys' --quorum when given. Without it: a
    /// deployment's code is held to the release log its deployment document names (or to this
    /// binary's release when it names none); a file or directory, to this binary's release.
    /// Names any file that differs, is missing or is extra, and which release matched.
    Verify {
        path: PathBuf,
        #[arg(long)]
        release_log: Option<String>,
        /// The release log's signed-note verifier key (`<host>/releases/<id>+<key id>+<key>`);
        /// default: the one this binary ships.
        #[arg(long, requires = "release_log")]
        release_key: Option<String>,
        #[arg(long)]
        witness: Vec<String>,
        #[arg(long)]
        quorum: Option<usize>,
    },
}

#[derive(Subcommand, Debug)]
enum CredentialCmd {
    /// Ask every issuer of the deployment for a code at your work address, then get a
    /// blind-issued credential of each for every issuable epoch.
    Request {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "unspecified")]
        role: String,
        #[arg(long, default_value = "unspecified")]
        age_band: String,
        /// The code from the email; with several issuers, once per issuer in the order the
        /// deployment lists them (you are asked for any not given).
        #[arg(long)]
        code: Vec<String>,
        #[command(flatten)]
        server: ServerOpt,
    },
    /// Keep the credentials of a backup saved in the browser (and each letter's last seen
    /// checkpoint), so this device can sign and check with them.
    Import {
        /// The backup file the browser saved.
        file: PathBuf,
        /// Read the passphrase from this file (otherwise you are asked for it).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// The holder's directory (credentials, receipts, seen checkpoints).
        #[arg(long, env = "UNDERSIGNED_HOME")]
        home: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct SignArgs {
    /// Letter id (or handle).
    // A handle is random base64url and may begin with `-`: a value, never a flag.
    #[arg(allow_hyphen_values = true)]
    letter: String,
    /// Attributes to disclose beyond org and epoch: role, age_band, email (comma-separated).
    #[arg(long, value_delimiter = ',')]
    disclose: Vec<String>,
    #[arg(long)]
    comment: Option<String>,
    /// Sign even though fewer than k people of your organization hold a credential.
    #[arg(long)]
    consent_small_org: bool,
    /// Wait a random moment within the publish interval before submitting.
    #[arg(long)]
    random_delay: bool,
    #[command(flatten)]
    server: ServerOpt,
}

#[derive(Subcommand, Debug)]
enum LetterCmd {
    /// Create a draft letter; prints its handle and keeps the organizer token.
    Create {
        #[command(flatten)]
        args: organizer::CreateArgs,
        #[command(flatten)]
        server: ServerOpt,
    },
    /// Open a draft: its text and policy freeze and its log starts.
    Open {
        // A handle is random base64url and may begin with `-`: a value, never a flag.
        #[arg(allow_hyphen_values = true)]
        handle: String,
        #[arg(long)]
        token: Option<String>,
        #[command(flatten)]
        server: ServerOpt,
    },
    /// Close an open letter: pending entries are published, then the closed entry.
    Close {
        // A handle is random base64url and may begin with `-`: a value, never a flag.
        #[arg(allow_hyphen_values = true)]
        handle: String,
        #[arg(long)]
        token: Option<String>,
        #[command(flatten)]
        server: ServerOpt,
    },
}

#[derive(Subcommand, Debug)]
enum LogCmd {
    /// Check that NEW extends OLD (both signed checkpoints) with a consistency proof.
    Check {
        old: PathBuf,
        new: PathBuf,
        /// Consistency proof JSON as served by /proof/consistency.
        #[arg(long)]
        proof: PathBuf,
        /// The log's verifier key (vkey); default: from the bundle given with --bundle.
        #[arg(long)]
        key: String,
    },
}

fn choice(disclose: &[String]) -> anyhow::Result<DisclosureChoice> {
    let mut c = DisclosureChoice::default();
    for d in disclose {
        match d.as_str() {
            "role" => c.role = true,
            "age_band" | "age-band" | "age" => c.age_band = true,
            "email" => c.email = true,
            other => anyhow::bail!("cannot disclose {other:?}: choose from role, age_band, email"),
        }
    }
    Ok(c)
}

fn run_sign(a: SignArgs, action: Action) -> anyhow::Result<ExitCode> {
    let home = client::home(a.server.home.as_deref())?;
    let c = client::Client::new(&a.server.server);
    let saved = holder::submit(
        &c,
        &home,
        &a.letter,
        &holder::SignOptions {
            action,
            choice: choice(&a.disclose)?,
            // An empty comment is no comment: the entry then carries no comment field at all.
            comment: a.comment.filter(|c| !c.trim().is_empty()),
            consent_small_org: a.consent_small_org,
            random_delay: a.random_delay,
        },
    )?;
    println!(
        "{} accepted. Receipt signed by the log; the entry will be in the log by {}.\nEntry hash: {}\nKeep the receipt; `undersigned check` proves inclusion later.",
        if action == Action::Sign { "Signature" } else { "Withdrawal" },
        undersigned_server::pages::datetime_utc(saved.receipt.include_by),
        hex::encode(saved.receipt.entry_hash)
    );
    Ok(ExitCode::SUCCESS)
}

fn done(r: anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    r.map(|()| ExitCode::SUCCESS)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let rt = tokio::runtime::Runtime::new()?;
            done(rt.block_on(serve::run(*args)))
        }
        Command::Backup(args) => done(backup::run_backup(args)),
        Command::Restore(args) => done(backup::run_restore(args)),
        Command::Client(cmd) => done(run_client(cmd)),
        Command::Config(ConfigCmd::Check { file }) => {
            let d = undersigned_server::deployment::load(&file)?;
            print!("{}", undersigned_server::deployment::summary(&d));
            println!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Credential(cmd) => done(run_credential(cmd)),
        Command::Sign(a) => run_sign(a, Action::Sign),
        Command::Withdraw(a) => run_sign(a, Action::Withdraw),
        Command::Check {
            server,
            receipt,
            tiles,
        } => run_check(&server, receipt, tiles.as_deref()),
        Command::Letter(cmd) => done(run_letter(cmd)),
        Command::Tally { letter, server } => done(run_tally(&letter, &server)),
        Command::Bundle {
            letter,
            out,
            server,
        } => done(run_bundle(&letter, &out, &server)),
        Command::Demo(args) => demo::run(args),
        Command::Verify {
            file,
            tiles,
            json,
            receipt,
            pins,
        } => {
            let source = match (&file, &tiles) {
                (_, Some(prefix)) => verify::Source::Tiles(prefix),
                (Some(file), None) => verify::Source::File(file),
                (None, None) => anyhow::bail!("give a bundle file or --tiles URL"),
            };
            verify::run(source, json, &receipt, &pins)
        }
        Command::Log(LogCmd::Check {
            old,
            new,
            proof,
            key,
        }) => logcheck::run(&old, &new, &proof, &key),
        Command::Monitor(args) => monitor::run(&args),
        Command::Witness(cmd) => done(witness::run(cmd)),
        Command::Issuer(cmd) => done(issuer::run(cmd)),
        Command::Bench(args) => bench::run(args),
        Command::LoadBench(args) => loadbench::run(args),
    }
}

/// The `client` commands: export, release and verify the signer's client.
fn run_client(cmd: ClientCmd) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Export { dir } => print!("{}", release::export(&dir)?),
        ClientCmd::Release {
            key,
            log,
            host,
            from,
            witness,
            quorum,
        } => print!(
            "{}",
            release::release(&release::ReleaseArgs {
                key_file: &key,
                log_dir: &log,
                host: &host,
                from: from.as_deref(),
                witnesses: &witness,
                quorum,
            })?
        ),
        ClientCmd::Verify {
            path,
            release_log,
            release_key,
            witness,
            quorum,
        } => {
            let mut pins = undersigned_core::pins::Pins::default();
            if !witness.is_empty() {
                pins = pins.with_witnesses(witness, quorum)?;
            }
            let key = release_key
                .as_deref()
                .unwrap_or(undersigned_core::release::DEFAULT_RELEASE_KEY);
            let log = release_log.as_deref().map(|log| (log, key, &pins));
            let text = path.to_string_lossy();
            let said = if text.starts_with("http://") || text.starts_with("https://") {
                release::verify_url(&text, log)?
            } else {
                match log {
                    Some((log, key, pins)) => release::verify_logged(&path, log, key, pins)?,
                    None => release::verify(&path)?,
                }
            };
            println!("{said}");
        }
    }
    Ok(())
}

fn run_credential(cmd: CredentialCmd) -> anyhow::Result<()> {
    match cmd {
        CredentialCmd::Request {
            email,
            role,
            age_band,
            code,
            server,
        } => {
            let home = client::home(server.home.as_deref())?;
            let c = client::Client::new(&server.server);
            let who = holder::Who {
                email: &email,
                role: &role,
                age_band: &age_band,
            };
            let creds = holder::request(&c, &home, &who, &code, &mut holder::prompt_code)?;
            let epochs: std::collections::BTreeSet<String> = creds
                .iter()
                .map(|c| c.attributes.epoch.to_string())
                .collect();
            let issuers: std::collections::BTreeSet<_> =
                creds.iter().map(|c| c.issuer_id).collect();
            println!(
                "Credentials of {} issuer{} for {} (epochs {}) kept in {} (readable only by you; they never leave this device).",
                issuers.len(),
                if issuers.len() == 1 { "" } else { "s" },
                creds.first().map(|c| c.attributes.org.to_string()).unwrap_or_default(),
                epochs.into_iter().collect::<Vec<_>>().join(", "),
                holder::credentials_dir(&home).display()
            );
        }
        CredentialCmd::Import {
            file,
            passphrase_file,
            home,
        } => run_import(&file, passphrase_file.as_deref(), home.as_deref())?,
    }
    Ok(())
}

fn run_import(
    file: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
    home: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let home = client::home(home)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let passphrase = holder::read_passphrase(passphrase_file)?;
    let imported = holder::import_backup(&home, &text, &passphrase)?;
    let epochs: Vec<String> = imported
        .credentials
        .iter()
        .map(|c| format!("{} {}", c.attributes.org, c.attributes.epoch))
        .collect();
    println!(
        "Imported {} credential(s) ({}) into {}; {} already held, kept as they were.",
        imported.credentials.len(),
        epochs.join(", "),
        holder::credentials_dir(&home).display(),
        imported.already_held
    );
    println!(
        "Took the last seen checkpoint of {} letter(s).",
        imported.checkpoints
    );
    if imported.receipts_left > 0 {
        println!(
            "{} receipt(s) stay in the browser: the browser keeps no copy of the entry, which `undersigned check` needs.",
            imported.receipts_left
        );
    }
    Ok(())
}

fn run_check(
    server: &ServerOpt,
    receipt: Option<PathBuf>,
    tiles: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let home = client::home(server.home.as_deref())?;
    let list = match receipt {
        Some(p) => vec![(p.clone(), client::read_json(&p)?)],
        None => holder::receipts(&home)?,
    };
    if list.is_empty() {
        anyhow::bail!("no receipts in {}", home.join("receipts").display());
    }
    let mut failed = false;
    let now = undersigned_server::now();
    for (path, saved, result) in
        cover::check_receipts(list, tiles, &home, now, &mut rand_core::OsRng)
    {
        failed |= print_check(&path, &saved, result);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one receipt's outcome; true when it failed.
fn print_check(
    path: &std::path::Path,
    saved: &holder::SavedReceipt,
    result: anyhow::Result<holder::CheckOutcome>,
) -> bool {
    match result {
        Ok(holder::CheckOutcome::Included {
            index,
            size,
            consistent_from,
        }) => println!(
            "OK {}: entry {index} of {size} in letter {}{}",
            path.display(),
            // A receipt file is local input: never slice past its end.
            saved.letter_id.get(..16).unwrap_or(&saved.letter_id),
            consistent_from
                .map(|f| format!("; log consistent with the checkpoint of size {f} seen before"))
                .unwrap_or_default()
        ),
        Ok(holder::CheckOutcome::Pending { include_by }) => {
            println!(
                "PENDING {}: accepted, promised in the log by {include_by}",
                path.display()
            )
        }
        Err(e) => {
            println!("FAILED {}: {e:#}", path.display());
            return true;
        }
    }
    false
}

fn run_letter(cmd: LetterCmd) -> anyhow::Result<()> {
    match cmd {
        LetterCmd::Create { args, server } => {
            let home = client::home(server.home.as_deref())?;
            let c = client::Client::new(&server.server);
            let created = organizer::create(
                &c,
                &home,
                &organizer::input(&args, undersigned_server::now())?,
            )?;
            println!(
                "Draft created: handle {}\nOrganizer link (keep it secret): {}\nThe token is kept in {}",
                created.handle,
                created.organizer_url,
                home.join("organizer").display()
            );
        }
        LetterCmd::Open {
            handle,
            token,
            server,
        } => {
            let home = client::home(server.home.as_deref())?;
            let t = organizer::token_for(&home, &handle, token)?;
            let o = organizer::open(&client::Client::new(&server.server), &handle, &t)?;
            println!(
                "Opened. Letter id {}\nIts text and policy are now frozen.",
                o.letter_id
            );
        }
        LetterCmd::Close {
            handle,
            token,
            server,
        } => {
            let home = client::home(server.home.as_deref())?;
            let t = organizer::token_for(&home, &handle, token)?;
            let c = organizer::close(&client::Client::new(&server.server), &handle, &t)?;
            println!(
                "Closed letter {}; final log size {}.",
                c.letter_id, c.log_size
            );
        }
    }
    Ok(())
}

fn run_tally(letter: &str, server: &ServerOpt) -> anyhow::Result<()> {
    client::check_letter_key(letter)?;
    let c = client::Client::new(&server.server);
    let t: undersigned_server::api::read::TallyView =
        c.get_json(&format!("/api/v1/letters/{letter}/tally"), None)?;
    println!("{}", t.summary.render_table(&Default::default()));
    println!("log size {}", t.log_size);
    Ok(())
}

fn run_bundle(letter: &str, out: &std::path::Path, server: &ServerOpt) -> anyhow::Result<()> {
    client::check_letter_key(letter)?;
    let c = client::Client::new(&server.server);
    let text = c.get_text(&format!("/api/v1/letters/{letter}/bundle"), None)?;
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One handle in 64 begins with `-` (base64url): it must reach the command as the handle,
    /// not be refused as an unknown flag.
    #[test]
    fn a_handle_beginning_with_a_hyphen_is_a_value() {
        for args in [
            &[
                "undersigned",
                "letter",
                "open",
                "-Lq3x",
                "--server",
                "http://s",
            ][..],
            &[
                "undersigned",
                "letter",
                "close",
                "-Lq3x",
                "--server",
                "http://s",
            ],
            &["undersigned", "tally", "-Lq3x", "--server", "http://s"],
            &["undersigned", "bundle", "-Lq3x", "--server", "http://s"],
            &["undersigned", "sign", "-Lq3x", "--server", "http://s"],
        ] {
            let cli = Cli::try_parse_from(args);
            assert!(cli.is_ok(), "{args:?}: {:?}", cli.err());
            assert!(format!("{:?}", cli.ok()).contains("\"-Lq3x\""), "{args:?}");
        }
    }
}
