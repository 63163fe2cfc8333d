//! The tamper-evident audit trail (DESIGN §4): native row trigger, append-only log, sealing
//! into Merkle blocks below a horizon, verification, digest and inclusion proofs.
pub mod guard;
pub mod horizon;
mod jsonb_flat;
mod lockdown;
mod merkle;
mod output_settings;
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

fn record_ddl(table_name: &[u8], statement: Vec<u8>) {
    writer::write(AuditRecord::without_rows(
        "DDL",
        Some(table_name.to_vec()),
        Some(statement),
    ));
}

/// `SELECT ge_security.<function>('<name>')` with the name as a string literal, in bytes.
fn call_statement(function: &str, name: &[u8]) -> Vec<u8> {
    let mut statement = format!("SELECT ge_security.{function}('").into_bytes();
    for &b in name {
        if b == b'\'' {
            statement.push(b'\'');
        }
        statement.push(b);
    }
    statement.extend_from_slice(b"')");
    statement
}

/// Run utility SQL built from names as stored (server encoding, which need not be UTF-8).
fn run_utility(sql: Vec<u8>) {
    let sql = std::ffi::CString::new(sql).unwrap_or_else(|_| {
        GeError::new(Kind::InvalidParameter, "name contains a NUL byte").raise()
    });
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("ge_security: SPI_connect failed");
        }
        let rc = pg_sys::SPI_execute(sql.as_ptr(), false, 0);
        if rc < 0 {
            pgrx::error!("ge_security: utility statement failed (SPI code {rc})");
        }
        pg_sys::SPI_finish();
    }
}

/// A catalog name's bytes as stored (in the server encoding, which need not be UTF-8).
fn name_bytes(name: &pg_sys::NameData) -> &[u8] {
    unsafe { std::ffi::CStr::from_ptr(name.data.as_ptr()) }.to_bytes()
}

/// The name of a relation's schema as stored; None if the schema is gone.
fn namespace_name(rel: &PgRelation) -> Option<std::ffi::CString> {
    let name = unsafe { pg_sys::get_namespace_name((*rel.rd_rel).relnamespace) };
    (!name.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(name) }.to_owned())
}

/// The members of a PostgreSQL list of OIDs (NIL is empty).
fn list_oids(list: *const pg_sys::List) -> Vec<pg_sys::Oid> {
    if list.is_null() {
        return Vec::new();
    }
    unsafe {
        (0..(*list).length as usize)
            .map(|n| (*(*list).elements.add(n)).oid_value)
            .collect()
    }
}

/// The trail records table and column names as text the extension handles as UTF-8; in a
/// database of another encoding, names outside ASCII are refused up front (values are not
/// concerned: they are recorded byte for byte).
fn refuse_non_utf8_names(rel: &PgRelation) {
    let namespace = namespace_name(rel);
    let desc = rel.tuple_desc();
    let mut names = vec![name_bytes(unsafe { &(*rel.rd_rel).relname })];
    names.extend(namespace.as_deref().map(std::ffi::CStr::to_bytes));
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

/// The table's quoted name (bytes as stored) and key columns; the relation is closed again
/// (lock kept) so that DDL on it can follow in this statement. Enabling refuses names that are
/// not UTF-8; disabling works whatever the names became since.
fn audited_table(tbl: Option<pg_sys::Oid>, enabling: bool) -> (Vec<u8>, Vec<usize>) {
    let oid = tbl.unwrap_or_else(|| GeError::new(Kind::NullValue, "tbl must not be NULL").raise());
    let rel =
        unsafe { PgRelation::with_lock(oid, pg_sys::ShareRowExclusiveLock as pg_sys::LOCKMODE) };
    if enabling {
        refuse_non_utf8_names(&rel);
    }
    let name = trigger::qualified_name(&rel);
    let shown = String::from_utf8_lossy(&name).into_owned();
    let kind = unsafe { (*rel.rd_rel).relkind } as u8;
    if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
        GeError::new(Kind::WrongObjectType, format!("{shown} is not a table"))
            .hint("Only ordinary and partitioned tables can be audited.")
            .raise();
    }
    let namespace = namespace_name(&rel);
    let namespace = namespace
        .as_deref()
        .map_or(&[][..], std::ffi::CStr::to_bytes);
    if [
        &b"ge_security"[..],
        b"pg_catalog",
        b"information_schema",
        b"pg_toast",
    ]
    .contains(&namespace)
    {
        GeError::new(
            Kind::WrongObjectType,
            format!("{shown} is a system or ge_security table and cannot be audited"),
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
    let (name, keys) = audited_table(tbl, true);
    require_key(&name, &keys);
    let descendants = descendants(tbl);
    attach_trigger(&name, ROW_TRIGGER);
    attach_trigger(&name, TRUNCATE_TRIGGER);
    for child in &descendants {
        if child.holds_rows {
            // its rows are keyed by its own indexes (a parent's replica identity is not inherited)
            require_key(&child.name, &child.keys);
        }
        if !child.partition {
            // an inheritance child: the parent's triggers do not fire for its rows
            attach_trigger(&child.name, ROW_TRIGGER);
        }
        // partitions get the row trigger cloned from the parent, but no TRUNCATE trigger
        attach_trigger(&child.name, TRUNCATE_TRIGGER);
    }
    record_ddl(&name, call_statement("enable_audit", &name));
    let shown = String::from_utf8_lossy(&name).into_owned();
    match descendants.len() {
        0 => format!("auditing {shown}"),
        n => format!("auditing {shown} and the partitions or child tables under it ({n})"),
    }
}

fn require_key(name: &[u8], keys: &[usize]) {
    if keys.is_empty() {
        GeError::new(
            Kind::PrerequisiteState,
            format!(
                "{} has no primary key or replica identity index",
                String::from_utf8_lossy(name)
            ),
        )
        .detail("Each audit row names the changed row by its key.")
        .hint("Add a PRIMARY KEY, or ALTER TABLE ... REPLICA IDENTITY USING INDEX a unique index.")
        .raise();
    }
}

/// A partition or inheritance child (at any depth) of an audited table.
struct Descendant {
    name: Vec<u8>,
    keys: Vec<usize>,
    partition: bool,
    /// A table that stores rows (not a partitioned table, whose rows live in its partitions).
    holds_rows: bool,
}

/// The table's partitions and inheritance children at any depth (tables only), locked as the
/// table itself is.
fn descendants(tbl: Option<pg_sys::Oid>) -> Vec<Descendant> {
    let Some(oid) = tbl else { return Vec::new() };
    let lock = pg_sys::ShareRowExclusiveLock as pg_sys::LOCKMODE;
    let mut found = Vec::new();
    unsafe {
        let all = pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| {
            find_all_inheritors(oid, lock, std::ptr::null_mut())
        });
        for child in list_oids(all) {
            if child == oid {
                continue;
            }
            let rel = PgRelation::with_lock(child, lock);
            let kind = (*rel.rd_rel).relkind as u8;
            if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
                continue;
            }
            found.push(Descendant {
                name: trigger::qualified_name(&rel),
                keys: trigger::key_columns(&rel),
                partition: (*rel.rd_rel).relispartition,
                holds_rows: kind == pg_sys::RELKIND_RELATION,
            });
        }
    }
    found
}

unsafe extern "C-unwind" {
    /// catalog/pg_inherits.c (not in pgrx's bindings): the relation and all its descendants.
    fn find_all_inheritors(
        parent: pg_sys::Oid,
        lockmode: pg_sys::LOCKMODE,
        parents: *mut *mut pg_sys::List,
    ) -> *mut pg_sys::List;
}

/// Create one of the audit triggers on a table, ENABLE ALWAYS.
fn attach_trigger(name: &[u8], trigger: &str) {
    let (timing, level) = if trigger == ROW_TRIGGER {
        ("AFTER INSERT OR UPDATE OR DELETE", "FOR EACH ROW")
    } else {
        ("AFTER TRUNCATE", "FOR EACH STATEMENT")
    };
    let t = pgrx::spi::quote_identifier(trigger);
    let mut sql = format!("CREATE OR REPLACE TRIGGER {t} {timing} ON ").into_bytes();
    sql.extend_from_slice(name);
    sql.extend_from_slice(
        format!(" {level} EXECUTE FUNCTION ge_security.audit_trigger(); ALTER TABLE ").as_bytes(),
    );
    sql.extend_from_slice(name);
    sql.extend_from_slice(format!(" ENABLE ALWAYS TRIGGER {t}").as_bytes());
    run_utility(sql);
}

/// Drop one of the audit triggers from a table, if it is there.
fn detach_trigger(name: &[u8], trigger: &str) {
    let mut sql = format!(
        "DROP TRIGGER IF EXISTS {} ON ",
        pgrx::spi::quote_identifier(trigger)
    )
    .into_bytes();
    sql.extend_from_slice(name);
    run_utility(sql);
}

/// Remove the audit triggers from a table; the removal itself is recorded in the trail.
#[pg_extern(sql = "CREATE FUNCTION disable_audit(tbl regclass) RETURNS text \
    VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'disable_audit_wrapper';")]
fn disable_audit(tbl: Option<pg_sys::Oid>) -> String {
    let (name, _) = audited_table(tbl, false);
    detach_trigger(&name, ROW_TRIGGER);
    detach_trigger(&name, TRUNCATE_TRIGGER);
    for child in descendants(tbl) {
        if !child.partition {
            detach_trigger(&child.name, ROW_TRIGGER);
        }
        detach_trigger(&child.name, TRUNCATE_TRIGGER);
    }
    record_ddl(&name, call_statement("disable_audit", &name));
    format!("no longer auditing {}", String::from_utf8_lossy(&name))
}
