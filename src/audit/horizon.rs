//! The sealing horizon (DESIGN §4): shared memory records the lowest audit id each open
//! transaction holds; the sealer never seals at or above min(held ids, next unallocated id).
use pgrx::lwlock::PgLwLock;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, pg_sys};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One slot per backend (indexed by backend id); 0 means "holds nothing".
const SLOTS: usize = 4096;

/// Held ids per backend; `[SLOTS]` is the highest id handed out so far (0: unknown yet).
static HOLDS: PgLwLock<[AtomicU64; SLOTS + 1]> =
    unsafe { PgLwLock::new(c"ge_security_audit_horizon") };

/// Set in the postmaster when the library is preloaded; inherited by every backend.
static PRELOADED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this backend's current transaction holds a slot.
    static HELD_HERE: Cell<bool> = const { Cell::new(false) };
}

unsafe extern "C-unwind" {
    /// `nextval()` without the privilege check: app roles write audit rows without any grant.
    fn nextval_internal(relid: pg_sys::Oid, check_permissions: bool) -> i64;
}

fn nextval(sequence: pg_sys::Oid) -> i64 {
    unsafe { pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| nextval_internal(sequence, false)) }
}

/// Called from `_PG_init` while shared_preload_libraries is processed.
pub fn init() {
    pg_shmem_init!(HOLDS = [const { AtomicU64::new(0) }; SLOTS + 1]);
    unsafe { pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut()) };
    PRELOADED.store(true, Ordering::SeqCst);
}

pub fn is_preloaded() -> bool {
    PRELOADED.load(Ordering::SeqCst)
}

fn my_slot() -> usize {
    #[cfg(any(feature = "pg15", feature = "pg16"))]
    let slot = unsafe { pg_sys::MyBackendId } as usize;
    #[cfg(not(any(feature = "pg15", feature = "pg16")))]
    let slot = unsafe { pg_sys::MyProcNumber } as usize + 1;
    if slot == 0 || slot >= SLOTS {
        pgrx::error!(
            "ge_security: backend slot {slot} is outside the audit horizon table ({SLOTS} slots)"
        );
    }
    slot
}

/// Hand out the next audit id from `sequence`. The first id of a transaction is allocated and
/// recorded as held under the shared lock, so the sealer (exclusive) never sees it half done.
pub fn allocate_id(sequence: pg_sys::Oid) -> i64 {
    if HELD_HERE.get() {
        let id = nextval(sequence);
        HOLDS.share()[SLOTS].fetch_max(id as u64, Ordering::SeqCst);
        return id;
    }
    let slot = my_slot();
    let holds = HOLDS.share();
    let id = nextval(sequence);
    holds[slot].store(id as u64, Ordering::SeqCst);
    holds[SLOTS].fetch_max(id as u64, Ordering::SeqCst);
    drop(holds);
    HELD_HERE.set(true);
    id
}

/// The horizon H: every committed audit row below it is visible to a snapshot taken after
/// this call returns, and no transaction can still commit a row below it.
/// `last_allocated` is the sequence's last value read before the call.
pub fn read(last_allocated: i64) -> i64 {
    let holds = HOLDS.exclusive();
    let highest = holds[SLOTS].fetch_max(last_allocated.max(0) as u64, Ordering::SeqCst);
    let next_unallocated = highest.max(last_allocated.max(0) as u64) + 1;
    let lowest_held = holds[..SLOTS]
        .iter()
        .map(|slot| slot.load(Ordering::SeqCst))
        .filter(|id| *id != 0)
        .min()
        .unwrap_or(u64::MAX);
    lowest_held.min(next_unallocated) as i64
}

/// Release the hold only once the outcome is visible to others (COMMIT/ABORT callbacks run
/// after ProcArrayEndTransaction); refuse two-phase commit of audit rows.
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
                HOLDS.share()[slot].store(0, Ordering::SeqCst);
            }
            HELD_HERE.set(false);
        }
        _ => {}
    }
}
