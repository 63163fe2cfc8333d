//! Append-only guard of the audit tables: a statement trigger (ENABLE ALWAYS) that refuses
//! UPDATE, DELETE, TRUNCATE and SQL INSERT for everyone outside documented maintenance.
use crate::error::{GeError, Kind};
use crate::gucs;
use pgrx::prelude::*;
use pgrx::{PgTrigger, PgTriggerError, PgTriggerOperation};
use std::cell::Cell;

thread_local! {
    /// Set only while audit_seal() inserts a block.
    static SEALING: Cell<bool> = const { Cell::new(false) };
    /// Set only while a redaction function updates the rows it redacts.
    static REDACTING: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with the right to UPDATE audit_log (redaction's own write: the values it replaces by
/// their digests, docs/architecture.md, "Redaction").
pub fn with_redaction_rights<R>(f: impl FnOnce() -> R) -> R {
    REDACTING.set(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    REDACTING.set(false);
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Run `f` with the right to INSERT into audit_block (the sealer's own write).
pub fn with_sealer_rights<R>(f: impl FnOnce() -> R) -> R {
    SEALING.set(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    SEALING.set(false);
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
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
    if op == "INSERT" && table == "ge_security.audit_block" && SEALING.get() {
        return Ok(None);
    }
    if op == "UPDATE" && table == "ge_security.audit_log" && REDACTING.get() {
        return Ok(None);
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
