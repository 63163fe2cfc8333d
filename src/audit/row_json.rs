//! The jsonb images of audited rows (to_jsonb of the row, and of its key columns) together with
//! the exact text jsonb_out gives for them, which is what the row hash covers (DESIGN §4).
use super::jsonb_flat::{self, push_json_string, Scalar};
use super::name_bytes;
use super::writer::{jsonb_from_text, jsonb_with_text, output_bytes, StoredJsonb};
use pgrx::pg_sys;
use pgrx::{PgMemoryContexts, PgRelation};

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

/// The row as to_jsonb(row) makes it, with its hashed text.
pub fn row_image(
    rel: &PgRelation,
    direct: bool,
    tuple: *mut pg_sys::HeapTupleData,
    row: &Deformed,
) -> StoredJsonb {
    if direct {
        direct_object(rel, row, 0..row.values.len())
    } else {
        jsonb_with_text(generic_row_jsonb(rel, tuple))
    }
}

/// One key attribute's value as JSON text, for keys of other types: numbers and booleans
/// bare, everything else as a string of its text output.
fn push_json_value(json: &mut Vec<u8>, typoid: pg_sys::Oid, datum: pg_sys::Datum) {
    let text = output_bytes(typoid, datum);
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
pub fn key_image(rel: &PgRelation, direct: bool, row: &Deformed, keys: &[usize]) -> StoredJsonb {
    if direct {
        return direct_object(rel, row, keys.iter().copied());
    }
    let desc = rel.tuple_desc();
    let mut json = vec![b'{'];
    for &i in keys {
        let Some(att) = desc.get(i) else { continue };
        if json.len() > 1 {
            json.push(b',');
        }
        push_json_string(&mut json, name_bytes(&att.attname));
        json.push(b':');
        if row.nulls[i] {
            json.extend_from_slice(b"null");
        } else {
            push_json_value(&mut json, att.type_oid().value(), row.values[i]);
        }
    }
    json.push(b'}');
    jsonb_from_text(&json)
}
