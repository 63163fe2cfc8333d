//! The native audit trigger: turns a row change (or a TRUNCATE) of an audited table into an
//! audit record with row key, old/new row as jsonb, and the changed columns.
use super::row_json::{self, Deformed};
use super::writer::{self, AuditRecord};
use crate::error::{GeError, Kind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgRelation, PgTrigger, PgTriggerError};

/// datumIsEqual (utils/adt/datum.c): the same stored bytes. By-value datums compare as words,
/// others by their size (VARSIZE_ANY for varlena, without detoasting) and contents.
unsafe fn same_stored_value(
    att: &pg_sys::FormData_pg_attribute,
    a: pg_sys::Datum,
    b: pg_sys::Datum,
) -> bool {
    if att.attbyval {
        return a == b;
    }
    let size = |datum: pg_sys::Datum| -> usize {
        let ptr = datum.cast_mut_ptr::<u8>();
        match att.attlen {
            -1 => pgrx::varlena::varsize_any(ptr.cast()),
            -2 => std::ffi::CStr::from_ptr(ptr.cast())
                .to_bytes_with_nul()
                .len(),
            len => len as usize,
        }
    };
    let (size_a, size_b) = (size(a), size(b));
    size_a == size_b
        && std::slice::from_raw_parts(a.cast_mut_ptr::<u8>(), size_a)
            == std::slice::from_raw_parts(b.cast_mut_ptr::<u8>(), size_b)
}

/// Names of the columns whose stored value differs (binary comparison, NULL-aware).
fn changed_columns(rel: &PgRelation, old: &Deformed, new: &Deformed) -> Vec<Vec<u8>> {
    let mut changed = Vec::new();
    for (i, att) in rel.tuple_desc().iter().enumerate() {
        if att.is_dropped() {
            continue;
        }
        let differs = match (old.nulls[i], new.nulls[i]) {
            (true, true) => false,
            (false, false) => !unsafe { same_stored_value(att, old.values[i], new.values[i]) },
            _ => true,
        };
        if differs {
            changed.push(super::name_bytes(&att.attname).to_vec());
        }
    }
    changed
}

/// Attribute indexes of the primary key columns, else of the replica identity index.
pub fn key_columns(rel: &PgRelation) -> Vec<usize> {
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
            if desc.get(index).is_some() {
                names.push(index);
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
    /// Attribute indexes of the key columns.
    keys: Vec<usize>,
    /// Every column has a type `row_json` builds directly.
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
            .all(|att| att.is_dropped() || row_json::has_direct_jsonb(att.type_oid().value())),
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
    let old_values = old.map(|t| row_json::deform(&rel, t));
    let new_values = new.map(|t| row_json::deform(&rel, t));
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
        row_key: Some(row_json::key_image(
            &rel,
            info.direct_jsonb,
            key_source,
            &info.keys,
        )),
        old_row: old
            .zip(old_values.as_ref())
            .map(|(t, row)| row_json::row_image(&rel, info.direct_jsonb, t, row)),
        new_row: new
            .zip(new_values.as_ref())
            .map(|(t, row)| row_json::row_image(&rel, info.direct_jsonb, t, row)),
        changed_columns: changed,
        statement: None,
    });
    Ok(None)
}
