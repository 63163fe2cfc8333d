//! The native audit trigger: turns a row change (or a TRUNCATE) of an audited table into an
//! audit record with row key, old/new row as JSON, and the changed columns.
use super::writer::{self, output_text, AuditRecord};
use crate::error::{GeError, Kind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgRelation, PgTrigger, PgTriggerError};

/// One attribute's value as a JSON fragment, with the text used to detect changes.
fn json_value(typoid: pg_sys::Oid, datum: pg_sys::Datum) -> String {
    let text = output_text(typoid, datum);
    match typoid {
        pg_sys::BOOLOID => if text == "t" { "true" } else { "false" }.to_owned(),
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::OIDOID => text,
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID | pg_sys::NUMERICOID
            if text.parse::<f64>().is_ok_and(f64::is_finite) =>
        {
            text
        }
        pg_sys::JSONOID | pg_sys::JSONBOID => text,
        _ => serde_json::Value::String(text).to_string(),
    }
}

/// A heap tuple deformed into (name, JSON value or None for NULL) per live attribute.
fn deform(rel: &PgRelation, tuple: *mut pg_sys::HeapTupleData) -> Vec<(String, Option<String>)> {
    let desc = rel.tuple_desc();
    let natts = desc.len();
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![false; natts];
    unsafe {
        pg_sys::heap_deform_tuple(
            tuple,
            desc.as_ptr(),
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
        )
    };
    let mut columns = Vec::with_capacity(natts);
    for (i, att) in desc.iter().enumerate() {
        if att.is_dropped() {
            continue;
        }
        let value = (!nulls[i]).then(|| json_value(att.type_oid().value(), values[i]));
        columns.push((att.name().to_owned(), value));
    }
    columns
}

fn to_json(columns: &[(String, Option<String>)], keep: impl Fn(&str) -> bool) -> String {
    let mut json = String::from("{");
    for (name, value) in columns.iter().filter(|(name, _)| keep(name)) {
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&serde_json::Value::String(name.clone()).to_string());
        json.push(':');
        json.push_str(value.as_deref().unwrap_or("null"));
    }
    json.push('}');
    json
}

/// Column names of the primary key, else of the replica identity index.
pub fn key_columns(rel: &PgRelation) -> Vec<String> {
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
            if let Some(att) = desc.get((attnum - 1) as usize) {
                names.push(att.name().to_owned());
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

#[pg_trigger]
fn audit_trigger<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let data = trigger.trigger_data();
    let rel = unsafe { PgRelation::from_pg(data.tg_relation) };
    let table_name = Some(qualified_name(&rel));
    let event = data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    if event == pg_sys::TRIGGER_EVENT_TRUNCATE {
        writer::write(AuditRecord {
            op: "TRUNCATE",
            table_name,
            row_key: None,
            old_row: None,
            new_row: None,
            changed_columns: None,
            statement: None,
        });
        return Ok(None);
    }
    let keys = key_columns(&rel);
    if keys.is_empty() {
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
    let is_key = |name: &str| keys.iter().any(|k| k == name);
    let (op, old, new) = match event {
        pg_sys::TRIGGER_EVENT_INSERT => ("INSERT", None, Some(deform(&rel, data.tg_trigtuple))),
        pg_sys::TRIGGER_EVENT_DELETE => ("DELETE", Some(deform(&rel, data.tg_trigtuple)), None),
        _ => (
            "UPDATE",
            Some(deform(&rel, data.tg_trigtuple)),
            Some(deform(&rel, data.tg_newtuple)),
        ),
    };
    let changed_columns = match (&old, &new) {
        (Some(old), Some(new)) => Some(
            old.iter()
                .zip(new.iter())
                .filter(|(o, n)| o.1 != n.1)
                .map(|(o, _)| o.0.clone())
                .collect(),
        ),
        _ => None,
    };
    let key_source = old
        .as_ref()
        .or(new.as_ref())
        .expect("a row event has a row");
    writer::write(AuditRecord {
        op,
        table_name,
        row_key: Some(to_json(key_source, is_key)),
        old_row: old.as_ref().map(|c| to_json(c, |_| true)),
        new_row: new.as_ref().map(|c| to_json(c, |_| true)),
        changed_columns,
        statement: None,
    });
    Ok(None)
}
