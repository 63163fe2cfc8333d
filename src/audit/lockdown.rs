//! lockdown_role(): incident response for one role (NOLOGIN, sessions terminated), recorded in
//! the audit trail as a DDL row so the trail shows who locked whom out and when.
use super::writer::{self, AuditRecord};
use crate::error::{GeError, Kind};
use pgrx::prelude::*;
use std::ffi::CStr;

/// The refusals that need no catalog change, made before anything is altered: a role that may
/// not alter `role` gets 42501 here rather than halfway through.
fn check_may_lock_down(role_oid: pg_sys::Oid, quoted: &str) {
    // SAFETY: catalog lookups of the current user and of an existing role.
    let (caller_is_superuser, target_is_superuser, caller_has_createrole) = unsafe {
        (
            pg_sys::superuser(),
            pg_sys::superuser_arg(role_oid),
            pg_sys::has_createrole_privilege(pg_sys::GetUserId()),
        )
    };
    if caller_is_superuser {
        return;
    }
    if target_is_superuser {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("only a superuser may lock down the superuser role {quoted}"),
        )
        .hint("Ask a superuser to run ge_security.lockdown_role().")
        .raise();
    }
    if !caller_has_createrole {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("locking down role {quoted} needs the CREATEROLE attribute"),
        )
        .detail("lockdown_role() runs ALTER ROLE ... NOLOGIN as its caller.")
        .hint("Ask a superuser or a role with CREATEROLE to run it.")
        .raise();
    }
    // PostgreSQL 16 and later: CREATEROLE alters only the roles it holds with ADMIN OPTION
    #[cfg(not(feature = "pg15"))]
    // SAFETY: a catalog lookup of role memberships of two existing roles.
    if !unsafe { pg_sys::is_admin_of_role(pg_sys::GetUserId(), role_oid) } {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("locking down role {quoted} needs the ADMIN option on it"),
        )
        .detail("lockdown_role() runs ALTER ROLE ... NOLOGIN as its caller; from PostgreSQL 16 on, CREATEROLE alters only roles held WITH ADMIN OPTION.")
        .hint("Ask a superuser, or a role with CREATEROLE and the ADMIN option on it, to run it.")
        .raise();
    }
}

/// Make `role` NOLOGIN, terminate its sessions, and record both in the trail. It runs as its
/// caller (ALTER ROLE's own checks apply too) with a pinned search_path.
#[pg_extern(
    sql = "CREATE FUNCTION lockdown_role(role name) RETURNS text VOLATILE PARALLEL UNSAFE \
    SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'lockdown_role_wrapper';"
)]
fn lockdown_role(role: Option<&CStr>) -> String {
    let role_c =
        role.unwrap_or_else(|| GeError::new(Kind::NullValue, "role must not be NULL").raise());
    let role = role_c.to_str().unwrap_or_else(|_| {
        GeError::new(Kind::InvalidParameter, "role is not valid UTF-8").raise()
    });
    // a name argument holds at most NAMEDATALEN - 1 bytes, so messages quoting it stay short
    let quoted = pgrx::spi::quote_identifier(role);
    // SAFETY: a syscache lookup by name; InvalidOid when there is no such role.
    let role_oid = unsafe { pg_sys::get_role_oid(role_c.as_ptr(), true) };
    if role_oid == pg_sys::InvalidOid {
        GeError::new(
            Kind::UndefinedObject,
            format!("role \"{role}\" does not exist"),
        )
        .raise();
    }
    check_may_lock_down(role_oid, &quoted);
    let statement = format!("ALTER ROLE {quoted} NOLOGIN");
    // an error ALTER ROLE raises (a privilege it lacks) reaches the caller with its SQLSTATE
    // recorded below as one lockdown row, not by the DDL guard as a separate ALTER ROLE
    super::ddl_guard::internal(|| Spi::run(&statement))
        .unwrap_or_else(|e| crate::error::spi_failed("ALTER ROLE", e));
    let terminated = Spi::get_one_with_args::<i64>(
        "SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(a.pid)) \
         FROM pg_catalog.pg_stat_activity a \
         WHERE a.usesysid OPERATOR(pg_catalog.=) $1 \
           AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
        &[role_oid.into()],
    )
    .unwrap_or_else(|e| crate::error::spi_failed("terminating the role's sessions", e))
    .unwrap_or(0);
    writer::write(AuditRecord::without_rows(
        "DDL",
        None,
        Some(format!(
            "SELECT ge_security.lockdown_role({}); -- {statement}; {terminated} session(s) terminated",
            pgrx::spi::quote_literal(role)
        )
        .into_bytes()),
    ));
    format!("role {quoted} locked down: NOLOGIN, {terminated} session(s) terminated")
}
