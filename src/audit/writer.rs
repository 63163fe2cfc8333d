//! Writes one audit_log row natively: allocates its id under the horizon, hashes the
//! canonical encoding of what is stored, and inserts the tuple without SQL (no grants needed).
use super::horizon;
use super::image;
use super::record::{self, Field, Record};
use crate::canonical::ROW_ENCODING_V2;
use crate::error::{GeError, Kind};
use crate::gucs;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use std::ffi::{CStr, CString};

/// A jsonb value to store and its text output (jsonb_out), which is what the row hash covers.
pub struct StoredJsonb {
    pub datum: pg_sys::Datum,
    pub text: Vec<u8>,
}

/// What a caller knows about a change; the writer adds who, when and the id.
pub struct AuditRecord {
    pub op: &'static str,
    /// The quoted, schema-qualified name as stored (server encoding).
    pub table_name: Option<Vec<u8>>,
    pub row_key: Option<StoredJsonb>,
    pub old_row: Option<StoredJsonb>,
    pub new_row: Option<StoredJsonb>,
    /// Column names as stored (server encoding).
    pub changed_columns: Option<Vec<Vec<u8>>>,
    pub statement: Option<Vec<u8>>,
}

impl AuditRecord {
    /// A record without row data: TRUNCATE, or a DDL row with its statement.
    pub fn without_rows(
        op: &'static str,
        table_name: Option<Vec<u8>>,
        statement: Option<Vec<u8>>,
    ) -> Self {
        AuditRecord {
            op,
            table_name,
            row_key: None,
            old_row: None,
            new_row: None,
            changed_columns: None,
            statement,
        }
    }
}

fn relation_oid(namespace: pg_sys::Oid, name: &CStr) -> pg_sys::Oid {
    // SAFETY: a syscache lookup by a NUL-terminated name, inside the writing transaction;
    // InvalidOid when there is no such relation.
    let oid = unsafe { pg_sys::get_relname_relid(name.as_ptr(), namespace) };
    if oid == pg_sys::InvalidOid {
        GeError::new(
            Kind::PrerequisiteState,
            "the ge_security audit tables are missing",
        )
        .hint("CREATE EXTENSION ge_security in this database.")
        .raise();
    }
    oid
}

/// Where the writer puts its rows: audit_log and its id sequence.
#[derive(Clone, Copy)]
struct Trail {
    log: pg_sys::Oid,
    sequence: pg_sys::Oid,
}

thread_local! {
    /// The trail of this database, forgotten on any relcache invalidation of audit_log or its
    /// sequence (or a full reset), e.g. when the extension is dropped and created again.
    static TRAIL: std::cell::Cell<Option<Trail>> = const { std::cell::Cell::new(None) };
    static TRAIL_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Relcache invalidation callback: forgets the cached trail when audit_log or its sequence (or
/// every relation) is invalidated.
///
/// # Safety
/// Called only by PostgreSQL's invalidation machinery, with which `trail` registers it; it
/// touches nothing but this backend's thread-local cache.
#[pg_guard]
unsafe extern "C-unwind" fn forget_trail(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    if let Some(trail) = TRAIL.get() {
        if relid == pg_sys::InvalidOid || relid == trail.log || relid == trail.sequence {
            TRAIL.set(None);
        }
    }
}

fn trail() -> Trail {
    if let Some(trail) = TRAIL.get() {
        return trail;
    }
    if !TRAIL_CALLBACK.replace(true) {
        // SAFETY: registered once per backend (the flag above); the callback is a #[pg_guard]
        // function that only clears this backend's cache.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(forget_trail), pg_sys::Datum::from(0usize))
        };
    }
    // SAFETY: a syscache lookup by a NUL-terminated literal; InvalidOid when missing (missing_ok).
    let namespace = unsafe { pg_sys::get_namespace_oid(c"ge_security".as_ptr(), true) };
    if namespace == pg_sys::InvalidOid {
        GeError::new(Kind::PrerequisiteState, "the ge_security schema is missing")
            .hint("CREATE EXTENSION ge_security in this database.")
            .raise();
    }
    let trail = Trail {
        log: relation_oid(namespace, c"audit_log"),
        sequence: relation_oid(namespace, c"audit_log_id_seq"),
    };
    TRAIL.set(Some(trail));
    trail
}

/// The trail's id sequence (cached, as for the writer).
pub fn trail_sequence() -> pg_sys::Oid {
    trail().sequence
}

/// Columns a trail of release 0.1.0 lacks (added by `ALTER EXTENSION ge_security UPDATE`).
const ADDED_IN_0_2_0: usize = 2;

/// Where each of the writer's values goes in the tuples of the open audit_log (None: a column
/// the table does not have yet), read from the relation as locked for this insert (so no cached
/// shape can be stale). A trail whose live columns are not exactly the expected ones (added,
/// dropped or retyped) is refused: audited writes fail rather than land misaligned. The one
/// exception is the shape of release 0.1.0 (without `hash_version` and `redacted`), between
/// installing this library and `ALTER EXTENSION ge_security UPDATE`: rows are then written as
/// 0.1.0 wrote them, hashed under v1.
fn trail_positions(log: &pgrx::PgRelation) -> [Option<usize>; record::COUNT] {
    let desc = log.tuple_desc();
    let mut positions = [None; record::COUNT];
    let mut live = 0;
    let mut matches = true;
    for (i, att) in desc.iter().enumerate().filter(|(_, att)| !att.is_dropped()) {
        let name = super::name_bytes(&att.attname);
        match record::COLUMNS.get(live) {
            Some(want) if name == want.name.as_bytes() && att.atttypid == want.type_oid => {
                positions[live] = Some(i);
            }
            _ => matches = false,
        }
        live += 1;
    }
    if !matches || (live != record::COUNT && live != record::COUNT - ADDED_IN_0_2_0) {
        GeError::new(
            Kind::PrerequisiteState,
            "ge_security.audit_log does not have the columns the audit writer expects",
        )
        .detail(format!(
            "Its columns are: {}.",
            desc.iter()
                .filter(|att| !att.is_dropped())
                .map(|att| String::from_utf8_lossy(super::name_bytes(&att.attname)).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("Audited changes are refused until the table is restored to the extension's definition.")
        .raise();
    }
    positions
}

/// The text output of a datum as its bytes (in the server encoding, which need not be UTF-8).
pub fn output_bytes(typoid: pg_sys::Oid, datum: pg_sys::Datum) -> Vec<u8> {
    // SAFETY: `datum` is a non-NULL value of type `typoid` (the caller's tuple, deformed with its
    // own descriptor); the output function returns a palloc'd NUL-terminated string in the
    // current memory context, copied and freed here.
    unsafe {
        let mut func = pg_sys::InvalidOid;
        let mut varlena = false;
        pg_sys::getTypeOutputInfo(typoid, &mut func, &mut varlena);
        let text = pg_sys::OidOutputFunctionCall(func, datum);
        let bytes = CStr::from_ptr(text).to_bytes().to_vec();
        pg_sys::pfree(text.cast());
        bytes
    }
}

/// The non-empty value of the setting `name`, if any (no copy of the name on this hot path).
/// A setting hidden from ordinary roles (GUC_SUPERUSER_ONLY, such as ge_security.keyring_path
/// or data_directory: readable only by superusers and pg_read_all_settings) is never copied into
/// the trail, whoever writes: the trail is read by auditors, and the actor column would
/// otherwise depend on who wrote. Such an actor setting records NULL.
fn setting(name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: name is a NUL-terminated string; an unknown setting gives 0 (missing_ok).
    let flags = unsafe { pg_sys::GetConfigOptionFlags(name.as_ptr(), true) };
    if flags & pg_sys::GUC_SUPERUSER_ONLY as std::ffi::c_int != 0 {
        return None;
    }
    // SAFETY: as above; NULL when the setting does not exist.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a non-NULL value of a setting is a NUL-terminated string owned by the GUC
    // machinery, unchanged while this statement runs; it is copied before returning.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    (!bytes.is_empty()).then(|| bytes.to_vec())
}

/// The session's non-empty application_name, read from the setting's own variable.
fn application_name() -> Option<Vec<u8>> {
    // SAFETY: reads the backend's own GUC variable (a C string pointer, NULL or NUL-terminated).
    let value = unsafe { pg_sys::application_name };
    if value.is_null() {
        return None;
    }
    // SAFETY: non-NULL, so a NUL-terminated string the GUC machinery owns; copied at once.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    (!bytes.is_empty()).then(|| bytes.to_vec())
}

thread_local! {
    /// Role names by oid, forgotten whenever pg_authid changes (a rename must show at once).
    static ROLE_NAMES: std::cell::RefCell<std::collections::HashMap<pg_sys::Oid, std::rc::Rc<[u8]>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static ROLE_NAMES_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Syscache invalidation callback for pg_authid: forgets every cached role name.
///
/// # Safety
/// Called only by PostgreSQL's invalidation machinery, with which `role_name` registers it; it
/// touches nothing but this backend's thread-local cache.
#[pg_guard]
unsafe extern "C-unwind" fn forget_role_names(
    _arg: pg_sys::Datum,
    _cache_id: std::ffi::c_int,
    _hash_value: u32,
) {
    ROLE_NAMES.with_borrow_mut(|names| names.clear());
}

/// A role's name as stored (server encoding), cached.
fn role_name(oid: pg_sys::Oid) -> std::rc::Rc<[u8]> {
    if let Some(name) = ROLE_NAMES.with_borrow(|names| names.get(&oid).cloned()) {
        return name;
    }
    if !ROLE_NAMES_CALLBACK.replace(true) {
        // SAFETY: registered once per backend (the flag above); the callback is a #[pg_guard]
        // function that only clears this backend's cache.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::AUTHOID as std::ffi::c_int,
                Some(forget_role_names),
                pg_sys::Datum::from(0usize),
            )
        };
    }
    // SAFETY: a syscache lookup by oid (noerr: NULL for a dropped role); the result is a
    // palloc'd NUL-terminated copy, read and copied below.
    let found = unsafe { pg_sys::GetUserNameFromId(oid, true) };
    let name: std::rc::Rc<[u8]> = if found.is_null() {
        format!("oid {}", u32::from(oid)).into_bytes().into()
    } else {
        // SAFETY: non-NULL, a NUL-terminated string from GetUserNameFromId.
        unsafe { CStr::from_ptr(found) }.to_bytes().into()
    };
    ROLE_NAMES.with_borrow_mut(|names| names.insert(oid, name.clone()));
    name
}

thread_local! {
    /// The client address, constant for the session's life (None over a Unix socket): the inet
    /// datum stored, kept in TopMemoryContext, and its text, which is hashed.
    static CLIENT_ADDR: std::cell::OnceCell<Option<(pg_sys::Datum, std::rc::Rc<[u8]>)>> =
        const { std::cell::OnceCell::new() };
}

fn client_addr() -> Option<(pg_sys::Datum, std::rc::Rc<[u8]>)> {
    CLIENT_ADDR.with(|cell| {
        // SAFETY: inet_client_addr takes no arguments and reads the session's MyProcPort; its
        // result is allocated in TopMemoryContext, so the cached datum lives as long as the
        // session (the only place it is kept).
        cell.get_or_init(|| unsafe {
            PgMemoryContexts::TopMemoryContext
                .switch_to(|_| pgrx::direct_function_call_as_datum(pg_sys::inet_client_addr, &[]))
                .map(|datum| (datum, output_bytes(pg_sys::INETOID, datum).into()))
        })
        .clone()
    })
}

/// A jsonb datum with its jsonb_out text, called directly (no type lookup on the hot path).
pub fn jsonb_with_text(jsonb: pg_sys::Datum) -> StoredJsonb {
    // SAFETY: `jsonb` is a valid jsonb datum (built by to_jsonb, jsonb_in or jsonb_flat in this
    // memory context); jsonb_out returns a palloc'd NUL-terminated string, copied and freed.
    unsafe {
        let text = pgrx::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(jsonb)])
            .expect("jsonb_out never returns NULL");
        let bytes = CStr::from_ptr(text.cast_mut_ptr()).to_bytes().to_vec();
        pg_sys::pfree(text.cast_mut_ptr());
        StoredJsonb {
            datum: jsonb,
            text: bytes,
        }
    }
}

/// A text datum of bytes in the server encoding (no UTF-8 round trip).
fn text_datum(bytes: &[u8]) -> pg_sys::Datum {
    // SAFETY: copies `bytes.len()` readable bytes into a new palloc'd text in the current memory
    // context; values are far below 1 GB, so the length fits an i32.
    unsafe {
        pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
            bytes.as_ptr().cast(),
            bytes.len() as i32,
        ))
    }
}

/// A text[] of the given byte strings (server encoding).
fn text_array(elements: &[Vec<u8>]) -> pg_sys::Datum {
    // SAFETY: construct_array copies `datums.len()` text datums (palloc'd just above) into a
    // new palloc'd one-dimensional text[]; the element type's length, by-value flag and
    // alignment are text's (-1, false, 'i').
    unsafe {
        let mut datums: Vec<pg_sys::Datum> = elements.iter().map(|e| text_datum(e)).collect();
        pg_sys::Datum::from(pg_sys::construct_array(
            datums.as_mut_ptr(),
            datums.len() as i32,
            pg_sys::TEXTOID,
            -1,
            false,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        ))
    }
}

/// What array_out prints for a one-dimensional text[] without NULLs: elements that are empty,
/// spell NULL, or hold a quote, backslash, brace, comma or white space are double-quoted with
/// quotes and backslashes escaped.
pub fn text_array_text(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + elements.iter().map(|e| e.len() + 3).sum::<usize>());
    out.push(b'{');
    for (n, element) in elements.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let bytes = element.as_slice();
        let needs_quotes = bytes.is_empty()
            || bytes.eq_ignore_ascii_case(b"NULL")
            || bytes.iter().any(|b| {
                matches!(
                    b,
                    b'"' | b'\\' | b'{' | b'}' | b',' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
                )
            });
        if !needs_quotes {
            out.extend_from_slice(bytes);
            continue;
        }
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b'}');
    out
}

/// Parse JSON text into jsonb (jsonb_in), with the text jsonb_out gives back.
pub fn jsonb_from_text(json: &[u8]) -> StoredJsonb {
    let cstring = CString::new(json).unwrap_or_else(|_| {
        GeError::new(Kind::InvalidParameter, "audited value contains a NUL byte").raise()
    });
    // SAFETY: jsonb_in reads a NUL-terminated string that outlives the call and returns a
    // palloc'd jsonb (a syntax error is raised as a PostgreSQL ERROR, never returned).
    let datum = unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::jsonb_in,
            &[Some(pg_sys::Datum::from(cstring.as_ptr()))],
        )
        .expect("jsonb_in never returns NULL")
    };
    jsonb_with_text(datum)
}

/// `ExecInsertIndexTuples` for an insert: PostgreSQL 16 added `onlySummarizing` (for HOT
/// updates; an insert updates every index, so false).
macro_rules! exec_insert_index_tuples {
    ($($arg:expr),+) => {{
        #[cfg(feature = "pg15")]
        let list = pg_sys::ExecInsertIndexTuples($($arg),+);
        #[cfg(not(feature = "pg15"))]
        let list = pg_sys::ExecInsertIndexTuples($($arg),+, false);
        list
    }};
}

/// Heap insert plus maintenance of every index on the trail, without the executor's plan,
/// permission checks or triggers (the guard triggers that refuse SQL writes to audit_log do not
/// fire for the trail's own writer). One tuple goes through `simple_heap_insert`, several
/// through `heap_multi_insert` (fewer page locks and WAL records); the indexes are opened once
/// for all of them. Indexes a DBA adds for queries work too, expression and partial ones
/// included; a deferrable unique index, which would need a recheck at commit, is refused rather
/// than left unchecked.
///
/// # Safety
/// `rel` is audit_log, opened and locked with RowExclusiveLock by the caller and kept open until
/// this returns; every tuple was formed with `rel`'s own tuple descriptor. Runs inside a
/// transaction and allocates in the current memory context (the executor state and the slots
/// are freed before returning).
unsafe fn insert_with_indexes(rel: pg_sys::Relation, tuples: &[pg_sys::HeapTuple]) {
    let mut slots: Vec<*mut pg_sys::TupleTableSlot> = Vec::with_capacity(tuples.len());
    if let [tuple] = tuples {
        pg_sys::simple_heap_insert(rel, *tuple);
        let slot = pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple);
        // Stored after the heap insert, so the slot carries the new tuple's TID.
        pg_sys::ExecStoreHeapTuple(*tuple, slot, false);
        slots.push(slot);
    } else {
        // The slots share an unpinned copy of the descriptor: slots made with the relation's
        // own (reference-counted) descriptor would each pin it in the resource owner, whose
        // bookkeeping then dominates a batch's cost.
        let desc = pg_sys::CreateTupleDescCopy((*rel).rd_att);
        for &tuple in tuples {
            let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsHeapTuple);
            pg_sys::ExecStoreHeapTuple(tuple, slot, false);
            slots.push(slot);
        }
        // sets each slot's TID to where its tuple went
        pg_sys::heap_multi_insert(
            rel,
            slots.as_mut_ptr(),
            slots.len() as i32,
            pg_sys::GetCurrentCommandId(true),
            0,
            std::ptr::null_mut(),
        );
    }
    let estate = pg_sys::CreateExecutorState();
    let result: *mut pg_sys::ResultRelInfo =
        pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>()).cast();
    pg_sys::InitResultRelInfo(result, rel, 1, std::ptr::null_mut(), 0);
    pg_sys::ExecOpenIndices(result, false);
    if (*result).ri_NumIndices > 0 {
        for &slot in &slots {
            let needs_recheck = exec_insert_index_tuples!(
                result,
                slot,
                estate,
                false,
                false,
                std::ptr::null_mut(),
                std::ptr::null_mut()
            );
            if !needs_recheck.is_null() {
                GeError::new(
                    Kind::FeatureNotSupported,
                    "ge_security.audit_log has a deferrable unique or exclusion constraint",
                )
                .hint("Drop it: the trail's own primary key already keeps ids unique.")
                .raise();
            }
            // what expression and partial indexes evaluated for this tuple
            let econtext = (*estate).es_per_tuple_exprcontext;
            if !econtext.is_null() {
                pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
            }
        }
    }
    for slot in slots {
        pg_sys::ExecDropSingleTupleTableSlot(slot);
    }
    pg_sys::ExecCloseIndices(result);
    pg_sys::FreeExecutorState(estate);
}

/// A record as it will be written but for its id: the change and who made it, when and from
/// where, read when the change happened (a buffered record is written later, by the same
/// transaction, with the same values).
pub struct Prepared {
    change: AuditRecord,
    at_micros: i64,
    actor: Option<Vec<u8>>,
    session_user: std::rc::Rc<[u8]>,
    current_user: std::rc::Rc<[u8]>,
    client: Option<(pg_sys::Datum, std::rc::Rc<[u8]>)>,
    application: Option<Vec<u8>>,
}

impl Prepared {
    /// Copy the record's jsonb datums into `context`, which must outlive the record; returns
    /// the bytes the record holds, to bound a buffer of them.
    pub fn keep_in(&mut self, context: pg_sys::MemoryContext) -> usize {
        let mut bytes = std::mem::size_of::<Prepared>();
        for jsonb in [
            &mut self.change.row_key,
            &mut self.change.old_row,
            &mut self.change.new_row,
        ]
        .into_iter()
        .flatten()
        {
            // SAFETY: a jsonb datum (a varlena built in this transaction) copied, detoasted,
            // into the caller's context, which outlives the record.
            jsonb.datum = unsafe {
                PgMemoryContexts::For(context).switch_to(|_| {
                    pg_sys::Datum::from(pg_sys::pg_detoast_datum_copy(jsonb.datum.cast_mut_ptr()))
                })
            };
            bytes += 2 * jsonb.text.len();
        }
        bytes
    }
}

/// Read who makes the change, when and from where (as `write` would, now).
pub fn prepare(change: AuditRecord) -> Prepared {
    // SAFETY: the statement's start time, a plain backend global inside a transaction.
    let at_micros = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    // the name of the actor setting, read in place from the GUC
    // SAFETY: the GUC's own variable, a C string pointer (NULL or NUL-terminated) that the GUC
    // machinery keeps valid until the setting changes, which cannot happen during this call.
    let actor_setting = unsafe { *gucs::ACTOR_SETTING.as_ptr() };
    let actor = (!actor_setting.is_null())
        // SAFETY: non-NULL, so the setting's NUL-terminated value (see above).
        .then(|| setting(unsafe { CStr::from_ptr(actor_setting) }))
        .flatten();
    Prepared {
        change,
        at_micros,
        actor,
        // SAFETY: read the backend's session and current user ids (plain globals, always set in
        // a backend connected to a database).
        session_user: role_name(unsafe { pg_sys::GetSessionUserId() }),
        // SAFETY: as above.
        current_user: role_name(unsafe { pg_sys::GetUserId() }),
        client: client_addr(),
        application: application_name(),
    }
}

/// Append one row to ge_security.audit_log and return its id. Rows buffered by this
/// subtransaction's statements are written first, so ids keep the order changes were made in.
pub fn write(change: AuditRecord) -> i64 {
    super::batch::flush_current();
    let prepared = prepare(change);
    write_batch(vec![prepared])[0]
}

/// Append the records to ge_security.audit_log, in order, and return their ids. Their ids are
/// taken from the horizon before any row is inserted (the first one of the transaction holds
/// the horizon for all: docs/architecture.md, "The sealing horizon").
pub fn write_batch(records: Vec<Prepared>) -> Vec<i64> {
    if !horizon::is_preloaded() {
        GeError::new(
            Kind::PrerequisiteState,
            "ge_security must be loaded through shared_preload_libraries to write the audit trail",
        )
        .detail("Audited changes are refused rather than left unaudited.")
        .hint("Add ge_security to shared_preload_libraries in postgresql.conf and restart.")
        .raise();
    }
    let trail = trail();
    let ids: Vec<i64> = records
        .iter()
        .map(|_| horizon::allocate_id(trail.sequence))
        .collect();
    // SAFETY: a trigger (or utility hook) always runs inside a transaction, which
    // GetTopFullTransactionId assigns an id if it has none yet.
    let txid = unsafe { pg_sys::GetTopFullTransactionId() }.value;
    let single = records.len() == 1;
    // SAFETY: table_open locks audit_log (the cached trail's OID) until commit; the tuples are
    // formed with its descriptor as opened, values placed by `trail_positions`, by-reference
    // datums palloc'd in the current context (or kept by the records); the relation is closed
    // before returning, its lock kept.
    unsafe {
        let rel = pg_sys::table_open(trail.log, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        let positions = trail_positions(&pgrx::PgRelation::from_pg(rel));
        let insert = |_: &mut PgMemoryContexts| {
            let tuples: Vec<pg_sys::HeapTuple> = records
                .into_iter()
                .zip(&ids)
                .map(|(prepared, &id)| form_tuple(rel, &positions, prepared, id, txid))
                .collect();
            insert_with_indexes(rel, &tuples);
        };
        if single {
            // one row: what it allocates goes with the caller's context, as any trigger's does
            insert(&mut PgMemoryContexts::CurrentMemoryContext);
        } else {
            // a batch: what its tuples are formed from is freed once they are inserted
            PgMemoryContexts::new("ge_security audit write").switch_to(insert);
        }
        pg_sys::table_close(rel, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
    }
    ids
}

/// The audit_log tuple of one record: its values hashed, then placed where `positions` says.
///
/// # Safety
/// `rel` is the open audit_log and `positions` its `trail_positions`; allocates the tuple and
/// its by-reference values in the current memory context.
unsafe fn form_tuple(
    rel: pg_sys::Relation,
    positions: &[Option<usize>; record::COUNT],
    prepared: Prepared,
    id: i64,
    txid: u64,
) -> pg_sys::HeapTuple {
    let Prepared {
        change,
        at_micros,
        actor,
        session_user,
        current_user,
        client,
        application,
    } = prepared;
    let (row_key, old_row, new_row) = (change.row_key, change.old_row, change.new_row);
    let changed = change
        .changed_columns
        .map(|cols| (text_array(&cols), text_array_text(&cols)));

    fn text(j: &Option<StoredJsonb>) -> Field<'_> {
        Field::Text(j.as_ref().map(|j| j.text.as_slice()))
    }
    // a trail not yet updated from 0.1.0 records no version: its rows are hashed under v1
    let version = match positions[record::POSITION.hash_version] {
        Some(_) => gucs::ROW_ENCODING.get() as u8,
        None => crate::canonical::ROW_ENCODING_V1,
    };
    let (old_field, new_field, statement_field) = if version == ROW_ENCODING_V2 {
        fn not_an_object() -> ! {
            GeError::new(Kind::Internal, "an audit row image is not a JSON object").raise()
        }
        fn digested<'a>(
            j: &'a Option<StoredJsonb>,
            known: &[image::Digested<'_>],
        ) -> Option<Vec<image::Digested<'a>>> {
            j.as_ref()
                .map(|j| image::digested_members(&j.text, known).unwrap_or_else(|| not_an_object()))
        }
        let image = |members: Option<Vec<image::Digested<'_>>>| {
            Field::Digest(
                members.map(|m| image::digest_of_members(&m).unwrap_or_else(|| not_an_object())),
            )
        };
        // the new image reuses the old one's digests of unchanged values
        let old_members = digested(&old_row, &[]);
        let new_members = digested(&new_row, old_members.as_deref().unwrap_or(&[]));
        (
            image(old_members),
            image(new_members),
            Field::Digest(change.statement.as_deref().map(image::statement_digest)),
        )
    } else {
        (
            text(&old_row),
            text(&new_row),
            Field::Text(change.statement.as_deref()),
        )
    };
    let hash = record::row_hash(
        version,
        &Record {
            id: Field::Integer(id),
            at: Field::Integer(at_micros),
            txid: Field::Integer(txid as i64),
            actor: Field::Text(actor.as_deref()),
            session_user_name: Field::Text(Some(&session_user)),
            current_user_name: Field::Text(Some(&current_user)),
            client_addr: Field::Text(client.as_ref().map(|(_, text)| &text[..])),
            application_name: Field::Text(application.as_deref()),
            op: Field::Text(Some(change.op.as_bytes())),
            table_name: Field::Text(change.table_name.as_deref()),
            row_key: text(&row_key),
            old_row: old_field,
            new_row: new_field,
            changed_columns: Field::Text(changed.as_ref().map(|(_, t)| t.as_slice())),
            statement: statement_field,
            row_hash: Field::Unhashed,
            hash_version: Field::Unhashed,
            redacted: Field::Unhashed,
        },
    );

    let datums: Record<Option<pg_sys::Datum>> = Record {
        id: id.into_datum(),
        at: Some(pg_sys::Datum::from(at_micros)),
        txid: Some(pg_sys::Datum::from(txid)),
        actor: actor.as_deref().map(text_datum),
        session_user_name: Some(text_datum(&session_user)),
        current_user_name: Some(text_datum(&current_user)),
        client_addr: client.map(|(datum, _)| datum),
        application_name: application.as_deref().map(text_datum),
        op: change.op.into_datum(),
        table_name: change.table_name.as_deref().map(text_datum),
        row_key: row_key.map(|j| j.datum),
        old_row: old_row.map(|j| j.datum),
        new_row: new_row.map(|j| j.datum),
        changed_columns: changed.map(|(d, _)| d),
        statement: change.statement.as_deref().map(text_datum),
        row_hash: hash.to_vec().into_datum(),
        hash_version: Some(pg_sys::Datum::from(i16::from(version))),
        redacted: None,
    };
    let natts = (*(*rel).rd_att).natts as usize;
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![true; natts];
    for (datum, &position) in datums.into_array().into_iter().zip(positions) {
        if let (Some(d), Some(position)) = (datum, position) {
            values[position] = d;
            nulls[position] = false;
        }
    }
    pg_sys::heap_form_tuple((*rel).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::text_array_text;
    use pgrx::prelude::*;

    #[pg_test]
    fn column_lists_print_exactly_as_array_out_does() {
        let samples: [&[&str]; 5] = [
            &[],
            &["balance"],
            &["a", "NULL", "null", "", "two words", "tab\there"],
            &[
                "q\"uote",
                "back\\slash",
                "{brace}",
                "com,ma",
                "é",
                "v\u{b}t\u{c}f",
            ],
            &["Odd \"Name\"", "line\nbreak", "cr\r"],
        ];
        for sample in samples {
            let owned: Vec<String> = sample.iter().map(|s| (*s).to_owned()).collect();
            let bytes: Vec<Vec<u8>> = owned.iter().map(|s| s.as_bytes().to_vec()).collect();
            let ours = String::from_utf8(text_array_text(&bytes)).expect("UTF-8");
            let theirs = Spi::get_one_with_args::<String>(
                "SELECT $1::text[]::text",
                &[owned.clone().into()],
            )
            .expect("query runs")
            .expect("not NULL");
            assert_eq!(ours, theirs, "{sample:?}");
        }
    }
}
