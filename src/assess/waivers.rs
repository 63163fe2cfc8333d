//! Waivers: an accepted risk for one finding, with a reason and an expiry of at most a year.
//! Expired waivers stop applying by themselves (the engine only reads live ones).
use super::registry;
use super::server_text::{ServerText, TextArg};
use crate::error::{spi_failed, GeError, Kind};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

fn required<T>(value: Option<T>, name: &str) -> T {
    value.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, format!("{name} must not be NULL")).raise()
    })
}

/// Accept the risk of one finding (`check_id`, `object_name` as assess() prints it) until
/// `expires_at`. Replaces an existing waiver of the same finding.
#[pg_extern(security_definer, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn waive(
    check_id: Option<TextArg>,
    object_name: Option<TextArg>,
    reason: Option<TextArg>,
    expires_at: Option<TimestampWithTimeZone>,
) -> ServerText {
    let check = registry::find(&required(check_id, "check_id").0).unwrap_or_else(|e| e.raise());
    let object_name = required(object_name, "object_name").0;
    let reason = required(reason, "reason").0;
    let reason = reason.trim();
    let expires_at = required(expires_at, "expires_at");
    if object_name.trim().is_empty() {
        GeError::new(Kind::InvalidParameter, "object_name must not be empty")
            .hint("Use the object_name that assess() prints for the finding.")
            .raise();
    }
    if reason.is_empty() {
        GeError::new(Kind::InvalidParameter, "a waiver needs a reason")
            .hint("Say why the risk is accepted and who accepted it.")
            .raise();
    }
    let (future, within_year) = Spi::get_two_with_args::<bool, bool>(
        "SELECT $1 > now(), $1 <= now() + interval '1 year'",
        &[expires_at.into()],
    )
    .unwrap_or_else(|e| spi_failed("checking the expiry", e));
    if future != Some(true) || within_year != Some(true) {
        GeError::new(
            Kind::InvalidParameter,
            "waiver expiry must be in the future and at most one year away",
        )
        .detail(format!("expires_at = {expires_at}"))
        .hint("Waivers are reviewed at least yearly: renew it before it expires.")
        .raise();
    }
    Spi::run_with_args(
        "INSERT INTO ge_security.waiver (check_id, object_name, reason, expires_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (check_id, object_name) DO UPDATE \
         SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at, \
             granted_by = EXCLUDED.granted_by, granted_at = EXCLUDED.granted_at",
        &[
            check.id.into(),
            ServerText(object_name.clone()).into(),
            ServerText(reason.to_owned()).into(),
            expires_at.into(),
        ],
    )
    .unwrap_or_else(|e| spi_failed("recording the waiver", e));
    ServerText(format!(
        "waived {} on {} until {}",
        check.id, object_name, expires_at
    ))
}
