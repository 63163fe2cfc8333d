//! The one definition of the audit record (docs/architecture.md, "The audit record"): the columns
//! of ge_security.audit_log, from which the writer, verification and the row hash all work.
use crate::canonical::{RowHasher, ROW_ENCODING_V1, ROW_ENCODING_V2};
use pgrx::pg_sys;

// Each row records the encoding it was hashed under in `hash_version` (new rows: the setting
// ge_security.row_encoding, 2 by default). Adding, removing or reordering a hashed column
// changes what is hashed: it needs a new version, with the old ones kept for their rows.

/// How a column enters the canonical encoding (docs/architecture.md, "Canonical row encoding").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hashed {
    /// An integer: the datum's 64-bit value (bigint, timestamptz microseconds, xid8).
    Integer,
    /// Text: the bytes stored (a text column), or NULL.
    Stored,
    /// Text: the value as its type's output function prints it (inet_out, jsonb_out,
    /// array_out), or NULL.
    Printed,
    /// A row image (jsonb): under v1 its printed text, as `Printed`; under v2 the digest of its
    /// (column, value digest) pairs, so that a value can be replaced by its digest later.
    Image,
    /// A DDL row's statement (text): under v1 its bytes, as `Stored`; under v2 their SHA-256.
    Statement,
    /// Not hashed: the column holds the hash itself.
    Hash,
    /// Not hashed: `hash_version` (the version byte the hash starts with) and `redacted` (the
    /// digests of removed values, which the hash already commits to).
    Outside,
}

/// One column of audit_log. `sql_type` and `not_null` are what the test holds `sql/audit.sql`
/// to (the writer checks names and type OIDs only, as it did before).
pub struct Column {
    pub name: &'static str,
    /// The type as `format_type` prints it.
    #[cfg_attr(not(any(test, feature = "pg_test")), allow(dead_code))]
    pub sql_type: &'static str,
    pub type_oid: pg_sys::Oid,
    #[cfg_attr(not(any(test, feature = "pg_test")), allow(dead_code))]
    pub not_null: bool,
    pub hashed: Hashed,
}

/// One column's canonical form, as fed to the row hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    Integer(i64),
    Text(Option<&'a [u8]>),
    /// An image or statement under v2: its digest, or NULL.
    Digest(Option<[u8; 32]>),
    /// A column the hash does not cover (row_hash, hash_version, redacted).
    Unhashed,
}

/// Declares the record once: `Record<T>` (one `T` per column, named, in column order) and
/// `COLUMNS` (each column's name, type, nullability and canonical form, in the same order).
macro_rules! audit_record {
    ($($field:ident: $sql_type:literal, $oid:ident, $not_null:literal, $hashed:ident;)*) => {
        /// Something per column of audit_log, in column order. Building one names every column,
        /// so a column added to the definition cannot be forgotten by the writer.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Record<T> {
            $(pub $field: T,)*
        }

        /// The columns of ge_security.audit_log in table order; `sql/audit.sql` creates the
        /// same table, which a test compares column by column.
        pub const COLUMNS: [Column; COUNT] = [$(Column {
            name: stringify!($field),
            sql_type: $sql_type,
            type_oid: pg_sys::$oid,
            not_null: $not_null,
            hashed: Hashed::$hashed,
        },)*];

        /// The number of columns.
        pub const COUNT: usize = [$(stringify!($field)),*].len();

        /// Where each column is in the record (its index in `COLUMNS`).
        pub const POSITION: Record<usize> = {
            let mut next = 0usize;
            $(let $field = next; next += 1;)*
            assert!(next == COUNT);
            Record { $($field),* }
        };

        impl<T> Record<T> {
            /// The values in column order.
            pub fn into_array(self) -> [T; COUNT] {
                [$(self.$field),*]
            }

            /// A record from values in column order.
            pub fn from_array(values: [T; COUNT]) -> Self {
                let [$($field),*] = values;
                Record { $($field),* }
            }
        }
    };
}

audit_record! {
    id: "bigint", INT8OID, true, Integer;
    at: "timestamp with time zone", TIMESTAMPTZOID, true, Integer;
    txid: "xid8", XID8OID, true, Integer;
    actor: "text", TEXTOID, false, Stored;
    session_user_name: "text", TEXTOID, true, Stored;
    current_user_name: "text", TEXTOID, true, Stored;
    client_addr: "inet", INETOID, false, Printed;
    application_name: "text", TEXTOID, false, Stored;
    op: "text", TEXTOID, true, Stored;
    table_name: "text", TEXTOID, false, Stored;
    row_key: "jsonb", JSONBOID, false, Printed;
    old_row: "jsonb", JSONBOID, false, Image;
    new_row: "jsonb", JSONBOID, false, Image;
    changed_columns: "text[]", TEXTARRAYOID, false, Printed;
    statement: "text", TEXTOID, false, Statement;
    row_hash: "bytea", BYTEAOID, true, Hash;
    hash_version: "smallint", INT2OID, true, Outside;
    redacted: "jsonb", JSONBOID, false, Outside;
}

/// `SELECT <every column> FROM ge_security.audit_log`, in column order (the names are plain
/// lower-case identifiers, which a test checks).
pub fn select_list() -> String {
    COLUMNS.map(|c| c.name).join(", ")
}

/// Whether rows hashed under `version` can be verified (and so exist).
pub fn known_version(version: i16) -> bool {
    version == i16::from(ROW_ENCODING_V1) || version == i16::from(ROW_ENCODING_V2)
}

/// SHA-256 of the record's canonical encoding under `version` (docs/architecture.md, "Canonical
/// row encoding"): every hashed column in column order, each in its column's form. Under v1
/// images and statements are given as text; under v2 as their digests.
pub fn row_hash(version: u8, fields: &Record<Field>) -> [u8; 32] {
    let mut hasher = RowHasher::new(version);
    let v2 = version == ROW_ENCODING_V2;
    for (column, field) in COLUMNS.iter().zip(fields.into_array()) {
        match (column.hashed, field) {
            (Hashed::Integer, Field::Integer(n)) => {
                hasher.int(n);
            }
            (Hashed::Stored | Hashed::Printed, Field::Text(text)) => {
                hasher.text(text);
            }
            (Hashed::Image | Hashed::Statement, Field::Text(text)) if !v2 => {
                hasher.text(text);
            }
            (Hashed::Image | Hashed::Statement, Field::Digest(digest)) if v2 => {
                hasher.text(digest.as_ref().map(|d| &d[..]));
            }
            (Hashed::Hash | Hashed::Outside, Field::Unhashed) => {}
            (hashed, field) => {
                unreachable!(
                    "column {} is hashed as {hashed:?}, given {field:?}",
                    column.name
                )
            }
        }
    }
    hasher.finish()
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    /// row_hash feeds the fields in the documented order and forms (docs/architecture.md,
    /// "Canonical row encoding"): id, at and txid as integers, then the twelve text columns,
    /// NULL apart from empty; under v2 old_row, new_row and statement by their digests.
    #[test]
    fn row_hash_is_the_documented_encoding() {
        use sha2::{Digest, Sha256};
        let texts: [Option<&[u8]>; 12] = [
            Some(b"user:42"),
            Some(b"alice"),
            Some(b"app"),
            None,
            Some(b""),
            Some(b"UPDATE"),
            Some(b"public.t"),
            Some(br#"{"id": 1}"#),
            Some(br#"{"id": 1, "v": "a"}"#),
            Some(br#"{"id": 1, "v": "b"}"#),
            Some(b"{v}"),
            None,
        ];
        let mut expected = b"ge_security/audit_row\x01".to_vec();
        for n in [7i64, 812_345_678_901_234, (5u64 << 32 | 77) as i64] {
            expected.push(1);
            expected.extend_from_slice(&n.to_be_bytes());
        }
        for text in texts {
            match text {
                None => expected.push(0),
                Some(t) => {
                    expected.push(2);
                    expected.extend_from_slice(&(t.len() as u32).to_be_bytes());
                    expected.extend_from_slice(t);
                }
            }
        }
        let [actor, session_user_name, current_user_name, client_addr, application_name, op, table_name, row_key, old_row, new_row, changed_columns, statement] =
            texts.map(Field::Text);
        let fields = Record {
            id: Field::Integer(7),
            at: Field::Integer(812_345_678_901_234),
            txid: Field::Integer((5u64 << 32 | 77) as i64),
            actor,
            session_user_name,
            current_user_name,
            client_addr,
            application_name,
            op,
            table_name,
            row_key,
            old_row,
            new_row,
            changed_columns,
            statement,
            row_hash: Field::Unhashed,
            hash_version: Field::Unhashed,
            redacted: Field::Unhashed,
        };
        let digest: [u8; 32] = Sha256::digest(&expected).into();
        assert_eq!(row_hash(ROW_ENCODING_V1, &fields), digest);

        // version 2: the same header, old_row, new_row and statement by their digests
        let image =
            |t: Option<&[u8]>| t.map(|t| super::super::image::digest_of_text(t).expect("object"));
        let v2 = Record {
            old_row: Field::Digest(image(texts[8])),
            new_row: Field::Digest(image(texts[9])),
            statement: Field::Digest(None),
            ..fields
        };
        let mut expected = b"ge_security/audit_row\x02".to_vec();
        for n in [7i64, 812_345_678_901_234, (5u64 << 32 | 77) as i64] {
            expected.push(1);
            expected.extend_from_slice(&n.to_be_bytes());
        }
        for (k, text) in texts.into_iter().enumerate() {
            let digest = match k {
                8 | 9 => image(text),
                _ => None,
            };
            match (text, digest) {
                (None, _) => expected.push(0),
                (Some(_), Some(d)) => {
                    expected.push(2);
                    expected.extend_from_slice(&32u32.to_be_bytes());
                    expected.extend_from_slice(&d);
                }
                (Some(t), None) => {
                    expected.push(2);
                    expected.extend_from_slice(&(t.len() as u32).to_be_bytes());
                    expected.extend_from_slice(t);
                }
            }
        }
        let digest: [u8; 32] = Sha256::digest(&expected).into();
        assert_eq!(row_hash(ROW_ENCODING_V2, &v2), digest);
    }

    /// The positions, the array order and the column list agree, and every name can be
    /// written into SQL as it is.
    #[test]
    fn positions_and_names_follow_the_column_list() {
        let positions = POSITION.into_array();
        assert_eq!(positions, std::array::from_fn(|i| i));
        assert_eq!(Record::from_array(positions), POSITION);
        assert_eq!(COLUMNS[POSITION.row_hash].hashed, Hashed::Hash);
        for column in COLUMNS {
            assert!(
                !column.name.is_empty()
                    && column
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                column.name
            );
        }
        assert!(select_list().starts_with("id, at, txid, actor, "));
    }

    /// The definition matches the table CREATE EXTENSION made: the same live columns in the
    /// same order, with the same types and NOT NULL constraints.
    #[pg_test]
    fn the_definition_matches_the_sql_table() {
        let table: Vec<(String, String, pg_sys::Oid, bool)> = Spi::connect(|client| {
            client
                .select(
                    "SELECT attname::text, pg_catalog.format_type(atttypid, atttypmod), atttypid, \
                     attnotnull FROM pg_catalog.pg_attribute \
                     WHERE attrelid = 'ge_security.audit_log'::pg_catalog.regclass \
                     AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    None,
                    &[],
                )
                .expect("catalog query runs")
                .map(|row| {
                    (
                        row.get::<String>(1).expect("name").expect("not NULL"),
                        row.get::<String>(2).expect("type").expect("not NULL"),
                        row.get::<pg_sys::Oid>(3).expect("oid").expect("not NULL"),
                        row.get::<bool>(4).expect("flag").expect("not NULL"),
                    )
                })
                .collect()
        });
        let ours: Vec<(String, String, pg_sys::Oid, bool)> = COLUMNS
            .iter()
            .map(|c| {
                (
                    c.name.to_owned(),
                    c.sql_type.to_owned(),
                    c.type_oid,
                    c.not_null,
                )
            })
            .collect();
        assert_eq!(table, ours);
    }
}
