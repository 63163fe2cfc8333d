//! The jsonb images of audited rows (to_jsonb of the row, and of its key columns) together with
//! the exact text jsonb_out gives for them, which is what the row hash covers
//! (docs/architecture.md, "The audit record").
use super::jsonb_flat::{self, push_json_string, Scalar};
use super::name_bytes;
use super::writer::{jsonb_from_text, jsonb_with_text, output_bytes, StoredJsonb};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::{PgMemoryContexts, PgRelation, PgSqlErrorCode};

/// Raw datums and null flags of a tuple, one per attribute of the relation.
pub struct Deformed {
    pub values: Vec<pg_sys::Datum>,
    pub nulls: Vec<bool>,
}

pub fn deform(rel: &PgRelation, tuple: *mut pg_sys::HeapTupleData) -> Deformed {
    let natts = rel.tuple_desc().len();
    let mut row = Deformed {
        values: vec![pg_sys::Datum::from(0usize); natts],
        nulls: vec![false; natts],
    };
    // SAFETY: `tuple` is a tuple of `rel` (the trigger's old or new row), deformed with the
    // relation's own descriptor into arrays of exactly natts entries.
    unsafe {
        pg_sys::heap_deform_tuple(
            tuple,
            rel.rd_att,
            row.values.as_mut_ptr(),
            row.nulls.as_mut_ptr(),
        )
    };
    row
}

/// `to_jsonb()` called with an expression that says its argument is a record: to_jsonb
/// reads the argument type from the call expression, and a record's own header then names
/// its row type. Built once per backend, in TopMemoryContext.
struct RecordToJsonb(*mut pg_sys::FmgrInfo);

thread_local! {
    static RECORD_TO_JSONB: std::cell::OnceCell<RecordToJsonb> = const { std::cell::OnceCell::new() };
}

fn record_to_jsonb_call() -> *mut pg_sys::FmgrInfo {
    RECORD_TO_JSONB.with(|cell| {
        // SAFETY: the FmgrInfo and the call expression are allocated in TopMemoryContext, so they
        // live as long as the backend that caches them; fmgr_info_cxt looks up a built-in.
        cell.get_or_init(|| unsafe {
            PgMemoryContexts::TopMemoryContext.switch_to(|_| {
                let flinfo: *mut pg_sys::FmgrInfo =
                    pg_sys::palloc0(std::mem::size_of::<pg_sys::FmgrInfo>()).cast();
                pg_sys::fmgr_info_cxt(
                    pg_sys::Oid::from(pg_sys::F_TO_JSONB),
                    flinfo,
                    pg_sys::TopMemoryContext,
                );
                let argument = pg_sys::makeNullConst(pg_sys::RECORDOID, -1, pg_sys::InvalidOid);
                let arguments = pg_sys::lappend(std::ptr::null_mut(), argument.cast());
                (*flinfo).fn_expr = pg_sys::makeFuncExpr(
                    pg_sys::Oid::from(pg_sys::F_TO_JSONB),
                    pg_sys::JSONBOID,
                    arguments,
                    pg_sys::InvalidOid,
                    pg_sys::InvalidOid,
                    pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
                )
                .cast();
                RecordToJsonb(flinfo)
            })
        })
        .0
    })
}

/// The row as jsonb through PostgreSQL's to_jsonb (any column types).
fn generic_row_jsonb(rel: &PgRelation, tuple: *mut pg_sys::HeapTupleData) -> pg_sys::Datum {
    // SAFETY: `tuple` is a tuple of `rel` (the trigger's row); it is copied as a composite datum
    // with the relation's descriptor and passed to to_jsonb, whose result is palloc'd here.
    unsafe {
        let record = pg_sys::heap_copy_tuple_as_datum(tuple, rel.rd_att);
        pg_sys::FunctionCall1Coll(record_to_jsonb_call(), pg_sys::InvalidOid, record)
    }
}

/// Column types whose to_jsonb value can be built straight from the datum: integers become
/// numbers (to_jsonb prints and re-parses them as numeric), booleans booleans, and text,
/// varchar and char(n) strings of their stored bytes (their output functions copy them).
pub fn has_direct_jsonb(type_oid: pg_sys::Oid) -> bool {
    [
        pg_sys::BOOLOID,
        pg_sys::INT2OID,
        pg_sys::INT4OID,
        pg_sys::INT8OID,
        pg_sys::TEXTOID,
        pg_sys::VARCHAROID,
        pg_sys::BPCHAROID,
    ]
    .contains(&type_oid)
}

/// An object of the given columns built directly (every column passes `has_direct_jsonb`):
/// the jsonb value to_jsonb would make, and the text jsonb_out would print for it.
fn direct_object(
    rel: &PgRelation,
    row: &Deformed,
    columns: impl Iterator<Item = usize>,
) -> StoredJsonb {
    let desc = rel.tuple_desc();
    let mut members: Vec<(&[u8], Scalar)> = Vec::with_capacity(row.values.len());
    for i in columns {
        let Some(att) = desc.get(i).filter(|att| !att.is_dropped()) else {
            continue;
        };
        let datum = row.values[i];
        let value = if row.nulls[i] {
            Scalar::Null
        } else {
            match att.atttypid {
                pg_sys::BOOLOID => Scalar::Bool(datum.value() != 0),
                pg_sys::INT2OID => Scalar::Int(i64::from(datum.value() as i16)),
                pg_sys::INT4OID => Scalar::Int(i64::from(datum.value() as i32)),
                pg_sys::INT8OID => Scalar::Int(datum.value() as i64),
                // SAFETY: a non-NULL text, varchar or char(n) value of the deformed row: a
                // varlena, detoasted (if needed) into the trigger's memory context, which
                // outlives `members`.
                _ => unsafe {
                    // text, varchar, char(n): stored bytes, detoasted in the trigger's context
                    let varlena = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                    Scalar::String(std::slice::from_raw_parts(
                        pgrx::varlena::vardata_any(varlena).cast::<u8>(),
                        pgrx::varlena::varsize_any_exhdr(varlena),
                    ))
                },
            }
        };
        members.push((name_bytes(&att.attname), value));
    }
    let (datum, text) = jsonb_flat::object(&mut members);
    StoredJsonb { datum, text }
}

/// How a table's rows are turned into jsonb.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ImagePath {
    /// Every column has a type `direct_object` builds (integers, booleans, text).
    Direct,
    /// to_jsonb of the row.
    ToJsonb,
    /// to_jsonb of the row, which can refuse legal `json` values that jsonb cannot hold (a
    /// \u0000 escape, or a character the database encoding lacks): tried in a subtransaction.
    ToJsonbMayFail,
    /// Every column as a JSON string of its type's output function: a column's type (or a
    /// type inside it) has a cast to json that to_jsonb would call. Whoever owns the type can
    /// create such a cast, and it would then run as the writer and decide what the trail
    /// records (a value never stored).
    Text,
}

impl ImagePath {
    pub fn of(rel: &PgRelation) -> ImagePath {
        let desc = rel.tuple_desc();
        let types: Vec<pg_sys::Oid> = desc
            .iter()
            .filter(|att| !att.is_dropped())
            .map(|att| att.type_oid().value())
            .collect();
        if types.iter().all(|&t| has_direct_jsonb(t)) {
            return ImagePath::Direct;
        }
        let mut found = Found::default();
        for &t in &types {
            look_inside(t, 0, &mut found);
        }
        if found.json_cast {
            ImagePath::Text
        } else if found.json {
            ImagePath::ToJsonbMayFail
        } else {
            ImagePath::ToJsonb
        }
    }
}

thread_local! {
    /// Relations of the composite types `look_inside` looked into: a change to one of them (a
    /// json attribute added) must make the tables using it be looked at again.
    static COMPOSITES_SEEN: std::cell::RefCell<std::collections::HashSet<pg_sys::Oid>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Whether `relid` is the relation of a composite type some table's image path depends on.
pub fn is_composite_seen(relid: pg_sys::Oid) -> bool {
    COMPOSITES_SEEN.with_borrow(|seen| seen.contains(&relid))
}

/// What `look_inside` found in a column's type.
#[derive(Default)]
struct Found {
    /// A `json` value can be inside.
    json: bool,
    /// to_jsonb would call a cast to json for a value inside.
    json_cast: bool,
}

/// Whether to_jsonb would turn a value of this type through a cast to json: as jsonb.c's
/// jsonb_categorize_type decides, for a type (domains looked through) that is neither an
/// array nor a composite, created after initdb, with a cast to json by a function. CREATE
/// CAST takes effect at once: the trigger forgets its image paths when pg_cast changes.
fn has_json_cast(base: pg_sys::Oid) -> bool {
    if u32::from(base) < pg_sys::FirstNormalObjectId {
        return false;
    }
    let mut function = pg_sys::InvalidOid;
    // SAFETY: a catalog lookup of the cast from `base` to json; it writes the function's oid.
    let path = unsafe {
        pg_sys::find_coercion_pathway(
            pg_sys::JSONOID,
            base,
            pg_sys::CoercionContext::COERCION_EXPLICIT,
            &mut function,
        )
    };
    path == pg_sys::CoercionPathType::COERCION_PATH_FUNC && function != pg_sys::InvalidOid
}

/// Look through a type as to_jsonb does (domains, arrays, composites, at any depth) for json
/// values and for casts to json (nesting deeper than 32 levels is assumed to hold both).
fn look_inside(type_oid: pg_sys::Oid, depth: usize, found: &mut Found) {
    if depth > 32 {
        found.json = true;
        found.json_cast = true;
        return;
    }
    // SAFETY: catalog lookups by type oid (a dropped type raises a PostgreSQL error).
    unsafe {
        let base = pg_sys::getBaseType(type_oid);
        if base == pg_sys::JSONOID {
            found.json = true;
            return;
        }
        let element = pg_sys::get_element_type(base);
        if element != pg_sys::InvalidOid {
            return look_inside(element, depth + 1, found);
        }
        let relid = pg_sys::get_typ_typrelid(base);
        if relid == pg_sys::InvalidOid {
            found.json_cast |= has_json_cast(base);
            return;
        }
        COMPOSITES_SEEN.with_borrow_mut(|seen| seen.insert(relid));
        let desc = pgrx::PgTupleDesc::from_pg_copy(pg_sys::lookup_rowtype_tupdesc_copy(base, -1));
        for att in desc.iter().filter(|att| !att.is_dropped()) {
            look_inside(att.type_oid().value(), depth + 1, found);
        }
    }
}

/// How to_jsonb refuses a json value jsonb cannot hold: a \u0000 escape or a character the
/// database encoding lacks (22P05), or any escape above ASCII in a SQL_ASCII database (0A000).
const JSON_REFUSALS: &[PgSqlErrorCode] = &[
    PgSqlErrorCode::ERRCODE_UNTRANSLATABLE_CHARACTER,
    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
];

/// `build` in a subtransaction; None if it raised one of `codes`. Any error is rolled back with the
/// subtransaction, and any other one is raised again (so that an EXCEPTION block around the
/// audited statement finds the subtransactions as it left them).
fn in_subtransaction<T>(codes: &'static [PgSqlErrorCode], build: impl FnOnce() -> T) -> Option<T> {
    match crate::subtransaction::run(build).map_err(|error| *error) {
        Ok(built) => Some(built),
        Err(CaughtError::PostgresError(report)) if codes.contains(&report.sql_error_code()) => None,
        Err(error) => error.rethrow(),
    }
}

/// A jsonb object of the given columns, written as JSON text with `push_value` for each non-NULL
/// value and parsed by jsonb_in (with its hashed text).
fn object_from_text(
    rel: &PgRelation,
    row: &Deformed,
    columns: impl Iterator<Item = usize>,
    push_value: impl Fn(&mut Vec<u8>, pg_sys::Oid, pg_sys::Datum),
) -> StoredJsonb {
    let desc = rel.tuple_desc();
    let mut json = vec![b'{'];
    for i in columns {
        let Some(att) = desc.get(i).filter(|att| !att.is_dropped()) else {
            continue;
        };
        if json.len() > 1 {
            json.push(b',');
        }
        push_json_string(&mut json, name_bytes(&att.attname));
        json.push(b':');
        if row.nulls[i] {
            json.extend_from_slice(b"null");
        } else {
            push_value(&mut json, att.type_oid().value(), row.values[i]);
        }
    }
    json.push(b'}');
    jsonb_from_text(&json)
}

/// The row with every non-NULL column as a JSON string of its text output: the image of a
/// row to_jsonb refuses, or of one whose types have casts to json, which records the values
/// as stored, losslessly.
fn text_row_image(rel: &PgRelation, row: &Deformed) -> StoredJsonb {
    object_from_text(rel, row, 0..row.values.len(), |json, typoid, datum| {
        push_json_string(json, &output_bytes(typoid, datum))
    })
}

/// The row as to_jsonb(row) makes it, with its hashed text.
pub fn row_image(
    rel: &PgRelation,
    path: ImagePath,
    tuple: *mut pg_sys::HeapTupleData,
    row: &Deformed,
) -> StoredJsonb {
    match path {
        ImagePath::Direct => direct_object(rel, row, 0..row.values.len()),
        ImagePath::ToJsonb => jsonb_with_text(generic_row_jsonb(rel, tuple)),
        ImagePath::ToJsonbMayFail => {
            in_subtransaction(JSON_REFUSALS, || generic_row_jsonb(rel, tuple))
                .map(jsonb_with_text)
                .unwrap_or_else(|| text_row_image(rel, row))
        }
        ImagePath::Text => text_row_image(rel, row),
    }
}

/// One key attribute's value as JSON text, for keys of other types: numbers and booleans
/// bare, everything else as a string of its text output.
fn push_json_value(json: &mut Vec<u8>, typoid: pg_sys::Oid, datum: pg_sys::Datum) {
    let text = output_bytes(typoid, datum);
    // a domain prints as its base type does, and is a number or boolean as that type is
    // SAFETY: a syscache lookup by type OID (of a column of the open relation).
    let typoid = unsafe { pg_sys::getBaseType(typoid) };
    let finite_number = || {
        std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    };
    match typoid {
        pg_sys::BOOLOID => json.extend_from_slice(if text == b"t" { b"true" } else { b"false" }),
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::OIDOID => {
            json.extend_from_slice(&text)
        }
        pg_sys::NUMERICOID if finite_number() => json.extend_from_slice(&text),
        _ => push_json_string(json, &text),
    }
}

/// The key columns of a row as a jsonb object, with its hashed text.
pub fn key_image(rel: &PgRelation, path: ImagePath, row: &Deformed, keys: &[usize]) -> StoredJsonb {
    if path == ImagePath::Direct {
        return direct_object(rel, row, keys.iter().copied());
    }
    object_from_text(rel, row, keys.iter().copied(), push_json_value)
}
