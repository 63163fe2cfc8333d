//! Append-only guard of the audit tables: a statement trigger (ENABLE ALWAYS) that refuses
//! UPDATE, DELETE, TRUNCATE and SQL INSERT for everyone outside documented maintenance.
use crate::error::{GeError, Kind};
use crate::gucs;
use pgrx::prelude::*;
use pgrx::{PgTrigger, PgTriggerError, PgTriggerOperation};
use std::cell::Cell;

/// The one write the guard lets through outside maintenance, while the extension makes it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Right {
    None,
    /// audit_seal() inserts a block into audit_block.
    Seal,
    /// audit_prune() deletes the rows of blocks past their retention from audit_log.
    Prune,
    /// A redaction function updates the rows it redacts in audit_log.
    Redact,
}

thread_local! {
    /// Set only around the extension's own statement that needs it.
    static RIGHT: Cell<Right> = const { Cell::new(Right::None) };
}

fn with_right<R>(right: Right, f: impl FnOnce() -> R) -> R {
    RIGHT.set(right);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    RIGHT.set(Right::None);
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Run `f` with the right to INSERT into audit_block (the sealer's own write).
pub fn with_sealer_rights<R>(f: impl FnOnce() -> R) -> R {
    with_right(Right::Seal, f)
}

/// Run `f` with the right to DELETE from audit_log (audit_prune()'s own statement, after its
/// checks; docs/architecture.md, "Retention and archival").
pub fn with_pruner_rights<R>(f: impl FnOnce() -> R) -> R {
    with_right(Right::Prune, f)
}

/// Run `f` with the right to UPDATE audit_log (redaction's own write: the values it replaces by
/// their digests, docs/architecture.md, "Redaction").
pub fn with_redaction_rights<R>(f: impl FnOnce() -> R) -> R {
    with_right(Right::Redact, f)
}

#[pg_trigger]
fn audit_guard<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let table = format!("{}.{}", trigger.table_schema()?, trigger.table_name()?);
    let op = match trigger.op()? {
        PgTriggerOperation::Insert => "INSERT",
        PgTriggerOperation::Update => "UPDATE",
        PgTriggerOperation::Delete => "DELETE",
        PgTriggerOperation::Truncate => "TRUNCATE",
    };
    match (op, table.as_str(), RIGHT.get()) {
        ("INSERT", "ge_security.audit_block", Right::Seal)
        | ("DELETE", "ge_security.audit_log", Right::Prune)
        | ("UPDATE", "ge_security.audit_log", Right::Redact) => return Ok(None),
        _ => {}
    }
    if gucs::MAINTENANCE.get() {
        pgrx::log!(
            "ge_security: maintenance {op} on {table} by session user {}",
            // SAFETY: the session user exists while its session runs (noerr false cannot fail);
            // the name is a palloc'd NUL-terminated string, copied by to_string_lossy.
            unsafe {
                std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(
                    pg_sys::GetSessionUserId(),
                    false,
                ))
            }
            .to_string_lossy()
        );
        return Ok(None);
    }
    GeError::new(Kind::InsufficientPrivilege, format!("{table} is append-only"))
        .detail(format!("{op} is refused for every role, superusers included."))
        .hint("Documented maintenance (restoring a dump) runs with ge_security.maintenance = on, set by a superuser; it is logged.")
        .raise()
}
