//! Who runs the deployment's background work: one process at a time.
//!
//! PostgreSQL: a session-level advisory lock held on a connection of its own. PostgreSQL drops
//! it the moment that session ends, so when the leading process dies (even by SIGKILL, which
//! closes its socket) another process takes it at its next try. A process that loses its
//! session (the connection broke, or an administrator ended it) learns so at its next check
//! and stops; whatever it was writing at that moment is fenced by the store itself, because
//! every log append re-checks the log size it extends inside its transaction.
//!
//! SQLite: the database file is served by one process only, held by an exclusive lock on a
//! file beside it (`<database>.lock`, holding the owner's process id for the error message).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::sync::Mutex;

use crate::util::backend;
use crate::{StoreError, StoreResult};

/// The advisory lock's key, in the two-integer key space (`pg_try_advisory_lock(int, int)`),
/// apart from the one-bigint keys the store's transaction locks use: "unds", 1.
const LOCK_CLASS: i32 = 0x756e_6473;
const LOCK_PUBLISHER: i32 = 1;

/// The leadership of one PostgreSQL-backed process.
#[derive(Debug)]
pub(crate) struct PgLeader {
    options: PgConnectOptions,
    /// The dedicated session, while this process holds the lock (or tried and may again).
    session: Mutex<Session>,
}

#[derive(Debug, Default)]
struct Session {
    conn: Option<PgConnection>,
    leading: bool,
}

impl PgLeader {
    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            session: Mutex::new(Session::default()),
        }
    }

    /// Takes the lock if it is free, keeps it if held. `Ok(false)`: another process leads, or
    /// this one just lost its session (and with it the lock).
    pub(crate) async fn lead(&self) -> StoreResult<bool> {
        let mut s = self.session.lock().await;
        let held = s.leading && s.conn.is_some();
        let conn = match s.conn.as_mut() {
            Some(c) => c,
            None => {
                let c = PgConnection::connect_with(&self.options)
                    .await
                    .map_err(backend)?;
                s.conn.insert(c)
            }
        };
        // A held session lock lasts as long as the session: a round trip proves both. Taking
        // it again would stack a second hold, so it is asked for only while not held.
        let answer = if held {
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&mut *conn)
                .await
                .map(|_| true)
        } else {
            sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(LOCK_PUBLISHER)
                .fetch_one(&mut *conn)
                .await
        };
        match answer {
            Ok(leading) => {
                s.leading = leading;
                Ok(leading)
            }
            Err(e) => {
                // The session is gone or unusable; so is the lock. Reconnect at the next try.
                s.conn = None;
                s.leading = false;
                Err(backend(e))
            }
        }
    }

    /// Gives the lock up (at shutdown), so another process need not wait for the next try.
    pub(crate) async fn resign(&self) {
        let mut s = self.session.lock().await;
        s.leading = false;
        if let Some(c) = s.conn.take() {
            let _ = c.close().await;
        }
    }
}

/// An exclusive lock on `<database>.lock`, held while the store is open.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Locks the file beside `database`; refuses with `InUse` naming the holder's process id
    /// when another process has it.
    pub(crate) fn acquire(database: &Path) -> StoreResult<Self> {
        let path = lock_path(database);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Backend(format!("lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::InUse {
                    database: database.to_owned(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Backend(format!(
                    "lock file {}: {e}",
                    path.display()
                )))
            }
        }
        // Ours now: say who holds it, for the next process that tries.
        let pid = std::process::id();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{pid}"))
            .and_then(|()| file.flush())
            .map_err(|e| StoreError::Backend(format!("lock file {}: {e}", path.display())))?;
        Ok(Self { _file: file })
    }
}

/// `<database>.lock`, beside the database file.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
