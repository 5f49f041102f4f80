//! The HTTP layer's state: the domain's `Platform`, plus what only HTTP needs (the kept public
//! reads, the dev outbox's page).

use std::ops::Deref;
use std::sync::Arc;
use undersigned_service::clock::Clock;
use undersigned_service::keys::DeploymentKeys;
use undersigned_service::mailer::Mailer;
use undersigned_service::{Config, Platform};
use undersigned_store::Store;

use crate::error::AppResult;
use undersigned_outbox::Outbox;

/// What every handler gets: the platform (by `Deref`, so `s.store`, `s.ledger` read as
/// before) and the HTTP-only parts.
#[derive(Clone, Debug)]
pub struct AppState {
    platform: Platform,
    /// The dev outbox, when mail goes to the embedded SMTP sink.
    pub outbox: Option<Outbox>,
    /// The public reads kept while this process writes nothing (`caching.rs`).
    pub reads: Arc<crate::caching::ReadCache>,
}

impl Deref for AppState {
    type Target = Platform;
    fn deref(&self) -> &Platform {
        &self.platform
    }
}

impl From<AppState> for Platform {
    fn from(s: AppState) -> Platform {
        s.platform
    }
}

impl AppState {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        keys: DeploymentKeys,
        mailer: Mailer,
        outbox: Option<Outbox>,
    ) -> AppResult<Self> {
        Self::with_clock(config, store, keys, mailer, outbox, Clock::system())
    }

    /// `new` with a given clock (tests pass `Clock::manual()` to move time).
    pub fn with_clock(
        config: Config,
        store: Arc<dyn Store>,
        keys: DeploymentKeys,
        mailer: Mailer,
        outbox: Option<Outbox>,
        clock: Clock,
    ) -> AppResult<Self> {
        let platform = Platform::with_clock(config, store, keys, mailer, clock)?;
        Ok(Self::with_platform(platform, outbox))
    }

    /// The HTTP state around a platform built elsewhere.
    pub fn with_platform(platform: Platform, outbox: Option<Outbox>) -> Self {
        Self {
            platform,
            outbox,
            reads: Default::default(),
        }
    }

    /// The domain's context, for the background jobs.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }
}
