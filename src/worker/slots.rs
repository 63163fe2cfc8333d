//! Shared-memory table of running database workers: `(pid << 32) | database oid` per slot,
//! 0 when free. A worker claims its database's slot before connecting and gives it back on
//! exit; a second worker for the same database (say, from a launcher that restarted while the
//! first kept running) finds the slot taken and leaves. A crash restart reinitialises shared
//! memory, so no slot outlives its process.
use pgrx::lwlock::PgLwLock;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, pg_sys};
use std::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 128;

// SAFETY: PgLwLock::new only records the name; the lock and its memory are set up by
// pg_shmem_init! in _PG_init (preloaded), before any worker reads the table.
static TABLE: PgLwLock<[AtomicU64; SLOTS]> = unsafe { PgLwLock::new(c"ge_security_workers") };

pub fn init() {
    pg_shmem_init!(TABLE = [const { AtomicU64::new(0) }; SLOTS]);
}

fn pack(pid: i32, database: pg_sys::Oid) -> u64 {
    ((pid as u32 as u64) << 32) | u64::from(database.to_u32())
}

fn database_of(entry: u64) -> u32 {
    entry as u32
}

fn pid_of(entry: u64) -> i32 {
    (entry >> 32) as u32 as i32
}

/// Is a worker for `database` running?
pub fn running(database: pg_sys::Oid) -> bool {
    let table = TABLE.share();
    table.iter().any(|slot| {
        let entry = slot.load(Ordering::SeqCst);
        entry != 0 && database_of(entry) == database.to_u32()
    })
}

/// Claim `database` for this process; false when another process already holds it. The slot is
/// released when the process exits, however it exits short of a crash.
pub fn claim(database: pg_sys::Oid) -> bool {
    // SAFETY: MyProcPid is set before a background worker's main function runs.
    let me = unsafe { pg_sys::MyProcPid };
    let table = TABLE.exclusive();
    if table.iter().any(|slot| {
        let entry = slot.load(Ordering::SeqCst);
        entry != 0 && database_of(entry) == database.to_u32() && pid_of(entry) != me
    }) {
        return false;
    }
    if let Some(slot) = table.iter().find(|s| s.load(Ordering::SeqCst) == 0) {
        slot.store(pack(me, database), Ordering::SeqCst);
    } else {
        warning!("ge_security: all {SLOTS} worker slots are in use; this worker runs unregistered");
    }
    drop(table);
    // SAFETY: registers a plain callback with no argument; it runs once at process exit.
    unsafe { pg_sys::on_shmem_exit(Some(release), pg_sys::Datum::from(0usize)) };
    true
}

/// Frees this worker's slot when the process exits.
///
/// # Safety
/// Called only by PostgreSQL's exit machinery, with which `claim` registers it (a NULL argument,
/// never read), in the worker process after its shared memory was attached.
#[pg_guard]
unsafe extern "C-unwind" fn release(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    // SAFETY: MyProcPid is this process's pid, set at start.
    let me = unsafe { pg_sys::MyProcPid };
    let table = TABLE.exclusive();
    for slot in table.iter() {
        let entry = slot.load(Ordering::SeqCst);
        if entry != 0 && pid_of(entry) == me {
            slot.store(0, Ordering::SeqCst);
        }
    }
}
