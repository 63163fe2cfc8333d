//! ge_security: hardens a PostgreSQL database from the inside and proves its controls work.
//! This file only wires capabilities together: modules, `_PG_init` and the SQL that ships.
// pgrx needs TableIterator row types spelled out inline in #[pg_extern] signatures.
#![allow(clippy::type_complexity)]
use pgrx::prelude::*;

mod assess;
mod audit;
mod canonical;
mod crypto;
mod drift;
mod error;
mod evidence;
mod gucs;
mod hook_chain;
mod pg_internals;
mod subtransaction;
mod worker;

pgrx::pg_module_magic!();

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/audit.sql", name = "audit_tables");
extension_sql_file!(
    "../sql/audit_guard.sql",
    name = "audit_guard",
    requires = ["audit_tables", audit::guard::audit_guard]
);
extension_sql_file!("../sql/crypto.sql", name = "crypto_tables");
extension_sql_file!("../sql/tenancy.sql", name = "tenancy");
extension_sql_file!("../sql/roles.sql", name = "role_model");
extension_sql_file!(
    "../sql/drift.sql",
    name = "drift",
    requires = ["crypto_tables"]
);
extension_sql_file!("../sql/metrics.sql", name = "metrics", requires = ["drift"]);
extension_sql_file!("../sql/export.sql", name = "export");
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    // SAFETY: reads a plain global that PostgreSQL sets while it loads preloaded libraries.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        gucs::capture_retention_floor();
        audit::horizon::init();
        audit::ddl_guard::init();
        audit::batch::init();
        audit::redact::init();
        worker::register();
    }
}

/// Settings for `cargo pgrx test`: the library is preloaded, as in production.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'ge_security'"]
    }
}
