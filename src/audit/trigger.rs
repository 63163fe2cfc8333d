//! The native audit trigger: turns a row change (or a TRUNCATE) of an audited table into an
//! audit record with row key, old/new row as jsonb, and the changed columns.
use super::writer::{self, output_text, AuditRecord};
use crate::error::{GeError, Kind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgMemoryContexts, PgRelation, PgTrigger, PgTriggerError};

/// One key attribute's value as a JSON fragment (numbers and booleans bare, the rest quoted).
fn json_value(typoid: pg_sys::Oid, datum: pg_sys::Datum) -> String {
    let text = output_text(typoid, datum);
    match typoid {
        pg_sys::BOOLOID => if text == "t" { "true" } else { "false" }.to_owned(),
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::OIDOID => text,
        pg_sys::NUMERICOID if text.parse::<f64>().is_ok_and(f64::is_finite) => text,
        _ => serde_json::Value::String(text).to_string(),
    }
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
fn row_jsonb_generic(rel: &PgRelation, tuple: *mut pg_sys::HeapTupleData) -> pg_sys::Datum {
    unsafe {
        let record = pg_sys::heap_copy_tuple_as_datum(tuple, rel.rd_att);
        pg_sys::FunctionCall1Coll(record_to_jsonb_call(), pg_sys::InvalidOid, record)
    }
}

/// Column types whose to_jsonb value can be built straight from the datum: integers become
/// numbers (to_jsonb prints and re-parses them as numeric), booleans booleans, and text,
/// varchar and char(n) strings of their stored bytes (their output functions copy them).
fn has_direct_jsonb(type_oid: pg_sys::Oid) -> bool {
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
            Kind::InvalidParameter,
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

/// The same jsonb as to_jsonb(row) for a table whose columns all pass `has_direct_jsonb`,
/// without printing and re-parsing every value.
fn row_jsonb_direct(rel: &PgRelation, row: &Deformed) -> pg_sys::Datum {
    unsafe {
        let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
        pg_sys::pushJsonbValue(
            &mut state,
            pg_sys::JsonbIteratorToken::WJB_BEGIN_OBJECT,
            std::ptr::null_mut(),
        );
        for (i, att) in rel.tuple_desc().iter().enumerate() {
            if att.is_dropped() {
                continue;
            }
            let name = att.name();
            let mut key = jsonb_string(name.as_ptr().cast(), name.len());
            pg_sys::pushJsonbValue(&mut state, pg_sys::JsonbIteratorToken::WJB_KEY, &mut key);
            let datum = row.values[i];
            let mut value = if row.nulls[i] {
                scalar(pg_sys::jbvType::jbvNull)
            } else {
                match att.type_oid().value() {
                    pg_sys::BOOLOID => {
                        let mut value = scalar(pg_sys::jbvType::jbvBool);
                        value.val.boolean = datum.value() != 0;
                        value
                    }
                    pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => {
                        let number = match att.type_oid().value() {
                            pg_sys::INT2OID => i64::from(datum.value() as i16),
                            pg_sys::INT4OID => i64::from(datum.value() as i32),
                            _ => datum.value() as i64,
                        };
                        let mut value = scalar(pg_sys::jbvType::jbvNumeric);
                        value.val.numeric = pg_sys::int64_to_numeric(number);
                        value
                    }
                    _ => {
                        let text = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                        jsonb_string(
                            pgrx::varlena::vardata_any(text),
                            pgrx::varlena::varsize_any_exhdr(text),
                        )
                    }
                }
            };
            pg_sys::pushJsonbValue(
                &mut state,
                pg_sys::JsonbIteratorToken::WJB_VALUE,
                &mut value,
            );
        }
        let object = pg_sys::pushJsonbValue(
            &mut state,
            pg_sys::JsonbIteratorToken::WJB_END_OBJECT,
            std::ptr::null_mut(),
        );
        pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(object))
    }
}

/// The row as jsonb, exactly as to_jsonb(row) makes it, built without JSON text.
fn row_jsonb(
    rel: &PgRelation,
    info: &TableInfo,
    tuple: *mut pg_sys::HeapTupleData,
    row: &Deformed,
) -> pg_sys::Datum {
    if info.direct_jsonb {
        row_jsonb_direct(rel, row)
    } else {
        row_jsonb_generic(rel, tuple)
    }
}

unsafe extern "C-unwind" {
    /// utils/datum.h: binary equality of two datums of one type (not in pgrx's bindings).
    fn datumIsEqual(
        value1: pg_sys::Datum,
        value2: pg_sys::Datum,
        by_value: bool,
        length: i32,
    ) -> bool;
}

/// Raw datums and null flags of a tuple, one per attribute of the relation.
struct Deformed {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

fn deform(rel: &PgRelation, tuple: *mut pg_sys::HeapTupleData) -> Deformed {
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

/// Names of the columns whose stored value differs (binary comparison, NULL-aware).
fn changed_columns(rel: &PgRelation, old: &Deformed, new: &Deformed) -> Vec<String> {
    let mut changed = Vec::new();
    for (i, att) in rel.tuple_desc().iter().enumerate() {
        if att.is_dropped() {
            continue;
        }
        let differs = match (old.nulls[i], new.nulls[i]) {
            (true, true) => false,
            (false, false) => !unsafe {
                pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| {
                    datumIsEqual(
                        old.values[i],
                        new.values[i],
                        att.attbyval,
                        att.attlen.into(),
                    )
                })
            },
            _ => true,
        };
        if differs {
            changed.push(att.name().to_owned());
        }
    }
    changed
}

/// The key columns of a row as a JSON object.
fn key_json(rel: &PgRelation, row: &Deformed, keys: &[(usize, String)]) -> String {
    let desc = rel.tuple_desc();
    let mut json = String::from("{");
    for (i, name) in keys {
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&serde_json::Value::String(name.clone()).to_string());
        json.push(':');
        match (row.nulls[*i], desc.get(*i)) {
            (false, Some(att)) => {
                json.push_str(&json_value(att.type_oid().value(), row.values[*i]))
            }
            _ => json.push_str("null"),
        }
    }
    json.push('}');
    json
}

/// (attribute index, name) of the primary key columns, else of the replica identity index.
pub fn key_columns(rel: &PgRelation) -> Vec<(usize, String)> {
    let desc = rel.tuple_desc();
    for kind in [
        pg_sys::IndexAttrBitmapKind::INDEX_ATTR_BITMAP_PRIMARY_KEY,
        pg_sys::IndexAttrBitmapKind::INDEX_ATTR_BITMAP_IDENTITY_KEY,
    ] {
        let bitmap = unsafe { pg_sys::RelationGetIndexAttrBitmap(rel.as_ptr(), kind) };
        let mut names = Vec::new();
        let mut member = -1;
        loop {
            member = unsafe { pg_sys::bms_next_member(bitmap, member) };
            if member < 0 {
                break;
            }
            let attnum = member + pg_sys::FirstLowInvalidHeapAttributeNumber;
            let index = (attnum - 1) as usize;
            if let Some(att) = desc.get(index) {
                names.push((index, att.name().to_owned()));
            }
        }
        if !names.is_empty() {
            return names;
        }
    }
    Vec::new()
}

pub fn qualified_name(rel: &PgRelation) -> String {
    format!(
        "{}.{}",
        pgrx::spi::quote_identifier(rel.namespace()),
        pgrx::spi::quote_identifier(rel.name())
    )
}

/// What the trigger needs to know about an audited table, cached per backend and forgotten
/// when the table's relcache entry is invalidated (ALTER TABLE, new key, rename).
struct TableInfo {
    name: String,
    keys: Vec<(usize, String)>,
    /// Every column has a type `row_jsonb_direct` handles.
    direct_jsonb: bool,
}

thread_local! {
    static TABLES: std::cell::RefCell<std::collections::HashMap<pg_sys::Oid, std::rc::Rc<TableInfo>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static TABLES_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[pg_guard]
unsafe extern "C-unwind" fn forget_table(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    TABLES.with_borrow_mut(|tables| {
        if relid == pg_sys::InvalidOid {
            tables.clear();
        } else {
            tables.remove(&relid);
        }
    });
}

fn table_info(rel: &PgRelation) -> std::rc::Rc<TableInfo> {
    if let Some(info) = TABLES.with_borrow(|tables| tables.get(&rel.oid()).cloned()) {
        return info;
    }
    if !TABLES_CALLBACK.replace(true) {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(forget_table), pg_sys::Datum::from(0usize))
        };
    }
    let info = std::rc::Rc::new(TableInfo {
        name: qualified_name(rel),
        keys: key_columns(rel),
        direct_jsonb: rel
            .tuple_desc()
            .iter()
            .all(|att| att.is_dropped() || has_direct_jsonb(att.type_oid().value())),
    });
    TABLES.with_borrow_mut(|tables| tables.insert(rel.oid(), info.clone()));
    info
}

#[pg_trigger]
fn audit_trigger<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let data = trigger.trigger_data();
    let rel = unsafe { PgRelation::from_pg(data.tg_relation) };
    let info = table_info(&rel);
    let table_name = Some(info.name.clone());
    let event = data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    if event == pg_sys::TRIGGER_EVENT_TRUNCATE {
        writer::write(AuditRecord::without_rows("TRUNCATE", table_name, None));
        return Ok(None);
    }
    if info.keys.is_empty() {
        GeError::new(
            Kind::PrerequisiteState,
            format!(
                "audited table {} has no primary key or replica identity index",
                table_name.as_deref().unwrap_or_default()
            ),
        )
        .hint(
            "Add a primary key, or ALTER TABLE ... REPLICA IDENTITY USING INDEX, before auditing.",
        )
        .raise();
    }
    let (op, old, new) = match event {
        pg_sys::TRIGGER_EVENT_INSERT => ("INSERT", None, Some(data.tg_trigtuple)),
        pg_sys::TRIGGER_EVENT_DELETE => ("DELETE", Some(data.tg_trigtuple), None),
        _ => ("UPDATE", Some(data.tg_trigtuple), Some(data.tg_newtuple)),
    };
    let old_values = old.map(|t| deform(&rel, t));
    let new_values = new.map(|t| deform(&rel, t));
    let changed = match (&old_values, &new_values) {
        (Some(o), Some(n)) => Some(changed_columns(&rel, o, n)),
        _ => None,
    };
    let key_source = old_values
        .as_ref()
        .or(new_values.as_ref())
        .expect("a row event has a row");
    writer::write(AuditRecord {
        op,
        table_name,
        row_key: Some(key_json(&rel, key_source, &info.keys)),
        old_row: old
            .zip(old_values.as_ref())
            .map(|(t, row)| row_jsonb(&rel, &info, t, row)),
        new_row: new
            .zip(new_values.as_ref())
            .map(|(t, row)| row_jsonb(&rel, &info, t, row)),
        changed_columns: changed,
        statement: None,
    });
    Ok(None)
}
