//! `undersigned backup` and `restore`: a consistent copy of the database and the key file, and
//! its return into a fresh deployment, checked against the log key before anything is served.
//!
//! What a backup holds: the database (SQLite through `VACUUM INTO`, PostgreSQL through
//! `pg_dump`) and the key file (issuer and log keys), plus a manifest naming each letter's log
//! size at backup time. What it deliberately does not hold: the address-tag key. Whoever has the
//! database and that key can test a staff directory against the issued tags, so the two are
//! kept apart in backups as on disk; the tag key never changes, so one copy made when the
//! deployment starts, stored elsewhere, serves every restore.

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use undersigned_core::log::origin::{LogKind, Origin};
use undersigned_core::log::{Checkpoint, LogVerifier, MerkleLog};
use undersigned_server::keys::DeploymentKeys;
use undersigned_store::{LetterState, PgStore, SqliteStore, Store};

const FORMAT: &str = "undersigned-backup/1";
const MANIFEST: &str = "backup.json";
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
            copy.close().await;
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
        let status = Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
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
    std::fs::write(
        args.out.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    println!(
        "backup written to {}: {backend} database, key file, {} letter logs.\nThe address-tag key is not in it, on purpose: keep its copy apart (a restore needs it).",
        args.out.display(),
        manifest.letters.len()
    );
    Ok(())
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(args.from.join(MANIFEST))
            .with_context(|| format!("{} is not a backup", args.from.display()))?,
    )
    .context("the backup's manifest is malformed")?;
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
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    copy_secret(&args.from.join(KEY_FILE), &key_file)?;
    let keys = DeploymentKeys::load_or_create(&key_file, &tag_key, "restored")
        .context("the backup's key file")?;

    let rt = tokio::runtime::Runtime::new()?;
    let store: Arc<dyn Store> = match &args.database {
        None => {
            let copy = args.from.join(SQLITE_FILE);
            rt.block_on(SqliteStore::check_integrity(&copy))
                .map_err(|e| anyhow!("the backup's database: {e}"))?;
            std::fs::copy(&copy, &sqlite_file).context("copying the database")?;
            Arc::new(
                rt.block_on(SqliteStore::open(&sqlite_file))
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
    let checked = rt.block_on(check_logs(store.as_ref(), &keys, &manifest))?;
    println!(
        "restored into {}: {checked} letter logs checked against the log key and the backup's manifest. Start `undersigned serve --data {}{}` with the same --tag-key-file.",
        args.data.display(),
        args.data.display(),
        if args.database.is_some() { " --database ..." } else { "" }
    );
    Ok(())
}

/// Every letter of the manifest: the restored log's newest checkpoint is signed by the key
/// file's log key for that letter, its root is the root of the restored leaves, and it is no
/// shorter than at backup time. A database and a key file from different deployments, or a
/// truncated dump, fail here instead of when a reader checks a proof.
async fn check_logs(
    store: &dyn Store,
    keys: &DeploymentKeys,
    manifest: &Manifest,
) -> anyhow::Result<usize> {
    let key = keys.log_key.verifying_key();
    for l in &manifest.letters {
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
        if cp.size < l.size {
            bail!(
                "letter {}: the restored log has {} entries, the backup's manifest says {}",
                l.letter_id,
                cp.size,
                l.size
            );
        }
        let leaves = store
            .leaf_hashes(&l.letter_id)
            .await
            .map_err(|e| anyhow!("letter {}: {e}", l.letter_id))?;
        let root = MerkleLog::from_leaf_hashes(leaves)
            .root_at(cp.size)
            .map_err(|e| anyhow!("letter {}: {e}", l.letter_id))?;
        if root != cp.root {
            bail!(
                "letter {}: the restored entries do not hash to the signed root",
                l.letter_id
            );
        }
    }
    Ok(manifest.letters.len())
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
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
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
