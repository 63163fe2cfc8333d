//! Passing a hooked call on, to the hook installed before ours or to PostgreSQL's standard
//! function, so that an ERROR raised below reaches the client exactly as it was raised.
//!
//! pgrx's guarded calls turn a PostgreSQL ERROR into a Rust panic and raise it again from what
//! they kept: a SQLSTATE pgrx does not know becomes XX000, and the context, schema, table,
//! column and constraint names are lost. Our hooks sit below every utility statement and every
//! statement's AFTER triggers, so they catch an ERROR with an error handler of their own (the
//! sigsetjmp pgrx uses, through cee-scape), leave the error data untouched, undo their own
//! state and rethrow it with `PG_RE_THROW` (docs/architecture.md, "Hooks").
use crate::pg_internals::{
    pg_re_throw_unwrapped, standard_executor_finish_unwrapped, standard_process_utility_unwrapped,
};
use pgrx::pg_sys;

/// Run `call`, a call into C, under an error handler of our own. Returns whether it completed;
/// false when it raised an ERROR, which is then still PostgreSQL's current error, ready for
/// `rethrow`.
///
/// # Safety
/// Runs in a backend's main thread. `call` only calls C code and holds nothing to drop: an
/// ERROR abandons its frame.
unsafe fn completes(call: impl FnOnce()) -> bool {
    // SAFETY: the caller's guarantee; the handler is installed and removed as PG_TRY does it
    // (the previous exception and context stacks restored on both paths), and a jump back
    // into call_with_sigsetjmp returns non-zero instead of re-entering the closure.
    unsafe {
        let previous_exception_stack = pg_sys::PG_exception_stack;
        let previous_context_stack = pg_sys::error_context_stack;
        let jumped = cee_scape::call_with_sigsetjmp(false, |jump_buffer| {
            pg_sys::PG_exception_stack = std::ptr::from_ref(jump_buffer).cast_mut().cast();
            call();
            0
        });
        pg_sys::PG_exception_stack = previous_exception_stack;
        pg_sys::error_context_stack = previous_context_stack;
        jumped == 0
    }
}

/// Raise again the ERROR a call returned false for, as it was raised.
///
/// # Safety
/// Called right after `executor_finish` or `process_utility` returned false, from a frame that
/// holds nothing to drop (its hook's state already undone): the jump abandons it.
pub unsafe fn rethrow() -> ! {
    // SAFETY: the caller's guarantee; the current error is the one caught, its data untouched.
    unsafe { pg_re_throw_unwrapped() }
}

/// Run ExecutorFinish as it would have run without our hook; false if it raised an ERROR (see
/// `rethrow`).
///
/// # Safety
/// `previous` is the `ExecutorFinish_hook` value found when ours was installed, and
/// `query_desc` the descriptor PostgreSQL passed to our hook.
#[must_use]
pub unsafe fn executor_finish(
    previous: pg_sys::ExecutorFinish_hook_type,
    query_desc: *mut pg_sys::QueryDesc,
) -> bool {
    // SAFETY: the caller's guarantee; both calls are C calls on PostgreSQL's own arguments.
    unsafe {
        completes(|| match previous {
            Some(previous) => previous(query_desc),
            None => standard_executor_finish_unwrapped(query_desc),
        })
    }
}

/// Run ProcessUtility as it would have run without our hook; false if it raised an ERROR (see
/// `rethrow`).
///
/// # Safety
/// `previous` is the `ProcessUtility_hook` value found when ours was installed, and the other
/// arguments are those PostgreSQL passed to our hook.
#[must_use]
#[allow(clippy::too_many_arguments)]
pub unsafe fn process_utility(
    previous: pg_sys::ProcessUtility_hook_type,
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) -> bool {
    let call = previous.unwrap_or(standard_process_utility_unwrapped);
    // SAFETY: the caller's guarantee; a C call on PostgreSQL's own arguments.
    unsafe {
        completes(|| {
            call(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            )
        })
    }
}
