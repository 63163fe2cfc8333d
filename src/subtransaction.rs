//! Internal subtransactions (shared core): run Rust code that may raise a PostgreSQL ERROR so
//! that its effects are rolled back and the caller decides what the error means.
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;

/// Runs `build` in an internal subtransaction, as PL/pgSQL's exception blocks do: `Ok` with its
/// value once the subtransaction is released, or `Err` with the error it raised (boxed, as it is
/// large) once the subtransaction is rolled back. Either way the caller's memory context and resource owner are
/// current again. The caller raises the error again (`CaughtError::rethrow`) unless it has a use
/// for it; query cancellation and shutdown should always be raised again.
pub fn run<T>(build: impl FnOnce() -> T) -> Result<T, Box<CaughtError>> {
    // SAFETY: called inside a transaction (every caller runs in a backend's SQL function or
    // trigger). The subtransaction begun here is released (success) or rolled back (error)
    // exactly once on each path; BeginInternalSubTransaction switches to the subtransaction's
    // memory context and resource owner, so the caller's are saved first and restored after
    // either outcome, as PL/pgSQL's exec_stmt_block does.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        let restore = move || {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        };
        let build = std::panic::AssertUnwindSafe(build);
        PgTryBuilder::new(move || {
            let built = build();
            pg_sys::ReleaseCurrentSubTransaction();
            restore();
            Ok(built)
        })
        .catch_others(move |error| {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            restore();
            Err(Box::new(error))
        })
        .execute()
    }
}
