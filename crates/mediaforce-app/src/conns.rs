//! The one place an [`App`]'s store connections live, besides its catalog: the queue, the
//! host registry, the web page's tables and the probe cache, each opened on first use and
//! kept (a server answers many requests; opening the store each time costs more than the
//! query), and dropped after a failure that may have broken it, so the next call opens a
//! fresh one (a PostgreSQL restart is survived). Loops that run for long (a worker, a batch)
//! open their own with [`App::queue`].

use crate::review::store_error;
use crate::{App, AppError, ErrorKind, Result};
use mediaforce::cache::ProbeCache;
use mediaforce::hosts::{HostError, Hosts};
use mediaforce::store::sql::Db;
use mediaforce::store::JobStore;
use std::sync::{Arc, Mutex};

/// Store connections an [`App`] keeps open between calls.
#[derive(Default)]
pub(crate) struct Conns {
    queue: Mutex<Option<Box<dyn JobStore>>>,
    pub(crate) web: Mutex<Option<Db>>,
    /// The hooks' and notification channels' tables.
    pub(crate) connect: Mutex<Option<Db>>,
    /// Arrivals reported at once, taken together.
    pub(crate) arrivals: crate::automation::ArrivalBatch,
    hosts: Mutex<Option<Arc<Hosts>>>,
    cache: Mutex<Option<Arc<ProbeCache>>>,
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conns")
    }
}

/// Whether an error may mean the connection is broken (so it is not kept).
fn broken(e: &AppError) -> bool {
    e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal
}

impl App {
    /// Where the store lives (the SQLite file in the data directory, or the shared database).
    pub(crate) fn location(&self) -> String {
        mediaforce::store::location(&self.paths.data_dir, self.paths.database.as_deref())
    }

    /// A new connection to the job queue, for a loop that runs for long (a worker's slots,
    /// a batch's job threads); short use cases share the kept one (`with_queue`).
    pub fn queue(&self) -> Result<Box<dyn JobStore>> {
        mediaforce::store::open(&self.location()).map_err(store_error)
    }

    /// Run `f` on the kept queue connection.
    pub(crate) fn with_queue<R>(
        &self,
        f: impl FnOnce(&mut dyn JobStore) -> Result<R>,
    ) -> Result<R> {
        let mut guard = self.conns.queue.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.queue()?);
        }
        let r = f(guard.as_mut().expect("opened").as_mut());
        if r.as_ref().is_err_and(broken) {
            *guard = None;
        }
        r
    }

    /// A new connection to the host registry, for a worker's loop.
    pub(crate) fn open_hosts(&self) -> Result<Hosts> {
        Ok(Hosts::open(&self.location())?)
    }

    /// Run `f` on the kept host registry.
    pub(crate) fn with_hosts<R>(
        &self,
        f: impl FnOnce(&Hosts) -> std::result::Result<R, HostError>,
    ) -> Result<R> {
        let hosts = {
            let mut guard = self.conns.hosts.lock().unwrap_or_else(|p| p.into_inner());
            if guard.is_none() {
                *guard = Some(Arc::new(self.open_hosts()?));
            }
            guard.clone().expect("opened")
        };
        let r = f(&hosts);
        if matches!(r, Err(HostError::Sql(_))) {
            *self.conns.hosts.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(r?)
    }

    /// The kept probe cache.
    pub(crate) fn probe_cache(&self) -> Result<Arc<ProbeCache>> {
        let mut guard = self.conns.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let location = ProbeCache::location(&self.paths.data_dir, self.paths.database.as_deref());
        let cache = Arc::new(
            ProbeCache::open(&location)
                .map_err(|e| AppError::new(ErrorKind::Unavailable, e.to_string()))?,
        );
        *guard = Some(cache.clone());
        Ok(cache)
    }
}
