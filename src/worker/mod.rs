//! The ge_security background processes. A launcher, registered at preload, keeps one worker
//! per database named in `ge_security.databases` and follows that list on reload. Each database
//! worker seals the audit trail every `ge_security.seal_interval`, checks drift from the
//! approved baseline every `ge_security.drift_interval` and verifies the trail every
//! `ge_security.verify_interval`.
//!
//! - `launcher`: reads the list, starts, stops and restarts database workers (with back-off).
//! - `database`: the per-database worker and its cycles.
//! - `session`: what both share: signal handling, settings pinned before the first query, and
//!   cycles that survive an ERROR.
//! - `slots`: a small shared-memory table of running database workers, so that a database never
//!   gets two.
mod database;
mod launcher;
mod session;
mod slots;

/// Called from `_PG_init` while shared_preload_libraries is processed.
pub fn register() {
    slots::init();
    launcher::register();
}
