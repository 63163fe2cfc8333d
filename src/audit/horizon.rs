//! The sealing horizon (docs/architecture.md, "The sealing horizon"): shared memory records the
//! lowest audit id each open transaction holds; the sealer never seals at or above
//! min(held ids, next unallocated id).
use crate::pg_internals::{nextval_internal, FormPgSequence};
use pgrx::lwlock::PgLwLock;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, pg_sys};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One slot per backend (indexed by backend id).
const SLOTS: usize = 4096;

/// Per backend slot: `[2 * slot]` the lowest audit id its open transaction holds (0: none),
/// `[2 * slot + 1]` the database it is connected to. Each database has its own trail and id
/// sequence, so the sealer of one database looks only at the holds of its own backends.
static HOLDS: PgLwLock<[AtomicU64; 2 * SLOTS]> =
    // SAFETY: the name is unique to this extension (no other LWLock tranche uses it); the lock
    // is initialised by pg_shmem_init! in `init`, and used only when the library is preloaded.
    unsafe { PgLwLock::new(c"ge_security_audit_horizon") };

/// Set in the postmaster when the library is preloaded; inherited by every backend.
static PRELOADED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this backend's current transaction holds a slot.
    static HELD_HERE: Cell<bool> = const { Cell::new(false) };
    /// The id sequence last found to hand out ids in order (CACHE 1, INCREMENT 1, NO CYCLE),
    /// forgotten whenever pg_sequence changes.
    static ORDERED_SEQUENCE: Cell<Option<pg_sys::Oid>> = const { Cell::new(None) };
    static SEQUENCE_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Syscache invalidation callback for pg_sequence: forgets which sequence was found ordered.
///
/// # Safety
/// Called only by PostgreSQL's invalidation machinery, with which `require_ordered` registers
/// it; it touches nothing but this backend's thread-local cache.
#[pg_guard]
unsafe extern "C-unwind" fn forget_ordered_sequence(
    _arg: pg_sys::Datum,
    _cache_id: std::ffi::c_int,
    _hash_value: u32,
) {
    ORDERED_SEQUENCE.set(None);
}

/// The horizon holds only if ids are handed out one by one in increasing order: a backend
/// that caches ids holds some below the sequence's last value without a slot saying so, and a
/// cycling or decreasing sequence hands out ids below sealed ones. Anything else is refused
/// (and audited writes fail) until the sequence is back to its definition.
pub fn require_ordered(sequence: pg_sys::Oid) {
    if ORDERED_SEQUENCE.get() == Some(sequence) {
        return;
    }
    if !SEQUENCE_CALLBACK.replace(true) {
        // SAFETY: registered once per backend (the flag above); the callback is a #[pg_guard]
        // function that only clears this backend's cache.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::SEQRELID as std::ffi::c_int,
                Some(forget_ordered_sequence),
                pg_sys::Datum::from(0usize),
            )
        };
    }
    // SAFETY: a SEQRELID syscache tuple's data area (after t_hoff) is a FormData_pg_sequence,
    // declared in pg_internals as in catalog/pg_sequence.h; it is read only while the tuple is
    // pinned, and released on every path that found one.
    let ordered = unsafe {
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::SEQRELID as std::ffi::c_int,
            pg_sys::Datum::from(sequence),
        );
        if tuple.is_null() {
            false
        } else {
            let form = &*((*tuple)
                .t_data
                .cast::<u8>()
                .add((*(*tuple).t_data).t_hoff as usize))
            .cast::<FormPgSequence>();
            let ordered = form.seqrelid == sequence
                && form.seqincrement == 1
                && form.seqcache == 1
                && !form.seqcycle;
            pg_sys::ReleaseSysCache(tuple);
            ordered
        }
    };
    if !ordered {
        crate::error::GeError::new(
            crate::error::Kind::PrerequisiteState,
            "ge_security.audit_log_id_seq must hand out ids one by one: INCREMENT 1, CACHE 1, NO CYCLE",
        )
        .detail("Sealing relies on every id below the sequence's last value being accounted for.")
        .hint(
            "ALTER SEQUENCE ge_security.audit_log_id_seq INCREMENT 1 CACHE 1 NO CYCLE, then \
             reconnect the sessions that cached ids.",
        )
        .raise();
    }
    ORDERED_SEQUENCE.set(Some(sequence));
}

fn nextval(sequence: pg_sys::Oid) -> i64 {
    // SAFETY: nextval_internal (see pg_internals) on the trail's sequence, inside the writing
    // transaction; a PostgreSQL ERROR it raises crosses the FFI boundary as a Rust panic.
    unsafe { pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| nextval_internal(sequence, false)) }
}

/// Called from `_PG_init` while shared_preload_libraries is processed.
pub fn init() {
    pg_shmem_init!(HOLDS = [const { AtomicU64::new(0) }; 2 * SLOTS]);
    // SAFETY: registered once, in the postmaster while preloading (so every backend inherits
    // it); the callback is a #[pg_guard] function that takes no argument pointer.
    unsafe { pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut()) };
    PRELOADED.store(true, Ordering::SeqCst);
}

pub fn is_preloaded() -> bool {
    PRELOADED.load(Ordering::SeqCst)
}

fn my_slot() -> usize {
    // SAFETY: reads this backend's id, a plain global set at backend start and never changed.
    #[cfg(any(feature = "pg15", feature = "pg16"))]
    let slot = unsafe { pg_sys::MyBackendId } as usize;
    // SAFETY: as above (PostgreSQL 17 renamed it MyProcNumber, counted from 0).
    #[cfg(not(any(feature = "pg15", feature = "pg16")))]
    let slot = unsafe { pg_sys::MyProcNumber } as usize + 1;
    if slot == 0 || slot >= SLOTS {
        crate::error::GeError::new(
            crate::error::Kind::ProgramLimit,
            format!("backend slot {slot} is outside the audit horizon table ({SLOTS} slots)"),
        )
        .hint("Lower max_connections (and the other backend limits) so that at most 4095 backends run.")
        .raise();
    }
    slot
}

/// Hand out the next audit id from `sequence`. The first id of a transaction is allocated and
/// recorded as held under the shared lock, so the sealer (exclusive) never sees it half done.
pub fn allocate_id(sequence: pg_sys::Oid) -> i64 {
    require_ordered(sequence);
    if HELD_HERE.get() {
        return nextval(sequence);
    }
    let slot = my_slot();
    // the lock nextval takes and the relcache entry it reads, both made ready first: under the
    // shared horizon lock nextval then waits for nothing but the sequence's buffer (an open
    // ALTER SEQUENCE, or a relcache rebuild queued behind catalog locks, would otherwise stall
    // the sealer on the horizon lock, where no deadlock detector looks)
    // SAFETY: opens the trail's sequence by OID inside the writing transaction; the lock taken
    // is kept to commit (closed with NoLock) and the relcache entry stays valid meanwhile.
    unsafe {
        let rel = pg_sys::relation_open(sequence, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    let holds = HOLDS.share();
    let id = nextval(sequence);
    holds[2 * slot + 1].store(
        // SAFETY: reads the backend's database OID, a plain global set at connection.
        u64::from(u32::from(unsafe { pg_sys::MyDatabaseId })),
        Ordering::SeqCst,
    );
    holds[2 * slot].store(id as u64, Ordering::SeqCst);
    drop(holds);
    HELD_HERE.set(true);
    id
}

/// The horizon H of this database: every committed audit row below it is visible to a
/// snapshot taken after this call returns, and no transaction can still commit a row below it.
/// `last_allocated` is the highest id the sequence has handed out, read before the call: an id
/// handed out later is above it, and the first id of every transaction that got one earlier
/// and is still open is in its slot.
pub fn read(last_allocated: i64) -> i64 {
    // SAFETY: reads the backend's database OID, a plain global set at connection.
    let database = u64::from(u32::from(unsafe { pg_sys::MyDatabaseId }));
    let holds = HOLDS.exclusive();
    let lowest_held = holds
        .chunks_exact(2)
        .filter(|slot| slot[1].load(Ordering::SeqCst) == database)
        .map(|slot| slot[0].load(Ordering::SeqCst))
        .filter(|id| *id != 0)
        .min()
        .unwrap_or(u64::MAX);
    lowest_held.min(last_allocated.max(0) as u64 + 1) as i64
}

/// Release the hold only once the outcome is visible to others (COMMIT/ABORT callbacks run
/// after ProcArrayEndTransaction); refuse two-phase commit of audit rows.
///
/// # Safety
/// Called only by PostgreSQL's transaction machinery, with which `init` registers it (with a
/// NULL argument, never read); it touches this backend's flag and its own horizon slot.
#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if !HELD_HERE.get() {
        return;
    }
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE => crate::error::GeError::new(
            crate::error::Kind::FeatureNotSupported,
            "cannot PREPARE a transaction that wrote ge_security audit rows",
        )
        .detail("A prepared transaction would hold back sealing of the audit trail indefinitely.")
        .hint("Commit audited changes with a plain COMMIT.")
        .raise(),
        pg_sys::XactEvent::XACT_EVENT_COMMIT | pg_sys::XactEvent::XACT_EVENT_ABORT => {
            if let Ok(slot) = std::panic::catch_unwind(my_slot) {
                HOLDS.share()[2 * slot].store(0, Ordering::SeqCst);
            }
            HELD_HERE.set(false);
        }
        _ => {}
    }
}
