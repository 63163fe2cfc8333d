//! Flat jsonb objects of scalars in PostgreSQL's on-disk format (jsonb.h): written with the text
//! jsonb_out prints for them (the trigger's row images), and read back to that text (verify).
use crate::error::{GeError, Kind};
use pgrx::pg_sys;
use std::io::Write;

/// A member value: what to_jsonb makes of a NULL, boolean, integer or string column.
#[derive(Clone, Copy)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Bytes in the server encoding; they must outlive the call that encodes them.
    String(&'a [u8]),
}

use pg_sys::{
    JB_CMASK, JB_FOBJECT, JENTRY_HAS_OFF, JENTRY_ISBOOL_FALSE, JENTRY_ISBOOL_TRUE, JENTRY_ISNULL,
    JENTRY_ISNUMERIC, JENTRY_ISSTRING, JENTRY_OFFLENMASK, JENTRY_TYPEMASK,
};
const JB_OFFSET_STRIDE: usize = pg_sys::JB_OFFSET_STRIDE as usize;

// numeric.c: the short numeric header
const NUMERIC_SHORT: u16 = 0x8000;
const NUMERIC_FORMAT_MASK: u16 = 0xC000;
const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
const NUMERIC_SHORT_DSCALE_MASK: u16 = 0x1F80;
const NUMERIC_SHORT_WEIGHT_SIGN_MASK: u16 = 0x0040;
const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;

/// The longest text a PostgreSQL output function can return (MaxAllocSize less the header).
const MAX_PRINTABLE_BYTES: usize = 0x3fff_ffff - 5;

/// A 4-byte varlena header for `len` bytes (SET_VARSIZE_4B).
fn varlena_header(len: usize) -> [u8; 4] {
    let len = len as u32;
    if cfg!(target_endian = "little") {
        (len << 2).to_ne_bytes()
    } else {
        (len & 0x3FFF_FFFF).to_ne_bytes()
    }
}

/// The size a 4-byte varlena header declares (VARSIZE_4B); `None` for other header kinds.
fn varlena_size(header: [u8; 4]) -> Option<usize> {
    let word = u32::from_ne_bytes(header);
    let (is_4b, size) = if cfg!(target_endian = "little") {
        (word & 0b11 == 0, word >> 2)
    } else {
        (word & 0xC000_0000 == 0, word & 0x3FFF_FFFF)
    };
    is_4b.then_some(size as usize)
}

/// The numeric int64_to_numeric makes: short header, base-10000 digits without leading or
/// trailing zero digits, weight of the first digit, scale 0 (numeric.c, make_result).
fn push_numeric(out: &mut Vec<u8>, value: i64) {
    let mut magnitude = value.unsigned_abs();
    let mut digits = [0i16; 5]; // least significant first
    let mut count = 0;
    while magnitude > 0 {
        digits[count] = (magnitude % 10_000) as i16;
        magnitude /= 10_000;
        count += 1;
    }
    let lowest = digits[..count].iter().take_while(|d| **d == 0).count();
    let kept = &digits[lowest..count];
    let mut header = NUMERIC_SHORT;
    if !kept.is_empty() {
        if value < 0 {
            header |= NUMERIC_SHORT_SIGN_MASK;
        }
        header |= (count as u16 - 1) & NUMERIC_SHORT_WEIGHT_MASK; // never negative here
    }
    out.extend_from_slice(&varlena_header(6 + 2 * kept.len()));
    out.extend_from_slice(&header.to_ne_bytes());
    for digit in kept.iter().rev() {
        out.extend_from_slice(&digit.to_ne_bytes());
    }
}

/// jsonb_out's rendering of a string (escape_json): quotes, backslash, the five short escapes,
/// other control characters as \u00XX (lower-case hex), every other byte as it is.
pub fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let special = |b: u8| b < b' ' || b == b'"' || b == b'\\';
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // whole chunks are tested without early exit, which the compiler vectorises
    if !bytes
        .chunks(32)
        .any(|chunk| chunk.iter().fold(false, |seen, &b| seen | special(b)))
    {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut plain_from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if !special(byte) {
            continue;
        }
        out.extend_from_slice(&bytes[plain_from..i]);
        match byte {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

fn push_text(out: &mut Vec<u8>, value: Scalar) {
    match value {
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(true) => out.extend_from_slice(b"true"),
        Scalar::Bool(false) => out.extend_from_slice(b"false"),
        Scalar::Int(number) => {
            let _ = write!(out, "{number}");
        }
        Scalar::String(bytes) => push_json_string(out, bytes),
    }
}

/// Appends a value's data (numerics aligned to 4 bytes from the varlena start, padding
/// counted in the entry) and returns its JEntry type bits and length.
fn push_data(buffer: &mut Vec<u8>, value: Scalar) -> (u32, usize) {
    match value {
        Scalar::Null => (JENTRY_ISNULL, 0),
        Scalar::Bool(truth) => (
            if truth {
                JENTRY_ISBOOL_TRUE
            } else {
                JENTRY_ISBOOL_FALSE
            },
            0,
        ),
        Scalar::Int(number) => {
            let start = buffer.len();
            buffer.resize(start.next_multiple_of(4), 0);
            push_numeric(buffer, number);
            (JENTRY_ISNUMERIC, buffer.len() - start)
        }
        Scalar::String(bytes) => {
            buffer.extend_from_slice(bytes);
            (JENTRY_ISSTRING, bytes.len())
        }
    }
}

fn too_large(what: &str, len: usize, limit: usize) -> ! {
    GeError::new(
        Kind::ProgramLimit,
        format!("audited row is too large {what}"),
    )
    .detail(format!(
        "It takes {len} bytes; at most {limit} are possible."
    ))
    .raise()
}

/// A jsonb object datum (palloc'd) and its jsonb_out text, for members with distinct keys.
/// Members are put in jsonb's key order (shorter keys first, then bytewise), and every 32nd
/// entry stores an end offset instead of a length, as convertJsonbObject does.
pub fn object(members: &mut [(&[u8], Scalar)]) -> (pg_sys::Datum, Vec<u8>) {
    members.sort_unstable_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));

    let mut text = Vec::with_capacity(
        2 + members
            .iter()
            .map(|(key, value)| {
                key.len()
                    + 6
                    + match value {
                        Scalar::String(s) => s.len() + 2,
                        _ => 20,
                    }
            })
            .sum::<usize>(),
    );
    text.push(b'{');
    for (n, (key, value)) in members.iter().enumerate() {
        if n > 0 {
            text.extend_from_slice(b", ");
        }
        push_json_string(&mut text, key);
        text.extend_from_slice(b": ");
        push_text(&mut text, *value);
    }
    text.push(b'}');
    // verification prints the stored value back through jsonb_out, which could not print more
    if text.len() > MAX_PRINTABLE_BYTES {
        too_large("to print as JSON", text.len(), MAX_PRINTABLE_BYTES);
    }

    let pairs = members.len();
    let entries_at = 8;
    let mut buffer = Vec::with_capacity(entries_at + 8 * pairs + text.len());
    buffer.extend_from_slice(&[0; 4]); // varlena header, set below
    buffer.extend_from_slice(&(pairs as u32 | JB_FOBJECT).to_ne_bytes());
    buffer.resize(entries_at + 8 * pairs, 0);
    let mut total = 0usize;
    let items = members
        .iter()
        .map(|(key, _)| Scalar::String(key))
        .chain(members.iter().map(|(_, value)| *value));
    for (i, item) in items.enumerate() {
        let (kind, len) = push_data(&mut buffer, item);
        total += len;
        if total > JENTRY_OFFLENMASK as usize {
            too_large("for a jsonb object", total, JENTRY_OFFLENMASK as usize);
        }
        let entry = if i % JB_OFFSET_STRIDE == 0 {
            kind | total as u32 | JENTRY_HAS_OFF
        } else {
            kind | len as u32
        };
        buffer[entries_at + 4 * i..entries_at + 4 * i + 4].copy_from_slice(&entry.to_ne_bytes());
    }
    let header = varlena_header(buffer.len());
    buffer[..4].copy_from_slice(&header);
    // SAFETY: palloc returns `buffer.len()` writable bytes in the current memory context
    // (MAXALIGNed, as a varlena needs), which the copy fills completely.
    let datum = unsafe {
        let memory: *mut u8 = pg_sys::palloc(buffer.len()).cast();
        std::ptr::copy_nonoverlapping(buffer.as_ptr(), memory, buffer.len());
        pg_sys::Datum::from(memory)
    };
    (datum, text)
}

/// numeric_out of a numeric with scale 0 in short format and base-10000 digits in range (what
/// `push_numeric` and numeric_in make of integers); `None` for any other numeric.
fn push_integer_numeric_text(out: &mut Vec<u8>, numeric: &[u8]) -> Option<()> {
    let declared = varlena_size(numeric.get(..4)?.try_into().ok()?)?;
    let header = u16::from_ne_bytes(numeric.get(4..6)?.try_into().ok()?);
    let digits = &numeric[6..];
    let canonical = declared == numeric.len()
        && header & NUMERIC_FORMAT_MASK == NUMERIC_SHORT
        && header & (NUMERIC_SHORT_DSCALE_MASK | NUMERIC_SHORT_WEIGHT_SIGN_MASK) == 0
        && digits.len().is_multiple_of(2);
    if !canonical {
        return None;
    }
    let digit = |position: usize| {
        digits
            .get(2 * position..2 * position + 2)
            .map_or(0, |pair| i16::from_ne_bytes([pair[0], pair[1]]))
    };
    if (0..digits.len() / 2).any(|p| !(0..10_000).contains(&digit(p))) {
        return None;
    }
    if header & NUMERIC_SHORT_SIGN_MASK != 0 {
        out.push(b'-');
    }
    // get_str_from_var with dscale 0: every digit position up to the weight, missing ones 0
    for position in 0..=usize::from(header & NUMERIC_SHORT_WEIGHT_MASK) {
        let _ = if position == 0 {
            write!(out, "{}", digit(position))
        } else {
            write!(out, "{:04}", digit(position))
        };
    }
    Some(())
}

/// Appends jsonb_out's text of a stored jsonb (its bytes after the varlena header) when it is
/// an object of strings, integers, booleans and nulls, and returns true; for anything else
/// (containers, other numerics, a NUL byte that jsonb_out would stop at, malformed bytes)
/// leaves `out` as it was and returns false: print it with jsonb_out.
pub fn push_object_text(out: &mut Vec<u8>, content: &[u8]) -> bool {
    let start = out.len();
    let printed = push_object_text_or_none(out, content).is_some();
    if !printed {
        out.truncate(start);
    }
    printed
}

fn push_object_text_or_none(text: &mut Vec<u8>, content: &[u8]) -> Option<()> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(
            content.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let header = word(0)?;
    if header & !JB_CMASK != JB_FOBJECT {
        return None;
    }
    let pairs = (header & JB_CMASK) as usize;
    let base = 4 + 8 * pairs;
    let data = content.get(base..)?;
    // (type bits, bytes) of every key then every value, lengths or end offsets as stored
    let mut items = Vec::with_capacity(2 * pairs);
    let mut start = 0usize;
    for i in 0..2 * pairs {
        let entry = word(4 + 4 * i)?;
        let field = (entry & JENTRY_OFFLENMASK) as usize;
        let end = if entry & JENTRY_HAS_OFF != 0 {
            field
        } else {
            start.checked_add(field)?
        };
        let bytes = data.get(start..end)?;
        items.push((entry & JENTRY_TYPEMASK, start, bytes));
        start = end;
    }
    text.reserve(content.len() + 4 * pairs + 2);
    text.push(b'{');
    for i in 0..pairs {
        let (key_type, _, key) = items[i];
        let (value_type, value_start, value) = items[pairs + i];
        if key_type != JENTRY_ISSTRING || key.contains(&0) {
            return None;
        }
        if i > 0 {
            text.extend_from_slice(b", ");
        }
        push_json_string(text, key);
        text.extend_from_slice(b": ");
        match value_type {
            JENTRY_ISSTRING if !value.contains(&0) => push_json_string(text, value),
            JENTRY_ISNUMERIC => {
                // the numeric starts at the next 4-byte boundary of the data area
                let padding = value_start.next_multiple_of(4) - value_start;
                push_integer_numeric_text(text, value.get(padding..)?)?
            }
            JENTRY_ISBOOL_TRUE => text.extend_from_slice(b"true"),
            JENTRY_ISBOOL_FALSE => text.extend_from_slice(b"false"),
            JENTRY_ISNULL => text.extend_from_slice(b"null"),
            _ => return None,
        }
    }
    text.push(b'}');
    Some(())
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::{object, push_json_string, push_numeric, push_object_text, Scalar};
    use pgrx::prelude::*;

    /// The bytes of a varlena datum, header included.
    ///
    /// # Safety
    /// `datum` points at an untoasted varlena that outlives `'a`.
    unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
        let ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
        std::slice::from_raw_parts(ptr.cast::<u8>(), pgrx::varlena::varsize_any(ptr))
    }

    #[pg_test]
    fn integers_encode_as_int64_to_numeric_does() {
        let samples = [
            0,
            1,
            -1,
            9_999,
            10_000,
            -10_000,
            10_001,
            100_000_000,
            123_456_789,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            1_000_000_000_000,
        ];
        for value in samples {
            let mut ours = Vec::new();
            push_numeric(&mut ours, value);
            // SAFETY: int64_to_numeric takes any i64 and returns a palloc'd plain numeric.
            let theirs = unsafe { pg_sys::int64_to_numeric(value) };
            assert_eq!(
                ours,
                // SAFETY: a numeric just made, untoasted, in this test's memory context.
                unsafe { varlena_bytes(pg_sys::Datum::from(theirs)) },
                "{value}"
            );
        }
    }

    #[pg_test]
    fn strings_are_escaped_exactly_as_jsonb_out_does() {
        let long_plain = "x".repeat(100);
        let long_late = format!("{}\"", "y".repeat(70));
        let samples = [
            "",
            "plain",
            long_plain.as_str(),
            long_late.as_str(),
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

    /// Byte for byte what jsonb_in makes of the same object (which to_jsonb matches), for
    /// every scalar kind, keys of every length order, and more than 32 entries (offsets).
    #[pg_test]
    fn objects_are_byte_identical_to_postgres_jsonb() {
        let keys: Vec<String> = (0..40)
            .map(|i| format!("k{}", "é".repeat(i % 7) + &i.to_string()))
            .collect();
        let long = "z".repeat(300);
        let values = [
            Scalar::Null,
            Scalar::Bool(true),
            Scalar::Bool(false),
            Scalar::Int(0),
            Scalar::Int(-42),
            Scalar::Int(10_000),
            Scalar::Int(i64::MIN),
            Scalar::String(b""),
            Scalar::String(b"a \"quoted\"\n\\ value"),
            Scalar::String(long.as_bytes()),
        ];
        for count in [0usize, 1, 2, 5, 16, 31, 32, 33, 40] {
            for shift in 0..values.len() {
                let mut members: Vec<(&[u8], Scalar)> = keys[..count]
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.as_bytes(), values[(i + shift) % values.len()]))
                    .collect();
                let (datum, text) = object(&mut members);
                let text = String::from_utf8(text).expect("UTF-8");
                // SAFETY: jsonb_in reads a NUL-terminated string alive for the call and returns
                // a palloc'd jsonb.
                let theirs = unsafe {
                    let cstring = std::ffi::CString::new(text.clone()).expect("no NUL");
                    pgrx::direct_function_call_as_datum(
                        pg_sys::jsonb_in,
                        &[Some(pg_sys::Datum::from(cstring.as_ptr()))],
                    )
                    .expect("jsonb_in returns a value")
                };
                // SAFETY: both are jsonb values just built, untoasted, in this memory context.
                unsafe {
                    assert_eq!(varlena_bytes(datum), varlena_bytes(theirs), "{text}");
                }
                let printed = Spi::get_one_with_args::<String>(
                    "SELECT $1::jsonb::text",
                    &[text.as_str().into()],
                )
                .expect("query runs")
                .expect("not NULL");
                assert_eq!(printed, text);
            }
        }
    }

    /// Read back, every flat object prints exactly as jsonb_out prints it; everything else is
    /// left to jsonb_out.
    #[pg_test]
    fn stored_objects_read_back_as_jsonb_out_prints_them() {
        let flat = [
            "{}",
            r#"{"a": 1, "bb": -2, "ccc": 0, "d": 10000, "e": 100000000, "f": -9223372036854775808}"#,
            r#"{"n": null, "t": true, "f": false, "s": "", "q": "a \"b\" \\ \n \u0001 é"}"#,
            r#"{"id": 9223372036854775807, "filler": "                                                                                    "}"#,
            r#"{"big": 123456789012345678901234567890, "neg": -1000, "x": 20000, "e": 1e3}"#,
        ];
        let forty = (0..40)
            .map(|i| {
                format!(
                    r#""key{i}": {}"#,
                    if i % 3 == 0 {
                        i.to_string()
                    } else {
                        format!(r#""v{i}""#)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let forty = format!("{{{forty}}}");
        let left_to_jsonb_out = [
            r#"{"a": 1.5}"#,
            r#"{"a": 1.0}"#,
            r#"{"a": -0.000001}"#,
            r#"{"a": [1, 2]}"#,
            r#"{"a": {"b": 1}}"#,
            r#"[1, 2]"#,
            r#""scalar""#,
            "42",
            "null",
        ];
        let check = |json: &str, expect_fast: bool| {
            let (printed, content) = Spi::connect(|client| {
                let table = client
                    .select("SELECT $1::jsonb::text, $1::jsonb", None, &[json.into()])
                    .expect("query runs");
                let row = table.first();
                let printed: String = row.get(1).expect("text").expect("not NULL");
                // the stored bytes, as the query left them in SPI_tuptable
                // SAFETY: the select just run returned one row of two columns, the second jsonb;
                // it is detoasted and copied while SPI's result is alive.
                let content = unsafe {
                    let spi = pg_sys::SPI_tuptable;
                    let mut isnull = false;
                    let datum = pg_sys::SPI_getbinval(*(*spi).vals, (*spi).tupdesc, 2, &mut isnull);
                    assert!(!isnull);
                    let ptr = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                    pgrx::varlena::varlena_to_byte_slice(ptr).to_vec()
                };
                (printed, content)
            });
            let mut ours = b"kept".to_vec();
            if push_object_text(&mut ours, &content) {
                assert!(expect_fast, "{json} should be left to jsonb_out");
                assert_eq!(
                    String::from_utf8(ours).expect("UTF-8"),
                    format!("kept{printed}"),
                    "{json}"
                );
            } else {
                assert!(!expect_fast, "{json} should be read directly");
                assert_eq!(ours, b"kept", "{json}: nothing appended");
            }
        };
        for json in flat {
            check(json, true);
        }
        check(&forty, true);
        for json in left_to_jsonb_out {
            check(json, false);
        }
    }
}
