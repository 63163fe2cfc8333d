//! The jsonb images of audited rows (to_jsonb of the row, and of its key columns) together with
//! the exact text jsonb_out gives for them, which is what the row hash covers (DESIGN §4).
use super::name_bytes;
use super::writer::{jsonb_from_text, jsonb_with_text, output_bytes, StoredJsonb};
use crate::error::{GeError, Kind};
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

fn scalar(kind: pg_sys::jbvType::Type) -> pg_sys::JsonbValue {
    // SAFETY: JsonbValue is plain data; an all-zero value is a valid jbvNull.
    let mut value: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
    value.type_ = kind;
    value
}

/// A string JsonbValue pointing at `len` bytes that must outlive the jsonb being built.
fn jsonb_string(data: *const std::ffi::c_char, len: usize) -> pg_sys::JsonbValue {
    if len > pg_sys::JENTRY_OFFLENMASK as usize {
        GeError::new(
            Kind::ProgramLimit,
            "string too long to represent as jsonb string",
        )
        .detail(format!(
            "Due to an implementation restriction, jsonb strings cannot exceed {} bytes.",
            pg_sys::JENTRY_OFFLENMASK
        ))
        .raise();
    }
    let mut value = scalar(pg_sys::jbvType::jbvString);
    value.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
        len: len as i32,
        val: data.cast_mut(),
    };
    value
}

/// jsonb_out's rendering of a string (escape_json): quotes, backslash, the five short escapes,
/// other control characters as \u00XX (lower-case hex), every other byte as it is.
fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut plain_from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            control if control < b' ' => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        if short.is_empty() {
            out.extend_from_slice(format!("\\u{byte:04x}").as_bytes());
        } else {
            out.extend_from_slice(short);
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// The longest text a PostgreSQL output function can return (MaxAllocSize less the header).
const MAX_PRINTABLE_BYTES: usize = 0x3fff_ffff - 5;

/// An object of the given columns built directly (every column passes `has_direct_jsonb`):
/// the jsonb value to_jsonb would make, and the text jsonb_out would print for it, members in
/// jsonb's key order (shorter keys first, then bytewise).
fn direct_object(
    rel: &PgRelation,
    row: &Deformed,
    columns: impl Iterator<Item = usize>,
) -> StoredJsonb {
    let desc = rel.tuple_desc();
    let mut members: Vec<(&[u8], Vec<u8>)> = Vec::new();
    unsafe {
        let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
        pg_sys::pushJsonbValue(
            &mut state,
            pg_sys::JsonbIteratorToken::WJB_BEGIN_OBJECT,
            std::ptr::null_mut(),
        );
        for i in columns {
            let Some(att) = desc.get(i).filter(|att| !att.is_dropped()) else {
                continue;
            };
            let name = name_bytes(&att.attname);
            let mut key = jsonb_string(name.as_ptr().cast(), name.len());
            pg_sys::pushJsonbValue(&mut state, pg_sys::JsonbIteratorToken::WJB_KEY, &mut key);
            let datum = row.values[i];
            let mut text = Vec::new();
            let mut value = if row.nulls[i] {
                text.extend_from_slice(b"null");
                scalar(pg_sys::jbvType::jbvNull)
            } else {
                match att.type_oid().value() {
                    pg_sys::BOOLOID => {
                        let truth = datum.value() != 0;
                        text.extend_from_slice(if truth { b"true" } else { b"false" });
                        let mut value = scalar(pg_sys::jbvType::jbvBool);
                        value.val.boolean = truth;
                        value
                    }
                    pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => {
                        let number = match att.type_oid().value() {
                            pg_sys::INT2OID => i64::from(datum.value() as i16),
                            pg_sys::INT4OID => i64::from(datum.value() as i32),
                            _ => datum.value() as i64,
                        };
                        text.extend_from_slice(number.to_string().as_bytes());
                        let mut value = scalar(pg_sys::jbvType::jbvNumeric);
                        value.val.numeric = pg_sys::int64_to_numeric(number);
                        value
                    }
                    _ => {
                        let varlena = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                        let data = pgrx::varlena::vardata_any(varlena);
                        let len = pgrx::varlena::varsize_any_exhdr(varlena);
                        push_json_string(
                            &mut text,
                            std::slice::from_raw_parts(data.cast::<u8>(), len),
                        );
                        jsonb_string(data, len)
                    }
                }
            };
            pg_sys::pushJsonbValue(
                &mut state,
                pg_sys::JsonbIteratorToken::WJB_VALUE,
                &mut value,
            );
            members.push((name, text));
        }
        let object = pg_sys::pushJsonbValue(
            &mut state,
            pg_sys::JsonbIteratorToken::WJB_END_OBJECT,
            std::ptr::null_mut(),
        );
        members.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        let mut text = Vec::with_capacity(members.iter().map(|(k, v)| k.len() + v.len() + 6).sum());
        text.push(b'{');
        for (n, (name, value)) in members.iter().enumerate() {
            if n > 0 {
                text.extend_from_slice(b", ");
            }
            push_json_string(&mut text, name);
            text.extend_from_slice(b": ");
            text.extend_from_slice(value);
        }
        text.push(b'}');
        // jsonb_out could not print more (verification reads it back through jsonb_out).
        if text.len() > MAX_PRINTABLE_BYTES {
            GeError::new(
                Kind::ProgramLimit,
                "audited row is too large to print as JSON",
            )
            .detail(format!(
                "Its JSON text would take {} bytes; at most {MAX_PRINTABLE_BYTES} can be printed.",
                text.len()
            ))
            .raise();
        }
        StoredJsonb {
            datum: pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(object)),
            text,
        }
    }
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

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::push_json_string;
    use pgrx::prelude::*;

    #[pg_test]
    fn strings_are_escaped_exactly_as_jsonb_out_does() {
        let samples = [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "\u{8}\u{c}\n\r\t",
            "\u{1} \u{1f} \u{7f} \u{2028} é ✓ 😀",
            "\\u0041 literal",
            "trailing control \u{1b}",
        ];
        for sample in samples {
            let mut ours = Vec::new();
            push_json_string(&mut ours, sample.as_bytes());
            let theirs = Spi::get_one_with_args::<String>(
                "SELECT pg_catalog.to_jsonb($1::text)::text",
                &[sample.into()],
            )
            .expect("query runs")
            .expect("not NULL");
            assert_eq!(
                String::from_utf8(ours).expect("UTF-8"),
                theirs,
                "{sample:?}"
            );
        }
    }
}
