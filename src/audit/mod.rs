//! The tamper-evident audit trail (DESIGN §4): native row trigger, append-only log, sealing
//! into Merkle blocks below a horizon, verification, digest and inclusion proofs.
pub mod guard;
pub mod horizon;
mod jsonb_flat;
mod lockdown;
mod merkle;
mod row_json;
mod seal;
mod trigger;
mod verify;
mod writer;

use crate::error::{GeError, Kind};
use pgrx::prelude::*;
use pgrx::PgRelation;
use writer::AuditRecord;

const ROW_TRIGGER: &str = "ge_security_audit_row";
const TRUNCATE_TRIGGER: &str = "ge_security_audit_truncate";

fn record_ddl(table_name: &str, statement: String) {
    writer::write(AuditRecord::without_rows(
        "DDL",
        Some(table_name.to_owned()),
        Some(statement),
    ));
}

/// A catalog name's bytes as stored (in the server encoding, which need not be UTF-8).
fn name_bytes(name: &pg_sys::NameData) -> &[u8] {
    unsafe { std::ffi::CStr::from_ptr(name.data.as_ptr()) }.to_bytes()
}

/// The trail records table and column names as text the extension handles as UTF-8; in a
/// database of another encoding, names outside ASCII are refused up front (values are not
/// concerned: they are recorded byte for byte).
fn refuse_non_utf8_names(rel: &PgRelation) {
    let namespace = unsafe { pg_sys::get_namespace_name((*rel.rd_rel).relnamespace) };
    let desc = rel.tuple_desc();
    let mut names = vec![name_bytes(unsafe { &(*rel.rd_rel).relname })];
    if !namespace.is_null() {
        names.push(unsafe { std::ffi::CStr::from_ptr(namespace) }.to_bytes());
    }
    names.extend(
        desc.iter()
            .filter(|att| !att.is_dropped())
            .map(|att| name_bytes(&att.attname)),
    );
    if let Some(bad) = names.iter().find(|n| std::str::from_utf8(n).is_err()) {
        GeError::new(
            Kind::FeatureNotSupported,
            "ge_security audits tables whose schema, table and column names are valid UTF-8",
        )
        .detail(format!(
            "\"{}\" is not valid UTF-8 (the database encoding is not UTF8).",
            String::from_utf8_lossy(bad)
        ))
        .hint("Rename it with ASCII characters, or use a UTF8 database.")
        .raise();
    }
}

/// The table's quoted name and key columns; the relation is closed again (lock kept) so that
/// DDL on it can follow in this statement.
fn audited_table(tbl: Option<pg_sys::Oid>) -> (String, Vec<usize>) {
    let oid = tbl.unwrap_or_else(|| GeError::new(Kind::NullValue, "tbl must not be NULL").raise());
    let rel =
        unsafe { PgRelation::with_lock(oid, pg_sys::ShareRowExclusiveLock as pg_sys::LOCKMODE) };
    refuse_non_utf8_names(&rel);
    let name = trigger::qualified_name(&rel);
    let kind = unsafe { (*rel.rd_rel).relkind } as u8;
    if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
        GeError::new(Kind::WrongObjectType, format!("{name} is not a table"))
            .hint("Only ordinary and partitioned tables can be audited.")
            .raise();
    }
    if [
        "ge_security",
        "pg_catalog",
        "information_schema",
        "pg_toast",
    ]
    .contains(&rel.namespace())
    {
        GeError::new(
            Kind::WrongObjectType,
            format!("{name} is a system or ge_security table and cannot be audited"),
        )
        .hint("Audit your own tables; the trail protects itself with its append-only guard.")
        .raise();
    }
    let keys = trigger::key_columns(&rel);
    (name, keys)
}

/// Attach the native audit triggers (row and TRUNCATE, ENABLE ALWAYS) to a table.
#[pg_extern(sql = "CREATE FUNCTION enable_audit(tbl regclass) RETURNS text \
    VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'enable_audit_wrapper';")]
fn enable_audit(tbl: Option<pg_sys::Oid>) -> String {
    if !horizon::is_preloaded() {
        GeError::new(
            Kind::PrerequisiteState,
            "enable_audit() needs ge_security in shared_preload_libraries",
        )
        .detail(
            "Without shared memory the sealer cannot know which audit rows are still uncommitted.",
        )
        .hint("Add ge_security to shared_preload_libraries in postgresql.conf and restart.")
        .raise();
    }
    let (name, keys) = audited_table(tbl);
    if keys.is_empty() {
        GeError::new(
            Kind::PrerequisiteState,
            format!("{name} has no primary key or replica identity index"),
        )
        .detail("Each audit row names the changed row by its key.")
        .hint("Add a PRIMARY KEY, or ALTER TABLE ... REPLICA IDENTITY USING INDEX a unique index.")
        .raise();
    }
    for (trigger, timing) in [
        (
            ROW_TRIGGER,
            "AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW",
        ),
        (TRUNCATE_TRIGGER, "AFTER TRUNCATE ON {t} FOR EACH STATEMENT"),
    ] {
        let t = pgrx::spi::quote_identifier(trigger);
        Spi::run(&format!(
            "CREATE OR REPLACE TRIGGER {t} {} EXECUTE FUNCTION ge_security.audit_trigger(); \
             ALTER TABLE {name} ENABLE ALWAYS TRIGGER {t}",
            timing.replace("{t}", &name)
        ))
        .unwrap_or_else(|e| pgrx::error!("ge_security: {e}"));
    }
    record_ddl(
        &name,
        format!(
            "SELECT ge_security.enable_audit('{}')",
            name.replace('\'', "''")
        ),
    );
    format!("auditing {name}")
}

/// Remove the audit triggers from a table; the removal itself is recorded in the trail.
#[pg_extern(sql = "CREATE FUNCTION disable_audit(tbl regclass) RETURNS text \
    VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'disable_audit_wrapper';")]
fn disable_audit(tbl: Option<pg_sys::Oid>) -> String {
    let (name, _) = audited_table(tbl);
    for trigger in [ROW_TRIGGER, TRUNCATE_TRIGGER] {
        Spi::run(&format!(
            "DROP TRIGGER IF EXISTS {} ON {name}",
            pgrx::spi::quote_identifier(trigger)
        ))
        .unwrap_or_else(|e| pgrx::error!("ge_security: {e}"));
    }
    record_ddl(
        &name,
        format!(
            "SELECT ge_security.disable_audit('{}')",
            name.replace('\'', "''")
        ),
    );
    format!("no longer auditing {name}")
}
