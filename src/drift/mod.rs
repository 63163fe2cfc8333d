//! Policy drift: `approve_baseline()` stores the current security posture (the rows of
//! `security_snapshot()`, sql/drift.sql) with its SHA-256; `drift()` (SQL) compares the posture
//! with the latest baseline; `drift_check()`, which the database workers call every
//! `ge_security.drift_interval`, records each new or changed drift item once in
//! `drift_event`, closes the items that went away, logs a WARNING and sends
//! `NOTIFY ge_security_drift` for each new one.
use crate::canonical;
use crate::error::{GeError, Kind};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use std::collections::BTreeMap;
use std::time::Instant;

/// New drift events logged and notified one by one per check; the rest are summarised.
const ANNOUNCED: usize = 20;
/// Longest object name quoted in a log line or a notification.
const SHOWN: usize = 200;

fn require_superuser(function: &str) {
    // SAFETY: reads the current user's role attributes through the system cache.
    if !unsafe { pg_sys::superuser() } {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("{function} may only be run by a superuser"),
        )
        .hint(
            "Approving a baseline and recording drift are change-management steps for superusers.",
        )
        .raise();
    }
}

fn spi_fail(e: pgrx::spi::Error) -> ! {
    crate::error::spi_failed("drift bookkeeping", e)
}

fn no_baseline() -> ! {
    GeError::new(
        Kind::PrerequisiteState,
        "no security baseline has been approved in this database",
    )
    .hint("Review the posture, then run SELECT ge_security.approve_baseline('why this posture is approved');")
    .raise()
}

/// The SHA-256 of a snapshot: the canonical JSON (see `canonical::json`) of the object
/// `{object_type: {object_name: state}}`.
pub fn snapshot_digest(
    items: impl IntoIterator<Item = (String, String, serde_json::Value)>,
) -> String {
    let mut tree: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for (object_type, object_name, state) in items {
        tree.entry(object_type)
            .or_default()
            .insert(object_name, state);
    }
    let document = serde_json::Value::Object(
        tree.into_iter()
            .map(|(k, v)| (k, serde_json::Value::Object(v)))
            .collect(),
    );
    canonical::sha256_hex(canonical::json(&document).as_bytes())
}

/// The items of a stored baseline.
fn baseline_items(client: &SpiClient, id: i64) -> Vec<(String, String, serde_json::Value)> {
    client
        .select(
            "SELECT i.object_type, i.object_name, i.state FROM ge_security.baseline_item i \
             WHERE i.baseline_id OPERATOR(pg_catalog.=) $1",
            None,
            &[id.into()],
        )
        .unwrap_or_else(|e| spi_fail(e))
        .map(|row| {
            (
                row.get::<String>(1).ok().flatten().unwrap_or_default(),
                row.get::<String>(2).ok().flatten().unwrap_or_default(),
                row.get::<JsonB>(3)
                    .ok()
                    .flatten()
                    .map(|j| j.0)
                    .unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

/// The latest baseline as evidence shows it: who approved it, when, why, its digest, and
/// whether its stored items still hash to that digest. None when there is none.
pub fn latest_baseline() -> Option<serde_json::Value> {
    Spi::connect(|client| {
        let row = client
            .select(
                "SELECT b.id, b.approved_by, b.approved_as, b.note, b.items, b.sha256, \
                        pg_catalog.to_char(b.approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                   FROM ge_security.baseline b ORDER BY b.id DESC LIMIT 1",
                None,
                &[],
            )
            .unwrap_or_else(|e| spi_fail(e));
        let row = row.into_iter().next()?;
        let id = row.get::<i64>(1).ok().flatten()?;
        let stored = row.get::<String>(6).ok().flatten().unwrap_or_default();
        let recomputed = snapshot_digest(baseline_items(client, id));
        Some(serde_json::json!({
            "id": id,
            "approved_by": row.get::<String>(2).ok().flatten(),
            "approved_as": row.get::<String>(3).ok().flatten(),
            "note": row.get::<String>(4).ok().flatten(),
            "items": row.get::<i32>(5).ok().flatten(),
            "approved_at": row.get::<String>(7).ok().flatten(),
            "sha256": stored,
            "intact": recomputed == stored,
        }))
    })
}

/// Approve the current security posture as the baseline drift is measured against.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn approve_baseline(note: Option<&str>) -> JsonB {
    require_superuser("approve_baseline()");
    let note = note.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, "note must not be NULL")
            .hint("Say which change was reviewed and who approved it, e.g. the change ticket.")
            .raise()
    });
    if note.trim().is_empty() {
        GeError::new(Kind::InvalidParameter, "a baseline approval needs a note")
            .hint("Say which change was reviewed and who approved it, e.g. the change ticket.")
            .raise();
    }
    let summary = Spi::connect_mut(|client| {
        // one approval or drift check at a time
        client
            .update(
                "LOCK TABLE ge_security.drift_event IN EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| spi_fail(e));
        let id = client
            .update(
                "INSERT INTO ge_security.baseline (note, items, sha256) \
                 VALUES ($1, 0, pg_catalog.repeat('0', 64)) RETURNING id",
                None,
                &[note.into()],
            )
            .and_then(|t| t.first().get_one::<i64>())
            .unwrap_or_else(|e| spi_fail(e))
            .unwrap_or_else(|| {
                crate::error::GeError::new(
                    crate::error::Kind::Internal,
                    "ge_security: the baseline row was not created",
                )
                .raise()
            });
        client
            .update(
                "INSERT INTO ge_security.baseline_item (baseline_id, object_type, object_name, state) \
                 SELECT $1, s.object_type, s.object_name, s.state FROM ge_security.security_snapshot() s",
                None,
                &[id.into()],
            )
            .unwrap_or_else(|e| spi_fail(e));
        // the digest is of what was stored, read back
        let items = baseline_items(client, id);
        let count = items.len() as i32;
        let sha256 = snapshot_digest(items);
        let approved_at = client
            .update(
                "UPDATE ge_security.baseline SET items = $2, sha256 = $3 \
                  WHERE id OPERATOR(pg_catalog.=) $1 \
                 RETURNING pg_catalog.to_char(approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                None,
                &[id.into(), count.into(), sha256.as_str().into()],
            )
            .and_then(|t| t.first().get_one::<String>())
            .unwrap_or_else(|e| spi_fail(e));
        let closed = client
            .update(
                "UPDATE ge_security.drift_event SET closed_at = pg_catalog.now(), closed_reason = 'approved' \
                  WHERE closed_at IS NULL",
                None,
                &[],
            )
            .map(|t| t.len())
            .unwrap_or_else(|e| spi_fail(e));
        client
            .update(
                "UPDATE ge_security.worker_status SET drift_open = 0",
                None,
                &[],
            )
            .unwrap_or_else(|e| spi_fail(e));
        serde_json::json!({
            "baseline": id,
            "items": count,
            "sha256": sha256,
            "approved_at": approved_at,
            "closed_drift_events": closed,
        })
    });
    JsonB(summary)
}

/// Records drift since the latest baseline: new items and items whose state changed again get
/// a new event, items that reverted (or were approved by a newer baseline) are closed.
/// Returns the new events, in id order.
const RECORD: &str = r#"
WITH d AS MATERIALIZED (SELECT * FROM ge_security.drift()),
latest AS (SELECT max(b.id) AS id FROM ge_security.baseline b),
closed AS (
  UPDATE ge_security.drift_event e
     SET closed_at = now(),
         closed_reason = CASE
           WHEN e.baseline_id IS DISTINCT FROM (SELECT l.id FROM latest l) THEN 'approved'
           WHEN EXISTS (SELECT FROM d WHERE d.object_type = e.object_type AND d.object_name = e.object_name)
             THEN 'superseded'
           ELSE 'reverted' END
   WHERE e.closed_at IS NULL
     AND NOT (e.baseline_id IS NOT DISTINCT FROM (SELECT l.id FROM latest l)
              AND EXISTS (SELECT FROM d WHERE d.object_type = e.object_type AND d.object_name = e.object_name
                             AND d.kind = e.kind AND d.before IS NOT DISTINCT FROM e.before
                             AND d.after IS NOT DISTINCT FROM e.after))
  RETURNING e.id),
added AS (
  INSERT INTO ge_security.drift_event (baseline_id, kind, object_type, object_name, before, after)
  SELECT (SELECT l.id FROM latest l), d.kind, d.object_type, d.object_name, d.before, d.after
    FROM d
   WHERE NOT EXISTS (SELECT FROM ge_security.drift_event e
                      WHERE e.closed_at IS NULL AND e.baseline_id IS NOT DISTINCT FROM (SELECT l.id FROM latest l)
                        AND e.object_type = d.object_type AND e.object_name = d.object_name AND e.kind = d.kind
                        AND e.before IS NOT DISTINCT FROM d.before AND e.after IS NOT DISTINCT FROM d.after)
   ORDER BY d.object_type COLLATE "C", d.object_name COLLATE "C"
  RETURNING id, kind, object_type, object_name)
SELECT a.id, a.kind, a.object_type, a.object_name, (SELECT count(*) FROM closed) AS closed
  FROM added a ORDER BY a.id
"#;

struct NewEvent {
    id: i64,
    kind: String,
    object_type: String,
    object_name: String,
}

/// Record drift since the latest baseline (what the workers run every drift_interval): each new
/// or changed item becomes one event, logged as a WARNING and sent as NOTIFY ge_security_drift.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn drift_check() -> TableIterator<
    'static,
    (
        name!(event_id, i64),
        name!(kind, String),
        name!(object_type, String),
        name!(object_name, String),
    ),
> {
    require_superuser("drift_check()");
    let started = Instant::now();
    let (database, events) = Spi::connect_mut(|client| {
        let has_baseline = client
            .select(
                "SELECT EXISTS (SELECT FROM ge_security.baseline)",
                None,
                &[],
            )
            .and_then(|t| t.first().get_one::<bool>())
            .unwrap_or_else(|e| spi_fail(e))
            .unwrap_or(false);
        if !has_baseline {
            no_baseline();
        }
        client
            .update(
                "LOCK TABLE ge_security.drift_event IN EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| spi_fail(e));
        let events: Vec<NewEvent> = client
            .update(RECORD, None, &[])
            .unwrap_or_else(|e| spi_fail(e))
            .map(|row| NewEvent {
                id: row.get::<i64>(1).ok().flatten().unwrap_or_default(),
                kind: row.get::<String>(2).ok().flatten().unwrap_or_default(),
                object_type: row.get::<String>(3).ok().flatten().unwrap_or_default(),
                object_name: row.get::<String>(4).ok().flatten().unwrap_or_default(),
            })
            .collect();
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        client
            .update(
                "UPDATE ge_security.worker_status SET drift_checked_at = now(), drift_check_ms = $1, \
                        drift_open = (SELECT count(*) FROM ge_security.drift_event e \
                                       WHERE e.closed_at IS NULL)::integer",
                None,
                &[elapsed_ms.into()],
            )
            .unwrap_or_else(|e| spi_fail(e));
        let database = client
            .select("SELECT current_database()::text", None, &[])
            .and_then(|t| t.first().get_one::<String>())
            .unwrap_or_else(|e| spi_fail(e))
            .unwrap_or_default();
        for event in events.iter().take(ANNOUNCED) {
            let payload = serde_json::json!({
                "event": event.id,
                "kind": event.kind,
                "object_type": event.object_type,
                "object": crate::error::printable(&event.object_name, SHOWN),
                "database": crate::error::printable(&database, SHOWN),
            });
            client
                .update(
                    "SELECT pg_notify('ge_security_drift', $1)",
                    None,
                    &[canonical::json(&payload).as_str().into()],
                )
                .unwrap_or_else(|e| spi_fail(e));
        }
        if events.len() > ANNOUNCED {
            let payload = serde_json::json!({
                "kind": "more",
                "count": events.len() - ANNOUNCED,
                "first_event": events[ANNOUNCED].id,
                "last_event": events.last().map(|e| e.id),
                "database": crate::error::printable(&database, SHOWN),
            });
            client
                .update(
                    "SELECT pg_notify('ge_security_drift', $1)",
                    None,
                    &[canonical::json(&payload).as_str().into()],
                )
                .unwrap_or_else(|e| spi_fail(e));
        }
        (database, events)
    });
    let database = crate::error::printable(&database, SHOWN);
    for event in events.iter().take(ANNOUNCED) {
        warning!(
            "ge_security drift in database {database}: {}: {} ({}, event {})",
            event.kind,
            crate::error::printable(&event.object_name, SHOWN),
            event.object_type,
            event.id
        );
    }
    if events.len() > ANNOUNCED {
        warning!(
            "ge_security drift in database {database}: {} more new drift events (ids {} to {}; see ge_security.drift_event)",
            events.len() - ANNOUNCED,
            events[ANNOUNCED].id,
            events.last().map_or(0, |e| e.id)
        );
    }
    TableIterator::new(
        events
            .into_iter()
            .map(|e| (e.id, e.kind, e.object_type, e.object_name)),
    )
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn snapshot_digest_ignores_item_order() {
        let a = super::snapshot_digest(vec![
            (
                "role".into(),
                "role a".into(),
                serde_json::json!({"x": 1, "y": [2]}),
            ),
            (
                "table".into(),
                "public.t".into(),
                serde_json::json!({"acl": []}),
            ),
        ]);
        let b = super::snapshot_digest(vec![
            (
                "table".into(),
                "public.t".into(),
                serde_json::json!({"acl": []}),
            ),
            (
                "role".into(),
                "role a".into(),
                serde_json::json!({"y": [2], "x": 1}),
            ),
        ]);
        assert_eq!(a, b);
        let c = super::snapshot_digest(vec![(
            "role".into(),
            "role a".into(),
            serde_json::json!({"x": 2, "y": [2]}),
        )]);
        assert_ne!(a, c);
    }
}
