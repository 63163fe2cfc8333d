//! Retention: audit_prune() deletes the rows of sealed blocks older than the retention, keeping
//! every block header, as one recorded step; verification accounts for the blocks it emptied.
use super::writer::{self, AuditRecord};
use super::{guard, horizon, verify};
use crate::error::{GeError, Kind};
use crate::gucs;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// The table name of the trail row that records a prune; its row_key carries these keys.
const TRAIL: &str = "ge_security.audit_log";
const THROUGH_KEY: &str = "pruned_through_block";

fn spi_fail(e: pgrx::spi::Error) -> ! {
    crate::error::spi_failed("pruning the audit trail", e)
}

fn require_superuser() {
    // SAFETY: reads the current user's role attributes through the system cache.
    if !unsafe { pg_sys::superuser() } {
        GeError::new(
            Kind::InsufficientPrivilege,
            "audit_prune() may only be run by a superuser",
        )
        .hint("Pruning is a recorded maintenance step of the DBA; auditors export with audit_export().")
        .raise();
    }
}

fn require_primary() {
    if !horizon::is_preloaded() {
        GeError::new(
            Kind::PrerequisiteState,
            "audit_prune() needs ge_security in shared_preload_libraries",
        )
        .detail("The retention floor is the value the server was started with, and the prune is written to the trail.")
        .hint("Add ge_security to shared_preload_libraries and restart the server.")
        .raise();
    }
    // SAFETY: reads shared recovery state; any backend may ask.
    if unsafe { pg_sys::RecoveryInProgress() } {
        GeError::new(
            Kind::PrerequisiteState,
            "cannot prune the audit trail on a hot standby",
        )
        .hint("Prune on the primary; the standby follows it.")
        .raise();
    }
}

/// One sealed block's identity, as read for a prune.
struct Header {
    first_id: i64,
    last_id: i64,
}

fn header(client: &mut SpiClient, block_no: i64) -> Option<Header> {
    client
        .update(
            "SELECT first_id, last_id FROM ge_security.audit_block \
             WHERE block_no OPERATOR(pg_catalog.=) $1",
            None,
            &[block_no.into()],
        )
        .unwrap_or_else(|e| spi_fail(e))
        .next()
        .map(|row| Header {
            first_id: row.get(1).ok().flatten().unwrap_or(0),
            last_id: row.get(2).ok().flatten().unwrap_or(0),
        })
}

/// The newest sealed block's number (0 before the first seal).
pub(super) fn newest_block(client: &SpiClient) -> i64 {
    client
        .select(
            "SELECT pg_catalog.max(block_no) FROM ge_security.audit_block",
            None,
            &[],
        )
        .and_then(|t| t.first().get_one::<i64>())
        .unwrap_or_else(|e| spi_fail(e))
        .unwrap_or(0)
}

/// Refuse (42704) a block number beyond the newest sealed block.
pub(super) fn no_such_block(client: &SpiClient, block_no: i64, hint: &str) -> ! {
    GeError::new(
        Kind::UndefinedObject,
        format!("audit block {block_no} does not exist"),
    )
    .detail(match newest_block(client) {
        0 => "Nothing is sealed yet.".to_owned(),
        n => format!("The newest sealed block is {n}."),
    })
    .hint(hint)
    .raise()
}

/// Refuse (55000) unless every block up to `through` was sealed before now() minus the
/// retention in force; returns that cutoff.
fn require_past_retention(client: &mut SpiClient, through: i64) -> TimestampWithTimeZone {
    let retention = gucs::text(&gucs::AUDIT_RETENTION);
    let row = client
        .update(
            "SELECT pg_catalog.now() OPERATOR(pg_catalog.-) $1::pg_catalog.interval, \
             (SELECT pg_catalog.format('block %s was sealed at %s: its rows may leave the database from %s', \
                     b.block_no, b.sealed_at, b.sealed_at OPERATOR(pg_catalog.+) $1::pg_catalog.interval) \
                FROM ge_security.audit_block b \
               WHERE b.block_no OPERATOR(pg_catalog.<=) $2 \
                 AND b.sealed_at OPERATOR(pg_catalog.>) \
                     (pg_catalog.now() OPERATOR(pg_catalog.-) $1::pg_catalog.interval) \
               ORDER BY b.sealed_at DESC LIMIT 1)",
            None,
            &[retention.as_str().into(), through.into()],
        )
        .unwrap_or_else(|e| spi_fail(e));
    let row = row.first();
    let cutoff = row
        .get::<TimestampWithTimeZone>(1)
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            GeError::new(Kind::Internal, "the retention cutoff could not be computed").raise()
        });
    if let Some(young) = row.get::<String>(2).ok().flatten() {
        GeError::new(
            Kind::PrerequisiteState,
            format!("block {through} or an earlier one is inside the audit retention"),
        )
        .detail(format!(
            "{young} (ge_security.audit_retention is {retention}). Rows inside the retention are never deleted, by superusers and in maintenance mode neither."
        ))
        .hint(format!(
            "Prune only blocks sealed before now() - '{retention}'. The retention cannot be set below {}, the value the server was started with.",
            gucs::retention_floor().unwrap_or("the value the server was started with")
        ))
        .raise();
    }
    cutoff
}

/// Delete the rows of every sealed block up to `through_block` once the blocks are older than
/// `ge_security.audit_retention`; block headers stay, and the prune is written to the trail as
/// one DDL row. Returns the rows deleted (0 when they were pruned already). Superusers only.
#[pg_extern(parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn audit_prune(through_block: Option<i64>) -> i64 {
    require_superuser();
    let through = through_block
        .unwrap_or_else(|| GeError::new(Kind::NullValue, "through_block must not be NULL").raise());
    if through < 1 {
        GeError::new(
            Kind::InvalidParameter,
            format!("through_block must be 1 or more, not {through}"),
        )
        .detail("Sealed blocks are numbered from 1.")
        .raise();
    }
    require_primary();
    Spi::connect_mut(|client| {
        // One prune at a time. The lock conflicts with itself but not with the row-exclusive
        // lock of writers, the sealer's reads or its lock on audit_block (docs/architecture.md,
        // "Retention and archival"); every later statement takes a snapshot after it.
        client
            .update(
                "LOCK TABLE ge_security.audit_log IN SHARE UPDATE EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| spi_fail(e));
        let target = header(client, through).unwrap_or_else(|| {
            no_such_block(
                client,
                through,
                "Only the rows of sealed blocks can be pruned; unsealed rows never are.",
            )
        });
        let cutoff = require_past_retention(client, through);
        let lowest_id = client
            .update(
                "SELECT pg_catalog.min(id) FROM ge_security.audit_log",
                None,
                &[],
            )
            .and_then(|t| t.first().get_one::<i64>())
            .unwrap_or_else(|e| spi_fail(e));
        let Some(lowest_id) = lowest_id.filter(|&id| id <= target.last_id) else {
            pgrx::notice!("the rows of audit blocks up to {through} were pruned already");
            return 0;
        };
        let from = client
            .update(
                "SELECT block_no, first_id FROM ge_security.audit_block \
                 WHERE last_id OPERATOR(pg_catalog.>=) $1 ORDER BY block_no LIMIT 1",
                None,
                &[lowest_id.into()],
            )
            .unwrap_or_else(|e| spi_fail(e));
        let from = from.first();
        let (from_block, first_id) = (
            from.get::<i64>(1).ok().flatten().unwrap_or(through),
            from.get::<i64>(2).ok().flatten().unwrap_or(target.first_id),
        );
        let rows = verify::sealed_range_rows(client, from_block, through, target.last_id)
            .unwrap_or_else(|problem| {
                GeError::new(
                    Kind::PrerequisiteState,
                    format!("the rows of audit blocks {from_block} to {through} do not verify; nothing was pruned"),
                )
                .detail(problem)
                .hint("Run ge_security.audit_verify() and investigate: an archive of these rows would not verify either.")
                .raise()
            });
        let deleted = guard::with_pruner_rights(|| {
            client
                .update(
                    "DELETE FROM ge_security.audit_log WHERE id OPERATOR(pg_catalog.<=) $1",
                    None,
                    &[target.last_id.into()],
                )
                .unwrap_or_else(|e| spi_fail(e))
                .len() as i64
        });
        if deleted != rows {
            GeError::new(
                Kind::PrerequisiteState,
                "the audit trail changed while it was being pruned; nothing was pruned",
            )
            .detail(format!("{rows} rows verified, {deleted} found to delete."))
            .raise();
        }
        record(
            from_block,
            through,
            first_id,
            target.last_id,
            deleted,
            cutoff,
        );
        deleted
    })
}

/// Write the prune to the trail: one DDL row about audit_log whose row_key says what left.
fn record(
    from_block: i64,
    through: i64,
    first_id: i64,
    last_id: i64,
    rows: i64,
    cutoff: TimestampWithTimeZone,
) {
    let retention = gucs::text(&gucs::AUDIT_RETENTION);
    let key = serde_json::json!({
        "pruned_from_block": from_block,
        THROUGH_KEY: through,
        "first_id": first_id,
        "last_id": last_id,
        "rows": rows,
        "retention": retention,
        "retention_floor": gucs::retention_floor(),
        "sealed_before_micros": cutoff.into_inner(),
    });
    let mut row = AuditRecord::without_rows(
        "DDL",
        Some(TRAIL.as_bytes().to_vec()),
        Some(
            format!(
                "SELECT ge_security.audit_prune({through}); -- rows of blocks {from_block} to {through} \
                 (ids {first_id} to {last_id}, {rows} rows) deleted, retention {retention}"
            )
            .into_bytes(),
        ),
    );
    row.row_key = Some(writer::jsonb_from_text(key.to_string().as_bytes()));
    writer::write(row);
}

/// A sealed block that verification found without any of its rows.
pub struct Emptied {
    pub block_no: i64,
    pub row_count: i64,
    pub sealed_at_micros: i64,
}

/// What verification makes of the blocks it found empty.
#[derive(Default)]
pub struct Accounted {
    /// Pruned blocks: the lowest and highest block number and their rows.
    pruned: Option<(i64, i64, i64)>,
    /// Empty blocks no recorded prune explains, with why: reported as row_missing.
    pub unexplained: Vec<(i64, String)>,
}

impl Accounted {
    /// The pruned range for verification's summary, if there is one.
    pub fn note(&self) -> String {
        match self.pruned {
            None => String::new(),
            Some((low, high, rows)) => format!(
                "; the rows of blocks {low} to {high} ({rows} rows) were pruned, their headers verified"
            ),
        }
    }
}

/// One prune as the trail records it.
struct Prune {
    id: i64,
    from_block: i64,
    through: i64,
    sealed_before_micros: i64,
    at_micros: i64,
}

/// The prunes recorded in the trail (their rows are verified with every other row).
fn recorded_prunes(client: &SpiClient) -> Vec<Prune> {
    client
        .select(
            "SELECT id, at, row_key::pg_catalog.text FROM ge_security.audit_log \
             WHERE op OPERATOR(pg_catalog.=) 'DDL' AND table_name OPERATOR(pg_catalog.=) $1 \
               AND row_key OPERATOR(pg_catalog.?) $2 ORDER BY id",
            None,
            &[TRAIL.into(), THROUGH_KEY.into()],
        )
        .unwrap_or_else(|e| crate::error::spi_failed("reading the audit trail", e))
        .filter_map(|row| {
            let key: serde_json::Value =
                serde_json::from_str(&row.get::<String>(3).ok().flatten()?).ok()?;
            let number = |name: &str| key.get(name).and_then(serde_json::Value::as_i64);
            Some(Prune {
                id: row.get::<i64>(1).ok().flatten()?,
                at_micros: row
                    .get::<TimestampWithTimeZone>(2)
                    .ok()
                    .flatten()?
                    .into_inner(),
                from_block: number("pruned_from_block")?,
                through: number(THROUGH_KEY)?,
                sealed_before_micros: number("sealed_before_micros")?,
            })
        })
        .collect()
}

/// Account for the sealed blocks verification found empty: each must lie at or below the
/// newest recorded prune (a prune removes every row up to its block), and when the prune that
/// removed it is still in the trail, have been sealed before that prune's retention cutoff.
pub fn account_for(client: &SpiClient, emptied: &[Emptied]) -> Accounted {
    let mut accounted = Accounted::default();
    if emptied.is_empty() {
        return accounted;
    }
    let prunes = recorded_prunes(client);
    let reach = prunes.iter().map(|p| p.through).max().unwrap_or(0);
    for block in emptied {
        let missing = format!("block seals {} rows, 0 found", block.row_count);
        if block.block_no > reach {
            accounted
                .unexplained
                .push((block.block_no, format!("{missing} (no recorded prune)")));
            continue;
        }
        let early = prunes.iter().find(|p| {
            (p.from_block..=p.through).contains(&block.block_no)
                && (block.sealed_at_micros > p.sealed_before_micros
                    || p.sealed_before_micros > p.at_micros)
        });
        if let Some(prune) = early {
            accounted.unexplained.push((
                block.block_no,
                format!(
                    "{missing}: removed inside the retention (prune recorded as audit row {})",
                    prune.id
                ),
            ));
            continue;
        }
        let (low, high, rows) = accounted
            .pruned
            .unwrap_or((block.block_no, block.block_no, 0));
        accounted.pruned = Some((
            low.min(block.block_no),
            high.max(block.block_no),
            rows + block.row_count,
        ));
    }
    accounted
}
