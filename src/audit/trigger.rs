//! The native audit trigger: turns a row change (or a TRUNCATE) of an audited table into an
//! audit record with row key, old/new row as jsonb, and the changed columns.
use super::output_settings::with_canonical_output;
use super::row_json::{self, Deformed, ImagePath};
use super::writer::{self, AuditRecord};
use crate::error::{GeError, Kind};
use crate::pg_internals::datum_image_eq;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgRelation, PgTrigger, PgTriggerError};

/// Whether two values of a column are the same value. Identical stored bytes are compared in
/// place (datumIsEqual, utils/adt/datum.c); varlena values whose stored forms differ are
/// compared as datum_image_eq does, detoasted: the toaster may compress or move an unchanged
/// value, and a column added with a default stores it with another header than a new row.
///
/// # Safety
/// `a` and `b` are non-NULL values of the column `att` describes, deformed from live tuples
/// with the relation's own descriptor (so by-reference values point at readable data).
unsafe fn same_stored_value(
    att: &pg_sys::FormData_pg_attribute,
    a: pg_sys::Datum,
    b: pg_sys::Datum,
) -> bool {
    if att.attbyval {
        return a == b;
    }
    // SAFETY: the caller's guarantee; datum_image_eq (see pg_internals) detoasts varlena values
    // in the current memory context, and an error it raises crosses the guard as a panic.
    same_stored_bytes(att, a, b)
        || (att.attlen == -1
            && pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| datum_image_eq(a, b, false, -1)))
}

/// datumIsEqual for by-reference values: the same size (VARSIZE_ANY for varlena, without
/// detoasting) and contents.
///
/// # Safety
/// As for `same_stored_value`, and `att` is by reference (`attbyval` false): `a` and `b` point at
/// a varlena (attlen -1), a C string (-2) or `attlen` readable bytes.
unsafe fn same_stored_bytes(
    att: &pg_sys::FormData_pg_attribute,
    a: pg_sys::Datum,
    b: pg_sys::Datum,
) -> bool {
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
            // SAFETY: both values are non-NULL, deformed from the trigger's tuples with the
            // relation's descriptor, whose attribute `att` is.
            (false, false) => !unsafe { same_stored_value(att, old.values[i], new.values[i]) },
            _ => true,
        };
        if differs {
            changed.push(super::name_bytes(&att.attname).to_vec());
        }
    }
    changed
}

/// Attribute indexes of the primary key columns (deferrable or not), else of the replica
/// identity index.
pub fn key_columns(rel: &PgRelation) -> Vec<usize> {
    let primary = primary_key_columns(rel);
    if !primary.is_empty() {
        return primary;
    }
    let desc = rel.tuple_desc();
    // SAFETY: an open relation; the result is NULL (no identity key) or a palloc'd bitmapset.
    let bitmap = unsafe {
        pg_sys::RelationGetIndexAttrBitmap(
            rel.as_ptr(),
            pg_sys::IndexAttrBitmapKind::INDEX_ATTR_BITMAP_IDENTITY_KEY,
        )
    };
    let mut columns = Vec::new();
    let mut member = -1;
    loop {
        // SAFETY: `bitmap` is NULL or the bitmapset returned above, alive in this context.
        member = unsafe { pg_sys::bms_next_member(bitmap, member) };
        if member < 0 {
            break;
        }
        let index = (member + pg_sys::FirstLowInvalidHeapAttributeNumber - 1) as usize;
        if desc.get(index).is_some() {
            columns.push(index);
        }
    }
    columns
}

/// The primary key's columns in key order, read from the index itself: the relcache's key
/// bitmap leaves out a DEFERRABLE primary key.
fn primary_key_columns(rel: &PgRelation) -> Vec<usize> {
    let mut columns = Vec::new();
    // SAFETY: the relation is open; RelationGetIndexList returns a palloc'd copy of its index
    // OID list (freed below), and each index is opened, read through its rd_index (indkey has
    // indnkeyatts entries) and closed again with the lock it was opened with.
    unsafe {
        let indexes = pg_sys::RelationGetIndexList(rel.as_ptr());
        for oid in super::list_oids(indexes) {
            let index = pg_sys::index_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            let form = (*index).rd_index;
            if (*form).indisprimary {
                let keys = (*form).indkey.values.as_slice((*form).indnkeyatts as usize);
                columns = keys.iter().map(|&attnum| (attnum - 1) as usize).collect();
            }
            pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            if !columns.is_empty() {
                break;
            }
        }
        pg_sys::list_free(indexes);
    }
    columns
}

/// `schema.table`, each quoted as needed, from the names as stored (server encoding).
pub fn qualified_name(rel: &PgRelation) -> Vec<u8> {
    let namespace = super::namespace_name(rel).unwrap_or_else(|| {
        GeError::new(
            Kind::UndefinedObject,
            "the schema of an audited table no longer exists",
        )
        .raise()
    });
    // SAFETY: both names are NUL-terminated (a CString, and rd_rel's NameData of an open
    // relation); quote_identifier returns its argument or a palloc'd quoted copy.
    unsafe {
        let quoted = |name: *const std::ffi::c_char| {
            std::ffi::CStr::from_ptr(pg_sys::quote_identifier(name))
                .to_bytes()
                .to_vec()
        };
        let mut name = quoted(namespace.as_ptr());
        name.push(b'.');
        name.extend(quoted((*rel.rd_rel).relname.data.as_ptr()));
        name
    }
}

/// What the trigger needs to know about an audited table, cached per backend and forgotten
/// when the table's relcache entry is invalidated (ALTER TABLE, new key, rename).
struct TableInfo {
    name: Vec<u8>,
    /// Attribute indexes of the key columns.
    keys: Vec<usize>,
    /// How its rows become jsonb.
    image_path: ImagePath,
}

thread_local! {
    static TABLES: std::cell::RefCell<std::collections::HashMap<pg_sys::Oid, std::rc::Rc<TableInfo>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static TABLES_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Bumped by every invalidation: an entry built while one arrived is not kept.
    static TABLES_GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Relcache invalidation callback: forgets the table (all of them for a full reset, or when the
/// relation is a composite type some table's image path looked into).
///
/// # Safety
/// Called only by PostgreSQL's invalidation machinery, with which `table_info` registers it; it
/// touches nothing but this backend's thread-local cache.
#[pg_guard]
unsafe extern "C-unwind" fn forget_table(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    TABLES_GENERATION.set(TABLES_GENERATION.get() + 1);
    TABLES.with_borrow_mut(|tables| {
        if relid == pg_sys::InvalidOid || row_json::is_composite_seen(relid) {
            tables.clear();
        } else {
            tables.remove(&relid);
        }
    });
}

/// Syscache invalidation callback (pg_namespace, pg_cast): forgets every table.
///
/// # Safety
/// As for `forget_table`.
#[pg_guard]
unsafe extern "C-unwind" fn forget_all_tables(
    _arg: pg_sys::Datum,
    _cache_id: std::ffi::c_int,
    _hash_value: u32,
) {
    TABLES_GENERATION.set(TABLES_GENERATION.get() + 1);
    TABLES.with_borrow_mut(|tables| tables.clear());
}

fn table_info(rel: &PgRelation) -> std::rc::Rc<TableInfo> {
    if let Some(info) = TABLES.with_borrow(|tables| tables.get(&rel.oid()).cloned()) {
        return info;
    }
    if !TABLES_CALLBACK.replace(true) {
        // SAFETY: registered once per backend; the callbacks are #[pg_guard] functions that
        // only clear this backend's cache.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(forget_table), pg_sys::Datum::from(0usize));
            // a schema rename does not touch the relcache entries of its tables
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::NAMESPACEOID as std::ffi::c_int,
                Some(forget_all_tables),
                pg_sys::Datum::from(0usize),
            );
            // nor does a cast to json created (or dropped) for a type a table uses, which
            // decides whether its images may come from to_jsonb (ImagePath::Text)
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::CASTSOURCETARGET as std::ffi::c_int,
                Some(forget_all_tables),
                pg_sys::Datum::from(0usize),
            );
        }
    }
    let generation = TABLES_GENERATION.get();
    let info = std::rc::Rc::new(TableInfo {
        name: qualified_name(rel),
        keys: key_columns(rel),
        image_path: ImagePath::of(rel),
    });
    // the lookups above may have processed invalidations (a rename committed meanwhile): such
    // an entry serves this row only, and the next one is built afresh
    if TABLES_GENERATION.get() == generation {
        TABLES.with_borrow_mut(|tables| tables.insert(rel.oid(), info.clone()));
    }
    info
}

/// The trigger works only as enable_audit attaches it: AFTER ... FOR EACH ROW on INSERT, UPDATE
/// or DELETE, and AFTER TRUNCATE FOR EACH STATEMENT. Attached any other way (anyone may name
/// the function in CREATE TRIGGER on their own table) it refuses to run: a statement-level
/// INSERT has no row to read, and a BEFORE trigger returning no row would cancel the change.
fn refuse_other_uses(data: &pg_sys::TriggerData) {
    let event = data.tg_event;
    let op = event & pg_sys::TRIGGER_EVENT_OPMASK;
    let after = event & pg_sys::TRIGGER_EVENT_TIMINGMASK == pg_sys::TRIGGER_EVENT_AFTER;
    let for_row = event & pg_sys::TRIGGER_EVENT_ROW != 0;
    let expected = after
        && if op == pg_sys::TRIGGER_EVENT_TRUNCATE {
            !for_row
        } else {
            for_row
        };
    if !expected {
        GeError::new(
            Kind::TriggerProtocol,
            "ge_security.audit_trigger() must be fired AFTER ... FOR EACH ROW on INSERT, UPDATE \
             or DELETE, or AFTER TRUNCATE FOR EACH STATEMENT",
        )
        .hint("Attach it with SELECT ge_security.enable_audit('table'), not CREATE TRIGGER.")
        .raise();
    }
}

/// The columns enable_audit's `exclude` named: the trigger's arguments.
fn excluded_columns(data: &pg_sys::TriggerData) -> Vec<&[u8]> {
    // SAFETY: tg_trigger is the firing trigger's descriptor; tgargs holds tgnargs NUL-terminated
    // strings that live as long as the relation's trigger descriptor (the whole call).
    unsafe {
        let trigger = &*data.tg_trigger;
        (0..trigger.tgnargs as usize)
            .map(|i| std::ffi::CStr::from_ptr(*trigger.tgargs.add(i)).to_bytes())
            .collect()
    }
}

/// The image with the excluded columns' values replaced by `"sha256:<hex>"` of their text.
fn digests_only(image: writer::StoredJsonb, excluded: &[&[u8]]) -> writer::StoredJsonb {
    let Some(members) = super::image::members(&image.text) else {
        return image;
    };
    if !members.iter().any(|m| excluded.contains(&&m.key[..])) {
        return image;
    }
    let text = super::image::object_text(members.into_iter().map(|m| {
        let value = if excluded.contains(&&m.key[..]) {
            std::borrow::Cow::Owned(super::image::excluded_value(m.value))
        } else {
            std::borrow::Cow::Borrowed(m.value)
        };
        (m.printed_key, value)
    }));
    writer::jsonb_from_text(&text)
}

#[pg_trigger]
fn audit_trigger<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let data = trigger.trigger_data();
    refuse_other_uses(data);
    // SAFETY: tg_relation is the relation the trigger fired on, open and locked by the executor
    // for as long as the trigger runs.
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
                String::from_utf8_lossy(&info.name)
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
    let build_images = |path: ImagePath| {
        (
            row_json::key_image(&rel, path, key_source, &info.keys),
            old.zip(old_values.as_ref())
                .map(|(t, row)| row_json::row_image(&rel, path, t, row)),
            new.zip(new_values.as_ref())
                .map(|(t, row)| row_json::row_image(&rel, path, t, row)),
        )
    };
    // direct images hold integers, booleans and text: no setting changes how they print
    let (row_key, old_row, new_row) = if info.image_path == ImagePath::Direct {
        build_images(ImagePath::Direct)
    } else {
        with_canonical_output(|| {
            let generation = TABLES_GENERATION.get();
            let images = build_images(info.image_path);
            // to_jsonb's own catalog lookups may have taken in a cast to json created since
            // the image path was chosen (and called it): such images are not recorded
            let path_now = if TABLES_GENERATION.get() == generation {
                info.image_path
            } else {
                ImagePath::of(&rel)
            };
            if path_now == ImagePath::Text && info.image_path != ImagePath::Text {
                build_images(ImagePath::Text)
            } else {
                images
            }
        })
    };
    let excluded = excluded_columns(data);
    let (old_row, new_row) = if excluded.is_empty() {
        (old_row, new_row)
    } else {
        (
            old_row.map(|image| digests_only(image, &excluded)),
            new_row.map(|image| digests_only(image, &excluded)),
        )
    };
    super::batch::add(AuditRecord {
        op,
        table_name,
        row_key: Some(row_key),
        old_row,
        new_row,
        changed_columns: changed,
        statement: None,
    });
    Ok(None)
}
