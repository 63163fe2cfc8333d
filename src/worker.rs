//! The ge_security background worker: one per database in `ge_security.databases`, sealing the
//! audit trail every `ge_security.seal_interval` and logging the digest after each seal.
use crate::gucs;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::Duration;

/// Register one worker per configured database (called from `_PG_init` under preload).
pub fn register() {
    for database in gucs::list(&gucs::DATABASES) {
        BackgroundWorkerBuilder::new(&format!("ge_security worker for {database}"))
            .set_type("ge_security worker")
            .set_library("ge_security")
            .set_function("ge_security_worker_main")
            .set_extra(&database)
            .enable_spi_access()
            .set_restart_time(Some(Duration::from_secs(5)))
            .load();
    }
}

/// One sealing cycle; returns the digest when rows were sealed.
fn seal_once() -> Option<String> {
    BackgroundWorker::transaction(|| {
        let installed = Spi::get_one::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension \
             WHERE extname OPERATOR(pg_catalog.=) 'ge_security'::pg_catalog.name)",
        )
        .ok()
        .flatten()
        .unwrap_or(false);
        if !installed {
            return None;
        }
        let sealed = Spi::get_one::<i64>("SELECT ge_security.audit_seal()")
            .ok()
            .flatten()?;
        if sealed == 0 {
            return None;
        }
        Spi::get_one::<String>("SELECT ge_security.audit_digest()::text")
            .ok()
            .flatten()
    })
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ge_security_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = BackgroundWorker::get_extra().to_owned();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // The worker runs as the bootstrap superuser with the database's and role's settings, which
    // their owners control: a search_path naming a schema they can write would run their
    // operators and functions as superuser. Pinned before the first query, overriding every
    // other source. Sealing also needs READ COMMITTED read-write transactions, whatever the
    // defaults say (a SERIALIZABLE default would also take predicate locks on the trail).
    for (name, value) in [
        (c"search_path", c"pg_catalog, pg_temp"),
        (c"default_transaction_isolation", c"read committed"),
        (c"default_transaction_read_only", c"off"),
        (c"default_transaction_deferrable", c"off"),
    ] {
        // SAFETY: the worker is connected to its database (a transaction-less backend may set
        // options), and both strings are NUL-terminated literals that outlive the call.
        unsafe {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_OVERRIDE,
            )
        };
    }
    log!("ge_security worker started for database {database}");
    loop {
        let interval = Duration::from_millis(gucs::SEAL_INTERVAL_MS.get().max(10) as u64);
        if !BackgroundWorker::wait_latch(Some(interval)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: called between transactions from the worker's main loop, where other
            // backends reload their configuration too.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        // SAFETY: reads shared memory the startup process maintains; any backend may ask.
        if unsafe { pg_sys::RecoveryInProgress() } {
            continue; // a hot standby receives sealed blocks from its primary
        }
        if let Some(digest) = seal_once() {
            log!("ge_security audit digest for database {database}: {digest}");
        }
    }
    log!("ge_security worker for database {database} stopping");
}
