//! Audit rows written in batches (docs/architecture.md, "Batched writes"): while a statement's
//! AFTER triggers run, the row trigger buffers its records; the statement's end writes them.
use super::writer::{self, AuditRecord, Prepared};
use crate::hook_chain;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};

/// Records buffered at most before they are written, and the bytes they may hold: a statement
/// of any size flushes in chunks, so its buffer stays bounded.
const MAX_ROWS: usize = 1000;
const MAX_BYTES: usize = 8 << 20;

/// A buffered record and the subtransaction it was made in (the one that must write it).
struct Buffered {
    subxact: pg_sys::SubTransactionId,
    record: Prepared,
}

thread_local! {
    /// How many statements are running whose end writes what is buffered (ExecutorFinish, or a
    /// COPY FROM): the row trigger buffers only while one is.
    static OPEN_SCOPES: Cell<u32> = const { Cell::new(0) };
    static BUFFER: RefCell<Vec<Buffered>> = const { RefCell::new(Vec::new()) };
    /// Bytes allocated in CONTEXT since it was last reset.
    static BYTES: Cell<usize> = const { Cell::new(0) };
    /// Where buffered records keep their datums: a child of TopTransactionContext, reset
    /// whenever the buffer is empty and gone with the transaction.
    static CONTEXT: Cell<Option<pg_sys::MemoryContext>> = const { Cell::new(None) };
}

static mut PREVIOUS_FINISH: pg_sys::ExecutorFinish_hook_type = None;
static mut PREVIOUS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

/// Install the hooks and callbacks (from `_PG_init`, under shared_preload_libraries). Called
/// after `horizon::init`, because transaction callbacks run newest first and a flush at PREPARE
/// must come before the horizon refuses it; and after `ddl_guard::init`, so that its utility
/// hook is the one this hook calls, through the FFI boundary (an ERROR inside it then unwinds
/// through the guard's frames as a panic).
pub fn init() {
    // SAFETY: called once while the library is preloaded, before any backend runs a statement;
    // the previous hooks are kept and called by ours; the callbacks take no argument pointer.
    unsafe {
        PREVIOUS_FINISH = pg_sys::ExecutorFinish_hook;
        pg_sys::ExecutorFinish_hook = Some(finish_hook);
        PREVIOUS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(utility_hook);
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

fn current_subxact() -> pg_sys::SubTransactionId {
    // SAFETY: reads the current subtransaction's id; triggers and hooks run in a transaction.
    unsafe { pg_sys::GetCurrentSubTransactionId() }
}

fn context() -> pg_sys::MemoryContext {
    if let Some(context) = CONTEXT.get() {
        return context;
    }
    // SAFETY: a new allocation-set context under TopTransactionContext (valid inside a
    // transaction), deleted with it; CONTEXT forgets it at the end of every transaction.
    let context = unsafe {
        pg_sys::AllocSetContextCreateInternal(
            pg_sys::TopTransactionContext,
            c"ge_security audit batch".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        )
    };
    CONTEXT.set(Some(context));
    context
}

/// Record a row change: buffered while a statement whose end writes it is running, written at
/// once otherwise (a row trigger fired outside any statement, as by logical replication's apply
/// worker).
pub fn add(change: AuditRecord) {
    if OPEN_SCOPES.get() == 0 {
        writer::write(change);
        return;
    }
    let mut record = writer::prepare(change);
    let bytes = record.keep_in(context());
    BYTES.set(BYTES.get() + bytes);
    let subxact = current_subxact();
    let full = BUFFER.with_borrow_mut(|buffer| {
        buffer.push(Buffered { subxact, record });
        buffer.len() >= MAX_ROWS
    });
    if full || BYTES.get() >= MAX_BYTES {
        flush_current();
    }
}

/// Write the records buffered in the current subtransaction (in the order they were made).
pub fn flush_current() {
    flush(Some(current_subxact()));
}

/// Write the buffered records of `subxact` (all of them when None).
fn flush(subxact: Option<pg_sys::SubTransactionId>) {
    let (batch, empty) = BUFFER.with_borrow_mut(|buffer| {
        if buffer.is_empty() {
            return (Vec::new(), true);
        }
        let (batch, kept): (Vec<Buffered>, Vec<Buffered>) = std::mem::take(buffer)
            .into_iter()
            .partition(|b| subxact.is_none_or(|s| b.subxact == s));
        *buffer = kept;
        (batch, buffer.is_empty())
    });
    if !batch.is_empty() {
        writer::write_batch(batch.into_iter().map(|b| b.record).collect());
    }
    if empty {
        if let Some(context) = CONTEXT.get() {
            if BYTES.replace(0) > 0 {
                // SAFETY: CONTEXT is this transaction's batch context; no buffered record is
                // left whose datums live in it (those just written were copied into tuples).
                unsafe { pg_sys::MemoryContextReset(context) };
            }
        }
    }
}

/// Forget everything buffered (the transaction ended or aborted).
fn forget() {
    BUFFER.with_borrow_mut(|buffer| buffer.clear());
    BYTES.set(0);
    CONTEXT.set(None);
}

/// The ExecutorFinish hook: the statement's AFTER triggers run inside it, with a scope open;
/// what they buffered is written when it returns. Not `#[pg_guard]`: an ERROR below is caught
/// and rethrown as raised (`hook_chain`), so this frame holds nothing to drop, and our own work
/// after the statement runs in a guarded function.
///
/// # Safety
/// Called only by PostgreSQL as `ExecutorFinish_hook` (installed by `init`), with a valid
/// query descriptor.
unsafe extern "C-unwind" fn finish_hook(query_desc: *mut pg_sys::QueryDesc) {
    OPEN_SCOPES.set(OPEN_SCOPES.get() + 1);
    // SAFETY: PostgreSQL's arguments, passed on.
    let completed = unsafe { hook_chain::executor_finish(PREVIOUS_FINISH, query_desc) };
    OPEN_SCOPES.set(OPEN_SCOPES.get() - 1);
    if !completed {
        // SAFETY: the scope is closed and nothing here needs dropping.
        unsafe { hook_chain::rethrow() };
    }
    flush_after_statement();
}

/// Write what the statement that just ended buffered (its ERROR raised through pgrx's guard).
#[pg_guard]
extern "C-unwind" fn flush_after_statement() {
    flush_current();
}

/// The ProcessUtility hook: COPY FROM fires its AFTER triggers inside the utility call, with a
/// scope open; what they buffered is written when it returns. Other statements pass through.
/// Not `#[pg_guard]`, as for `finish_hook`.
///
/// # Safety
/// Called only by PostgreSQL as `ProcessUtility_hook` (installed by `init`), with the arguments
/// of a ProcessUtility call: a valid planned utility statement and its source text.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn utility_hook(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: a planned utility statement's node; a CopyStmt is read as one.
    let copy_from = unsafe {
        let node = (*pstmt).utilityStmt;
        !node.is_null()
            && (*node).type_ == pg_sys::NodeTag::T_CopyStmt
            && (*node.cast::<pg_sys::CopyStmt>()).is_from
    };
    let scopes = OPEN_SCOPES.get();
    if copy_from {
        OPEN_SCOPES.set(scopes + 1);
    }
    // SAFETY: PostgreSQL's arguments, passed on.
    let completed = unsafe {
        hook_chain::process_utility(
            PREVIOUS_UTILITY,
            pstmt,
            query_string,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        )
    };
    OPEN_SCOPES.set(scopes);
    if !completed {
        // SAFETY: the scope is closed and nothing here needs dropping.
        unsafe { hook_chain::rethrow() };
    }
    if copy_from {
        flush_after_statement();
    }
}

/// A subtransaction's records are discarded when it aborts and become its parent's when it
/// commits (they are then written in the parent, whose outcome they share).
///
/// # Safety
/// Called only by PostgreSQL's transaction machinery, with which `init` registers it (with a
/// NULL argument, never read); it touches only this backend's buffer.
#[pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    subxact: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    // subtransaction ids grow: records tagged at or above an ending one were made in it or in a
    // child of it (a child that ended before had its records dropped or handed up already)
    match event {
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
            BUFFER.with_borrow_mut(|buffer| buffer.retain(|b| b.subxact < subxact))
        }
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => BUFFER.with_borrow_mut(|buffer| {
            for b in buffer.iter_mut().filter(|b| b.subxact >= subxact) {
                b.subxact = parent;
            }
        }),
        _ => {}
    }
}

/// Nothing buffered is lost or left behind: records still buffered when the transaction commits
/// or prepares are written first (normally none are), and every end forgets the buffer.
///
/// # Safety
/// As for `on_subxact_event`.
#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT | pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE => {
            flush(None)
        }
        pg_sys::XactEvent::XACT_EVENT_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PREPARE
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => forget(),
        _ => {}
    }
}
