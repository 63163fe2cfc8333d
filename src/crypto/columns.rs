//! Encrypted columns: protect_column() registers one, reencrypt_column() moves one to the
//! active key. Both act only for the table's owner, checked before any lock is taken, and only
//! on bytea columns (or domains over bytea) of ordinary or partitioned tables.
use super::keyring;
use crate::error::{shown, spi_failed, GeError, Kind};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use std::ffi::CStr;

/// A table argument resolved without locking it.
struct Table {
    oid: pg_sys::Oid,
    /// schema.table, quoted.
    name: String,
}

/// A name as stored in the catalogs, quoted; names that are not UTF-8 (possible in a database
/// of another encoding) are refused rather than misquoted.
fn quoted(name: &CStr, what: &str) -> String {
    match name.to_str() {
        Ok(text) => pgrx::spi::quote_identifier(text),
        Err(_) => GeError::new(
            Kind::FeatureNotSupported,
            format!("ge_security encrypts columns whose {what} name is valid UTF-8"),
        )
        .detail(format!(
            "\"{}\" is not valid UTF-8 (the database encoding is not UTF8).",
            shown(&name.to_string_lossy(), 64)
        ))
        .hint("Rename it with ASCII characters, or use a UTF8 database.")
        .raise(),
    }
}

fn table(tbl: Option<pg_sys::Oid>) -> Table {
    let oid = tbl.unwrap_or_else(|| GeError::new(Kind::NullValue, "tbl must not be NULL").raise());
    // SAFETY: syscache lookups by OID; NULL when the relation or its schema does not exist.
    let (relname, nspname) = unsafe {
        let relname = pg_sys::get_rel_name(oid);
        let nspname = if relname.is_null() {
            std::ptr::null_mut()
        } else {
            pg_sys::get_namespace_name(pg_sys::get_rel_namespace(oid))
        };
        (relname, nspname)
    };
    if relname.is_null() || nspname.is_null() {
        GeError::new(
            Kind::UndefinedObject,
            format!("relation with OID {} does not exist", oid.to_u32()),
        )
        .raise();
    }
    // SAFETY: both are NUL-terminated strings palloc'd by the lookups above.
    let (relname, nspname) = unsafe { (CStr::from_ptr(relname), CStr::from_ptr(nspname)) };
    Table {
        oid,
        name: format!("{}.{}", quoted(nspname, "schema"), quoted(relname, "table")),
    }
}

/// Refuse unless `role` owns the table (directly or through membership). Reads the catalog only:
/// no lock on the table, so a role that may not act cannot queue behind its writers.
fn require_owner(table: &Table, role: pg_sys::Oid, action: &str) {
    let owns = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_has_role($2, c.relowner, 'USAGE') FROM pg_catalog.pg_class c \
         WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[table.oid.into(), role.into()],
    )
    .unwrap_or_else(|e| spi_failed("the ownership check", e))
    .unwrap_or(false);
    if !owns {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("must own table {} to {action}", table.name),
        )
        .raise();
    }
}

/// Refuse anything but an ordinary or partitioned table (views, sequences, materialized views,
/// foreign tables, indexes ...).
fn require_table(table: &Table, function: &str) {
    // SAFETY: syscache lookup by OID; '\0' when the relation is gone.
    let kind = unsafe { pg_sys::get_rel_relkind(table.oid) } as u8;
    let what = match kind {
        pg_sys::RELKIND_RELATION | pg_sys::RELKIND_PARTITIONED_TABLE => return,
        pg_sys::RELKIND_VIEW => "a view",
        pg_sys::RELKIND_MATVIEW => "a materialized view",
        pg_sys::RELKIND_SEQUENCE => "a sequence",
        pg_sys::RELKIND_FOREIGN_TABLE => "a foreign table",
        pg_sys::RELKIND_INDEX | pg_sys::RELKIND_PARTITIONED_INDEX => "an index",
        pg_sys::RELKIND_COMPOSITE_TYPE => "a composite type",
        pg_sys::RELKIND_TOASTVALUE => "a TOAST table",
        _ => "not a table",
    };
    GeError::new(
        Kind::WrongObjectType,
        format!("{} is {what}, not a table", table.name),
    )
    .hint(format!(
        "{function}() works on columns of ordinary and partitioned tables."
    ))
    .raise();
}

/// A column of the table.
struct Column {
    attnum: i16,
    /// The name as stored (UTF-8).
    name: String,
    /// The name quoted as an identifier.
    quoted: String,
}

/// A column of the table; `what` names the argument.
fn column(table: &Table, name: Option<&CStr>, what: &str) -> Column {
    let name = name.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, format!("{what} must not be NULL")).raise()
    });
    // SAFETY: `name` is NUL-terminated; the lookup skips dropped columns.
    let attnum = unsafe { pg_sys::get_attnum(table.oid, name.as_ptr()) };
    if attnum <= 0 {
        GeError::new(
            Kind::UndefinedColumn,
            format!(
                "column \"{}\" does not exist in the table",
                shown(&name.to_string_lossy(), 64)
            ),
        )
        .detail(format!("The table is {}.", table.name))
        .raise();
    }
    Column {
        attnum,
        name: name.to_string_lossy().into_owned(),
        quoted: quoted(name, "column"),
    }
}

/// The column's type, refused unless it is bytea or a domain over bytea.
fn require_bytea(table: &Table, col: &Column, hint: impl FnOnce(&str) -> String) {
    // SAFETY: syscache lookups for an existing column and its type.
    let (typid, base) = unsafe {
        let typid = pg_sys::get_atttype(table.oid, col.attnum);
        (typid, pg_sys::getBaseType(typid))
    };
    if base == pg_sys::BYTEAOID {
        return;
    }
    // SAFETY: format_type_be returns a palloc'd NUL-terminated name for any type OID.
    let type_name = unsafe { CStr::from_ptr(pg_sys::format_type_be(typid)) }
        .to_string_lossy()
        .into_owned();
    GeError::new(
        Kind::DatatypeMismatch,
        format!(
            "column {} of {} is of type {type_name}, not bytea",
            col.quoted, table.name
        ),
    )
    .detail("Encrypted columns hold ge_security envelopes, which are bytea.")
    .hint(hint(&type_name))
    .raise();
}

/// A SQL literal of a text argument for a hint, or a placeholder when it is long or not UTF-8.
fn hint_literal(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) if text.chars().count() <= 64 => pgrx::spi::quote_literal(text),
        _ => "'<context>'".to_owned(),
    }
}

fn text_arg<'a>(value: Option<&'a [u8]>, what: &str) -> &'a [u8] {
    value.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, format!("{what} must not be NULL")).raise()
    })
}

/// A text parameter for SPI from bytes in the database encoding.
fn text_param(value: &[u8]) -> DatumWithOid<'_> {
    // SAFETY: text and bytea share the varlena layout; the bytes came from a text argument.
    unsafe { DatumWithOid::new(value, pg_sys::TEXTOID) }
}

/// Register an encrypted column (context and aad column) for evidence, assess() and rotation.
/// SECURITY DEFINER (to write the registry) and refused unless the caller owns the table.
#[pg_extern(
    sql = "CREATE FUNCTION protect_column(tbl regclass, col name, context text, \
    aad_col name DEFAULT NULL) RETURNS text VOLATILE PARALLEL UNSAFE SECURITY DEFINER \
    SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'protect_column_wrapper';"
)]
fn protect_column(
    tbl: Option<pg_sys::Oid>,
    col: Option<&CStr>,
    context: Option<&[u8]>,
    aad_col: Option<&CStr>,
) -> Vec<u8> {
    let table = table(tbl);
    // SAFETY: reads the session's role outside this SECURITY DEFINER function.
    let caller = unsafe { pg_sys::GetOuterUserId() };
    require_owner(&table, caller, "protect its columns");
    let context = text_arg(context, "context");
    if context.is_empty() {
        GeError::new(Kind::InvalidParameter, "context must not be empty")
            .hint("Use a stable name such as 'schema.table.column'.")
            .raise();
    }
    // Keep the table (its kind, columns and types) as checked below until commit.
    // SAFETY: the relation exists (resolved above); the lock is released at transaction end.
    unsafe { pg_sys::LockRelationOid(table.oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    require_table(&table, "protect_column");
    let col = column(&table, col, "col");
    let aad = aad_col.map(|a| column(&table, Some(a), "aad_col"));
    if aad.as_ref().is_some_and(|a| a.attnum == col.attnum) {
        GeError::new(
            Kind::InvalidParameter,
            "aad_col must be another column than col",
        )
        .hint("Bind each value to its row with a key column, such as the primary key.")
        .raise();
    }
    let literal = hint_literal(context);
    require_bytea(&table, &col, |type_name| {
        let aad_arg = aad
            .as_ref()
            .map(|a| format!(", {}::text", a.quoted))
            .unwrap_or_default();
        let aad_lit = aad
            .as_ref()
            .map(|a| format!(", {}", pgrx::spi::quote_literal(&a.name)))
            .unwrap_or_default();
        format!(
            "Encrypt the {type_name} values and register the column in one transaction: BEGIN; \
             ALTER TABLE {t} ALTER COLUMN {c} TYPE bytea USING ge_security.encrypt({c}::text, \
             {literal}{aad_arg}); SELECT ge_security.protect_column({tl}, {cl}, {literal}{aad_lit}); \
             COMMIT;",
            t = table.name,
            c = col.quoted,
            tl = pgrx::spi::quote_literal(&table.name),
            cl = pgrx::spi::quote_literal(&col.name),
        )
    });
    Spi::run_with_args(
        "INSERT INTO ge_security.protected_column (table_name, column_name, context, aad_column) \
         SELECT $1, a.attname, $3, b.attname FROM pg_catalog.pg_attribute a \
           LEFT JOIN pg_catalog.pg_attribute b ON b.attrelid OPERATOR(pg_catalog.=) $1 \
                                               AND b.attnum OPERATOR(pg_catalog.=) $4 \
          WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.=) $2 \
         ON CONFLICT (table_name, column_name) DO UPDATE \
         SET context = EXCLUDED.context, aad_column = EXCLUDED.aad_column, \
             registered_by = EXCLUDED.registered_by, registered_at = EXCLUDED.registered_at",
        &[
            table.oid.into(),
            col.attnum.into(),
            text_param(context),
            aad.as_ref().map(|a| a.attnum).into(),
        ],
    )
    .unwrap_or_else(|e| spi_failed("registering the column", e));
    let mut out = format!("{}.{} is protected (context ", table.name, col.quoted).into_bytes();
    out.extend_from_slice(context);
    out.push(b')');
    out
}

/// Re-encrypt every value of a column that is not under the active key, in batches that lock
/// their rows first (FOR UPDATE SKIP LOCKED), so concurrent writers are neither overwritten nor
/// blocked for long. Returns rows changed; run it again to pick up rows that were locked.
#[pg_extern(
    sql = "CREATE FUNCTION reencrypt_column(tbl regclass, col name, context text, \
    aad_col name DEFAULT NULL, batch integer DEFAULT 1000) RETURNS bigint VOLATILE PARALLEL UNSAFE \
    SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'reencrypt_column_wrapper';"
)]
fn reencrypt_column(
    tbl: Option<pg_sys::Oid>,
    col: Option<&CStr>,
    context: Option<&[u8]>,
    aad_col: Option<&CStr>,
    batch: Option<i32>,
) -> i64 {
    let table = table(tbl);
    let context = text_arg(context, "context");
    let batch =
        batch.unwrap_or_else(|| GeError::new(Kind::NullValue, "batch must not be NULL").raise());
    if batch < 1 {
        GeError::new(Kind::InvalidParameter, "batch must be at least 1").raise();
    }
    // SAFETY: reads the current role (this function is not SECURITY DEFINER).
    let caller = unsafe { pg_sys::GetUserId() };
    require_owner(&table, caller, "re-encrypt its columns");
    // The lock the UPDATEs below take anyway, taken now so the checks hold until commit.
    // SAFETY: the relation exists (resolved above); the lock is released at transaction end.
    unsafe { pg_sys::LockRelationOid(table.oid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE) };
    require_table(&table, "reencrypt_column");
    let col = column(&table, col, "col");
    require_bytea(&table, &col, |_| {
        "reencrypt_column() rotates ciphertexts; a column of another type holds none. Encrypt it \
         with ALTER TABLE ... ALTER COLUMN ... TYPE bytea USING ge_security.encrypt(...)."
            .to_owned()
    });
    let aad = match aad_col {
        Some(a) => format!(
            "t.{}::pg_catalog.text",
            column(&table, Some(a), "aad_col").quoted
        ),
        None => "''".to_owned(),
    };
    let active = keyring::active_key_id().to_be_bytes().to_vec();
    let t = &table.name;
    let col = &col.quoted;
    // tableoid as well as ctid: the rows of a partitioned table's partitions share ctids.
    let statement = format!(
        "UPDATE {t} t SET {col} = ge_security.rotate(t.{col}, $1, {aad}) \
         FROM (SELECT s.tableoid AS rel, s.ctid AS tid FROM {t} s \
                WHERE s.{col} IS NOT NULL \
                  AND pg_catalog.substr(s.{col}, 2, 4) OPERATOR(pg_catalog.<>) $2 \
                LIMIT $3 FOR UPDATE OF s SKIP LOCKED) l \
         WHERE t.tableoid OPERATOR(pg_catalog.=) l.rel AND t.ctid OPERATOR(pg_catalog.=) l.tid"
    );
    let mut total = 0i64;
    Spi::connect_mut(|client| loop {
        let changed = client
            .update(
                &statement,
                None,
                &[
                    text_param(context),
                    active.clone().into(),
                    i64::from(batch).into(),
                ],
            )
            .map(|t| t.len() as i64)
            .unwrap_or_else(|e| spi_failed("re-encryption", e));
        total += changed;
        if changed == 0 {
            break total;
        }
    })
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::super::encoding;
    use super::*;

    #[pg_test]
    fn hint_literal_caps_and_quotes() {
        assert_eq!(hint_literal(b"a'b"), "'a''b'");
        assert_eq!(hint_literal(&[b'x'; 65]), "'<context>'");
        assert_eq!(hint_literal(&[0xe9]), "'<context>'");
        // the UTF-8 conversion is a no-op in the (UTF8) test database
        assert_eq!(&*encoding::to_utf8(b"caf\xc3\xa9", "value"), b"caf\xc3\xa9");
    }
}
