//! The launcher: one static background worker that keeps a database worker running for every
//! database named in `ge_security.databases`. It starts workers for databases added to the list
//! on reload and stops those removed; a database that does not exist (or refuses connections)
//! is reported once and looked for again on a back-off, and a worker that stopped is started
//! again on a back-off, so nothing loops hot.
use super::{session, slots};
use crate::gucs;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, DynamicBackgroundWorker,
};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// backend_type of the launcher in pg_stat_activity.
pub const LAUNCHER_TYPE: &str = "ge_security launcher";
/// backend_type of the database workers in pg_stat_activity.
pub const WORKER_TYPE: &str = "ge_security worker";

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);
/// A worker that ran this long before stopping is restarted without waiting.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

pub fn register() {
    BackgroundWorkerBuilder::new(LAUNCHER_TYPE)
        .set_type(LAUNCHER_TYPE)
        .set_library("ge_security")
        .set_function("ge_security_launcher_main")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// What the launcher knows about one listed database.
#[derive(Default)]
struct Entry {
    worker: Option<DynamicBackgroundWorker>,
    started_at: Option<Instant>,
    /// When to look again (database missing, worker stopped, no free worker slot).
    retry_at: Option<Instant>,
    retry_after: Duration,
    /// The last state reported in the log, so that each state is reported once.
    reported: Option<&'static str>,
}

enum Lookup {
    Connectable(pg_sys::Oid),
    Missing,
    NoConnections,
}

/// Every database by name: its oid and whether it accepts connections. The launcher is
/// connected to no database, so it reads the shared catalog pg_database with a plain heap scan
/// (its indexes cannot be opened without a database before the relcache init file exists).
fn databases() -> Result<BTreeMap<Vec<u8>, (pg_sys::Oid, bool)>, String> {
    session::attempt(|| {
        let mut found = BTreeMap::new();
        // SAFETY: inside a transaction; the relation is opened and closed here, each tuple is
        // read while the scan holds it, and only the fixed-size part of the row is read.
        unsafe {
            let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
            let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, lock);
            let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
            loop {
                let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
                if tuple.is_null() {
                    break;
                }
                let form = &*(*tuple)
                    .t_data
                    .cast::<u8>()
                    .add((*(*tuple).t_data).t_hoff as usize)
                    .cast::<pg_sys::FormData_pg_database>();
                let name = std::ffi::CStr::from_ptr(form.datname.data.as_ptr());
                found.insert(name.to_bytes().to_vec(), (form.oid, form.datallowconn));
            }
            pg_sys::heap_endscan(scan);
            pg_sys::table_close(rel, lock);
        }
        found
    })
}

fn look_up(
    name: &str,
    all: &mut Option<BTreeMap<Vec<u8>, (pg_sys::Oid, bool)>>,
) -> Result<Lookup, String> {
    if all.is_none() {
        *all = Some(databases()?);
    }
    Ok(match all.as_ref().and_then(|m| m.get(name.as_bytes())) {
        None => Lookup::Missing,
        Some((oid, true)) => Lookup::Connectable(*oid),
        Some((_, false)) => Lookup::NoConnections,
    })
}

fn start_worker(name: &str, oid: pg_sys::Oid) -> Option<DynamicBackgroundWorker> {
    // SAFETY: the handle must outlive transactions, so it is allocated in TopMemoryContext,
    // which lives as long as the process.
    unsafe {
        PgMemoryContexts::TopMemoryContext.switch_to(|_| {
            BackgroundWorkerBuilder::new(&format!("{WORKER_TYPE} for {name}"))
                .set_type(WORKER_TYPE)
                .set_library("ge_security")
                .set_function("ge_security_worker_main")
                .set_argument(Some(pg_sys::Datum::from(oid.to_u32())))
                .enable_spi_access()
                .set_restart_time(None)
                // MyProcPid is this process's pid; the postmaster signals it when the worker
                // starts or stops, which wakes the launcher.
                .set_notify_pid(pg_sys::MyProcPid)
                .load_dynamic()
                .ok()
        })
    }
}

impl Entry {
    fn report(&mut self, state: &'static str, message: impl FnOnce() -> String) {
        if self.reported != Some(state) {
            self.reported = Some(state);
            log!("{}", message());
        }
    }

    fn retry_later(&mut self, now: Instant) {
        self.retry_after = session::back_off(self.retry_after, FIRST_RETRY, LAST_RETRY);
        self.retry_at = Some(now + self.retry_after);
    }

    /// Bring this database's worker to running, or schedule the next look.
    fn tend(
        &mut self,
        name: &str,
        now: Instant,
        all: &mut Option<BTreeMap<Vec<u8>, (pg_sys::Oid, bool)>>,
    ) {
        if let Some(worker) = &self.worker {
            match worker.pid() {
                Ok(_) | Err(BackgroundWorkerStatus::NotYetStarted) => return,
                Err(_) => {
                    // stopped (crashed, terminated, or its database went away)
                    let ran = self.started_at.map(|t| now - t).unwrap_or_default();
                    self.worker = None;
                    if ran >= HEALTHY_RUN {
                        self.retry_after = Duration::ZERO;
                        self.retry_at = None;
                    } else {
                        self.retry_later(now);
                    }
                    log!(
                        "ge_security launcher: worker for database {} stopped; starting it again{}",
                        crate::error::printable(name, 64),
                        match self.retry_at {
                            Some(at) => format!(" in {} s", (at - now).as_secs().max(1)),
                            None => String::new(),
                        }
                    );
                }
            }
        }
        if self.retry_at.is_some_and(|at| at > now) {
            return;
        }
        let shown = crate::error::printable(name, 64);
        match look_up(name, all) {
            Err(problem) => {
                warning!("ge_security launcher: looking up database {shown} failed: {problem}");
                self.retry_later(now);
            }
            Ok(Lookup::Missing) => {
                self.report("missing", || format!(
                    "ge_security launcher: database {shown} named in ge_security.databases does not exist; its worker starts when it does"
                ));
                self.retry_later(now);
            }
            Ok(Lookup::NoConnections) => {
                self.report("no_connections", || format!(
                    "ge_security launcher: database {shown} named in ge_security.databases does not allow connections; its worker starts when it does"
                ));
                self.retry_later(now);
            }
            Ok(Lookup::Connectable(oid)) => {
                if slots::running(oid) {
                    // a worker started by an earlier launcher still runs: leave it be
                    self.retry_later(now);
                    return;
                }
                match start_worker(name, oid) {
                    Some(worker) => {
                        self.worker = Some(worker);
                        self.started_at = Some(now);
                        self.retry_at = None;
                        self.reported = Some("started");
                    }
                    None => {
                        if self.reported != Some("no_slot") {
                            self.reported = Some("no_slot");
                            ErrorReport::new(
                                PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
                                format!("ge_security launcher: no background worker slot free for database {shown}"),
                                "ge_security_launcher_main",
                            )
                            .set_hint("Raise max_worker_processes (a restart is needed); the launcher keeps trying.")
                            .report(PgLogLevel::WARNING);
                        }
                        self.retry_later(now);
                    }
                }
            }
        }
    }

    fn stop(self, name: &str) {
        if let Some(worker) = self.worker {
            log!(
                "ge_security launcher: stopping the worker for database {} (no longer in ge_security.databases)",
                crate::error::printable(name, 64)
            );
            let _ = worker.terminate();
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        self.retry_at
    }
}

/// The databases to watch, without duplicates.
fn wanted() -> Vec<String> {
    let mut names = gucs::list(&gucs::DATABASES);
    names.sort();
    names.dedup();
    names
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ge_security_launcher_main(_arg: pg_sys::Datum) {
    session::attach_signals();
    BackgroundWorker::connect_worker_to_spi(None, None);
    session::pin_settings();
    log!("ge_security launcher started");
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    while !session::shutdown_requested() {
        if session::reload_if_asked() {
            // a reload is the moment to look for missing databases again
            for entry in entries.values_mut() {
                if entry.worker.is_none() {
                    entry.retry_at = None;
                    entry.retry_after = Duration::ZERO;
                }
            }
        }
        let wanted = wanted();
        let removed: Vec<String> = entries
            .keys()
            .filter(|name| !wanted.contains(name))
            .cloned()
            .collect();
        for name in removed {
            if let Some(entry) = entries.remove(&name) {
                entry.stop(&name);
            }
        }
        let now = Instant::now();
        // pg_database is read at most once a pass, and only when some database needs a look
        let mut all = None;
        for name in &wanted {
            entries
                .entry(name.clone())
                .or_default()
                .tend(name, now, &mut all);
        }
        let sleep = entries
            .values()
            .filter_map(Entry::next_wake)
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(LAST_RETRY)
            .clamp(Duration::from_millis(100), LAST_RETRY);
        session::wait(sleep);
    }
    log!("ge_security launcher stopping");
    // Exit code 1: unless the server is shutting down, the postmaster starts the launcher again
    // (a launcher that was merely terminated would otherwise be gone until the next restart).
    // SAFETY: proc_exit runs the exit callbacks and never returns.
    unsafe { pg_sys::proc_exit(1) };
}
