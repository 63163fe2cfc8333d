//! lockdown_role(): incident response for one role (NOLOGIN, sessions terminated), recorded in
//! the audit trail as a DDL row so the trail shows who locked whom out and when.
use super::writer::{self, AuditRecord};
use crate::error::{GeError, Kind};
use pgrx::prelude::*;
use std::ffi::CStr;

/// Make `role` NOLOGIN, terminate its sessions, and record both in the trail.
#[pg_extern(
    sql = "CREATE FUNCTION lockdown_role(role name) RETURNS text VOLATILE PARALLEL UNSAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'lockdown_role_wrapper';"
)]
fn lockdown_role(role: Option<&CStr>) -> String {
    let role = role
        .unwrap_or_else(|| GeError::new(Kind::NullValue, "role must not be NULL").raise())
        .to_str()
        .unwrap_or_else(|_| {
            GeError::new(Kind::InvalidParameter, "role is not valid UTF-8").raise()
        });
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
        &[role.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !exists {
        GeError::new(
            Kind::UndefinedObject,
            format!("role \"{role}\" does not exist"),
        )
        .raise();
    }
    let quoted = pgrx::spi::quote_identifier(role);
    let statement = format!("ALTER ROLE {quoted} NOLOGIN");
    Spi::run(&statement).unwrap_or_else(|e| pgrx::error!("ge_security: {e}"));
    let terminated = Spi::get_one_with_args::<i64>(
        "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity \
         WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()",
        &[role.into()],
    )
    .ok()
    .flatten()
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
