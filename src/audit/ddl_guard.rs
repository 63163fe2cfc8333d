//! The DDL guard: a ProcessUtility hook that refuses statements which would switch auditing off
//! or alter the trail (unless `ge_security.maintenance` is on), records security DDL in the
//! trail, and audits new partitions and inheritance children of audited tables.
//! docs/ddl_guard.md lists what is refused, what is recorded and why; docs/architecture.md, "The
//! DDL guard", says how this file does it.
use super::{
    attach_trigger, inherited_exclusions, redact, require_key, trigger, writer, ROW_TRIGGER,
    TRUNCATE_TRIGGER,
};
use crate::error::{GeError, Kind};
use crate::gucs;
use pgrx::prelude::*;
use pgrx::{PgList, PgRelation};
use std::cell::Cell;
use std::ffi::{c_char, CStr};

static mut PREVIOUS_UTILITY_HOOK: pg_sys::ProcessUtility_hook_type = None;

thread_local! {
    /// Set while the extension runs its own utility statements (enable_audit() attaching
    /// triggers, lockdown_role()): they are neither refused nor recorded twice.
    static INTERNAL: Cell<u32> = const { Cell::new(0) };
}

/// Install the hook (from `_PG_init`, under shared_preload_libraries).
pub fn init() {
    // SAFETY: called once while the library is preloaded, before any backend runs a statement;
    // the previous hook is kept and called by ours.
    unsafe {
        PREVIOUS_UTILITY_HOOK = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(guard_utility);
    }
}

/// Run `f`, whose utility statements are the extension's own.
pub fn internal<R>(f: impl FnOnce() -> R) -> R {
    INTERNAL.set(INTERNAL.get() + 1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    INTERNAL.set(INTERNAL.get() - 1);
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// What the guard does with one statement.
#[derive(Default)]
struct Plan {
    /// Refuse it (outside maintenance): the object named and why.
    refuse: Option<(String, &'static str)>,
    /// Record it in the trail as a DDL row, for this table (quoted, qualified) if any.
    record: bool,
    table: Option<Vec<u8>>,
    /// The role a role statement concerns, and whether it sets a password.
    role: Option<(String, bool)>,
    /// Tables to audit once the statement ran (new partitions and children).
    audit_after: Vec<Child>,
    /// The statement changes an audited table.
    on_audited: bool,
    /// The statement changes the trail's own tables or sequence.
    on_trail: bool,
}

/// A table that becomes a descendant of an audited table in this statement.
struct Child {
    schema: Option<String>,
    name: String,
    /// Attached as a partition (its row trigger is cloned from the parent).
    partition: bool,
}

/// The extension's own objects in this database, if it is installed here.
struct Installed {
    trail: [pg_sys::Oid; 3],
}

impl Installed {
    fn here() -> Option<Installed> {
        // SAFETY: catalog lookups by name inside the statement's transaction.
        unsafe {
            if pg_sys::get_extension_oid(c"ge_security".as_ptr(), true) == pg_sys::InvalidOid {
                return None;
            }
            let namespace = pg_sys::get_namespace_oid(c"ge_security".as_ptr(), true);
            let rel = |name: &CStr| pg_sys::get_relname_relid(name.as_ptr(), namespace);
            Some(Installed {
                trail: [
                    rel(c"audit_log"),
                    rel(c"audit_block"),
                    rel(c"audit_log_id_seq"),
                ],
            })
        }
    }

    fn is_trail(&self, relid: pg_sys::Oid) -> bool {
        relid != pg_sys::InvalidOid && self.trail.contains(&relid)
    }
}

/// The ProcessUtility hook: plans the statement, refuses it or runs it (through the previous
/// hook or standard_ProcessUtility), then audits new descendants and records it. Not
/// `#[pg_guard]`: an ERROR raised by the statement is caught and rethrown as raised
/// (`hook_chain`), so this frame holds only a raw pointer to the plan, and the work before and
/// after runs in guarded functions.
///
/// # Safety
/// Called only by PostgreSQL as `ProcessUtility_hook` (installed by `init`), with the arguments
/// of a ProcessUtility call: a valid planned utility statement and its source text.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn guard_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: PostgreSQL passes a valid planned utility statement and its source text.
    let plan = unsafe { plan_before(pstmt) };
    // SAFETY: PostgreSQL's arguments, passed on.
    let completed = unsafe {
        crate::hook_chain::process_utility(
            PREVIOUS_UTILITY_HOOK,
            pstmt,
            query_string,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        )
    };
    if !completed {
        if !plan.is_null() {
            // SAFETY: the plan plan_before boxed, freed once (plain Rust data, no PostgreSQL
            // call); the pointer is not used again.
            drop(unsafe { Box::from_raw(plan.cast::<Plan>()) });
        }
        // SAFETY: nothing in this frame needs dropping any more.
        unsafe { crate::hook_chain::rethrow() };
    }
    // SAFETY: the plan from plan_before (or null), and PostgreSQL's arguments.
    unsafe { act_after(plan, pstmt, query_string) };
}

/// Plan the statement and refuse it if it must be; the plan, boxed, for `act_after` (or for
/// the hook to free if the statement fails), or null when there is nothing to do afterwards.
///
/// # Safety
/// `pstmt` is a valid planned utility statement.
#[pg_guard]
unsafe extern "C-unwind" fn plan_before(pstmt: *mut pg_sys::PlannedStmt) -> *mut std::ffi::c_void {
    // SAFETY: the caller's guarantee.
    let Some(mut plan) = (unsafe { plan_for(pstmt) }) else {
        return std::ptr::null_mut();
    };
    if gucs::MAINTENANCE.get() {
        // In maintenance (a restore replays a dump's DDL before its trail rows are loaded)
        // what the guard would refuse is recorded, and DDL on audited tables; other security
        // DDL is not (its rows would take ids the dump's trail rows still need). DDL on the
        // trail's own objects goes to the server log: the trail may be out of shape before
        // or after it (that is what such maintenance repairs), and the writer refuses it.
        plan.record = !plan.on_trail && (plan.refuse.is_some() || plan.record && plan.on_audited);
        if let (true, Some((object, _))) = (plan.on_trail, &plan.refuse) {
            pgrx::log!(
                "ge_security: maintenance DDL on {object} by session user {}",
                session_user()
            );
        }
    } else if let Some((object, why)) = &plan.refuse {
        refuse(object, why);
    }
    Box::into_raw(Box::new(plan)).cast()
}

/// Once the statement ran: audit the new descendants and record it, as its plan says.
///
/// # Safety
/// `plan` is null or what `plan_before` returned, not used again; `pstmt` and `query_string`
/// are the arguments of the ProcessUtility call it planned.
#[pg_guard]
unsafe extern "C-unwind" fn act_after(
    plan: *mut std::ffi::c_void,
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
) {
    if plan.is_null() {
        return;
    }
    // SAFETY: the caller's guarantee: the box plan_before made, taken back once.
    let plan = unsafe { Box::from_raw(plan.cast::<Plan>()) };
    for child in &plan.audit_after {
        audit_new_descendant(child);
    }
    if plan.record {
        // SAFETY: the caller's guarantee.
        unsafe { record(&plan, pstmt, query_string) };
    }
}

/// Write the statement's DDL row.
///
/// # Safety
/// `pstmt` and `query_string` are the arguments of a ProcessUtility call.
unsafe fn record(plan: &Plan, pstmt: *mut pg_sys::PlannedStmt, query_string: *const c_char) {
    // SAFETY: the caller's guarantee; the text outlives this call.
    let statement = unsafe { statement_text(pstmt, query_string) };
    let mut row = writer::AuditRecord::without_rows("DDL", plan.table.clone(), Some(statement));
    if let Some((role, password)) = &plan.role {
        row.row_key = Some(writer::jsonb_from_text(
            serde_json::json!({ "role": role, "password_set": password })
                .to_string()
                .as_bytes(),
        ));
    }
    writer::write(row);
}

/// The session user's name, for log lines.
fn session_user() -> String {
    // SAFETY: reads the session's user id and name from the catalog cache.
    unsafe {
        CStr::from_ptr(pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), false))
            .to_string_lossy()
            .into_owned()
    }
}

fn refuse(object: &str, why: &str) -> ! {
    pgrx::log!(
        "ge_security: refused DDL on {object} by session user {}: {why}",
        session_user()
    );
    GeError::new(
        Kind::InsufficientPrivilege,
        format!("{object} is protected by ge_security: {why}"),
    )
    .detail("The audit trail and the triggers that feed it can be changed only in documented maintenance.")
    .hint("A superuser can SET ge_security.maintenance = on for the change; it is recorded in the trail.")
    .raise()
}

/// The statement's own text (a multi-statement string holds several), passwords redacted.
///
/// # Safety
/// `pstmt` and `query_string` are the arguments of a ProcessUtility call.
unsafe fn statement_text(pstmt: *mut pg_sys::PlannedStmt, query_string: *const c_char) -> Vec<u8> {
    if query_string.is_null() {
        return Vec::new();
    }
    // SAFETY: the caller's guarantee; location and length index into query_string.
    let (text, location, length) = unsafe {
        (
            CStr::from_ptr(query_string).to_bytes(),
            (*pstmt).stmt_location,
            (*pstmt).stmt_len,
        )
    };
    let start = usize::try_from(location).unwrap_or(0).min(text.len());
    let end = match usize::try_from(length) {
        Ok(0) | Err(_) => text.len(),
        Ok(n) => (start + n).min(text.len()),
    };
    let statement = text[start..end].trim_ascii();
    redact::redact_password_bytes(statement).into_owned()
}

/// Decide what to do with a statement; None when the guard has nothing to do with it.
///
/// # Safety
/// `pstmt` is a valid planned utility statement.
unsafe fn plan_for(pstmt: *mut pg_sys::PlannedStmt) -> Option<Plan> {
    if INTERNAL.get() > 0 {
        return None;
    }
    // SAFETY: the caller's guarantee.
    let node = unsafe { (*pstmt).utilityStmt };
    if node.is_null() {
        return None;
    }
    // The extension's own install and upgrade scripts change its tables; statements of other
    // extensions' scripts are covered by their CREATE/ALTER EXTENSION row.
    // SAFETY: a backend-local flag.
    if unsafe { pg_sys::creating_extension } {
        return None;
    }
    let installed = Installed::here()?;
    // SAFETY: node is a parse node; each arm casts it to the struct its tag names.
    let plan = unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_AlterTableStmt => alter_table(&installed, node.cast()),
            pg_sys::NodeTag::T_DropStmt => drop_objects(&installed, node.cast()),
            pg_sys::NodeTag::T_RenameStmt => rename(&installed, node.cast()),
            pg_sys::NodeTag::T_CreateTrigStmt => create_trigger(&installed, node.cast()),
            pg_sys::NodeTag::T_CreateStmt => create_table(&installed, node.cast()),
            pg_sys::NodeTag::T_AlterSeqStmt => on_relation(
                &installed,
                (*node.cast::<pg_sys::AlterSeqStmt>()).sequence,
                false,
            ),
            pg_sys::NodeTag::T_RuleStmt => on_relation(
                &installed,
                (*node.cast::<pg_sys::RuleStmt>()).relation,
                true,
            ),
            pg_sys::NodeTag::T_CreatePolicyStmt => security(on_relation(
                &installed,
                (*node.cast::<pg_sys::CreatePolicyStmt>()).table,
                true,
            )),
            pg_sys::NodeTag::T_AlterPolicyStmt => security(on_relation(
                &installed,
                (*node.cast::<pg_sys::AlterPolicyStmt>()).table,
                true,
            )),
            pg_sys::NodeTag::T_AlterObjectSchemaStmt => {
                let stmt = node.cast::<pg_sys::AlterObjectSchemaStmt>();
                on_relation(&installed, (*stmt).relation, false)
            }
            pg_sys::NodeTag::T_AlterOwnerStmt => {
                let stmt = node.cast::<pg_sys::AlterOwnerStmt>();
                let mut plan = security(on_relation(&installed, (*stmt).relation, false));
                if (*stmt).objectType == pg_sys::ObjectType::OBJECT_SCHEMA
                    && string_node(&(*stmt).object).as_deref() == Some("ge_security")
                {
                    plan.refuse = Some(("schema ge_security".into(), "its owner cannot change"));
                    plan.on_trail = true;
                }
                plan
            }
            pg_sys::NodeTag::T_AlterExtensionContentsStmt => {
                let stmt = node.cast::<pg_sys::AlterExtensionContentsStmt>();
                let mut plan = security(Plan::default());
                if cstr(&(*stmt).extname).as_deref() == Some("ge_security") {
                    plan.refuse = Some((
                        "extension ge_security".into(),
                        "its members cannot be added or removed",
                    ));
                    plan.on_trail = true;
                }
                plan
            }
            pg_sys::NodeTag::T_GrantStmt
            | pg_sys::NodeTag::T_GrantRoleStmt
            | pg_sys::NodeTag::T_AlterDefaultPrivilegesStmt
            | pg_sys::NodeTag::T_DropRoleStmt
            | pg_sys::NodeTag::T_AlterRoleSetStmt
            | pg_sys::NodeTag::T_AlterSystemStmt
            | pg_sys::NodeTag::T_AlterExtensionStmt
            | pg_sys::NodeTag::T_SecLabelStmt
            | pg_sys::NodeTag::T_ReassignOwnedStmt
            | pg_sys::NodeTag::T_DropOwnedStmt => security(Plan::default()),
            pg_sys::NodeTag::T_CreateExtensionStmt => {
                // the trail of a new installation starts empty; other extensions are recorded
                let stmt = node.cast::<pg_sys::CreateExtensionStmt>();
                if cstr(&(*stmt).extname).as_deref() == Some("ge_security") {
                    return None;
                }
                security(Plan::default())
            }
            pg_sys::NodeTag::T_CreateRoleStmt => {
                let stmt = node.cast::<pg_sys::CreateRoleStmt>();
                role_statement(cstr(&(*stmt).role), (*stmt).options)
            }
            pg_sys::NodeTag::T_AlterRoleStmt => {
                let stmt = node.cast::<pg_sys::AlterRoleStmt>();
                role_statement(role_name((*stmt).role), (*stmt).options)
            }
            pg_sys::NodeTag::T_CopyStmt => {
                let stmt = node.cast::<pg_sys::CopyStmt>();
                if (*stmt).is_program {
                    security(Plan::default())
                } else {
                    return None;
                }
            }
            pg_sys::NodeTag::T_VariableSetStmt => {
                let stmt = node.cast::<pg_sys::VariableSetStmt>();
                match cstr(&(*stmt).name).as_deref() {
                    Some("session_replication_role") if pg_sys::superuser() => {
                        security(Plan::default())
                    }
                    _ => return None,
                }
            }
            _ => return None,
        }
    };
    (plan.refuse.is_some() || plan.record || !plan.audit_after.is_empty()).then_some(plan)
}

/// A plan that records the statement.
fn security(mut plan: Plan) -> Plan {
    plan.record = true;
    plan
}

fn cstr(text: &*mut c_char) -> Option<String> {
    // SAFETY: parse-tree strings are NUL-terminated or NULL.
    (!text.is_null()).then(|| {
        unsafe { CStr::from_ptr(*text) }
            .to_string_lossy()
            .into_owned()
    })
}

/// The text of a String parse node (a name in an object list).
fn string_node(node: &*mut pg_sys::Node) -> Option<String> {
    // SAFETY: the tag is checked before the node is read as a String node.
    unsafe {
        if node.is_null() || (**node).type_ != pg_sys::NodeTag::T_String {
            return None;
        }
        cstr(&(*node.cast::<pg_sys::String>()).sval)
    }
}

fn role_name(spec: *mut pg_sys::RoleSpec) -> Option<String> {
    // SAFETY: a RoleSpec from the parse tree, or NULL.
    unsafe {
        if spec.is_null() {
            return None;
        }
        match (*spec).roletype {
            pg_sys::RoleSpecType::ROLESPEC_CSTRING => cstr(&(*spec).rolename),
            _ => {
                let oid = pg_sys::get_rolespec_oid(spec, true);
                let name = pg_sys::GetUserNameFromId(oid, true);
                cstr(&name)
            }
        }
    }
}

/// CREATE/ALTER ROLE: recorded with the role's name and whether a password is set.
fn role_statement(role: Option<String>, options: *mut pg_sys::List) -> Plan {
    // SAFETY: the statement's option list of DefElem nodes.
    let sets_password = unsafe { PgList::<pg_sys::DefElem>::from_pg(options) }
        .iter_ptr()
        .any(|option| {
            // SAFETY: every element of a role option list is a DefElem.
            let name = unsafe { cstr(&(*option).defname) };
            let has_value = unsafe { !(*option).arg.is_null() };
            name.as_deref() == Some("password") && has_value
        });
    let mut plan = security(Plan::default());
    plan.role = role.map(|r| (r, sets_password));
    plan
}

/// The relation a RangeVar names, without locking it (the statement locks it itself).
fn relation_oid(relation: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if relation.is_null() {
        return pg_sys::InvalidOid;
    }
    // SAFETY: a RangeVar from the parse tree; RVR_MISSING_OK returns InvalidOid for a missing
    // relation instead of raising.
    unsafe {
        pg_sys::RangeVarGetRelidExtended(
            relation,
            pg_sys::NoLock as pg_sys::LOCKMODE,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            std::ptr::null_mut(),
        )
    }
}

/// Whether the table carries an audit trigger.
fn is_audited(relid: pg_sys::Oid) -> bool {
    relid != pg_sys::InvalidOid
        && [ROW_TRIGGER, TRUNCATE_TRIGGER].iter().any(|name| {
            let name = std::ffi::CString::new(*name).unwrap_or_default();
            // SAFETY: a catalog lookup by relation and trigger name.
            unsafe { pg_sys::get_trigger_oid(relid, name.as_ptr(), true) != pg_sys::InvalidOid }
        })
}

fn relation_name(relid: pg_sys::Oid) -> Vec<u8> {
    // SAFETY: the relation exists (it was just resolved); AccessShareLock is the weakest lock
    // and the statement's own lock, when taken, is stronger.
    let rel = unsafe { PgRelation::with_lock(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    trigger::qualified_name(&rel)
}

/// A statement on one relation: refused on the trail, recorded on audited tables (and on every
/// table when `always_record`).
fn on_relation(
    installed: &Installed,
    relation: *mut pg_sys::RangeVar,
    always_record: bool,
) -> Plan {
    let relid = relation_oid(relation);
    let mut plan = Plan::default();
    if installed.is_trail(relid) {
        plan.refuse = Some((
            String::from_utf8_lossy(&relation_name(relid)).into_owned(),
            "the audit trail cannot be altered",
        ));
        plan.on_trail = true;
        return plan;
    }
    let audited = is_audited(relid);
    if relid != pg_sys::InvalidOid && (always_record || audited) {
        plan.record = true;
        plan.on_audited = audited;
        plan.table = Some(relation_name(relid));
    }
    plan
}

/// ALTER TABLE: trigger switches on audited tables are refused, everything else on them is
/// recorded; row-level security and ownership changes are recorded on every table; attached
/// partitions and new inheritance children of audited tables are audited.
///
/// # Safety
/// `stmt` is an AlterTableStmt parse node.
unsafe fn alter_table(installed: &Installed, stmt: *mut pg_sys::AlterTableStmt) -> Plan {
    // SAFETY: the caller's guarantee.
    let (relation, commands) = unsafe { ((*stmt).relation, (*stmt).cmds) };
    let relid = relation_oid(relation);
    let mut plan = on_relation(installed, relation, false);
    if plan.refuse.is_some() {
        return plan;
    }
    let audited = plan.on_audited;
    use pg_sys::AlterTableType as At;
    // SAFETY: an AlterTableStmt's command list holds AlterTableCmd nodes.
    for command in unsafe { PgList::<pg_sys::AlterTableCmd>::from_pg(commands) }.iter_ptr() {
        // SAFETY: as above.
        let (subtype, name, def) =
            unsafe { ((*command).subtype, cstr(&(*command).name), (*command).def) };
        let ours = name
            .as_deref()
            .is_some_and(|n| n == ROW_TRIGGER || n == TRUNCATE_TRIGGER);
        match subtype {
            At::AT_DisableTrig | At::AT_EnableTrig | At::AT_EnableReplicaTrig
                if audited && ours =>
            {
                plan.refuse = Some((
                    format!("the audit trigger of {}", shown(&plan.table)),
                    "audit triggers stay enabled ALWAYS",
                ));
            }
            At::AT_DisableTrigAll
            | At::AT_EnableTrigAll
            | At::AT_DisableTrigUser
            | At::AT_EnableTrigUser
                if audited =>
            {
                plan.refuse = Some((
                    format!("the audit triggers of {}", shown(&plan.table)),
                    "audit triggers stay enabled ALWAYS",
                ));
            }
            At::AT_EnableRowSecurity
            | At::AT_DisableRowSecurity
            | At::AT_ForceRowSecurity
            | At::AT_NoForceRowSecurity
            | At::AT_ChangeOwner => {
                plan.record = true;
                if plan.table.is_none() && relid != pg_sys::InvalidOid {
                    plan.table = Some(relation_name(relid));
                }
            }
            At::AT_AttachPartition if audited => {
                // SAFETY: ATTACH PARTITION carries a PartitionCmd.
                let partition = unsafe { (*def.cast::<pg_sys::PartitionCmd>()).name };
                plan.audit_after.extend(child(partition, true));
            }
            At::AT_AddInherit => {
                // SAFETY: INHERIT carries the parent's RangeVar.
                let parent = relation_oid(def.cast());
                if is_audited(parent) {
                    plan.record = true;
                    plan.table = Some(relation_name(relid));
                    plan.audit_after.extend(child(relation, false));
                }
            }
            _ => {}
        }
    }
    plan
}

fn shown(table: &Option<Vec<u8>>) -> String {
    table
        .as_deref()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default()
}

fn child(relation: *mut pg_sys::RangeVar, partition: bool) -> Option<Child> {
    if relation.is_null() {
        return None;
    }
    // SAFETY: a RangeVar from the parse tree.
    unsafe {
        Some(Child {
            schema: cstr(&(*relation).schemaname),
            name: cstr(&(*relation).relname)?,
            partition,
        })
    }
}

/// DROP: the trail, its schema, audit triggers and the extension while tables are audited are
/// refused; audited tables, policies and other extensions are recorded.
///
/// # Safety
/// `stmt` is a DropStmt parse node.
unsafe fn drop_objects(installed: &Installed, stmt: *mut pg_sys::DropStmt) -> Plan {
    // SAFETY: the caller's guarantee.
    let (kind, objects) = unsafe { ((*stmt).removeType, (*stmt).objects) };
    let mut plan = Plan::default();
    use pg_sys::ObjectType as Ot;
    // SAFETY: a DropStmt's objects are name lists or String nodes, by object type.
    for object in unsafe { PgList::<pg_sys::Node>::from_pg(objects) }.iter_ptr() {
        match kind {
            Ot::OBJECT_TABLE | Ot::OBJECT_SEQUENCE | Ot::OBJECT_VIEW | Ot::OBJECT_FOREIGN_TABLE => {
                // SAFETY: a qualified name list.
                let relation = unsafe { pg_sys::makeRangeVarFromNameList(object.cast()) };
                let found = on_relation(installed, relation, false);
                if found.refuse.is_some() {
                    return found;
                }
                if found.record {
                    plan.record = true;
                    plan.on_audited |= found.on_audited;
                    plan.table = plan.table.or(found.table);
                }
            }
            Ot::OBJECT_TRIGGER | Ot::OBJECT_POLICY | Ot::OBJECT_RULE => {
                // SAFETY: the relation's name list followed by the object's name.
                let mut names = unsafe { PgList::<pg_sys::Node>::from_pg(object.cast()) }
                    .iter_ptr()
                    .collect::<Vec<_>>();
                let Some(last) = names.pop() else { continue };
                let object_name = string_node(&last).unwrap_or_default();
                let mut list = PgList::<pg_sys::Node>::new();
                for name in names {
                    list.push(name);
                }
                // SAFETY: a list of String nodes naming a relation.
                let relation = unsafe { pg_sys::makeRangeVarFromNameList(list.into_pg()) };
                let relid = relation_oid(relation);
                if installed.is_trail(relid) {
                    plan.refuse = Some((
                        String::from_utf8_lossy(&relation_name(relid)).into_owned(),
                        "the audit trail's guards cannot be dropped",
                    ));
                    return plan;
                }
                let ours = object_name == ROW_TRIGGER || object_name == TRUNCATE_TRIGGER;
                if kind == Ot::OBJECT_TRIGGER && ours && is_audited(relid) {
                    plan.refuse = Some((
                        format!(
                            "the audit trigger of {}",
                            String::from_utf8_lossy(&relation_name(relid))
                        ),
                        "ge_security.disable_audit() removes auditing, and records it",
                    ));
                    return plan;
                }
                let audited = is_audited(relid);
                if kind == Ot::OBJECT_POLICY || audited {
                    plan.record = true;
                    plan.on_audited |= audited;
                    if relid != pg_sys::InvalidOid {
                        plan.table = Some(relation_name(relid));
                    }
                }
            }
            Ot::OBJECT_SCHEMA if string_node(&object).as_deref() == Some("ge_security") => {
                plan.refuse = Some(("schema ge_security".into(), "it holds the audit trail"));
                plan.on_trail = true;
                return plan;
            }
            Ot::OBJECT_EXTENSION => {
                if string_node(&object).as_deref() == Some("ge_security") {
                    if any_table_audited() {
                        plan.refuse = Some((
                            "extension ge_security".into(),
                            "tables are still audited (ge_security.disable_audit() them first)",
                        ));
                        plan.on_trail = true;
                        return plan;
                    }
                    // dropped with its trail: nothing is left to record into
                    return Plan::default();
                }
                plan.record = true;
            }
            _ => {}
        }
    }
    plan
}

/// Whether any table in the database carries the audit trigger function.
fn any_table_audited() -> bool {
    // SAFETY: a catalog lookup by name in the extension's schema.
    let function = unsafe {
        let name = PgList::<pg_sys::Node>::new();
        let mut name = name;
        name.push(pg_sys::makeString(pg_sys::pstrdup(c"ge_security".as_ptr())).cast());
        name.push(pg_sys::makeString(pg_sys::pstrdup(c"audit_trigger".as_ptr())).cast());
        pg_sys::LookupFuncName(name.into_pg(), 0, std::ptr::null(), true)
    };
    Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t \
         WHERE t.tgfoid OPERATOR(pg_catalog.=) $1)",
        &[function.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(true)
}

/// RENAME: audit triggers and the trail are refused, audited tables and their columns recorded.
///
/// # Safety
/// `stmt` is a RenameStmt parse node.
unsafe fn rename(installed: &Installed, stmt: *mut pg_sys::RenameStmt) -> Plan {
    // SAFETY: the caller's guarantee.
    let (kind, relation, subname) =
        unsafe { ((*stmt).renameType, (*stmt).relation, cstr(&(*stmt).subname)) };
    use pg_sys::ObjectType as Ot;
    match kind {
        Ot::OBJECT_SCHEMA if subname.as_deref() == Some("ge_security") => Plan {
            refuse: Some(("schema ge_security".into(), "it holds the audit trail")),
            on_trail: true,
            ..Plan::default()
        },
        Ot::OBJECT_ROLE => security(Plan::default()),
        Ot::OBJECT_TRIGGER => {
            let mut plan = on_relation(installed, relation, false);
            let ours = subname
                .as_deref()
                .is_some_and(|n| n == ROW_TRIGGER || n == TRUNCATE_TRIGGER);
            if plan.refuse.is_none() && plan.record && ours {
                plan.refuse = Some((
                    format!("the audit trigger of {}", shown(&plan.table)),
                    "audit triggers keep their names",
                ));
            }
            plan
        }
        _ if !relation.is_null() => on_relation(installed, relation, false),
        _ => Plan::default(),
    }
}

/// CREATE TRIGGER: on the trail refused; replacing an audit trigger refused.
///
/// # Safety
/// `stmt` is a CreateTrigStmt parse node.
unsafe fn create_trigger(installed: &Installed, stmt: *mut pg_sys::CreateTrigStmt) -> Plan {
    // SAFETY: the caller's guarantee.
    let (relation, name) = unsafe { ((*stmt).relation, cstr(&(*stmt).trigname)) };
    let mut plan = on_relation(installed, relation, false);
    let ours = name
        .as_deref()
        .is_some_and(|n| n == ROW_TRIGGER || n == TRUNCATE_TRIGGER);
    if plan.refuse.is_none() && ours {
        plan.refuse = Some((
            format!("the audit trigger name on {}", shown(&plan.table)),
            "ge_security.enable_audit() attaches audit triggers",
        ));
    }
    plan
}

/// CREATE TABLE … PARTITION OF / INHERITS an audited table: audited in the same statement.
///
/// # Safety
/// `stmt` is a CreateStmt parse node.
unsafe fn create_table(_installed: &Installed, stmt: *mut pg_sys::CreateStmt) -> Plan {
    // SAFETY: the caller's guarantee.
    let (relation, parents, partition) = unsafe {
        (
            (*stmt).relation,
            (*stmt).inhRelations,
            !(*stmt).partbound.is_null(),
        )
    };
    // SAFETY: inhRelations is a list of RangeVar.
    let audited_parent = unsafe { PgList::<pg_sys::RangeVar>::from_pg(parents) }
        .iter_ptr()
        .any(|parent| is_audited(relation_oid(parent)));
    let mut plan = Plan::default();
    if audited_parent {
        plan.record = true;
        plan.audit_after.extend(child(relation, partition));
    }
    plan
}

/// Attach the audit triggers to a table that just became a partition or child of an audited
/// table (a partition has its row trigger cloned from the parent already).
fn audit_new_descendant(child: &Child) {
    let mut names = PgList::<pg_sys::Node>::new();
    // SAFETY: makeString keeps the palloc'd copies the list points to.
    unsafe {
        if let Some(schema) = &child.schema {
            let schema = std::ffi::CString::new(schema.as_str()).unwrap_or_default();
            names.push(pg_sys::makeString(pg_sys::pstrdup(schema.as_ptr())).cast());
        }
        let name = std::ffi::CString::new(child.name.as_str()).unwrap_or_default();
        names.push(pg_sys::makeString(pg_sys::pstrdup(name.as_ptr())).cast());
    }
    // SAFETY: a list of String nodes naming the new table.
    let relation = unsafe { pg_sys::makeRangeVarFromNameList(names.into_pg()) };
    let relid = relation_oid(relation);
    if relid == pg_sys::InvalidOid {
        return;
    }
    // SAFETY: the statement that created or attached it holds a stronger lock.
    let rel = unsafe { PgRelation::with_lock(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    // SAFETY: rd_rel of an open relation.
    let holds_rows = unsafe { (*rel.rd_rel).relkind } as u8 == pg_sys::RELKIND_RELATION;
    let name = trigger::qualified_name(&rel);
    let keys = trigger::key_columns(&rel);
    drop(rel);
    if holds_rows {
        require_key(&name, &keys);
    }
    let excluded = if child.partition {
        Vec::new()
    } else {
        inherited_exclusions(relid)
    };
    internal(|| {
        if !child.partition {
            attach_trigger(&name, ROW_TRIGGER, &excluded);
        }
        attach_trigger(&name, TRUNCATE_TRIGGER, &[]);
    });
}
