//! Redaction of sealed v2 audit rows (docs/architecture.md, "Redaction"): values leave the
//! images, their digests stay in `redacted`, and each redaction is itself a row of the trail.
use super::image::{self, Digest};
use super::record::Field;
use super::writer::{self, AuditRecord};
use crate::canonical::ROW_ENCODING_V2;
use crate::error::{GeError, Kind};
use pgrx::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;

/// The role whose members (besides superusers) may redact.
const REDACTOR_ROLE: &str = "ge_security_redactor";

/// What a row's `redacted` column holds: the records that redacted it and the digests of the
/// values (and statement) they removed.
pub struct Redacted {
    by: Vec<i64>,
    old_row: Vec<(Vec<u8>, Digest)>,
    new_row: Vec<(Vec<u8>, Digest)>,
    statement: Option<Digest>,
    /// False when the column is not in the documented form (verification then fails the row).
    well_formed: bool,
}

/// A redaction record: how many rows it redacted, and which (by id and by subject).
pub struct RedactionRecord {
    count: i64,
    ids: Option<Vec<i64>>,
}

/// What verification needs to know about a row besides its hash.
#[derive(Default)]
pub struct Lifecycle {
    pub redacted: Option<Redacted>,
    record: Option<RedactionRecord>,
}

/// Which image of a row.
#[derive(Clone, Copy)]
pub enum Image {
    Old,
    New,
}

fn digests_of(value: Option<&serde_json::Value>) -> Option<Vec<(Vec<u8>, Digest)>> {
    let Some(value) = value else {
        return Some(Vec::new());
    };
    value
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.as_bytes().to_vec(), image::from_hex(v.as_str()?)?)))
        .collect()
}

fn parse_redacted(text: &[u8]) -> Redacted {
    let value: Option<serde_json::Value> = std::str::from_utf8(text)
        .ok()
        .and_then(|t| serde_json::from_str(t).ok());
    let parsed = value.as_ref().and_then(|v| {
        let by = v
            .get("by")?
            .as_array()?
            .iter()
            .map(|id| id.as_i64())
            .collect::<Option<Vec<i64>>>()?;
        let statement = match v.get("statement") {
            None => None,
            Some(s) => Some(image::from_hex(s.as_str()?)?),
        };
        Some(Redacted {
            by,
            old_row: digests_of(v.get("old_row"))?,
            new_row: digests_of(v.get("new_row"))?,
            statement,
            well_formed: true,
        })
    });
    parsed.unwrap_or(Redacted {
        by: Vec::new(),
        old_row: Vec::new(),
        new_row: Vec::new(),
        statement: None,
        well_formed: false,
    })
}

fn parse_record(text: &[u8]) -> Option<RedactionRecord> {
    let value: serde_json::Value = serde_json::from_str(std::str::from_utf8(text).ok()?).ok()?;
    value.get("redaction")?;
    Some(RedactionRecord {
        count: value.get("count").and_then(|c| c.as_i64()).unwrap_or(-1),
        ids: value
            .get("ids")
            .and_then(|ids| ids.as_array())
            .map(|ids| ids.iter().filter_map(|id| id.as_i64()).collect()),
    })
}

/// Read a row's redactions (its `redacted` column) and whether it is a redaction record (a DDL
/// row with a `new_row`, which only redaction writes), from the texts jsonb_out prints.
pub fn read_row(op: Option<&[u8]>, new_row: Option<&[u8]>, redacted: Option<&[u8]>) -> Lifecycle {
    Lifecycle {
        redacted: redacted.map(parse_redacted),
        record: match (op, new_row) {
            (Some(b"DDL"), Some(text)) => parse_record(text).or(Some(RedactionRecord {
                count: -1,
                ids: None,
            })),
            _ => None,
        },
    }
}

/// An image's v2 field: the digest of its present values and of its redacted ones. None when
/// the row cannot hash right (a malformed image or `redacted`, a value both present and
/// redacted, or redacted values of an image that is NULL).
pub fn image_field(
    text: Option<&[u8]>,
    redacted: Option<&Redacted>,
    which: Image,
) -> Option<Field<'static>> {
    let removed: &[(Vec<u8>, Digest)] = match (redacted, which) {
        (None, _) => &[],
        (Some(r), _) if !r.well_formed => return None,
        (Some(r), Image::Old) => &r.old_row,
        (Some(r), Image::New) => &r.new_row,
    };
    let Some(text) = text else {
        return removed.is_empty().then_some(Field::Digest(None));
    };
    let mut pairs: Vec<(Cow<[u8]>, Digest)> = image::members(text)?
        .into_iter()
        .map(|m| (m.key, image::value_digest(m.value)))
        .collect();
    pairs.extend(removed.iter().map(|(k, d)| (Cow::Borrowed(&k[..]), *d)));
    Some(Field::Digest(Some(image::image_digest(pairs)?)))
}

/// A statement's v2 field: the digest of the text present, or the one kept when it was
/// redacted (then the column must be NULL).
pub fn statement_field(
    statement: Option<&[u8]>,
    redacted: Option<&Redacted>,
) -> Option<Field<'static>> {
    match (statement, redacted) {
        (_, Some(r)) if !r.well_formed => None,
        (
            Some(_),
            Some(Redacted {
                statement: Some(_), ..
            }),
        ) => None,
        (None, Some(r)) => Some(Field::Digest(r.statement)),
        (text, _) => Some(Field::Digest(text.map(image::statement_digest))),
    }
}

/// Verification's account of redactions, fed every row in id order: each redacted row must be
/// named by the redaction records it cites, and each record must account for the rows citing it.
#[derive(Default)]
pub struct Ledger {
    /// Rows citing each record not yet seen.
    pending: HashMap<i64, Vec<i64>>,
    pub redacted_rows: i64,
}

impl Ledger {
    pub fn see(
        &mut self,
        id: i64,
        lifecycle: &Lifecycle,
        mut report: impl FnMut(Option<i64>, String),
    ) {
        if let Some(redacted) = &lifecycle.redacted {
            self.redacted_rows += 1;
            if redacted.by.is_empty() {
                report(
                    Some(id),
                    "the row is redacted but names no redaction record".into(),
                );
            }
            for by in &redacted.by {
                self.pending.entry(*by).or_default().push(id);
            }
        }
        if let Some(record) = &lifecycle.record {
            let citing = self.pending.remove(&id).unwrap_or_default();
            let listed = |row: &i64| record.ids.as_ref().is_none_or(|ids| ids.contains(row));
            if record.count >= 0
                && (citing.len() as i64 != record.count || !citing.iter().all(listed))
            {
                report(
                    Some(id),
                    format!(
                        "redaction record {id} names {} rows, {} rows cite it",
                        record.count,
                        citing.len()
                    ),
                );
            }
        }
    }

    /// Rows citing records that never came (removed, or not redaction records).
    pub fn finish(self, mut report: impl FnMut(Option<i64>, String)) {
        let mut missing: Vec<(i64, Vec<i64>)> = self.pending.into_iter().collect();
        missing.sort_unstable();
        for (record, rows) in missing {
            report(
                rows.first().copied(),
                format!(
                    "{} redacted rows cite redaction record {record}, which is not in the trail",
                    rows.len()
                ),
            );
        }
    }
}

/// Superusers and members of ge_security_redactor only (42501), checked before any lock.
fn require_redactor(function: &str) {
    let allowed = Spi::get_one::<bool>(
        "SELECT pg_catalog.pg_has_role(CURRENT_USER, 'ge_security_redactor', 'USAGE')",
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !allowed {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("permission denied for {function}()"),
        )
        .detail("Redacting the audit trail needs superuser or membership in ge_security_redactor.")
        .hint(format!(
            "A superuser can GRANT {REDACTOR_ROLE} TO the data-protection role."
        ))
        .raise();
    }
}

fn require_reason(reason: Option<String>) -> String {
    let reason = reason.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, "reason must not be NULL")
            .hint("Say why, e.g. the erasure request's reference.")
            .raise()
    });
    if reason.trim().is_empty() {
        GeError::new(Kind::InvalidParameter, "reason must not be empty")
            .hint("Say why, e.g. the erasure request's reference.")
            .raise();
    }
    reason
}

/// One audit row selected for redaction, as stored.
struct Target {
    id: i64,
    version: i16,
    table_name: Option<String>,
    old_row: Option<String>,
    new_row: Option<String>,
    statement: Option<String>,
    redacted: Option<String>,
    is_record: bool,
}

/// What to remove from each row.
#[derive(Clone, Copy)]
enum What<'a> {
    Everything,
    Column(&'a str),
}

/// A row's new images, statement and `redacted` (without its new `by` entry).
struct Change {
    id: i64,
    old_row: Option<String>,
    new_row: Option<String>,
    statement: Option<String>,
    redacted: serde_json::Map<String, serde_json::Value>,
}

/// Remove the chosen values of one image, adding their digests to `digests`; None if nothing
/// is removed.
fn strip(
    text: &str,
    what: What,
    digests: &mut serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    let members = image::members(text.as_bytes()).unwrap_or_else(|| {
        GeError::new(Kind::Internal, "an audit row image is not a JSON object").raise()
    });
    let mut kept = Vec::new();
    let mut removed = false;
    for m in members {
        let chosen = match what {
            What::Everything => true,
            What::Column(col) => m.key[..] == *col.as_bytes(),
        };
        if chosen {
            let key = String::from_utf8_lossy(&m.key).into_owned();
            digests.insert(
                key,
                serde_json::Value::String(image::hex(&image::value_digest(m.value))),
            );
            removed = true;
        } else {
            kept.push((m.printed_key, Cow::Borrowed(m.value)));
        }
    }
    removed.then(|| String::from_utf8_lossy(&image::object_text(kept.into_iter())).into_owned())
}

fn plan(target: &Target, what: What) -> Option<Change> {
    let mut redacted: serde_json::Map<String, serde_json::Value> = target
        .redacted
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let mut changed = false;
    let mut image = |text: &Option<String>, key: &str| -> Option<String> {
        let text = text.as_ref()?;
        let mut digests = redacted
            .get(key)
            .and_then(|d| d.as_object().cloned())
            .unwrap_or_default();
        let stripped = strip(text, what, &mut digests);
        if stripped.is_some() {
            changed = true;
            redacted.insert(key.to_owned(), serde_json::Value::Object(digests));
        }
        Some(stripped.unwrap_or_else(|| text.clone()))
    };
    let old_row = image(&target.old_row, "old_row");
    let new_row = image(&target.new_row, "new_row");
    let statement = match (&target.statement, what) {
        (Some(statement), What::Everything) => {
            redacted.insert(
                "statement".into(),
                serde_json::Value::String(image::hex(&image::statement_digest(
                    statement.as_bytes(),
                ))),
            );
            changed = true;
            None
        }
        (statement, _) => statement.clone(),
    };
    changed.then_some(Change {
        id: target.id,
        old_row,
        new_row,
        statement,
        redacted,
    })
}

/// The rows `condition` selects (with `args`), locked, as the audit_log's owner.
fn targets(
    client: &mut pgrx::spi::SpiClient,
    condition: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> Vec<Target> {
    let sql = format!(
        "SELECT id, hash_version, table_name, old_row::text, new_row::text, statement, \
         redacted::text, (op = 'DDL' AND new_row IS NOT NULL) \
         FROM ge_security.audit_log WHERE {condition} ORDER BY id FOR UPDATE"
    );
    client
        .update(&sql, None, args)
        .unwrap_or_else(|e| crate::error::spi_failed("reading the audit rows to redact", e))
        .map(|row| Target {
            id: row.get(1).ok().flatten().unwrap_or(0),
            version: row.get(2).ok().flatten().unwrap_or(0),
            table_name: row.get(3).ok().flatten(),
            old_row: row.get(4).ok().flatten(),
            new_row: row.get(5).ok().flatten(),
            statement: row.get(6).ok().flatten(),
            redacted: row.get(7).ok().flatten(),
            is_record: row.get(8).ok().flatten().unwrap_or(false),
        })
        .collect()
}

/// The highest sealed id (0 when nothing is sealed).
fn sealed_through(client: &mut pgrx::spi::SpiClient) -> i64 {
    client
        .select(
            "SELECT COALESCE(pg_catalog.max(last_id), 0) FROM ge_security.audit_block",
            None,
            &[],
        )
        .ok()
        .and_then(|t| t.first().get_one::<i64>().ok().flatten())
        .unwrap_or(0)
}

/// Refuse the whole call if any target is unsealed (55000), hashed under v1 (0A000) or a
/// redaction record (42809).
fn check_targets(targets: &[Target], sealed: i64) {
    if let Some(t) = targets.iter().find(|t| t.id > sealed) {
        GeError::new(
            Kind::PrerequisiteState,
            format!("audit row {} is not sealed yet", t.id),
        )
        .detail("Only rows in sealed blocks can be redacted; nothing was redacted.")
        .hint("Run SELECT ge_security.audit_seal(); then redact again.")
        .raise();
    }
    if let Some(t) = targets.iter().find(|t| t.is_record) {
        GeError::new(
            Kind::WrongObjectType,
            format!("audit row {} is a redaction record", t.id),
        )
        .detail("Redaction records cannot be redacted; nothing was redacted.")
        .raise();
    }
    if let Some(t) = targets
        .iter()
        .find(|t| t.version != i16::from(ROW_ENCODING_V2))
    {
        let v1 = targets
            .iter()
            .filter(|t| t.version != i16::from(ROW_ENCODING_V2))
            .count();
        GeError::new(
            Kind::FeatureNotSupported,
            format!(
                "audit row {} is hashed under encoding v{}, which cannot be redacted",
                t.id, t.version
            ),
        )
        .detail(format!("{v1} of the rows selected were written before encoding v2 (ge_security 0.1.0, or ge_security.row_encoding = 1): their hash covers each image as a whole, so removing a value would break verification. Nothing was redacted."))
        .hint("These rows can only leave the database with their sealed block (retention and pruning).")
        .raise();
    }
}

/// Run `f` as audit_log's owner (the caller may not touch the trail itself), restoring the
/// caller's identity afterwards (an error restores it as the transaction or subtransaction
/// aborts).
fn as_trail_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = Spi::get_one::<pg_sys::Oid>(
        "SELECT relowner FROM pg_catalog.pg_class \
         WHERE oid = 'ge_security.audit_log'::pg_catalog.regclass",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        GeError::new(Kind::PrerequisiteState, "ge_security.audit_log is missing").raise()
    });
    let (mut user, mut context) = (pg_sys::InvalidOid, 0);
    // SAFETY: reads and sets the backend's current user and security context (plain globals);
    // the previous values are restored below, and by (sub)transaction abort on error.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let result = f();
    // SAFETY: as above.
    unsafe { pg_sys::SetUserIdAndSecContext(user, context) };
    result
}

/// Select, check, record and apply a redaction; returns the number of rows redacted.
fn redact(
    call: String,
    what: What,
    condition: &str,
    args: Vec<pgrx::datum::DatumWithOid>,
    mut details: serde_json::Map<String, serde_json::Value>,
    single: bool,
) -> i64 {
    // SAFETY: reads shared recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        GeError::new(Kind::PrerequisiteState, "cannot redact on a hot standby")
            .hint("Redact on the primary; the standby replays it.")
            .raise();
    }
    let (targets, sealed) = as_trail_owner(|| {
        Spi::connect_mut(|client| (targets(client, condition, &args), sealed_through(client)))
    });
    if single && targets.is_empty() {
        GeError::new(Kind::UndefinedObject, "no such audit row")
            .detail(call.clone())
            .raise();
    }
    check_targets(&targets, sealed);
    let changes: Vec<Change> = targets.iter().filter_map(|t| plan(t, what)).collect();
    if changes.is_empty() {
        return 0;
    }
    let table = targets
        .iter()
        .find(|t| changes.first().is_some_and(|c| c.id == t.id))
        .and_then(|t| t.table_name.clone());
    details.insert("count".into(), (changes.len() as i64).into());
    if !matches!(what, What::Column(_)) {
        details.insert(
            "ids".into(),
            changes.iter().map(|c| c.id).collect::<Vec<_>>().into(),
        );
    }
    let count = changes.len() as i64;
    let record = serde_json::Value::Object(details).to_string();
    let record_id = writer::write(AuditRecord {
        op: "DDL",
        table_name: table.map(String::into_bytes),
        row_key: None,
        old_row: None,
        new_row: Some(writer::jsonb_from_text(record.as_bytes())),
        changed_columns: None,
        statement: Some(call.into_bytes()),
    });
    as_trail_owner(|| {
        super::guard::with_redaction_rights(|| {
            Spi::connect_mut(|client| {
                for mut change in changes {
                    let by = change
                        .redacted
                        .entry("by")
                        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                    if let serde_json::Value::Array(ids) = by {
                        ids.push(record_id.into());
                    }
                    let redacted = serde_json::Value::Object(change.redacted).to_string();
                    client
                        .update(
                            "UPDATE ge_security.audit_log SET old_row = $2::jsonb, \
                             new_row = $3::jsonb, statement = $4, redacted = $5::jsonb \
                             WHERE id = $1",
                            None,
                            &[
                                change.id.into(),
                                change.old_row.into(),
                                change.new_row.into(),
                                change.statement.into(),
                                redacted.into(),
                            ],
                        )
                        .unwrap_or_else(|e| crate::error::spi_failed("redacting an audit row", e));
                }
            })
        })
    });
    count
}

fn details(kind: &str, reason: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut details = serde_json::Map::new();
    details.insert("redaction".into(), kind.into());
    details.insert("reason".into(), reason.into());
    details
}

/// Remove one audit row's images (and a DDL row's statement), keeping their digests.
#[pg_extern(
    sql = "CREATE FUNCTION audit_redact(id bigint, reason text) RETURNS bigint \
    VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact_wrapper';"
)]
fn audit_redact(id: Option<i64>, reason: Option<String>) -> i64 {
    require_redactor("audit_redact");
    let id = id.unwrap_or_else(|| GeError::new(Kind::NullValue, "id must not be NULL").raise());
    let reason = require_reason(reason);
    let call = format!(
        "SELECT ge_security.audit_redact({id}, {})",
        pgrx::spi::quote_literal(&reason)
    );
    let mut d = details("id", &reason);
    d.insert("id".into(), id.into());
    redact(
        call,
        What::Everything,
        "id OPERATOR(pg_catalog.=) $1",
        vec![id.into()],
        d,
        true,
    )
}

/// The names the trail records a table and its partitions and children under.
fn table_names(tbl: Option<pg_sys::Oid>) -> (pg_sys::Oid, Vec<String>) {
    let oid = tbl.unwrap_or_else(|| GeError::new(Kind::NullValue, "tbl must not be NULL").raise());
    // SAFETY: a syscache lookup by oid; '\0' when there is no such relation.
    if unsafe { pg_sys::get_rel_relkind(oid) } == 0 {
        GeError::new(
            Kind::UndefinedTable,
            format!("relation with OID {} does not exist", u32::from(oid)),
        )
        .raise();
    }
    let names = super::table_tree(oid, pg_sys::NoLock as pg_sys::LOCKMODE)
        .into_iter()
        .map(|o| String::from_utf8_lossy(&super::qualified_name_of(o)).into_owned())
        .collect();
    (oid, names)
}

/// Remove every image of one data subject's rows (by key) in a table and its partitions.
#[pg_extern(
    sql = "CREATE FUNCTION audit_redact_subject(tbl regclass, row_key jsonb, reason text) \
    RETURNS bigint VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact_subject_wrapper';"
)]
fn audit_redact_subject(
    tbl: Option<pg_sys::Oid>,
    row_key: Option<pgrx::JsonB>,
    reason: Option<String>,
) -> i64 {
    require_redactor("audit_redact_subject");
    let (_, names) = table_names(tbl);
    let key = row_key
        .unwrap_or_else(|| GeError::new(Kind::NullValue, "row_key must not be NULL").raise());
    let reason = require_reason(reason);
    let key_text = key.0.to_string();
    let call = format!(
        "SELECT ge_security.audit_redact_subject({}, {}, {})",
        pgrx::spi::quote_literal(&names[0]),
        pgrx::spi::quote_literal(&key_text),
        pgrx::spi::quote_literal(&reason)
    );
    let mut d = details("subject", &reason);
    d.insert("table".into(), names[0].clone().into());
    d.insert("row_key".into(), key.0.clone());
    redact(
        call,
        What::Everything,
        "table_name OPERATOR(pg_catalog.=) ANY ($1) AND row_key OPERATOR(pg_catalog.=) $2 \
         AND op IN ('INSERT', 'UPDATE', 'DELETE')",
        vec![names.into(), key.into()],
        d,
        false,
    )
}

/// Remove one column's values from every image of a table and its partitions.
#[pg_extern(
    sql = "CREATE FUNCTION audit_redact_column(tbl regclass, col name, reason text) \
    RETURNS bigint VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact_column_wrapper';"
)]
fn audit_redact_column(
    tbl: Option<pg_sys::Oid>,
    col: Option<&std::ffi::CStr>,
    reason: Option<String>,
) -> i64 {
    require_redactor("audit_redact_column");
    let (_, names) = table_names(tbl);
    let col = col
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|| GeError::new(Kind::NullValue, "col must not be NULL").raise());
    let reason = require_reason(reason);
    let call = format!(
        "SELECT ge_security.audit_redact_column({}, {}, {})",
        pgrx::spi::quote_literal(&names[0]),
        pgrx::spi::quote_literal(&col),
        pgrx::spi::quote_literal(&reason)
    );
    let mut d = details("column", &reason);
    d.insert("table".into(), names[0].clone().into());
    d.insert("column".into(), col.clone().into());
    redact(
        call,
        What::Column(&col),
        "table_name OPERATOR(pg_catalog.=) ANY ($1) AND op IN ('INSERT', 'UPDATE', 'DELETE') \
         AND (old_row OPERATOR(pg_catalog.?) $2 OR new_row OPERATOR(pg_catalog.?) $2)",
        vec![names.into(), col.clone().into()],
        d,
        false,
    )
}
