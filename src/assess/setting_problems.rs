//! The ge_security settings assess() reads (role lists, tenant columns, the PII pattern): a
//! value naming nothing real, or one that cannot be used, turns into `not_assessed` rows.
//! A typo in a setting must never make the findings that depend on it disappear silently.
use super::engine::{Finding, Status};
use super::registry::Check;
use crate::gucs;
use pgrx::prelude::*;

/// A setting and the words of a finder that show the finder depends on it: its parameter and
/// the shared table expressions built from it.
struct SettingUse {
    name: &'static str,
    tokens: &'static [&'static str],
}

const USES: &[SettingUse] = &[
    SettingUse {
        name: "ge_security.superuser_allowlist",
        tokens: &["$1", "allowlisted", "login_role"],
    },
    SettingUse {
        name: "ge_security.app_roles",
        tokens: &[
            "$2",
            "app_role",
            "app_reach",
            "app_relation",
            "exposed_role",
            "exposed_reach",
            "exposed_grant",
        ],
    },
    SettingUse {
        name: "ge_security.tenant_columns",
        tokens: &["$3"],
    },
    SettingUse {
        name: "ge_security.pii_patterns",
        tokens: &["$4", "plain_pii", "pii_name"],
    },
    SettingUse {
        name: "ge_security.readonly_roles",
        tokens: &["$5", "exposed_role", "exposed_reach", "exposed_grant"],
    },
];

/// Something wrong with one setting's value.
pub struct Problem {
    setting: &'static SettingUse,
    value: String,
    problem: String,
    /// The checks that depend on it cannot run at all (otherwise they run with what is usable).
    pub unusable: bool,
}

impl Problem {
    /// Whether `check` reads this setting.
    pub fn affects(&self, check: &Check) -> bool {
        self.setting.tokens.iter().any(|t| check.finder.contains(t))
    }

    /// The `not_assessed` row that tells the caller `check` did not see what the setting meant.
    pub fn finding(&self, check: &'static Check) -> Finding {
        let value = crate::error::shown(&self.value, 64);
        Finding {
            check,
            object_type: "setting".into(),
            object_name: format!("setting {}", self.setting.name),
            status: Status::NotAssessed,
            message: format!(
                "{} was not {}assessed: {} = '{value}': {}",
                check.id,
                if self.unusable { "" } else { "fully " },
                self.setting.name,
                self.problem
            ),
            remediation: Some(format!(
                "-- correct it, e.g.: ALTER SYSTEM SET {} = '...'; SELECT pg_catalog.pg_reload_conf();",
                self.setting.name
            )),
            details: serde_json::json!({
                "setting": self.setting.name,
                "value": value,
                "problem": self.problem,
            }),
        }
    }
}

fn usage(name: &str) -> &'static SettingUse {
    USES.iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| unreachable!("{name} is listed in USES"))
}

/// Every problem with the settings assess() depends on, as this session sees them.
pub fn find() -> Vec<Problem> {
    let mut problems = Vec::new();
    let role_lists = [
        (
            "ge_security.superuser_allowlist",
            &gucs::SUPERUSER_ALLOWLIST,
        ),
        ("ge_security.app_roles", &gucs::APP_ROLES),
        ("ge_security.readonly_roles", &gucs::READONLY_ROLES),
    ];
    for (name, setting) in role_lists {
        let names = gucs::list(setting);
        let missing = Spi::get_one_with_args::<Vec<String>>(
            "SELECT pg_catalog.array_agg(n.name ORDER BY n.name) \
             FROM pg_catalog.unnest($1::pg_catalog.text[]) n(name) \
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r \
                               WHERE r.rolname OPERATOR(pg_catalog.=) n.name)",
            &[names.clone().into()],
        )
        .unwrap_or_else(|e| crate::error::spi_failed("reading role settings", e))
        .unwrap_or_default();
        if !missing.is_empty() {
            let all_missing = missing.len() == names.len();
            problems.push(Problem {
                setting: usage(name),
                value: gucs::text(setting),
                problem: format!(
                    "it names role(s) that do not exist ({}){}",
                    crate::error::shown(&missing.join(", "), 128),
                    if all_missing {
                        "; none of the roles it names exists"
                    } else {
                        "; the roles that exist were assessed"
                    }
                ),
                unusable: false,
            });
        }
    }
    let tenant_columns = gucs::list(&gucs::TENANT_COLUMNS);
    // the default ('tenant_id') may well name no column; a value someone set must name one
    let unknown_tenant_columns = Spi::get_one_with_args::<Vec<String>>(
        "SELECT pg_catalog.array_agg(n.name ORDER BY n.name) \
         FROM pg_catalog.unnest($1::pg_catalog.text[]) n(name) \
         WHERE (SELECT s.source FROM pg_catalog.pg_settings s \
                WHERE s.name OPERATOR(pg_catalog.=) 'ge_security.tenant_columns') \
               OPERATOR(pg_catalog.<>) 'default' \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a \
                           JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid \
                           WHERE a.attname OPERATOR(pg_catalog.=) n.name AND a.attnum > 0 \
                             AND NOT a.attisdropped AND c.relkind IN ('r', 'p'))",
        &[tenant_columns.into()],
    )
    .unwrap_or_else(|e| crate::error::spi_failed("reading tenant_columns", e))
    .unwrap_or_default();
    if !unknown_tenant_columns.is_empty() {
        problems.push(Problem {
            setting: usage("ge_security.tenant_columns"),
            value: gucs::text(&gucs::TENANT_COLUMNS),
            problem: format!(
                "no table has a column named {}",
                crate::error::shown(&unknown_tenant_columns.join(", "), 128)
            ),
            unusable: false,
        });
    }
    let pattern = gucs::text(&gucs::PII_PATTERNS);
    let pattern_problem = if pattern.trim().is_empty() {
        Some("it is empty, so no column is recognised as PII".to_owned())
    } else {
        gucs::pattern_problem(&pattern).map(|p| format!("not a valid regular expression ({p})"))
    };
    if let Some(problem) = pattern_problem {
        problems.push(Problem {
            setting: usage("ge_security.pii_patterns"),
            value: pattern,
            problem,
            unusable: true,
        });
    }
    problems
}
