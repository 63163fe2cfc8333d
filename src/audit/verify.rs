//! Verification of the trail: recomputes every row hash, block root and block link while
//! streaming (two cursors in id/block order); also the digest and inclusion proofs.
use super::erasure;
use super::jsonb_flat;
use super::merkle::{self, Hash, RootBuilder};
use super::prune;
use super::record::{self, Field, Hashed, Record, COLUMNS, POSITION};
use crate::canonical::ROW_ENCODING_V2;
use crate::error::{GeError, Kind};
use crate::gucs;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiCursor};
use pgrx::JsonB;
use pgrx::{pg_sys, varlena, PgMemoryContexts};
use std::collections::VecDeque;

/// Rows per cursor fetch. Each batch is copied into a fresh SPI context; batches of typical
/// rows stay below malloc's mmap and trim thresholds, so their memory is reused rather than
/// returned to the kernel and faulted in again (500-row batches made verify 60 % slower).
const FETCH: i64 = 100;
const MAX_PROBLEMS: usize = 10_000;

/// Every column of the trail in the record's order (docs/architecture.md, "The audit record"),
/// stored values as they are; the columns hashed as printed text are printed in `read_rows`.
fn rows_sql() -> String {
    format!(
        "SELECT {} FROM ge_security.audit_log ORDER BY id",
        record::select_list()
    )
}

const BLOCKS_SQL: &str = "SELECT block_no, first_id, last_id, row_count, rows_root, prev_hash, \
    block_hash, sealed_at FROM ge_security.audit_block ORDER BY block_no";

struct Row {
    id: i64,
    at_micros: i64,
    leaf: Hash,
    hash_ok: bool,
    /// Whether it was redacted (by which records) or is a redaction record.
    lifecycle: erasure::Lifecycle,
}

struct Block {
    block_no: i64,
    first_id: i64,
    last_id: i64,
    row_count: i64,
    rows_root: Vec<u8>,
    prev_hash: Vec<u8>,
    block_hash: Vec<u8>,
    sealed_at_micros: i64,
}

fn micros(t: Option<TimestampWithTimeZone>) -> i64 {
    t.map(|t| t.into_inner()).unwrap_or(0)
}

/// A varlena column as bytes, detoasted only when compressed or stored out of line.
///
/// # Safety
/// `datum` is a non-NULL varlena value (text, jsonb, bytea) of a tuple that stays alive, and
/// `'a` does not outlive that tuple or the memory context a detoasted copy is made in.
unsafe fn column_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    let mut ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
    if varlena::varatt_is_4b_c(ptr) || varlena::varatt_is_1b_e(ptr) {
        ptr = pg_sys::pg_detoast_datum_packed(ptr);
    }
    varlena::varlena_to_byte_slice(ptr)
}

/// Output functions of the columns hashed as their printed text (by position in the record,
/// NULL for the others), looked up once per backend; array_out keeps its type cache in
/// fn_extra, so they live in TopMemoryContext.
struct TextOutputs([*mut pg_sys::FmgrInfo; record::COUNT]);

thread_local! {
    static TEXT_OUTPUTS: std::cell::OnceCell<TextOutputs> = const { std::cell::OnceCell::new() };
}

fn output_function(type_oid: pg_sys::Oid) -> *mut pg_sys::FmgrInfo {
    // SAFETY: the FmgrInfo is allocated in TopMemoryContext (it and the cache array_out keeps in
    // fn_extra live as long as the backend that caches them); `type_oid` is a built-in type of
    // the record, whose output function getTypeOutputInfo finds (or raises an ERROR).
    unsafe {
        let mut function = pg_sys::InvalidOid;
        let mut varlena = false;
        pg_sys::getTypeOutputInfo(type_oid, &mut function, &mut varlena);
        let flinfo: *mut pg_sys::FmgrInfo = pg_sys::MemoryContextAllocZero(
            pg_sys::TopMemoryContext,
            std::mem::size_of::<pg_sys::FmgrInfo>(),
        )
        .cast();
        pg_sys::fmgr_info_cxt(function, flinfo, pg_sys::TopMemoryContext);
        flinfo
    }
}

/// A column's text form, hashed as the writer hashed it; `None` for NULL.
///
/// # Safety
/// `flinfo` is the output function of the value's type (from `output_function`) and `value` a
/// datum of that type, alive for the call.
unsafe fn printed(
    flinfo: *mut pg_sys::FmgrInfo,
    value: Option<pg_sys::Datum>,
    out: &mut Vec<u8>,
) -> Option<std::ops::Range<usize>> {
    let text = pg_sys::OutputFunctionCall(flinfo, value?);
    let start = out.len();
    out.extend_from_slice(std::ffi::CStr::from_ptr(text).to_bytes());
    pg_sys::pfree(text.cast());
    Some(start..out.len())
}

/// A stored jsonb's text as jsonb_out prints it: read directly when it is a flat object of
/// scalars (what the trigger writes for most tables), else through jsonb_out.
///
/// # Safety
/// `jsonb_out` is jsonb's output function and `value` a jsonb datum alive for the call.
unsafe fn printed_jsonb(
    jsonb_out: *mut pg_sys::FmgrInfo,
    value: Option<pg_sys::Datum>,
    out: &mut Vec<u8>,
) -> Option<std::ops::Range<usize>> {
    let datum = value?;
    let start = out.len();
    if jsonb_flat::push_object_text(out, column_bytes(datum)) {
        return Some(start..out.len());
    }
    printed(jsonb_out, Some(datum), out)
}

/// The rows of the batch just fetched into SPI_tuptable, each deformed once (reading columns
/// one by one through SPI would walk the variable-width row again for every column).
fn read_rows() -> Vec<Row> {
    let outputs = TEXT_OUTPUTS.with(|cell| {
        cell.get_or_init(|| {
            TextOutputs(std::array::from_fn(|k| {
                if COLUMNS[k].hashed == Hashed::Printed || COLUMNS[k].type_oid == pg_sys::JSONBOID {
                    output_function(COLUMNS[k].type_oid)
                } else {
                    std::ptr::null_mut()
                }
            }))
        })
        .0
    });
    let mut printed_texts = Vec::new();
    // SAFETY: SPI_tuptable holds the batch the cursor fetch just returned: rows of `rows_sql`,
    // deformed with the table's own descriptor (columns in the record's order); printing and
    // detoasting allocate in a scratch context reset after each row, after its values are used.
    unsafe {
        let table = pg_sys::SPI_tuptable;
        if table.is_null() {
            return Vec::new();
        }
        let desc = (*table).tupdesc;
        let natts = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0usize); natts];
        let mut nulls = vec![false; natts];
        let count = (*table).numvals as usize;
        let mut rows = Vec::with_capacity(count);
        // what printing and detoasting allocate is freed row by row
        let mut scratch = PgMemoryContexts::new("ge_security audit_verify row");
        for i in 0..count {
            let row = scratch.switch_to(|_| {
                pg_sys::heap_deform_tuple(
                    *(*table).vals.add(i),
                    desc,
                    values.as_mut_ptr(),
                    nulls.as_mut_ptr(),
                );
                let value = |k: usize| (!nulls[k]).then_some(values[k]);
                let bytes = |k: usize| value(k).map(|datum| column_bytes(datum));
                printed_texts.clear();
                let printed_ranges: [Option<std::ops::Range<usize>>; record::COUNT] =
                    std::array::from_fn(|k| match COLUMNS[k] {
                        record::Column {
                            type_oid: pg_sys::JSONBOID,
                            ..
                        } => printed_jsonb(outputs[k], value(k), &mut printed_texts),
                        record::Column {
                            hashed: Hashed::Printed,
                            ..
                        } => printed(outputs[k], value(k), &mut printed_texts),
                        _ => None,
                    });
                let text = |k: usize| printed_ranges[k].clone().map(|r| &printed_texts[r]);
                let version = values[POSITION.hash_version].value() as i16;
                let lifecycle = erasure::read_row(
                    bytes(POSITION.op),
                    text(POSITION.new_row),
                    text(POSITION.redacted),
                );
                let v2 = version == i16::from(ROW_ENCODING_V2);
                let (old_row, new_row, statement) = if v2 {
                    let redacted = lifecycle.redacted.as_ref();
                    (
                        erasure::image_field(text(POSITION.old_row), redacted, erasure::Image::Old),
                        erasure::image_field(text(POSITION.new_row), redacted, erasure::Image::New),
                        erasure::statement_field(bytes(POSITION.statement), redacted),
                    )
                } else {
                    (
                        Some(Field::Text(text(POSITION.old_row))),
                        Some(Field::Text(text(POSITION.new_row))),
                        Some(Field::Text(bytes(POSITION.statement))),
                    )
                };
                let id = values[POSITION.id].value() as i64;
                let stored = bytes(POSITION.row_hash).unwrap_or_default();
                let hash_ok = match (old_row, new_row, statement) {
                    (Some(old_row), Some(new_row), Some(statement))
                        if record::known_version(version) =>
                    {
                        let fields = Record {
                            old_row,
                            new_row,
                            statement,
                            ..Record::from_array(std::array::from_fn(|k| match COLUMNS[k].hashed {
                                Hashed::Integer => Field::Integer(values[k].value() as i64),
                                Hashed::Stored | Hashed::Statement => Field::Text(bytes(k)),
                                Hashed::Printed | Hashed::Image => Field::Text(text(k)),
                                Hashed::Hash | Hashed::Outside => Field::Unhashed,
                            }))
                        };
                        record::row_hash(version as u8, &fields)[..] == stored[..]
                    }
                    _ => false,
                };
                Row {
                    id,
                    at_micros: values[POSITION.at].value() as i64,
                    leaf: merkle::leaf(id, stored),
                    hash_ok,
                    lifecycle,
                }
            });
            rows.push(row);
            scratch.reset();
        }
        rows
    }
}

/// The blocks of the batch just fetched (few, so read through SPI's tuple API).
fn read_blocks() -> Vec<Block> {
    // SAFETY: reads SPI's global result pointer, left by the fetch or select just made.
    let table = unsafe { pg_sys::SPI_tuptable };
    if table.is_null() {
        return Vec::new();
    }
    // SAFETY: a non-NULL SPI_tuptable of the query just run.
    let count = unsafe { (*table).numvals } as usize;
    (0..count)
        // SAFETY: `i` < numvals; the tuples are rows of BLOCKS_SQL (integers, bytea, timestamptz
        // in its order) read with their own descriptor; bytea values are copied out.
        .map(|i| unsafe {
            let tuple = *(*table).vals.add(i);
            let desc = (*table).tupdesc;
            let get = |n: i32| {
                let mut isnull = false;
                let d = pg_sys::SPI_getbinval(tuple, desc, n, &mut isnull);
                (!isnull).then_some(d)
            };
            let int = |n: i32| get(n).map(|d| d.value() as i64).unwrap_or(0);
            let bytes = |n: i32| get(n).map(|d| column_bytes(d).to_vec()).unwrap_or_default();
            Block {
                block_no: int(1),
                first_id: int(2),
                last_id: int(3),
                row_count: int(4),
                rows_root: bytes(5),
                prev_hash: bytes(6),
                block_hash: bytes(7),
                sealed_at_micros: int(8),
            }
        })
        .collect()
}

/// A cursor read in batches, converted to owned values.
struct Stream<'c, T> {
    cursor: SpiCursor<'c>,
    buffer: VecDeque<T>,
    done: bool,
    /// Converts the batch that the last fetch left in SPI_tuptable.
    convert: fn() -> Vec<T>,
}

impl<'c, T> Stream<'c, T> {
    fn peek(&mut self) -> Option<&T> {
        if self.buffer.is_empty() && !self.done {
            // the fetch leaves its rows in SPI_tuptable, which `convert` reads
            self.cursor
                .fetch(FETCH)
                .unwrap_or_else(|e| crate::error::spi_failed("reading the audit trail", e));
            let converted = (self.convert)();
            self.done = converted.is_empty();
            self.buffer.extend(converted);
        }
        self.buffer.front()
    }

    fn next(&mut self) -> Option<T> {
        self.peek();
        self.buffer.pop_front()
    }

    /// The next item if `wanted` says so.
    fn next_if(&mut self, wanted: impl FnOnce(&T) -> bool) -> Option<T> {
        self.peek()
            .is_some_and(wanted)
            .then(|| self.next())
            .flatten()
    }
}

type Problem = (
    bool,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

struct Report(Vec<Problem>);

impl Report {
    fn add(&mut self, problem: &str, block_no: Option<i64>, id: Option<i64>, detail: String) {
        if self.0.len() < MAX_PROBLEMS {
            self.0
                .push((false, Some(problem.to_owned()), block_no, id, Some(detail)));
        }
    }
}

/// A digest kept outside the database, as audit_digest() returned it.
struct Digest {
    block_no: i64,
    last_id: i64,
    /// Lowercase hex of the block's hash; None for the genesis digest (block 0, no block yet).
    block_hash: Option<String>,
}

/// Refuse a digest that is not one audit_digest() could have returned (22023), saying why.
fn bad_digest(why: &str) -> ! {
    GeError::new(Kind::InvalidParameter, format!("malformed audit digest: {why}"))
        .detail("A digest is the object ge_security.audit_digest() returns: block_no and last_id (integers of 0 or more), block_hash (64 hexadecimal digits, null only for block 0) and sealed_at.")
        .hint("Pass the JSON that audit_digest() returned, e.g. '{\"block_no\": 7, \"last_id\": 120, \"block_hash\": \"…\"}'.")
        .raise()
}

/// The digest argument (jsonb, possibly NULL) read from the call itself: pgrx's JsonB argument
/// would panic on a number serde_json cannot hold (1e400) or text that is not UTF-8.
fn digest_argument(fcinfo: pg_sys::FunctionCallInfo) -> Option<serde_json::Value> {
    // SAFETY: fcinfo is this call's; argument 0 is declared jsonb (NULL gives None).
    let datum = unsafe { pgrx::fcinfo::pg_getarg_datum(fcinfo, 0) }?;
    // SAFETY: a non-NULL jsonb datum; jsonb_out detoasts it and returns a palloc'd C string.
    let text = unsafe {
        let text = pgrx::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(datum)])
            .unwrap_or_else(|| bad_digest("it prints as nothing"));
        let bytes = std::ffi::CStr::from_ptr(text.cast_mut_ptr())
            .to_bytes()
            .to_vec();
        pg_sys::pfree(text.cast_mut_ptr());
        bytes
    };
    let text =
        std::str::from_utf8(&text).unwrap_or_else(|_| bad_digest("it is not valid UTF-8 text"));
    Some(
        serde_json::from_str(text).unwrap_or_else(|_| {
            bad_digest("it holds a number out of range or is nested too deeply")
        }),
    )
}

/// Check a digest's shape: an object with block_no and last_id (integers >= 0) and block_hash
/// (64 hex digits; null only in the genesis digest, block 0 with last id 0); sealed_at, if
/// present, a string or null. Anything else is refused (22023) rather than verified.
fn parse_digest(value: Option<serde_json::Value>) -> Option<Digest> {
    let value = value?;
    let object = value
        .as_object()
        .unwrap_or_else(|| bad_digest("it is not a JSON object"));
    let count = |key: &str| -> i64 {
        let field = object
            .get(key)
            .unwrap_or_else(|| bad_digest(&format!("the key {key} is missing")));
        match field.as_i64() {
            Some(n) if n >= 0 => n,
            Some(_) => bad_digest(&format!("{key} is negative")),
            None if field.is_number() => {
                bad_digest(&format!("{key} is not an integer in the range of bigint"))
            }
            None => bad_digest(&format!("{key} is not a number")),
        }
    };
    let block_no = count("block_no");
    let last_id = count("last_id");
    let block_hash = match object.get("block_hash") {
        None => bad_digest("the key block_hash is missing"),
        Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Some(hash.to_ascii_lowercase())
        }
        Some(serde_json::Value::String(_)) => bad_digest("block_hash is not 64 hexadecimal digits"),
        Some(_) => bad_digest("block_hash is not a string"),
    };
    if !matches!(
        object.get("sealed_at"),
        None | Some(serde_json::Value::Null | serde_json::Value::String(_))
    ) {
        bad_digest("sealed_at is not a string");
    }
    match (block_no, &block_hash) {
        (0, _) if last_id != 0 => bad_digest("block 0 (the genesis digest) must have last_id 0"),
        (0, Some(hash)) if hash.bytes().any(|b| b != b'0') => {
            bad_digest("block 0 (the genesis digest) has no block hash")
        }
        (1.., None) => bad_digest("block_hash is null but block_no is not 0"),
        (1.., _) if last_id < block_no => {
            bad_digest("last_id is lower than block_no (every block seals at least one row)")
        }
        _ => {}
    }
    Some(Digest {
        block_no,
        last_id,
        block_hash: block_hash.filter(|_| block_no > 0),
    })
}

/// Check the rows of sealed blocks `from..=through` as audit_verify() would (every row hash,
/// each block's count and Merkle root), and that no other row lies below `last_id` (the last
/// id of block `through`): audit_prune() runs it before deleting them. The rows checked, or
/// the first problem found.
pub(super) fn sealed_range_rows(
    client: &SpiClient,
    from: i64,
    through: i64,
    last_id: i64,
) -> Result<i64, String> {
    let mut rows = Stream {
        cursor: client.open_cursor(
            &format!(
                "SELECT {} FROM ge_security.audit_log WHERE id OPERATOR(pg_catalog.<=) $1 ORDER BY id",
                record::select_list()
            ),
            &[last_id.into()],
        ),
        buffer: VecDeque::new(),
        done: false,
        convert: read_rows,
    };
    let mut blocks = Stream {
        cursor: client.open_cursor(
            &BLOCKS_SQL.replace(
                " ORDER BY",
                " WHERE block_no OPERATOR(pg_catalog.>=) $1 \
                 AND block_no OPERATOR(pg_catalog.<=) $2 ORDER BY",
            ),
            &[from.into(), through.into()],
        ),
        buffer: VecDeque::new(),
        done: false,
        convert: read_blocks,
    };
    let mut checked = 0i64;
    while let Some(block) = blocks.next() {
        let mut root = RootBuilder::default();
        while let Some(row) = rows.next_if(|row| row.id <= block.last_id) {
            if row.id < block.first_id {
                return Err(format!("Row {} lies outside every sealed block.", row.id));
            }
            if !row.hash_ok {
                return Err(format!("Row {} does not match its row_hash.", row.id));
            }
            root.push(row.leaf);
        }
        let count = root.count() as i64;
        if count != block.row_count || root.root().map(|r| r.to_vec()) != Some(block.rows_root) {
            return Err(format!(
                "Block {} seals {} rows; {count} found do not make its rows_root.",
                block.block_no, block.row_count
            ));
        }
        checked += count;
    }
    match rows.next() {
        Some(row) => Err(format!("Row {} lies outside every sealed block.", row.id)),
        None => Ok(checked),
    }
}

/// Recompute every row hash, block root and link; compare with a digest kept outside. The
/// digest is read from the call (see `digest_argument`), hence the SQL written out here.
#[pg_extern(sql = "CREATE FUNCTION audit_verify(digest jsonb DEFAULT NULL) \
    RETURNS TABLE (ok boolean, problem text, block_no bigint, id bigint, detail text) \
    STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_verify_wrapper';")]
fn audit_verify(
    fcinfo: pg_sys::FunctionCallInfo,
) -> TableIterator<
    'static,
    (
        name!(ok, bool),
        name!(problem, Option<String>),
        name!(block_no, Option<i64>),
        name!(id, Option<i64>),
        name!(detail, Option<String>),
    ),
> {
    let digest = parse_digest(digest_argument(fcinfo));
    let backlog_after_micros = 5 * i64::from(gucs::SEAL_INTERVAL_MS.get()) * 1000;
    let mut report = Report(Vec::new());
    let (mut rows_seen, mut blocks_seen, mut unsealed) = (0i64, 0i64, 0i64);
    let mut pruned_note = String::new();
    let mut ledger = erasure::Ledger::default();
    Spi::connect(|client| {
        let now: i64 = micros(
            client
                .select("SELECT pg_catalog.now()", None, &[])
                .and_then(|t| t.first().get_one::<TimestampWithTimeZone>())
                .ok()
                .flatten(),
        );
        let mut rows = Stream {
            cursor: client.open_cursor(&rows_sql(), &[]),
            buffer: VecDeque::new(),
            done: false,
            convert: read_rows,
        };
        let mut blocks = Stream {
            cursor: client.open_cursor(BLOCKS_SQL, &[]),
            buffer: VecDeque::new(),
            done: false,
            convert: read_blocks,
        };
        let mut prev_hash: Vec<u8> = vec![0u8; 32];
        let mut expected_no = 1i64;
        let mut last_sealed_id = 0i64;
        let mut digest_block_hash: Option<Vec<u8>> = None;
        let mut emptied = Vec::new();
        while let Some(block) = blocks.next() {
            blocks_seen += 1;
            let no = Some(block.block_no);
            if block.block_no != expected_no {
                report.add(
                    "block_link_broken",
                    no,
                    None,
                    format!(
                        "expected block {expected_no}, found block {}",
                        block.block_no
                    ),
                );
            }
            if block.prev_hash != prev_hash {
                report.add(
                    "block_link_broken",
                    no,
                    None,
                    "prev_hash does not match the previous block's hash".into(),
                );
            }
            let recomputed = merkle::block_hash(
                block.block_no,
                block.first_id,
                block.last_id,
                block.row_count,
                &block.rows_root,
                &block.prev_hash,
                block.sealed_at_micros,
            );
            if recomputed[..] != block.block_hash[..] {
                report.add(
                    "block_link_broken",
                    no,
                    None,
                    "block_hash does not match the block's contents (block edited)".into(),
                );
            }
            if digest
                .as_ref()
                .is_some_and(|d| d.block_no == block.block_no)
            {
                digest_block_hash = Some(block.block_hash.clone());
            }
            let mut root = RootBuilder::default();
            while let Some(row) = rows.peek() {
                if row.id > block.last_id {
                    break;
                }
                let row = rows.next().expect("peeked");
                rows_seen += 1;
                ledger.see(row.id, &row.lifecycle, |id, detail| {
                    report.add("redaction_unrecorded", no, id, detail)
                });
                if row.id <= last_sealed_id || row.id < block.first_id {
                    report.add(
                        "row_inserted",
                        no,
                        Some(row.id),
                        "row id lies between sealed blocks".into(),
                    );
                    continue;
                }
                if !row.hash_ok {
                    report.add(
                        "row_hash_mismatch",
                        no,
                        Some(row.id),
                        "stored row does not match its row_hash (row edited)".into(),
                    );
                }
                root.push(row.leaf);
            }
            let count = root.count() as i64;
            if count == 0 && block.row_count > 0 {
                // pruned, or deleted: told apart once the whole trail was read
                emptied.push(prune::Emptied {
                    block_no: block.block_no,
                    row_count: block.row_count,
                    sealed_at_micros: block.sealed_at_micros,
                });
            } else if count < block.row_count {
                report.add(
                    "row_missing",
                    no,
                    None,
                    format!("block seals {} rows, {count} found", block.row_count),
                );
            } else if count > block.row_count {
                report.add(
                    "row_inserted",
                    no,
                    None,
                    format!("block seals {} rows, {count} found", block.row_count),
                );
            } else if root.root().map(|r| r.to_vec()) != Some(block.rows_root.clone()) {
                report.add(
                    "row_hash_mismatch",
                    no,
                    None,
                    "rows_root does not match the stored row hashes (hash rewritten or swapped)"
                        .into(),
                );
            }
            prev_hash = block.block_hash;
            expected_no = block.block_no + 1;
            last_sealed_id = block.last_id;
        }
        let accounted = prune::account_for(client, &emptied);
        for (block_no, detail) in &accounted.unexplained {
            report.add("row_missing", Some(*block_no), None, detail.clone());
        }
        pruned_note = accounted.note();
        let mut oldest_unsealed: Option<(i64, i64)> = None;
        while let Some(row) = rows.next() {
            rows_seen += 1;
            unsealed += 1;
            ledger.see(row.id, &row.lifecycle, |id, detail| {
                report.add("redaction_unrecorded", None, id, detail)
            });
            if !row.hash_ok {
                report.add(
                    "row_hash_mismatch",
                    None,
                    Some(row.id),
                    "stored row does not match its row_hash (row edited)".into(),
                );
            }
            if oldest_unsealed.is_none_or(|(_, at)| row.at_micros < at) {
                oldest_unsealed = Some((row.id, row.at_micros));
            }
        }
        if let Some((id, at)) = oldest_unsealed {
            if now - at > backlog_after_micros {
                report.add(
                    "unsealed_backlog",
                    None,
                    Some(id),
                    format!(
                        "{unsealed} rows not sealed, oldest {} s old",
                        (now - at) / 1_000_000
                    ),
                );
            }
        }
        if let Some(d) = digest.as_ref().filter(|d| d.block_no > 0) {
            if expected_no - 1 < d.block_no || last_sealed_id < d.last_id {
                report.add("tail_truncated", Some(d.block_no), Some(d.last_id), format!("digest names block {} (last id {}), the trail ends at block {} (last sealed id {last_sealed_id})", d.block_no, d.last_id, expected_no - 1));
            } else if digest_block_hash.map(|h| merkle::hex(&h)) != d.block_hash {
                report.add(
                    "block_link_broken",
                    Some(d.block_no),
                    None,
                    "block hash differs from the digest kept outside the database".into(),
                );
            }
        }
    });
    let redacted = ledger.redacted_rows;
    ledger.finish(|id, detail| report.add("redaction_unrecorded", None, id, detail));
    if report.0.is_empty() {
        let redacted = match redacted {
            0 => String::new(),
            n => format!(", {n} redacted"),
        };
        report.0.push((
            true,
            None,
            None,
            None,
            Some(format!(
                "{rows_seen} rows in {blocks_seen} blocks verified, {unsealed} not yet sealed{redacted}{pruned_note}"
            )),
        ));
    }
    TableIterator::new(report.0)
}

/// The newest block's identity, to be kept outside the database.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn audit_digest() -> JsonB {
    let row = Spi::get_three::<i64, i64, Vec<u8>>(
        "SELECT block_no, last_id, block_hash FROM ge_security.audit_block ORDER BY block_no DESC LIMIT 1",
    );
    let sealed_at = Spi::get_one::<String>(
        "SELECT pg_catalog.to_char(sealed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
         FROM ge_security.audit_block ORDER BY block_no DESC LIMIT 1",
    )
    .ok()
    .flatten();
    match row {
        Ok((Some(block_no), Some(last_id), Some(hash))) => JsonB(serde_json::json!({
            "block_no": block_no, "last_id": last_id, "block_hash": merkle::hex(&hash), "sealed_at": sealed_at,
        })),
        _ => JsonB(
            serde_json::json!({ "block_no": 0, "last_id": 0, "block_hash": null, "sealed_at": null }),
        ),
    }
}

/// Merkle inclusion proof of one sealed row, checkable without the database.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn audit_proof(id: Option<i64>) -> JsonB {
    let id = id.unwrap_or_else(|| GeError::new(Kind::NullValue, "id must not be NULL").raise());
    Spi::connect(|client| {
        let block = client
            .select(
                &format!(
                    "{} WHERE first_id OPERATOR(pg_catalog.<=) $1 \
                     AND last_id OPERATOR(pg_catalog.>=) $1",
                    BLOCKS_SQL.replace(" ORDER BY block_no", "")
                ),
                None,
                &[id.into()],
            )
            .ok()
            .and_then(|_table| read_blocks().into_iter().next())
            .unwrap_or_else(|| {
                GeError::new(
                    Kind::UndefinedObject,
                    format!("audit row {id} is not in a sealed block"),
                )
                .hint("Rows are provable once ge_security.audit_seal() has sealed them.")
                .raise()
            });
        let mut leaves: Vec<Hash> = Vec::new();
        let mut index = None;
        let mut row_hash_hex = String::new();
        let rows = client
            .select(
                "SELECT id, row_hash FROM ge_security.audit_log \
                 WHERE id OPERATOR(pg_catalog.>=) $1 AND id OPERATOR(pg_catalog.<=) $2 ORDER BY id",
                None,
                &[block.first_id.into(), block.last_id.into()],
            )
            .unwrap_or_else(|e| crate::error::spi_failed("reading the audit trail", e));
        for row in rows {
            let rid: i64 = row.get(1).ok().flatten().unwrap_or(0);
            let hash: Vec<u8> = row.get(2).ok().flatten().unwrap_or_default();
            if rid == id {
                index = Some(leaves.len());
                row_hash_hex = merkle::hex(&hash);
            }
            leaves.push(merkle::leaf(rid, &hash));
        }
        if leaves.is_empty() {
            GeError::new(
                Kind::UndefinedObject,
                format!(
                    "the rows of audit block {} are no longer in the database",
                    block.block_no
                ),
            )
            .detail("audit_verify() says whether audit_prune() removed them.")
            .hint("An archive exported with audit_export() before the prune holds the row; tools/verify_archive.py checks it.")
            .raise();
        }
        let index = index.unwrap_or_else(|| {
            GeError::new(
                Kind::UndefinedObject,
                format!(
                    "audit row {id} is missing from sealed block {}",
                    block.block_no
                ),
            )
            .hint("Run ge_security.audit_verify(): the trail has been tampered with.")
            .raise()
        });
        JsonB(serde_json::json!({
            "id": id,
            "row_hash": row_hash_hex,
            "leaf_index": index,
            "tree_size": leaves.len(),
            "path": merkle::path(index, &leaves).iter().map(|h| merkle::hex(h)).collect::<Vec<_>>(),
            "block": {
                "block_no": block.block_no,
                "first_id": block.first_id,
                "last_id": block.last_id,
                "row_count": block.row_count,
                "rows_root": merkle::hex(&block.rows_root),
                "prev_hash": merkle::hex(&block.prev_hash),
                "sealed_at_micros": block.sealed_at_micros,
                "block_hash": merkle::hex(&block.block_hash),
            }
        }))
    })
}
