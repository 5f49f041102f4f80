//! `undersigned backup` and `restore`: a consistent copy of the database and the key file, and
//! its return into a fresh deployment, checked against the log key and the witnesses before
//! anything is served.
//!
//! What a backup holds: the database (SQLite through `VACUUM INTO`, PostgreSQL through
//! `pg_dump`) and the key file (issuer and log keys), plus a manifest naming each letter's log
//! size at backup time, and `backup.sig`: a signed note by the log key over the SHA-256 of
//! every other file, so a restore refuses a manifest, database or key file that was changed.
//! Every file is the owner's only (0600, the directory 0700). What it deliberately does not
//! hold: the address-tag key (whoever has the database and that key can test a staff directory
//! against the issued tags, so the two are kept apart in backups as on disk; the tag key never
//! changes, so one copy made when the deployment starts, stored elsewhere, serves every
//! restore), and the email code rows (live secrets for a few minutes, useless after a restore).
//!
//! A backup older than what the witnesses cosigned must never be served: its logs would grow
//! into a fork of what they saw. `restore --witness` and `serve` (before it listens, and before
//! any log's first cosigning) hold every log in the database against what each witness last
//! cosigned (`cosigning::check_witnessed`) and refuse one that does not extend it.

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use undersigned_core::log::origin::{LogKind, Origin};
use undersigned_core::log::{Checkpoint, LogSigner, LogVerifier, MerkleLog};
use undersigned_server::cosigning::{Cosigning, StoredLog, WitnessSpec};
use undersigned_server::keys::DeploymentKeys;
use undersigned_store::{LetterState, PgStore, SqliteStore, Store};

const FORMAT: &str = "undersigned-backup/1";
const MANIFEST: &str = "backup.json";
/// The signed note over every other file's SHA-256.
const SIGNATURE: &str = "backup.sig";
/// The key name the log key signs the manifest under: no log origin has this form, and the
/// note's text is no checkpoint, so the signature cannot pass for a log's.
const SIGNATURE_KEY_NAME: &str = "undersigned-backup";
/// The table of email codes: live secrets, never copied into a backup.
const CODE_TABLE: &str = "email_codes";
const KEY_FILE: &str = "keys.json";
const SQLITE_FILE: &str = "undersigned.db";
const PG_DUMP_FILE: &str = "undersigned.pgdump";

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The deployment's data directory (key file, and the SQLite database unless --database).
    #[arg(long, default_value = "undersigned-data")]
    pub data: PathBuf,
    /// The deployment's PostgreSQL URL, when it runs on PostgreSQL (dumped with `pg_dump`).
    #[arg(long, env = "UNDERSIGNED_DATABASE")]
    pub database: Option<String>,
    /// Where to write the backup: a directory that does not exist yet, or is empty.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// A directory written by `undersigned backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// The new deployment's data directory; must hold no database and no key file yet.
    #[arg(long)]
    pub data: PathBuf,
    /// Restore into this PostgreSQL database (empty) instead of SQLite.
    #[arg(long, env = "UNDERSIGNED_DATABASE")]
    pub database: Option<String>,
    /// The address-tag key kept apart from the backup (as for `serve`).
    #[arg(long, env = "UNDERSIGNED_TAG_KEY")]
    pub tag_key_file: Option<PathBuf>,
    /// The deployment's witnesses, as for `serve` (VKEY@URL, repeatable): every restored log is
    /// held against what they last cosigned, and a backup older than that is refused. Without
    /// them `serve` makes the same check before it listens.
    #[arg(long, value_name = "VKEY@URL")]
    pub witness: Vec<WitnessSpec>,
    /// The deployment's witness quorum (default: all).
    #[arg(long, value_name = "N")]
    pub witness_quorum: Option<usize>,
    /// How long one witness request may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub witness_timeout_ms: u64,
}

/// What a backup says about itself; the restore checks the restored logs against it.
#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    format: String,
    backend: String,
    /// Each open or closed letter's log size when the backup began: a restored log must be at
    /// least this long, or the backup lost entries.
    letters: Vec<LetterSize>,
}

#[derive(Serialize, Deserialize, Debug)]
struct LetterSize {
    letter_id: String,
    size: u64,
}

pub fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let keys = args.data.join(KEY_FILE);
    if !keys.is_file() {
        bail!(
            "{} has no key file ({KEY_FILE}); --data must be the deployment's data directory",
            args.data.display()
        );
    }
    prepare_empty_dir(&args.out)?;
    let rt = tokio::runtime::Runtime::new()?;
    let backend = match &args.database {
        None => {
            let db = args.data.join(SQLITE_FILE);
            if !db.is_file() {
                bail!("no SQLite database at {}", db.display());
            }
            let copy = args.out.join(SQLITE_FILE);
            // VACUUM INTO writes into an empty file: one made the owner's only beforehand.
            create_private(&copy)?;
            rt.block_on(SqliteStore::backup_into(&db, &copy))
                .map_err(|e| anyhow!("SQLite backup: {e}"))?;
            "sqlite"
        }
        Some(_) => "postgres",
    };
    // The manifest is read before a PostgreSQL dump and from the SQLite copy itself: either
    // way the dumped logs are at least as long as it says, since logs only grow.
    let letters = match &args.database {
        None => rt.block_on(async {
            let copy = SqliteStore::open(&args.out.join(SQLITE_FILE))
                .await
                .map_err(|e| anyhow!("reading the SQLite copy: {e}"))?;
            let sizes = log_sizes(&copy).await;
            // Codes are live secrets for minutes: none goes into a backup. `scrub` makes the
            // deletion physical (secure_delete, WAL truncated).
            let swept = async {
                copy.sweep_codes(i64::MAX.unsigned_abs()).await?;
                copy.scrub().await
            }
            .await
            .map_err(|e| anyhow!("removing the code rows from the copy: {e}"));
            copy.close().await;
            swept?;
            // The open left its one-process lock beside the copy: not part of a backup.
            let lock = undersigned_store::lock_path(&args.out.join(SQLITE_FILE));
            if let Err(e) = std::fs::remove_file(&lock) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    bail!("removing {}: {e}", lock.display());
                }
            }
            sizes
        })?,
        Some(url) => rt.block_on(async {
            let store = PgStore::connect(url)
                .await
                .map_err(|e| anyhow!("PostgreSQL: {e}"))?;
            log_sizes(&store).await
        })?,
    };
    if let Some(url) = &args.database {
        let dump = args.out.join(PG_DUMP_FILE);
        create_private(&dump)?;
        let status = Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--no-privileges"])
            .arg(format!("--exclude-table-data={CODE_TABLE}"))
            .arg("--file")
            .arg(&dump)
            .arg(url)
            .status()
            .context("running pg_dump (PostgreSQL's client tools must be installed)")?;
        if !status.success() {
            bail!("pg_dump failed ({status})");
        }
    }
    copy_secret(&keys, &args.out.join(KEY_FILE))?;
    let manifest = Manifest {
        format: FORMAT.into(),
        backend: backend.into(),
        letters,
    };
    write_private(
        &args.out.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    let log_key = DeploymentKeys::read_log_key(&keys).context("the deployment's key file")?;
    let signer = LogSigner::new(SIGNATURE_KEY_NAME, log_key)?;
    let text = signed_text(&args.out, database_file(backend))?;
    write_private(
        &args.out.join(SIGNATURE),
        signer.sign_note(&text)?.as_bytes(),
    )?;
    println!(
        "backup written to {}: {backend} database, key file, {} letter logs.\nThe address-tag key is not in it, on purpose: keep its copy apart (a restore needs it).",
        args.out.display(),
        manifest.letters.len()
    );
    Ok(())
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let manifest_bytes = std::fs::read(args.from.join(MANIFEST))
        .with_context(|| format!("{} is not a backup", args.from.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).context("the backup's manifest is malformed")?;
    if manifest.format != FORMAT {
        bail!("unknown backup format {:?}", manifest.format);
    }
    let wanted = if args.database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    if manifest.backend != wanted {
        bail!(
            "this backup holds a {} database; restore it {}",
            manifest.backend,
            if manifest.backend == "postgres" {
                "with --database postgres://..."
            } else {
                "without --database"
            }
        );
    }
    let key_file = args.data.join(KEY_FILE);
    let sqlite_file = args.data.join(SQLITE_FILE);
    if key_file.exists() || sqlite_file.exists() {
        bail!(
            "{} already holds a deployment; restore into an empty directory",
            args.data.display()
        );
    }
    let tag_key = args
        .tag_key_file
        .clone()
        .or_else(undersigned_server::keys::default_tag_key_path)
        .ok_or_else(|| anyhow!("pass --tag-key-file: the address-tag key kept apart"))?;
    if !tag_key.is_file() {
        bail!(
            "the address-tag key {} is missing: a backup does not hold it; put back the copy kept apart (without it every address could get a second credential this epoch)",
            tag_key.display()
        );
    }
    // Nothing is copied before the manifest, the key file and the database are the ones the
    // backup's log key signed.
    let log_key =
        DeploymentKeys::read_log_key(&args.from.join(KEY_FILE)).context("the backup's key file")?;
    check_signature(&args.from, &log_key, database_file(&manifest.backend))?;
    create_private_dir(&args.data)?;
    let created = [
        key_file.clone(),
        sqlite_file.clone(),
        sqlite_file.with_extension("db-wal"),
        sqlite_file.with_extension("db-shm"),
        undersigned_store::lock_path(&sqlite_file),
    ];
    let restored = restore_into(&args, &manifest, &key_file, &sqlite_file, &tag_key);
    if restored.is_err() {
        // A refused restore leaves nothing that `serve` could start on.
        for f in &created {
            let _ = std::fs::remove_file(f);
        }
        if args.database.is_some() {
            eprintln!("the PostgreSQL database now holds the refused backup: empty it before another restore");
        }
    }
    restored
}

fn restore_into(
    args: &RestoreArgs,
    manifest: &Manifest,
    key_file: &Path,
    sqlite_file: &Path,
    tag_key: &Path,
) -> anyhow::Result<()> {
    copy_secret(&args.from.join(KEY_FILE), key_file)?;
    let keys = DeploymentKeys::load_or_create(key_file, tag_key, "restored")
        .context("the backup's key file")?;

    let rt = tokio::runtime::Runtime::new()?;
    let store: Arc<dyn Store> = match &args.database {
        None => {
            let copy = args.from.join(SQLITE_FILE);
            rt.block_on(SqliteStore::check_integrity(&copy))
                .map_err(|e| anyhow!("the backup's database: {e}"))?;
            std::fs::copy(&copy, sqlite_file).context("copying the database")?;
            Arc::new(
                rt.block_on(SqliteStore::open(sqlite_file))
                    .map_err(|e| anyhow!("SQLite: {e}"))?,
            )
        }
        Some(url) => {
            let status = Command::new("pg_restore")
                .args([
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--dbname",
                ])
                .arg(url)
                .arg(args.from.join(PG_DUMP_FILE))
                .status()
                .context("running pg_restore (PostgreSQL's client tools must be installed)")?;
            if !status.success() {
                bail!("pg_restore failed ({status}); the target database must be empty");
            }
            Arc::new(
                rt.block_on(PgStore::connect(url))
                    .map_err(|e| anyhow!("PostgreSQL: {e}"))?,
            )
        }
    };
    let logs = rt.block_on(check_logs(store.as_ref(), &keys, manifest))?;
    drop(store);
    let letters = logs
        .iter()
        .filter(|l| Origin::parse(l.verifier.name()).is_ok_and(|o| o.kind == LogKind::Letter))
        .count();
    let witnessed = check_witnesses(args, &logs)?;
    println!(
        "restored into {}: {letters} letter logs checked against the log key and the backup's signed manifest; {witnessed}. Start `undersigned serve --data {}{}` with the same --tag-key-file.",
        args.data.display(),
        args.data.display(),
        if args.database.is_some() { " --database ..." } else { "" }
    );
    Ok(())
}

/// Every restored log held against what the named witnesses last cosigned: a fork refuses
/// the restore; logs the witnesses could not confirm are left to `serve`, which checks them
/// again before their first cosigning. Says what was done.
fn check_witnesses(args: &RestoreArgs, logs: &[StoredLog]) -> anyhow::Result<String> {
    if args.witness.is_empty() {
        return Ok("not compared with witnesses (none named with --witness): `serve` compares every log with its witnesses before it listens".into());
    }
    let cosigning = Cosigning::new(
        &args.witness,
        args.witness_quorum,
        Duration::from_millis(args.witness_timeout_ms),
        0,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let (forks, unconfirmed): (Vec<_>, Vec<_>) = cosigning
        .check_witnessed(logs)
        .into_iter()
        .filter_map(Result::err)
        .partition(|f| f.is_fork());
    if !forks.is_empty() {
        let said: Vec<String> = forks.iter().map(ToString::to_string).collect();
        bail!(
            "this backup is older than what the witnesses cosigned, and serving it would fork the log:\n{}",
            said.join("\n")
        );
    }
    for f in &unconfirmed {
        eprintln!("warning: {f}");
    }
    Ok(format!(
        "{} of {} logs confirmed by the witnesses to extend what they cosigned{}",
        logs.len() - unconfirmed.len(),
        logs.len(),
        if unconfirmed.is_empty() {
            ""
        } else {
            " (`serve` checks the others before their first cosigning)"
        }
    ))
}

/// Every letter in the restored database (not only those the manifest names): its newest
/// checkpoint is signed by the key file's log key for that letter, its root is the root of the
/// restored leaves, and it is no shorter than the manifest says; every letter of the manifest
/// is there. The issuer log likewise. A database and a key file from different deployments, or
/// a truncated dump, fail here instead of when a reader checks a proof. Returns the logs, for
/// the witnesses' check.
async fn check_logs(
    store: &dyn Store,
    keys: &DeploymentKeys,
    manifest: &Manifest,
) -> anyhow::Result<Vec<StoredLog>> {
    let key = keys.log_key.verifying_key();
    let stored = log_sizes(store).await?;
    if let Some(m) = manifest
        .letters
        .iter()
        .find(|m| !stored.iter().any(|l| l.letter_id == m.letter_id))
    {
        bail!(
            "letter {}: the backup's manifest names its log (size {}), but the restored database has none",
            m.letter_id,
            m.size
        );
    }
    let mut logs = Vec::new();
    for l in &stored {
        let row = store
            .latest_checkpoint(&l.letter_id)
            .await
            .map_err(|e| anyhow!("letter {}: {e}", l.letter_id))?
            .ok_or_else(|| anyhow!("letter {}: no checkpoint was restored", l.letter_id))?;
        let origin = row
            .note
            .split_once('\n')
            .map(|(o, _)| o)
            .filter(|o| {
                Origin::parse(o)
                    .is_ok_and(|o| o.kind == LogKind::Letter && hex::encode(o.id) == l.letter_id)
            })
            .ok_or_else(|| anyhow!("letter {}: a checkpoint of another log", l.letter_id))?;
        let verifier =
            LogVerifier::new(origin, key).map_err(|e| anyhow!("letter {}: {e}", l.letter_id))?;
        let cp = Checkpoint::open(&row.note, &verifier, Some(origin)).map_err(|e| {
            anyhow!(
                "letter {}: its checkpoint is not signed by this key file's log key ({e}): the database and the key file come from different deployments",
                l.letter_id
            )
        })?;
        let promised = manifest
            .letters
            .iter()
            .find(|m| m.letter_id == l.letter_id)
            .map_or(0, |m| m.size);
        if cp.size < promised {
            bail!(
                "letter {}: the restored log has {} entries, the backup's manifest says {}",
                l.letter_id,
                cp.size,
                promised
            );
        }
        let leaves = store
            .leaf_hashes(&l.letter_id)
            .await
            .map_err(|e| anyhow!("letter {}: {e}", l.letter_id))?;
        let tree = signed_tree(leaves, &cp).map_err(|e| anyhow!("letter {}: {e}", l.letter_id))?;
        logs.push(StoredLog {
            name: format!("letter {}", l.letter_id),
            verifier,
            tree: Arc::new(tree),
        });
    }
    let issuer = keys.issuer.id().to_hex();
    if let Some(row) = store
        .issuer_checkpoint(&issuer, None)
        .await
        .map_err(|e| anyhow!("the issuer log: {e}"))?
    {
        let origin = row.note.split_once('\n').map_or("", |(o, _)| o);
        let verifier = LogVerifier::new(origin, key).map_err(|e| anyhow!("the issuer log: {e}"))?;
        let cp = Checkpoint::open(&row.note, &verifier, Some(origin)).map_err(|e| {
            anyhow!("the issuer log's checkpoint is not signed by this key file's log key ({e})")
        })?;
        let hashes = store
            .issuer_log_hashes(&issuer)
            .await
            .map_err(|e| anyhow!("the issuer log: {e}"))?;
        let tree = signed_tree(hashes, &cp).map_err(|e| anyhow!("the issuer log: {e}"))?;
        logs.push(StoredLog {
            name: "the issuer log".into(),
            verifier,
            tree: Arc::new(tree),
        });
    }
    Ok(logs)
}

/// The tree of the first `cp.size` leaves, when its root is the checkpoint's.
fn signed_tree(mut leaves: Vec<[u8; 32]>, cp: &Checkpoint) -> anyhow::Result<MerkleLog> {
    let n = usize::try_from(cp.size)?;
    if leaves.len() < n {
        bail!(
            "the restored log has {} entries, its checkpoint {}",
            leaves.len(),
            cp.size
        );
    }
    leaves.truncate(n);
    let tree = MerkleLog::from_leaf_hashes(leaves);
    if tree.root() != cp.root {
        bail!("the restored entries do not hash to the signed root");
    }
    Ok(tree)
}

async fn log_sizes(store: &dyn Store) -> anyhow::Result<Vec<LetterSize>> {
    let mut out = Vec::new();
    for state in [LetterState::Open, LetterState::Closed] {
        for row in store
            .letters_in_state(state)
            .await
            .map_err(|e| anyhow!("listing letters: {e}"))?
        {
            let Some(letter_id) = row.letter_id else {
                continue;
            };
            let size = store
                .latest_checkpoint(&letter_id)
                .await
                .map_err(|e| anyhow!("letter {letter_id}: {e}"))?
                .map_or(0, |c| c.size);
            if size > 0 {
                out.push(LetterSize { letter_id, size });
            }
        }
    }
    Ok(out)
}

fn prepare_empty_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if std::fs::read_dir(dir)?.next().is_some() {
            bail!("{} is not empty", dir.display());
        }
        // The backup holds the deployment's keys: its directory is the owner's only.
        #[cfg(unix)]
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    } else {
        create_private_dir(dir)?;
    }
    Ok(())
}

/// Creates a directory (and its missing parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Creates an empty file readable by its owner only, for a tool to write into.
fn create_private(path: &Path) -> anyhow::Result<()> {
    write_private(path, &[])
}

/// Writes a new file readable by its owner only, synced.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut f, bytes)?;
    f.sync_all()?;
    Ok(())
}

fn database_file(backend: &str) -> &'static str {
    if backend == "postgres" {
        PG_DUMP_FILE
    } else {
        SQLITE_FILE
    }
}

/// What `backup.sig` signs: the format, then `<hex SHA-256> <file>` for the manifest, the key
/// file and the database, in that order.
fn signed_text(dir: &Path, database: &str) -> anyhow::Result<String> {
    let mut text = format!("{FORMAT}\n");
    for name in [MANIFEST, KEY_FILE, database] {
        text.push_str(&format!("{} {name}\n", file_sha256(&dir.join(name))?));
    }
    Ok(text)
}

/// Refuses a backup whose `backup.sig` is missing, not signed by its key file's log key, or
/// does not name the SHA-256 of its manifest, key file and database as they are now.
fn check_signature(
    dir: &Path,
    log_key: &ed25519_dalek::SigningKey,
    database: &str,
) -> anyhow::Result<()> {
    let note = std::fs::read(dir.join(SIGNATURE)).with_context(|| {
        format!("the backup has no signed manifest ({SIGNATURE}); it is refused")
    })?;
    let verifier = LogVerifier::new(SIGNATURE_KEY_NAME, log_key.verifying_key())?;
    let signed = verifier.open_note_bytes(&note).map_err(|e| {
        anyhow!("the backup's manifest signature does not verify with its key file's log key ({e}); it is refused")
    })?;
    if signed != signed_text(dir, database)? {
        bail!("the backup's files are not the ones its manifest signature names (the manifest, the key file or the database was changed); it is refused");
    }
    Ok(())
}

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(h.finalize()))
}

/// Copies a secret file, readable by its owner only.
fn copy_secret(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(to)
        .with_context(|| format!("writing {}", to.display()))?;
    std::io::Write::write_all(&mut f, &bytes)?;
    f.sync_all()?;
    Ok(())
}
