//! Archival: audit_export() writes sealed blocks and their rows as JSON lines that
//! tools/verify_archive.py verifies without a database (docs/architecture.md, "Archive format").
use super::merkle;
use super::prune;
use super::record::{Hashed, COLUMNS};
use crate::canonical::ROW_ENCODING_V1;
use crate::error::{GeError, Kind};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::fmt::Write;

/// Version of the archive's line format (docs/architecture.md, "Archive format").
const FORMAT_VERSION: i64 = 1;

fn spi_fail(e: pgrx::spi::Error) -> ! {
    crate::error::spi_failed("exporting the audit trail", e)
}

/// A JSON string of `text`, ASCII only (every other character as \u escapes), so the line
/// passes unchanged through any client encoding.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                for unit in c.encode_utf16(&mut [0u16; 2]) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// A stored text value: null, a JSON string when its bytes are valid UTF-8 (the bytes are that
/// string's UTF-8 encoding), else `{"hex": "…"}` of the bytes.
fn push_bytes(out: &mut String, bytes: Option<&[u8]>) {
    match bytes.map(std::str::from_utf8) {
        None => out.push_str("null"),
        Some(Ok(text)) => push_string(out, text),
        Some(Err(_)) => {
            out.push_str("{\"hex\":\"");
            out.push_str(&merkle::hex(bytes.unwrap_or_default()));
            out.push_str("\"}");
        }
    }
}

/// How each column is selected for export: the value its canonical encoding takes (an
/// integer, or the text bytes as stored or as the type's output function prints them).
fn column_expression(index: usize) -> String {
    let column = &COLUMNS[index];
    let name = column.name;
    match (column.hashed, column.type_oid) {
        (Hashed::Integer, pg_sys::INT8OID) => name.to_owned(),
        // microseconds since 2000-01-01 00:00:00 UTC, as PostgreSQL stores a timestamptz
        (Hashed::Integer, pg_sys::TIMESTAMPTZOID) => format!(
            "((EXTRACT(epoch FROM {name}) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8 \
             OPERATOR(pg_catalog.-) 946684800000000)"
        ),
        (Hashed::Integer, pg_sys::XID8OID) => format!("{name}::pg_catalog.text::pg_catalog.int8"),
        (Hashed::Stored | Hashed::Statement, _) => format!("pg_catalog.textsend({name})"),
        (Hashed::Outside, pg_sys::INT2OID) => format!("{name}::pg_catalog.int8"),
        (Hashed::Printed | Hashed::Image | Hashed::Outside, _) => format!(
            "CASE WHEN {name} IS NOT NULL THEN pg_catalog.textsend(pg_catalog.format('%s', {name})) END"
        ),
        (Hashed::Hash, _) => name.to_owned(),
        (Hashed::Integer, _) => GeError::new(
            Kind::Internal,
            format!("the audit column {name} has no export form"),
        )
        .raise(),
    }
}

fn form(hashed: Hashed) -> &'static str {
    match hashed {
        Hashed::Integer => "integer",
        // images and statements are given as text; how a row hashes them is its encoding's
        Hashed::Stored | Hashed::Printed | Hashed::Image | Hashed::Statement => "text",
        Hashed::Hash => "hash",
        Hashed::Outside => "outside",
    }
}

/// The first line: what the archive is and how to read it.
fn archive_line(client: &SpiClient, from: i64, to: i64, last: i64) -> String {
    let facts = client
        .select(
            "SELECT pg_catalog.textsend(pg_catalog.current_database()::pg_catalog.text), \
             pg_catalog.getdatabaseencoding()::pg_catalog.text, \
             pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            None,
            &[],
        )
        .unwrap_or_else(|e| spi_fail(e));
    let facts = facts.first();
    let database: Option<Vec<u8>> = facts.get(1).ok().flatten();
    let mut out = format!(
        "{{\"type\":\"archive\",\"format\":\"ge_security audit archive\",\"format_version\":{FORMAT_VERSION},\"database\":"
    );
    push_bytes(&mut out, database.as_deref());
    out.push_str(",\"server_encoding\":");
    push_string(
        &mut out,
        &facts.get::<String>(2).ok().flatten().unwrap_or_default(),
    );
    out.push_str(",\"exported_at\":");
    push_string(
        &mut out,
        &facts.get::<String>(3).ok().flatten().unwrap_or_default(),
    );
    let _ = write!(
        out,
        ",\"from_block\":{from},\"to_block\":{to},\"last_block\":{last},\"columns\":["
    );
    for (n, column) in COLUMNS
        .iter()
        .filter(|c| !matches!(c.hashed, Hashed::Outside))
        .enumerate()
    {
        let _ = write!(
            out,
            "{}{{\"name\":\"{}\",\"form\":\"{}\"}}",
            if n > 0 { "," } else { "" },
            column.name,
            form(column.hashed)
        );
    }
    out.push_str("]}");
    out
}

/// One block header line.
fn block_line(row: &pgrx::spi::SpiHeapTupleData, rows_included: bool) -> (i64, i64, i64, String) {
    let int = |n: usize| row.get::<i64>(n).ok().flatten().unwrap_or(0);
    let hash = |n: usize| merkle::hex(&row.get::<Vec<u8>>(n).ok().flatten().unwrap_or_default());
    let (block_no, first_id, last_id) = (int(1), int(2), int(3));
    let line = format!(
        "{{\"type\":\"block\",\"block_no\":{block_no},\"first_id\":{first_id},\"last_id\":{last_id},\
         \"row_count\":{},\"rows_root\":\"{}\",\"prev_hash\":\"{}\",\"block_hash\":\"{}\",\
         \"sealed_at_micros\":{},\"sealed_at\":\"{}\",\"rows_included\":{rows_included}}}",
        int(4),
        hash(5),
        hash(6),
        hash(7),
        int(8),
        row.get::<String>(9).ok().flatten().unwrap_or_default(),
    );
    (block_no, first_id, last_id, line)
}

/// The row lines of one block, in id order.
fn row_lines(client: &SpiClient, first_id: i64, last_id: i64, out: &mut Vec<String>) {
    let select = (0..COLUMNS.len())
        .map(column_expression)
        .collect::<Vec<_>>()
        .join(", ");
    let rows = client
        .select(
            &format!(
                "SELECT {select} FROM ge_security.audit_log \
                 WHERE id OPERATOR(pg_catalog.>=) $1 AND id OPERATOR(pg_catalog.<=) $2 ORDER BY id"
            ),
            None,
            &[first_id.into(), last_id.into()],
        )
        .unwrap_or_else(|e| spi_fail(e));
    for row in rows {
        let mut fields = String::new();
        let mut row_hash = String::new();
        let mut encoding = ROW_ENCODING_V1 as i64;
        let mut redacted: Option<Vec<u8>> = None;
        for (n, column) in COLUMNS.iter().enumerate() {
            match column.hashed {
                Hashed::Hash => {
                    row_hash =
                        merkle::hex(&row.get::<Vec<u8>>(n + 1).ok().flatten().unwrap_or_default())
                }
                Hashed::Outside if column.name == "hash_version" => {
                    encoding = row.get::<i64>(n + 1).ok().flatten().unwrap_or(encoding);
                }
                Hashed::Outside => redacted = row.get::<Vec<u8>>(n + 1).ok().flatten(),
                Hashed::Integer => {
                    let value = row.get::<i64>(n + 1).ok().flatten().unwrap_or(0);
                    let _ = write!(fields, ",\"{}\":{value}", column.name);
                }
                Hashed::Stored | Hashed::Printed | Hashed::Image | Hashed::Statement => {
                    let _ = write!(fields, ",\"{}\":", column.name);
                    push_bytes(
                        &mut fields,
                        row.get::<Vec<u8>>(n + 1).ok().flatten().as_deref(),
                    );
                }
            }
        }
        // each row is hashed under its own encoding (docs/architecture.md, "Canonical row
        // encoding"); a v2 row carries the digests of its redacted values beside its fields
        let mut line = format!(
            "{{\"type\":\"row\",\"encoding\":{encoding},\"row_hash\":\"{row_hash}\",\"redacted\":"
        );
        push_bytes(&mut line, redacted.as_deref());
        let _ = write!(line, ",\"fields\":{{{}}}}}", fields.trim_start_matches(','));
        out.push(line);
    }
}

/// The rows and headers of sealed blocks `from_block..=to_block` as JSON lines, followed by
/// the headers of every later block (so the chain can be followed to a digest): the archive
/// tools/verify_archive.py verifies against a digest without the database.
#[pg_extern(parallel_safe, stable)]
#[search_path(pg_catalog, pg_temp)]
fn audit_export(from_block: Option<i64>, to_block: Option<i64>) -> SetOfIterator<'static, String> {
    let (Some(from), Some(to)) = (from_block, to_block) else {
        GeError::new(Kind::NullValue, "from_block and to_block must not be NULL").raise()
    };
    if from < 1 || from > to {
        GeError::new(
            Kind::InvalidParameter,
            format!("no blocks from {from} to {to}"),
        )
        .detail("Blocks are numbered from 1; from_block must not be after to_block.")
        .raise();
    }
    let lines = Spi::connect(|client| {
        let last = prune::newest_block(client);
        if to > last {
            prune::no_such_block(
                client,
                to,
                "Only sealed blocks are exported; seal first (ge_security.audit_seal()).",
            );
        }
        refuse_pruned(client, from);
        let mut lines = vec![archive_line(client, from, to, last)];
        let blocks = client
            .select(
                "SELECT block_no, first_id, last_id, row_count, rows_root, prev_hash, block_hash, \
                 (EXTRACT(epoch FROM sealed_at) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8 \
                 OPERATOR(pg_catalog.-) 946684800000000, \
                 pg_catalog.to_char(sealed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                 FROM ge_security.audit_block WHERE block_no OPERATOR(pg_catalog.>=) $1 ORDER BY block_no",
                None,
                &[from.into()],
            )
            .unwrap_or_else(|e| spi_fail(e));
        for row in blocks {
            let rows_included = row.get::<i64>(1).ok().flatten().unwrap_or(0) <= to;
            let (_, first_id, last_id, line) = block_line(&row, rows_included);
            lines.push(line);
            if rows_included {
                row_lines(client, first_id, last_id, &mut lines);
            }
        }
        lines
    });
    SetOfIterator::new(lines)
}

/// Refuse (55000) to export a block whose rows were all removed (pruned): the archive taken
/// before the prune holds them.
fn refuse_pruned(client: &SpiClient, from: i64) {
    let gone = client
        .select(
            "SELECT b.block_no FROM ge_security.audit_block b \
             WHERE b.block_no OPERATOR(pg_catalog.=) $1 AND b.row_count OPERATOR(pg_catalog.>) 0 \
               AND NOT EXISTS (SELECT FROM ge_security.audit_log l \
                                WHERE l.id OPERATOR(pg_catalog.>=) b.first_id \
                                  AND l.id OPERATOR(pg_catalog.<=) b.last_id)",
            None,
            &[from.into()],
        )
        .map(|t| !t.is_empty())
        .unwrap_or_else(|e| spi_fail(e));
    if gone {
        GeError::new(
            Kind::PrerequisiteState,
            format!("the rows of audit block {from} are no longer in the database"),
        )
        .detail("audit_verify() says whether audit_prune() removed them.")
        .hint("Export the blocks whose rows are still present; the archive exported before the prune holds the others.")
        .raise();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Archive lines are ASCII whatever the text: JSON escapes for quotes, backslashes, control
    /// characters and everything beyond ASCII (astral characters as surrogate pairs), which
    /// json.loads turns back into the same characters.
    #[test]
    fn strings_are_ascii_json() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c\u{1}\u{7f}é😀 ~");
        assert_eq!(out, r#""a\"b\\c\u0001\u007f\u00e9\ud83d\ude00 ~""#);
        assert!(out.is_ascii());
        let back: String = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back, "a\"b\\c\u{1}\u{7f}é😀 ~");
    }

    /// A text value is null, the string its bytes are the UTF-8 of, or the hex of bytes that
    /// are not UTF-8 (a LATIN1 é), so the bytes hashed come back exactly.
    #[test]
    fn text_values_keep_their_bytes() {
        let shown = |bytes: Option<&[u8]>| {
            let mut out = String::new();
            push_bytes(&mut out, bytes);
            out
        };
        assert_eq!(shown(None), "null");
        assert_eq!(shown(Some(b"")), r#""""#);
        assert_eq!(shown(Some("café".as_bytes())), r#""caf\u00e9""#);
        assert_eq!(shown(Some(b"caf\xe9")), r#"{"hex":"636166e9"}"#);
    }
}
