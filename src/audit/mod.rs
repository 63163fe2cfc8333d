//! The tamper-evident audit trail: native row trigger, append-only log, sealing into Merkle
//! blocks below a horizon, verification, digest and inclusion proofs. How the parts fit:
//! docs/architecture.md, "How data flows".
mod archive;
pub mod batch;
pub mod ddl_guard;
mod erasure;
pub mod guard;
pub mod horizon;
mod image;
mod jsonb_flat;
mod lockdown;
mod merkle;
mod output_settings;
mod prune;
mod record;
pub mod redact;
mod row_json;
mod seal;
mod trigger;
mod verify;
mod writer;

use crate::error::{GeError, Kind};
use crate::pg_internals::find_all_inheritors;
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
/// An error the statement raises (a permission it lacks, a conflicting object) reaches the
/// caller as PostgreSQL raised it, with its own SQLSTATE.
fn run_utility(sql: Vec<u8>) {
    let sql = std::ffi::CString::new(sql).unwrap_or_else(|_| {
        GeError::new(Kind::InvalidParameter, "name contains a NUL byte").raise()
    });
    // SAFETY: SPI is connected and finished around one statement in this transaction; the
    // statement text is a NUL-terminated string that outlives the call.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            GeError::new(
                Kind::Internal,
                "could not connect to SPI to change audit triggers",
            )
            .raise();
        }
        // the extension's own trigger changes: the DDL guard neither refuses nor records them
        let rc = ddl_guard::internal(|| pg_sys::SPI_execute(sql.as_ptr(), false, 0));
        if rc < 0 {
            GeError::new(
                Kind::Internal,
                "a statement changing audit triggers failed without an error",
            )
            .detail(format!("SPI result code {rc}."))
            .raise();
        }
        pg_sys::SPI_finish();
    }
}

/// A catalog name's bytes as stored (in the server encoding, which need not be UTF-8).
fn name_bytes(name: &pg_sys::NameData) -> &[u8] {
    // SAFETY: a NameData is a NAMEDATALEN buffer that always holds a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(name.data.as_ptr()) }.to_bytes()
}

/// The name of a relation's schema as stored; None if the schema is gone.
fn namespace_name(rel: &PgRelation) -> Option<std::ffi::CString> {
    // SAFETY: rd_rel of an open relation; a syscache lookup by OID, NULL when the schema is gone.
    let name = unsafe { pg_sys::get_namespace_name((*rel.rd_rel).relnamespace) };
    // SAFETY: non-NULL, so a palloc'd NUL-terminated name, copied at once.
    (!name.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(name) }.to_owned())
}

/// The members of a PostgreSQL list of OIDs (NIL is empty), read through pgrx's typed
/// `List`, which checks the list's node tag before its cells are read as OIDs.
///
/// # Safety
/// `list` is NIL (NULL) or a valid PostgreSQL `List` that stays alive while it is read.
unsafe fn list_oids(list: *const pg_sys::List) -> Vec<pg_sys::Oid> {
    pgrx::memcx::current_context(|memcx| {
        // SAFETY: the caller's guarantee (NULL or a live List whose tag may be read); the list
        // is only read here, within the current memory context, and copied out.
        unsafe { pgrx::list::List::<pg_sys::Oid>::downcast_ptr_in_memcx(list.cast_mut(), memcx) }
            .map(|oids| oids.iter().copied().collect())
            .unwrap_or_else(|| {
                GeError::new(Kind::Internal, "ge_security expected a list of OIDs").raise()
            })
    })
}

/// The trail records table and column names as text the extension handles as UTF-8; in a
/// database of another encoding, names outside ASCII are refused up front (values are not
/// concerned: they are recorded byte for byte).
fn refuse_non_utf8_names(rel: &PgRelation) {
    let namespace = namespace_name(rel);
    let desc = rel.tuple_desc();
    // SAFETY: rd_rel of an open relation.
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

/// The lock enable_audit and disable_audit hold on a table and its descendants: it keeps
/// writers out while the triggers change, so that no row is written half audited.
const TRIGGER_LOCK: pg_sys::LOCKMODE = pg_sys::ShareRowExclusiveLock as pg_sys::LOCKMODE;

/// Whether the current user owns the relation (superusers own everything). PostgreSQL 16
/// renamed the check to object_ownercheck. Raises 42P01 if the relation is gone.
fn owns_relation(oid: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup by oid; a missing relation raises a PostgreSQL error (42P01).
    #[cfg(feature = "pg15")]
    let owns = unsafe { pg_sys::pg_class_ownercheck(oid, pg_sys::GetUserId()) };
    // SAFETY: as above.
    #[cfg(not(feature = "pg15"))]
    let owns =
        unsafe { pg_sys::object_ownercheck(pg_sys::RelationRelationId, oid, pg_sys::GetUserId()) };
    owns
}

/// The relation's name for a message (unqualified, as stored, at most 64 characters).
fn shown_relation(oid: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup by oid; NULL when the relation is gone.
    let name = unsafe { pg_sys::get_rel_name(oid) };
    if name.is_null() {
        return format!("with OID {}", u32::from(oid));
    }
    // SAFETY: get_rel_name returns a palloc'd NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy();
    name.chars().take(64).collect()
}

/// The checks that need no lock, made before any lock is taken (a role that may not act on a
/// table must not queue behind, or in front of, its writers): the relation exists (42P01) and
/// the current user owns it (42501).
fn check_owner(oid: pg_sys::Oid) {
    // SAFETY: a syscache lookup by oid; '\0' when there is no such relation.
    if unsafe { pg_sys::get_rel_relkind(oid) } == 0 {
        GeError::new(
            Kind::UndefinedTable,
            format!("relation with OID {} does not exist", u32::from(oid)),
        )
        .raise();
    }
    if !owns_relation(oid) {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("must be owner of table {}", shown_relation(oid)),
        )
        .detail("Changing a table's audit triggers needs ownership of the table and of each of its partitions and child tables; no lock was taken.")
        .hint("Ask the table's owner (or a superuser) to run it.")
        .raise();
    }
}

/// `schema.table` of a relation by oid, each quoted as needed, as stored (server encoding).
fn qualified_name_of(oid: pg_sys::Oid) -> Vec<u8> {
    // SAFETY: syscache lookups by oid returning palloc'd strings (NULL if gone);
    // quote_identifier returns its argument or a palloc'd quoted copy.
    unsafe {
        let quoted = |name: *mut std::ffi::c_char| {
            if name.is_null() {
                return b"?".to_vec();
            }
            std::ffi::CStr::from_ptr(pg_sys::quote_identifier(name))
                .to_bytes()
                .to_vec()
        };
        let mut name = quoted(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(oid)));
        name.push(b'.');
        name.extend(quoted(pg_sys::get_rel_name(oid)));
        name
    }
}

/// The relation is an ordinary or partitioned table outside the system and ge_security
/// schemas (42809 otherwise). Checked from the catalog before the lock (nobody queues behind a
/// lock taken on a view or on pg_class for nothing) and again under it.
fn check_auditable(oid: pg_sys::Oid) {
    // SAFETY: syscache lookups by oid of an existing relation.
    let (kind, namespace) = unsafe {
        let namespace = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(oid));
        (
            pg_sys::get_rel_relkind(oid) as u8,
            (!namespace.is_null()).then(|| std::ffi::CStr::from_ptr(namespace).to_bytes()),
        )
    };
    let shown = || String::from_utf8_lossy(&qualified_name_of(oid)).into_owned();
    if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
        GeError::new(Kind::WrongObjectType, format!("{} is not a table", shown()))
            .hint("Only ordinary and partitioned tables can be audited.")
            .raise();
    }
    if [
        &b"ge_security"[..],
        b"pg_catalog",
        b"information_schema",
        b"pg_toast",
    ]
    .contains(&namespace.unwrap_or_default())
    {
        GeError::new(
            Kind::WrongObjectType,
            format!(
                "{} is a system or ge_security table and cannot be audited",
                shown()
            ),
        )
        .hint("Audit your own tables; the trail protects itself with its append-only guard.")
        .raise();
    }
}

/// The table and its partitions and inheritance children at any depth, the table first.
/// With `NoLock` (listing before the permission checks), children dropped meanwhile may be
/// listed; with a lock, each is locked and only those still there are returned.
fn table_tree(oid: pg_sys::Oid, lock: pg_sys::LOCKMODE) -> Vec<pg_sys::Oid> {
    // SAFETY: find_all_inheritors (see pg_internals) reads pg_inherits inside this transaction
    // and returns a palloc'd OID list; a PostgreSQL error crosses the guard as a panic.
    unsafe {
        let all = pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| {
            find_all_inheritors(oid, lock, std::ptr::null_mut())
        });
        list_oids(all)
    }
}

/// What enable_audit and disable_audit act on, locked: the table and its descendants.
struct Audited {
    /// The table's quoted, schema-qualified name (bytes as stored).
    name: Vec<u8>,
    /// Attribute indexes of its key columns.
    keys: Vec<usize>,
    descendants: Vec<Descendant>,
}

/// The table to audit (or stop auditing) and its descendants, after the checks: existence,
/// ownership (of each) and kind before any lock, then the lock, then the checks again
/// (ownership may have changed and a child appeared while waiting), then names. Relations are
/// closed again with their locks kept, so that DDL on them can follow in this statement.
/// Enabling refuses names that are not UTF-8; disabling works whatever the names became since.
fn audited_table(tbl: Option<pg_sys::Oid>, enabling: bool) -> Audited {
    let oid = tbl.unwrap_or_else(|| GeError::new(Kind::NullValue, "tbl must not be NULL").raise());
    check_owner(oid);
    check_auditable(oid);
    for child in table_tree(oid, pg_sys::NoLock as pg_sys::LOCKMODE) {
        // SAFETY: a syscache lookup by oid; a child dropped since it was listed is skipped.
        if child != oid && unsafe { pg_sys::get_rel_relkind(child) } != 0 {
            check_owner(child);
        }
    }
    // SAFETY: locks a relation by oid that existed a moment ago; one dropped while we waited
    // is caught by the checks that follow, made under the lock.
    unsafe { pg_sys::LockRelationOid(oid, TRIGGER_LOCK) };
    check_owner(oid);
    check_auditable(oid);
    // SAFETY: the relation exists and is locked.
    let rel = unsafe { PgRelation::with_lock(oid, TRIGGER_LOCK) };
    if enabling {
        refuse_non_utf8_names(&rel);
    }
    let name = trigger::qualified_name(&rel);
    let keys = trigger::key_columns(&rel);
    drop(rel);
    Audited {
        name,
        keys,
        descendants: descendants(oid),
    }
}

/// The columns of `exclude`, checked against the table: each a column (42703), none a key
/// column (0A000: the key names the row in every audit row), no NULL (22004); sorted, once each.
fn excluded_columns(
    oid: pg_sys::Oid,
    keys: &[usize],
    exclude: Option<Vec<Option<String>>>,
) -> Vec<String> {
    let mut columns: Vec<String> = exclude
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            c.unwrap_or_else(|| {
                GeError::new(Kind::NullValue, "exclude must not contain NULL").raise()
            })
        })
        .collect();
    columns.sort_unstable();
    columns.dedup();
    // SAFETY: the relation is locked by audited_table.
    let rel = unsafe { PgRelation::with_lock(oid, pg_sys::NoLock as pg_sys::LOCKMODE) };
    let desc = rel.tuple_desc();
    for column in &columns {
        let found = desc
            .iter()
            .enumerate()
            .find(|(_, att)| !att.is_dropped() && name_bytes(&att.attname) == column.as_bytes());
        match found {
            None => GeError::new(
                Kind::UndefinedColumn,
                format!(
                    "column \"{column}\" of {} does not exist",
                    shown_relation(oid)
                ),
            )
            .detail("exclude names columns of the audited table.")
            .raise(),
            Some((i, _)) if keys.contains(&i) => GeError::new(
                Kind::FeatureNotSupported,
                format!("column \"{column}\" is part of the key and cannot be excluded"),
            )
            .detail("Every audit row names its row by the key columns, in clear.")
            .hint("Audit the table by a surrogate key, or leave this column out of exclude.")
            .raise(),
            Some(_) => {}
        }
    }
    columns
}

/// Attach the native audit triggers (row and TRUNCATE, ENABLE ALWAYS) to a table; the columns
/// of `exclude` are recorded as digests only (docs/architecture.md, "Columns recorded as
/// digests").
#[pg_extern(
    sql = "CREATE FUNCTION enable_audit(tbl regclass, exclude text[] DEFAULT NULL) \
    RETURNS text VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'enable_audit_wrapper';"
)]
fn enable_audit(tbl: Option<pg_sys::Oid>, exclude: Option<Vec<Option<String>>>) -> String {
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
    let Audited {
        name,
        keys,
        descendants,
    } = audited_table(tbl, true);
    require_key(&name, &keys);
    let excluded = excluded_columns(tbl.unwrap_or(pg_sys::InvalidOid), &keys, exclude);
    attach_trigger(&name, ROW_TRIGGER, &excluded);
    attach_trigger(&name, TRUNCATE_TRIGGER, &[]);
    for child in &descendants {
        if child.holds_rows {
            // its rows are keyed by its own indexes (a parent's replica identity is not inherited)
            require_key(&child.name, &child.keys);
        }
        if !child.partition {
            // an inheritance child: the parent's triggers do not fire for its rows
            attach_trigger(&child.name, ROW_TRIGGER, &excluded);
        }
        // partitions get the row trigger cloned from the parent (with its arguments), but no
        // TRUNCATE trigger
        attach_trigger(&child.name, TRUNCATE_TRIGGER, &[]);
    }
    let mut statement = call_statement("enable_audit", &name);
    if !excluded.is_empty() {
        statement.pop();
        statement
            .extend_from_slice(format!(", exclude => ARRAY[{}])", literals(&excluded)).as_bytes());
    }
    record_ddl(&name, statement);
    let shown = String::from_utf8_lossy(&name).into_owned();
    match descendants.len() {
        0 => format!("auditing {shown}"),
        n => format!("auditing {shown} and the partitions or child tables under it ({n})"),
    }
}

/// The columns the audit row triggers of a table's parents record as digests only (their
/// arguments), for a new inheritance child, which gets its own row trigger.
fn inherited_exclusions(relid: pg_sys::Oid) -> Vec<String> {
    let args = Spi::get_one_with_args::<Vec<u8>>(
        "SELECT t.tgargs FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_inherits i \
         ON i.inhparent OPERATOR(pg_catalog.=) t.tgrelid \
         WHERE i.inhrelid OPERATOR(pg_catalog.=) $1 AND t.tgname OPERATOR(pg_catalog.=) $2 \
         AND t.tgnargs OPERATOR(pg_catalog.>) 0 LIMIT 1",
        &[relid.into(), ROW_TRIGGER.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_default();
    args.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
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
/// table itself is (the table is locked already). Ownership of each was checked before any
/// lock; it is checked again under the lock, for a child attached or given away meanwhile.
fn descendants(oid: pg_sys::Oid) -> Vec<Descendant> {
    let mut found = Vec::new();
    for child in table_tree(oid, TRIGGER_LOCK) {
        if child == oid {
            continue;
        }
        check_owner(child);
        // SAFETY: find_all_inheritors locked the child, and it exists (checked above).
        let rel = unsafe { PgRelation::with_lock(child, TRIGGER_LOCK) };
        // SAFETY: rd_rel of an open relation.
        let (kind, partition) =
            unsafe { ((*rel.rd_rel).relkind as u8, (*rel.rd_rel).relispartition) };
        if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
            continue;
        }
        found.push(Descendant {
            name: trigger::qualified_name(&rel),
            keys: trigger::key_columns(&rel),
            partition,
            holds_rows: kind == pg_sys::RELKIND_RELATION,
        });
    }
    found
}

/// The names as SQL string literals, comma-separated.
fn literals(names: &[String]) -> String {
    names
        .iter()
        .map(pgrx::spi::quote_literal)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Create one of the audit triggers on a table, ENABLE ALWAYS; the row trigger's arguments are
/// the columns recorded as digests only.
fn attach_trigger(name: &[u8], trigger: &str, excluded: &[String]) {
    let (timing, level) = if trigger == ROW_TRIGGER {
        ("AFTER INSERT OR UPDATE OR DELETE", "FOR EACH ROW")
    } else {
        ("AFTER TRUNCATE", "FOR EACH STATEMENT")
    };
    let t = pgrx::spi::quote_identifier(trigger);
    let mut sql = format!("CREATE OR REPLACE TRIGGER {t} {timing} ON ").into_bytes();
    sql.extend_from_slice(name);
    sql.extend_from_slice(
        format!(
            " {level} EXECUTE FUNCTION ge_security.audit_trigger({}); ALTER TABLE ",
            literals(excluded)
        )
        .as_bytes(),
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
    VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'disable_audit_wrapper';")]
fn disable_audit(tbl: Option<pg_sys::Oid>) -> String {
    let Audited {
        name, descendants, ..
    } = audited_table(tbl, false);
    detach_trigger(&name, ROW_TRIGGER);
    detach_trigger(&name, TRUNCATE_TRIGGER);
    for child in descendants {
        if !child.partition {
            detach_trigger(&child.name, ROW_TRIGGER);
        }
        detach_trigger(&child.name, TRUNCATE_TRIGGER);
    }
    record_ddl(&name, call_statement("disable_audit", &name));
    format!("no longer auditing {}", String::from_utf8_lossy(&name))
}
