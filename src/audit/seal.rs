//! Sealing: groups committed audit rows below the horizon into Merkle blocks chained by hash.
//! Writers are never blocked: the horizon is read before the snapshot that selects the rows.
use super::horizon;
use super::merkle::{self, RootBuilder};
use crate::error::{GeError, Kind};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// Rows per block at most, so that proofs and verification stay cheap per block.
const MAX_BLOCK_ROWS: i64 = 50_000;

fn require_sealable() {
    if !horizon::is_preloaded() {
        GeError::new(
            Kind::PrerequisiteState,
            "audit_seal() needs ge_security in shared_preload_libraries",
        )
        .hint("Add ge_security to shared_preload_libraries and restart the server.")
        .raise();
    }
    // SAFETY: reads shared recovery state; any backend may ask.
    if unsafe { pg_sys::RecoveryInProgress() } {
        GeError::new(
            Kind::PrerequisiteState,
            "cannot seal the audit trail on a hot standby",
        )
        .hint("Seal on the primary; audit_verify() works on the standby.")
        .raise();
    }
    // SAFETY: reads the current transaction's isolation level, a plain backend global.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        GeError::new(
            Kind::PrerequisiteState,
            "audit_seal() must run in READ COMMITTED",
        )
        .detail("Sealing must take its snapshot after reading the horizon.")
        .hint("Call it outside REPEATABLE READ or SERIALIZABLE transactions.")
        .raise();
    }
}

fn spi_fail(e: pgrx::spi::Error) -> ! {
    crate::error::spi_failed("sealing the audit trail", e)
}

/// The last block (block_no, last_id, block_hash), or the genesis values.
fn last_block(client: &mut SpiClient) -> (i64, i64, Vec<u8>) {
    let rows = client
        .update(
            "SELECT block_no, last_id, block_hash FROM ge_security.audit_block \
             ORDER BY block_no DESC LIMIT 1",
            None,
            &[],
        )
        .unwrap_or_else(|e| spi_fail(e));
    rows.into_iter()
        .next()
        .map(|row| {
            (
                row.get::<i64>(1).ok().flatten().unwrap_or(0),
                row.get::<i64>(2).ok().flatten().unwrap_or(0),
                row.get::<Vec<u8>>(3).ok().flatten().unwrap_or_default(),
            )
        })
        .unwrap_or((0, 0, vec![0u8; 32]))
}

/// Seal every committed row that is safe to seal now; returns how many rows were sealed. Its
/// queries qualify their operators and the function pins search_path as well.
#[pg_extern(parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn audit_seal() -> i64 {
    require_sealable();
    Spi::connect_mut(|client| {
        // One sealer at a time; readers of audit_block are not blocked.
        client
            .update(
                "LOCK TABLE ge_security.audit_block IN EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| spi_fail(e));
        horizon::require_ordered(super::writer::trail_sequence());
        let last_allocated: i64 = client
            .update(
                "SELECT CASE WHEN is_called THEN last_value \
                 ELSE last_value OPERATOR(pg_catalog.-) 1 END \
                 FROM ge_security.audit_log_id_seq",
                None,
                &[],
            )
            .and_then(|t| t.first().get_one())
            .unwrap_or_else(|e| spi_fail(e))
            .unwrap_or(0);
        let horizon = horizon::read(last_allocated);
        // Every statement from here takes a new snapshot, after the horizon was read.
        let (mut block_no, mut after_id, mut prev_hash) = last_block(client);
        let mut sealed = 0i64;
        loop {
            let rows = client
                .update(
                    "SELECT id, row_hash FROM ge_security.audit_log \
                     WHERE id OPERATOR(pg_catalog.>) $1 AND id OPERATOR(pg_catalog.<) $2 \
                     ORDER BY id LIMIT $3",
                    None,
                    &[after_id.into(), horizon.into(), MAX_BLOCK_ROWS.into()],
                )
                .unwrap_or_else(|e| spi_fail(e));
            let mut root = RootBuilder::default();
            let (mut first_id, mut last_id) = (0i64, 0i64);
            for row in rows {
                let id: i64 = row.get(1).ok().flatten().unwrap_or(0);
                let hash: Vec<u8> = row.get(2).ok().flatten().unwrap_or_default();
                if root.count() == 0 {
                    first_id = id;
                }
                last_id = id;
                root.push(merkle::leaf(id, &hash));
            }
            let Some(rows_root) = root.root() else { break };
            let row_count = root.count() as i64;
            block_no += 1;
            // SAFETY: reads the sealing transaction's start time (a function runs in one).
            let sealed_at = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
            let block_hash = merkle::block_hash(
                block_no, first_id, last_id, row_count, &rows_root, &prev_hash, sealed_at,
            );
            let sealed_at_datum = TimestampWithTimeZone::try_from(sealed_at).unwrap_or_else(|e| {
                GeError::new(
                    Kind::Internal,
                    "the transaction's start time is not a timestamp",
                )
                .detail(e.to_string())
                .raise()
            });
            super::guard::with_sealer_rights(|| {
                client
                    .update(
                        "INSERT INTO ge_security.audit_block (block_no, first_id, last_id, row_count, \
                         rows_root, prev_hash, block_hash, sealed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        None,
                        &[
                            block_no.into(),
                            first_id.into(),
                            last_id.into(),
                            row_count.into(),
                            rows_root.to_vec().into(),
                            prev_hash.clone().into(),
                            block_hash.to_vec().into(),
                            sealed_at_datum.into(),
                        ],
                    )
                    .unwrap_or_else(|e| spi_fail(e))
            });
            sealed += row_count;
            after_id = last_id;
            prev_hash = block_hash.to_vec();
            if row_count < MAX_BLOCK_ROWS {
                break;
            }
        }
        sealed
    })
}
