//! One database's worker: seals the audit trail every `ge_security.seal_interval`, records
//! drift from the approved baseline every `ge_security.drift_interval` (through
//! `ge_security.drift_check()`, which logs and notifies), and verifies the trail every
//! `ge_security.verify_interval`. A cycle that fails is logged as a WARNING, rolled back and
//! retried on a back-off; while the extension is not installed the worker waits quietly.
use super::{launcher::WORKER_TYPE, session, slots};
use crate::gucs;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;
use std::time::{Duration, Instant};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);
/// Longest wait between looks for a missing extension.
const EXTENSION_RETRY: Duration = Duration::from_secs(10);
/// The first verification runs this soon after start (or after the interval, if shorter).
const FIRST_VERIFY: Duration = Duration::from_secs(10);

/// What one cycle found.
enum Step {
    NoExtension,
    NoBaseline,
    Done(Option<String>),
}

fn extension_installed() -> bool {
    // SAFETY: a catalog lookup by name inside the cycle's transaction; it reads no user code.
    unsafe { pg_sys::get_extension_oid(c"ge_security".as_ptr(), true) != pg_sys::InvalidOid }
}

fn spi<T>(result: Result<Option<T>, pgrx::spi::Error>) -> Option<T> {
    result.unwrap_or_else(|e| crate::error::spi_failed("a worker query", e))
}

/// Seal what is safe to seal; the digest when rows were sealed.
fn seal() -> Step {
    if !extension_installed() {
        return Step::NoExtension;
    }
    let sealed = spi(Spi::get_one::<i64>("SELECT ge_security.audit_seal()")).unwrap_or(0);
    if sealed == 0 {
        return Step::Done(None);
    }
    Step::Done(spi(Spi::get_one::<String>(
        "SELECT ge_security.audit_digest()::pg_catalog.text",
    )))
}

/// Record new drift (drift_check() logs each new item and notifies listeners).
fn drift() -> Step {
    if !extension_installed() {
        return Step::NoExtension;
    }
    let has_baseline = spi(Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT FROM ge_security.baseline)",
    ))
    .unwrap_or(false);
    if !has_baseline {
        return Step::NoBaseline;
    }
    let new = spi(Spi::get_one::<i64>(
        "SELECT pg_catalog.count(*) FROM ge_security.drift_check()",
    ))
    .unwrap_or(0);
    Step::Done((new > 0).then(|| format!("{new} new drift events")))
}

/// Verify the trail and record the result in ge_security.worker_status for the metrics view.
fn verify() -> Step {
    if !extension_installed() {
        return Step::NoExtension;
    }
    let problem = spi(Spi::get_one::<String>(
        "WITH v AS MATERIALIZED (SELECT * FROM ge_security.audit_verify()), \
         r AS (SELECT pg_catalog.bool_and(v.ok) AS ok, \
                      pg_catalog.count(*) FILTER (WHERE v.ok IS FALSE) AS problems, \
                      pg_catalog.string_agg(pg_catalog.format('%s: %s', v.problem, v.detail), '; ') \
                        FILTER (WHERE v.ok IS FALSE) AS detail FROM v), \
         u AS (UPDATE ge_security.worker_status s \
                  SET verified_at = pg_catalog.now(), verify_ok = r.ok, \
                      verify_problems = r.problems::pg_catalog.int4, \
                      verify_detail = pg_catalog.left(r.detail, 2000) \
                 FROM r RETURNING s.verify_ok) \
         SELECT r.detail FROM r",
    ));
    Step::Done(problem)
}

/// One kind of cycle and when it runs next.
struct Task {
    name: &'static str,
    run: fn() -> Step,
    interval: fn() -> Option<Duration>,
    next: Instant,
    retry_after: Duration,
}

impl Task {
    fn due(&self, now: Instant) -> bool {
        (self.interval)().is_some() && now >= self.next
    }
}

fn seal_interval() -> Option<Duration> {
    Some(Duration::from_millis(
        gucs::SEAL_INTERVAL_MS.get().max(10) as u64
    ))
}

fn drift_interval() -> Option<Duration> {
    Some(Duration::from_secs(
        gucs::DRIFT_INTERVAL_S.get().max(1) as u64
    ))
}

fn verify_interval() -> Option<Duration> {
    let seconds = gucs::VERIFY_INTERVAL_S.get();
    (seconds > 0).then(|| Duration::from_secs(seconds as u64))
}

/// Is this database still listed in ge_security.databases?
fn listed(database: &str) -> bool {
    gucs::list(&gucs::DATABASES).iter().any(|d| d == database)
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ge_security_worker_main(arg: pg_sys::Datum) {
    session::attach_signals();
    let oid = pg_sys::Oid::from(arg.value() as u32);
    if !slots::claim(oid) {
        // another worker already serves this database
        return;
    }
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(oid), None);
    session::pin_settings();
    let database = session::attempt(|| {
        // SAFETY: MyDatabaseId is set by the connection; the name is copied before the
        // transaction's memory goes away.
        unsafe {
            let name = pg_sys::get_database_name(pg_sys::MyDatabaseId);
            if name.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(name)
                    .to_string_lossy()
                    .into_owned()
            }
        }
    })
    .unwrap_or_default();
    let shown = crate::error::printable(&database, 64);
    log!("ge_security worker started for database {shown}");
    run(&database, &shown);
    log!("ge_security worker for database {shown} stopping");
}

fn run(database: &str, shown: &str) {
    let start = Instant::now();
    let mut tasks = [
        Task {
            name: "seal",
            run: seal,
            interval: seal_interval,
            next: start,
            retry_after: Duration::ZERO,
        },
        Task {
            name: "drift",
            run: drift,
            interval: drift_interval,
            next: start,
            retry_after: Duration::ZERO,
        },
        Task {
            name: "verify",
            run: verify,
            interval: verify_interval,
            next: start + verify_interval().map_or(FIRST_VERIFY, |i| i.min(FIRST_VERIFY)),
            retry_after: Duration::ZERO,
        },
    ];
    let mut extension_wait = Duration::ZERO;
    let mut reported: Option<&'static str> = None;
    loop {
        if session::shutdown_requested() {
            return;
        }
        if session::reload_if_asked() && !listed(database) {
            log!("ge_security worker for database {shown}: no longer in ge_security.databases");
            return;
        }
        if session::in_recovery() {
            // a hot standby receives sealed blocks and baselines from its primary
            session::wait(Duration::from_secs(1));
            continue;
        }
        let now = Instant::now();
        for task in tasks.iter_mut().filter(|t| t.due(now)) {
            let interval = (task.interval)().unwrap_or(LAST_RETRY);
            match session::attempt(task.run) {
                Ok(Step::NoExtension) => {
                    if reported != Some("no_extension") {
                        reported = Some("no_extension");
                        log!("ge_security worker for database {shown}: extension ge_security is not installed; waiting for CREATE EXTENSION ge_security");
                    }
                    extension_wait =
                        session::back_off(extension_wait, FIRST_RETRY, EXTENSION_RETRY);
                    for t in tasks.iter_mut() {
                        t.next = t.next.max(now + extension_wait);
                    }
                    break;
                }
                Ok(step) => {
                    if reported == Some("no_extension") {
                        reported = None;
                        log!(
                            "ge_security worker for database {shown}: extension ge_security found"
                        );
                    }
                    extension_wait = Duration::ZERO;
                    task.retry_after = Duration::ZERO;
                    task.next = Instant::now() + interval;
                    match (task.name, step) {
                        ("seal", Step::Done(Some(digest))) => {
                            log!("ge_security audit digest for database {shown}: {digest}")
                        }
                        ("drift", Step::NoBaseline) if reported != Some("no_baseline") => {
                            reported = Some("no_baseline");
                            log!("ge_security worker for database {shown}: no approved baseline yet; drift is checked once SELECT ge_security.approve_baseline('...') has run");
                        }
                        ("drift", Step::Done(_)) if reported == Some("no_baseline") => {
                            reported = None;
                        }
                        ("verify", Step::Done(Some(problems))) => warning!(
                            "ge_security worker for database {shown}: audit trail verification failed: {}",
                            crate::error::printable(&problems, 400)
                        ),
                        _ => {}
                    }
                }
                Err(problem) => {
                    if session::shutdown_requested() {
                        return;
                    }
                    task.retry_after = session::back_off(task.retry_after, FIRST_RETRY, LAST_RETRY);
                    let wait = task.retry_after.max(interval.min(LAST_RETRY));
                    task.next = Instant::now() + wait;
                    warning!(
                        "{WORKER_TYPE} for database {shown}: {} cycle failed, retrying in {} s: {problem}",
                        task.name,
                        wait.as_secs().max(1)
                    );
                }
            }
        }
        let now = Instant::now();
        let sleep = tasks
            .iter()
            .filter(|t| (t.interval)().is_some())
            .map(|t| t.next.saturating_duration_since(now))
            .min()
            .unwrap_or(LAST_RETRY);
        if !sleep.is_zero() {
            session::wait(sleep);
        }
    }
}
