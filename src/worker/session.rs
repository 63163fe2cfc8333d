//! What the launcher and the database workers share: signal handling, the settings pinned
//! before the first query, interruptible waits, and cycles that survive an ERROR.
use pgrx::bgworkers::BackgroundWorker;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// True while a cycle's transaction runs: SIGTERM then interrupts the query at once (the
/// process exits with FATAL) instead of waiting for the cycle to end.
static IN_CYCLE: AtomicBool = AtomicBool::new(false);

/// SIGTERM handler of the database worker.
///
/// # Safety
/// Installed with `pqsignal` as a signal handler only; it must stay async-signal-safe.
#[pg_guard]
unsafe extern "C-unwind" fn on_sigterm(_signal: std::ffi::c_int) {
    // SAFETY: only sig_atomic_t flags are written and the process latch set, which is what
    // PostgreSQL's own handlers (die, SignalHandlerForShutdownRequest) do.
    unsafe {
        (&raw mut pg_sys::ShutdownRequestPending).write_volatile(1);
        if IN_CYCLE.load(Ordering::SeqCst) {
            (&raw mut pg_sys::InterruptPending).write_volatile(1);
            (&raw mut pg_sys::ProcDiePending).write_volatile(1);
        }
        pg_sys::SetLatch(pg_sys::MyLatch);
    }
}

/// SIGHUP handler of the database worker.
///
/// # Safety
/// Installed with `pqsignal` as a signal handler only; it must stay async-signal-safe.
#[pg_guard]
unsafe extern "C-unwind" fn on_sighup(_signal: std::ffi::c_int) {
    // SAFETY: as PostgreSQL's SignalHandlerForConfigReload: a sig_atomic_t flag and the latch.
    unsafe {
        (&raw mut pg_sys::ConfigReloadPending).write_volatile(1);
        pg_sys::SetLatch(pg_sys::MyLatch);
    }
}

// port.h: newer servers (18 among them) name the backend's pqsignal pqsignal_be (a macro keeps the
// C name).
#[cfg(feature = "pg15")]
use pg_sys::pqsignal;
#[cfg(not(feature = "pg15"))]
use pg_sys::pqsignal_be as pqsignal;

/// SIGHUP reloads the configuration between cycles; SIGTERM stops the process promptly.
pub fn attach_signals() {
    // SAFETY: called once at the start of the process, before signals are unblocked; both
    // handlers only set flags and the latch.
    unsafe {
        pqsignal(pg_sys::SIGHUP as i32, Some(on_sighup));
        pqsignal(pg_sys::SIGTERM as i32, Some(on_sigterm));
        pg_sys::BackgroundWorkerUnblockSignals();
    }
}

pub fn shutdown_requested() -> bool {
    // SAFETY: a sig_atomic_t the signal handler sets; read volatile.
    unsafe { (&raw const pg_sys::ShutdownRequestPending).read_volatile() != 0 }
}

/// Reload the configuration if SIGHUP arrived; true when it did.
pub fn reload_if_asked() -> bool {
    // SAFETY: ConfigReloadPending is a sig_atomic_t set by the SIGHUP handler; the reload runs
    // between transactions, where every backend reloads.
    unsafe {
        if (&raw const pg_sys::ConfigReloadPending).read_volatile() == 0 {
            return false;
        }
        (&raw mut pg_sys::ConfigReloadPending).write_volatile(0);
        pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
    }
    true
}

/// Sleep until `timeout` passes, a signal arrives or the latch is set; exits with the
/// postmaster.
pub fn wait(timeout: Duration) {
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as std::ffi::c_long;
    // SAFETY: MyLatch is this process's latch; WaitLatch and ResetLatch are the documented
    // way to sleep in a background worker.
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            ms,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
    pg_sys::check_for_interrupts!();
}

/// Pin the settings every query of this process depends on, overriding the database's and
/// the role's: the worker runs as the bootstrap superuser with settings that database owners
/// control, and a search_path naming a schema they can write would run their operators and
/// functions as superuser. Timeouts could fail every cycle, and sealing needs READ COMMITTED
/// read-write transactions whatever the defaults say (a SERIALIZABLE default would also take
/// predicate locks on the trail). Called after connecting, before the first query.
pub fn pin_settings() {
    for (name, value) in [
        (c"search_path", c"pg_catalog, pg_temp"),
        (c"default_transaction_isolation", c"read committed"),
        (c"default_transaction_read_only", c"off"),
        (c"default_transaction_deferrable", c"off"),
        (c"statement_timeout", c"0"),
        (c"lock_timeout", c"0"),
        (c"idle_in_transaction_session_timeout", c"0"),
        (c"session_replication_role", c"origin"),
        (c"row_security", c"on"),
        (c"DateStyle", c"ISO, YMD"),
        (c"TimeZone", c"UTC"),
        (c"IntervalStyle", c"postgres"),
        (c"extra_float_digits", c"1"),
        (c"bytea_output", c"hex"),
    ] {
        // SAFETY: the process is connected and outside a transaction, where options may be set;
        // both strings are NUL-terminated literals that outlive the call.
        unsafe {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_OVERRIDE,
            )
        };
    }
}

/// Is the server still replaying WAL (a hot standby)? Nothing that writes may run then.
pub fn in_recovery() -> bool {
    // SAFETY: reads shared memory the startup process maintains; any backend may ask.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Run `body` in its own transaction. An ERROR (or a Rust panic) rolls the transaction back and
/// comes back as its message, so the caller logs it and carries on with the next cycle.
pub fn attempt<R>(body: impl FnOnce() -> R + UnwindSafe + RefUnwindSafe) -> Result<R, String> {
    IN_CYCLE.store(true, Ordering::SeqCst);
    if shutdown_requested() {
        IN_CYCLE.store(false, Ordering::SeqCst);
        return Err("shutting down".into());
    }
    let result = PgTryBuilder::new(move || Ok(BackgroundWorker::transaction(body)))
        .catch_others(|caught| {
            // SAFETY: the failed transaction (and any SPI connection inside it) is rolled back
            // exactly as PostgreSQL's own workers do after an error; pgrx flushes the error
            // state when this handler returns.
            unsafe {
                pg_sys::AbortCurrentTransaction();
                pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
            }
            Err(describe(&caught))
        })
        .execute();
    IN_CYCLE.store(false, Ordering::SeqCst);
    result
}

/// The SQLSTATE and message of a caught error, on one line.
fn describe(caught: &CaughtError) -> String {
    let report = match caught {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    let code = report.sql_error_code() as i32;
    let sqlstate: String = (0..5)
        .map(|n| char::from(((code >> (6 * n)) & 0x3F) as u8 + b'0'))
        .collect();
    let mut text = format!("{} (SQLSTATE {sqlstate})", report.message());
    if let Some(detail) = report.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    crate::error::printable(&text, 400)
}

/// Exponential back-off: `current` doubled, at least `min`, at most `max`.
pub fn back_off(current: Duration, min: Duration, max: Duration) -> Duration {
    (current * 2).clamp(min, max)
}
