//! The control catalogue: every framework control a check cites, with its framework, version
//! and title. `checks()` cites these ids and `controls()` lists this table; tests keep both
//! inside the allow-lists of valid ids in `pg_test/controls/` (one file per framework version).

/// One framework a control belongs to: its name and the version the ids refer to. Ids carry
/// the framework as a prefix (`ISO27001:`, `SOC2:`, `CIS:`).
#[derive(Debug)]
pub struct Framework {
    pub name: &'static str,
    pub version: &'static str,
}

pub const ISO27001: Framework = Framework {
    name: "ISO/IEC 27001 Annex A",
    version: "2022",
};
pub const SOC2: Framework = Framework {
    name: "SOC 2 Trust Services Criteria",
    version: "2017 (points of focus revised 2022)",
};
pub const CIS: Framework = Framework {
    name: "CIS PostgreSQL 15 Benchmark",
    version: "v1.2.0",
};

/// One control: `id` is what checks cite (`ISO27001:A.8.5`): the framework's prefix and its
/// own number.
#[derive(Debug)]
pub struct Control {
    pub id: &'static str,
    pub framework: &'static Framework,
    pub title: &'static str,
}

macro_rules! controls {
    ($($framework:ident $id:literal $title:literal;)*) => {
        &[$(Control { id: $id, framework: &$framework, title: $title },)*]
    };
}

/// Every control cited by a check, in framework order.
pub const CONTROLS: &[Control] = controls! {
    ISO27001 "ISO27001:A.5.3"  "Segregation of duties";
    ISO27001 "ISO27001:A.5.15" "Access control";
    ISO27001 "ISO27001:A.5.16" "Identity management";
    ISO27001 "ISO27001:A.5.17" "Authentication information";
    ISO27001 "ISO27001:A.5.18" "Access rights";
    ISO27001 "ISO27001:A.5.34" "Privacy and protection of personal identifiable information (PII)";
    ISO27001 "ISO27001:A.8.2"  "Privileged access rights";
    ISO27001 "ISO27001:A.8.3"  "Information access restriction";
    ISO27001 "ISO27001:A.8.5"  "Secure authentication";
    ISO27001 "ISO27001:A.8.6"  "Capacity management";
    ISO27001 "ISO27001:A.8.8"  "Management of technical vulnerabilities";
    ISO27001 "ISO27001:A.8.9"  "Configuration management";
    ISO27001 "ISO27001:A.8.13" "Information backup";
    ISO27001 "ISO27001:A.8.15" "Logging";
    ISO27001 "ISO27001:A.8.16" "Monitoring activities";
    ISO27001 "ISO27001:A.8.17" "Clock synchronization";
    ISO27001 "ISO27001:A.8.18" "Use of privileged utility programs";
    ISO27001 "ISO27001:A.8.19" "Installation of software on operational systems";
    ISO27001 "ISO27001:A.8.20" "Networks security";
    ISO27001 "ISO27001:A.8.24" "Use of cryptography";
    ISO27001 "ISO27001:A.8.28" "Secure coding";
    ISO27001 "ISO27001:A.8.32" "Change management";
    SOC2 "SOC2:CC6.1" "Logical access security software, infrastructure and architectures";
    SOC2 "SOC2:CC6.2" "Registration, authorization and removal of user credentials";
    SOC2 "SOC2:CC6.3" "Role-based access, least privilege and segregation of duties";
    SOC2 "SOC2:CC6.6" "Protection against threats from outside the system boundaries";
    SOC2 "SOC2:CC6.7" "Restriction and protection of information in transmission, movement and removal";
    SOC2 "SOC2:CC6.8" "Prevention and detection of unauthorized or malicious software";
    SOC2 "SOC2:CC7.1" "Detection of configuration changes and newly discovered vulnerabilities";
    SOC2 "SOC2:CC7.2" "Monitoring of system components for anomalies";
    SOC2 "SOC2:CC8.1" "Change management";
    SOC2 "SOC2:A1.1"  "Capacity management";
    SOC2 "SOC2:A1.2"  "Environmental protections, backup and recovery infrastructure";
    SOC2 "SOC2:C1.1"  "Identification and maintenance of confidential information";
    SOC2 "SOC2:PI1.5" "Storage of inputs, items in processing and outputs";
    CIS "CIS:1.5"    "Ensure the Latest Security Patches are Applied";
    CIS "CIS:3.1.3"  "Ensure the logging collector is enabled";
    CIS "CIS:3.1.6"  "Ensure the log file permissions are set correctly";
    CIS "CIS:3.1.7"  "Ensure 'log_truncate_on_rotation' is enabled";
    CIS "CIS:3.1.8"  "Ensure the maximum log file lifetime is set correctly";
    CIS "CIS:3.1.9"  "Ensure the maximum log file size is set correctly";
    CIS "CIS:3.1.14" "Ensure the correct messages are written to the server log";
    CIS "CIS:3.1.15" "Ensure the correct SQL statements generating errors are recorded";
    CIS "CIS:3.1.16" "Ensure 'debug_print_parse' is disabled";
    CIS "CIS:3.1.17" "Ensure 'debug_print_rewritten' is disabled";
    CIS "CIS:3.1.18" "Ensure 'debug_print_plan' is disabled";
    CIS "CIS:3.1.19" "Ensure 'debug_pretty_print' is enabled";
    CIS "CIS:3.1.20" "Ensure 'log_connections' is enabled";
    CIS "CIS:3.1.21" "Ensure 'log_disconnections' is enabled";
    CIS "CIS:3.1.22" "Ensure 'log_error_verbosity' is set correctly";
    CIS "CIS:3.1.23" "Ensure 'log_hostname' is set correctly";
    CIS "CIS:3.1.24" "Ensure 'log_line_prefix' is set correctly";
    CIS "CIS:3.1.25" "Ensure 'log_statement' is set correctly";
    CIS "CIS:3.1.26" "Ensure 'log_timezone' is set correctly";
    CIS "CIS:3.2"    "Ensure the PostgreSQL Audit Extension (pgAudit) is enabled";
    CIS "CIS:4.3"    "Ensure excessive administrative privileges are revoked";
    CIS "CIS:4.4"    "Lock Out Accounts if Not Currently in Use";
    CIS "CIS:4.5"    "Ensure excessive function privileges are revoked";
    CIS "CIS:4.6"    "Ensure excessive DML privileges are revoked";
    CIS "CIS:4.7"    "Ensure Row Level Security (RLS) is configured correctly";
    CIS "CIS:5.2"    "Ensure PostgreSQL is Bound to an IP Address";
    CIS "CIS:5.3"    "Ensure login via \"local\" UNIX Domain Socket is configured correctly";
    CIS "CIS:5.4"    "Ensure login via \"host\" TCP/IP Socket is configured correctly";
    CIS "CIS:5.5"    "Ensure per-account connection limits are used";
    CIS "CIS:6.8"    "Ensure TLS is enabled and configured correctly";
    CIS "CIS:6.10"   "Ensure Weak SSL/TLS Ciphers Are Disabled";
    CIS "CIS:7.1"    "Ensure a replication-only user is created and used for streaming replication";
    CIS "CIS:7.2"    "Ensure logging of replication commands is configured";
    CIS "CIS:7.4"    "Ensure WAL archiving is configured and functional";
};

#[cfg(test)]
mod tests {
    use super::{Control, Framework, CIS, CONTROLS, ISO27001, SOC2};
    use crate::assess::registry;
    use std::collections::{BTreeMap, HashSet};

    fn find(id: &str) -> Option<&'static Control> {
        CONTROLS.iter().find(|c| c.id == id)
    }

    /// The framework's own number, without the prefix.
    fn number(control: &Control) -> &'static str {
        control
            .id
            .split_once(':')
            .map(|(_, n)| n)
            .unwrap_or(control.id)
    }

    /// The allow-lists of valid ids: one file per framework version, `number TAB title` per line.
    fn allow_list(prefix: &str) -> BTreeMap<&'static str, &'static str> {
        let text: &'static str = match prefix {
            "ISO27001" => include_str!("../../pg_test/controls/iso27001_2022.txt"),
            "SOC2" => include_str!("../../pg_test/controls/soc2_tsc_2017.txt"),
            "CIS" => include_str!("../../pg_test/controls/cis_postgresql_15_v1.2.0.txt"),
            other => panic!("no allow-list for {other}"),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (number, title) = l
                    .split_once('\t')
                    .unwrap_or_else(|| panic!("{prefix} allow-list line without a TAB: {l}"));
                (number, title)
            })
            .collect()
    }

    #[test]
    fn allow_lists_have_the_published_sizes() {
        // Annex A of ISO/IEC 27001:2022 has 93 controls: 37 organizational (A.5), 8 people
        // (A.6), 14 physical (A.7) and 34 technological (A.8).
        let iso = allow_list("ISO27001");
        assert_eq!(iso.len(), 93);
        for (theme, count) in [("A.5.", 37), ("A.6.", 8), ("A.7.", 14), ("A.8.", 34)] {
            assert_eq!(
                iso.keys().filter(|k| k.starts_with(theme)).count(),
                count,
                "{theme}"
            );
        }
        // TSC 2017: CC1.1-CC9.2 (33), A1.1-A1.3, C1.1-C1.2, PI1.1-PI1.5, P1.1-P8.1 (18).
        let soc2 = allow_list("SOC2");
        assert_eq!(soc2.keys().filter(|k| k.starts_with("CC")).count(), 33);
        assert_eq!(soc2.len(), 33 + 3 + 2 + 5 + 18);
        assert!(!allow_list("CIS").is_empty());
    }

    #[test]
    fn every_control_is_on_its_allow_list_with_its_title() {
        let mut seen = HashSet::new();
        for control in CONTROLS {
            assert!(seen.insert(control.id), "{} is listed twice", control.id);
            let prefix = control.id.split_once(':').map(|(p, _)| p).unwrap_or("");
            let framework: &Framework = match prefix {
                "ISO27001" => &ISO27001,
                "SOC2" => &SOC2,
                "CIS" => &CIS,
                other => panic!("{}: unknown framework prefix {other}", control.id),
            };
            assert_eq!(framework.name, control.framework.name, "{}", control.id);
            let list = allow_list(prefix);
            assert_eq!(
                list.get(number(control)).copied(),
                Some(control.title),
                "{} is not on the {} {} allow-list with this title",
                control.id,
                control.framework.name,
                control.framework.version
            );
        }
    }

    #[test]
    fn every_cited_id_is_known_and_every_known_id_is_cited() {
        let mut cited = HashSet::new();
        for check in registry::all() {
            assert!(!check.controls.is_empty(), "{} cites no control", check.id);
            let mut own = HashSet::new();
            for id in check.controls {
                assert!(own.insert(*id), "{} cites {id} twice", check.id);
                assert!(
                    find(id).is_some(),
                    "{} cites {id}, which is not in CONTROLS",
                    check.id
                );
                cited.insert(*id);
            }
            // every check gives evidence for ISO 27001 and SOC 2; CIS only where the benchmark
            // has a recommendation for it
            for framework in ["ISO27001:", "SOC2:"] {
                assert!(
                    check.controls.iter().any(|c| c.starts_with(framework)),
                    "{} cites no {framework} control",
                    check.id
                );
            }
        }
        let unused: Vec<&str> = CONTROLS
            .iter()
            .map(|c: &Control| c.id)
            .filter(|id| !cited.contains(id))
            .collect();
        assert!(unused.is_empty(), "controls no check cites: {unused:?}");
    }
}
