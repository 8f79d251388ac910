//! The one policy table of Nimbus: every action of every API, and who may do it.
//!
//! Personas follow the specification (7.6): roles admin > manager > member > reader
//! (each implies the next), scopes system > domain > project. A cloud admin holds
//! `admin` on the system scope or on the bootstrap `admin` project (Keystone's
//! "admin project"); an `admin` role on any other project gives no cloud-wide power.
//!
//! [`authorize`] answers 404 instead of 403 when the target lives somewhere the caller
//! cannot see (another domain; for project-owned resources, another project), so that
//! nothing leaks the existence of other tenants' objects.

use crate::auth::Principal;
use crate::ApiError;

/// Who may perform an action; a caller passes if any rule of the action matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Any valid token.
    Authenticated,
    /// `admin` on the system scope or on the bootstrap admin project.
    CloudAdmin,
    /// `reader` (or more) on the system scope.
    SystemReader,
    /// `manager` on a domain-scoped token for the target's domain.
    DomainManager,
    /// `reader` (or more) on a domain-scoped token for the target's domain.
    DomainReader,
    /// Any token scoped to the target's domain or to a project in it.
    InDomain,
    /// `manager` on a token scoped to the target project.
    ProjectManager,
    /// `member` on a token scoped to the target project.
    ProjectMember,
    /// `reader` on a token scoped to the target project.
    ProjectReader,
    /// The target belongs to the caller (its user is the caller's user).
    Owner,
    /// The caller can see the target at all ([`visible`]): what reading a shared
    /// object needs (a public image, or one shared with the caller's project).
    Visible,
}

use Rule::*;

const ADMIN: &[Rule] = &[CloudAdmin];
const ANYONE: &[Rule] = &[Authenticated];
const ADMIN_OR_READER: &[Rule] = &[CloudAdmin, SystemReader];
const DOMAIN_READ: &[Rule] = &[CloudAdmin, SystemReader, DomainReader];
const DOMAIN_WRITE: &[Rule] = &[CloudAdmin, DomainManager];
const SELF_READ: &[Rule] = &[CloudAdmin, SystemReader, DomainReader, Owner];
const OWN: &[Rule] = &[CloudAdmin, Owner];
const SEEN: &[Rule] = &[Visible];
const PROJECT_WRITE: &[Rule] = &[CloudAdmin, ProjectMember];
const OWN_READ: &[Rule] = &[CloudAdmin, SystemReader, Owner];
const PROJECT_READ: &[Rule] = &[CloudAdmin, SystemReader, ProjectReader];

/// Every action, and the rules that allow it.
pub static POLICY: &[(&str, &[Rule])] = &[
    // Identity: domains
    ("identity:list_domains", ADMIN_OR_READER),
    ("identity:get_domain", &[CloudAdmin, SystemReader, InDomain]),
    ("identity:create_domain", ADMIN),
    ("identity:update_domain", ADMIN),
    ("identity:delete_domain", ADMIN),
    // Identity: projects
    ("identity:list_projects", DOMAIN_READ),
    (
        "identity:get_project",
        &[CloudAdmin, SystemReader, DomainReader, ProjectReader],
    ),
    ("identity:create_project", DOMAIN_WRITE),
    ("identity:update_project", DOMAIN_WRITE),
    ("identity:delete_project", DOMAIN_WRITE),
    // Identity: users
    ("identity:list_users", DOMAIN_READ),
    ("identity:get_user", SELF_READ),
    ("identity:create_user", DOMAIN_WRITE),
    ("identity:update_user", DOMAIN_WRITE),
    ("identity:delete_user", DOMAIN_WRITE),
    ("identity:list_user_projects", SELF_READ),
    ("identity:list_groups_for_user", SELF_READ),
    ("identity:change_password", &[Owner]),
    // Identity: groups
    ("identity:list_groups", DOMAIN_READ),
    ("identity:get_group", DOMAIN_READ),
    ("identity:create_group", DOMAIN_WRITE),
    ("identity:update_group", DOMAIN_WRITE),
    ("identity:delete_group", DOMAIN_WRITE),
    ("identity:list_users_in_group", DOMAIN_READ),
    ("identity:check_user_in_group", DOMAIN_READ),
    ("identity:add_user_to_group", DOMAIN_WRITE),
    ("identity:remove_user_from_group", DOMAIN_WRITE),
    // Identity: roles and implications (names are not secret; granting is guarded)
    ("identity:list_roles", ANYONE),
    ("identity:get_role", ANYONE),
    ("identity:create_role", ADMIN),
    ("identity:update_role", ADMIN),
    ("identity:delete_role", ADMIN),
    ("identity:list_implied_roles", ANYONE),
    ("identity:get_implied_role", ANYONE),
    ("identity:create_implied_role", ADMIN),
    ("identity:delete_implied_role", ADMIN),
    ("identity:list_role_inference_rules", ANYONE),
    // Identity: grants on projects and domains (roles a manager may grant: see
    // DOMAIN_MANAGED_ROLES), and on the system
    ("identity:check_grant", DOMAIN_READ),
    ("identity:list_grants", DOMAIN_READ),
    ("identity:create_grant", DOMAIN_WRITE),
    ("identity:revoke_grant", DOMAIN_WRITE),
    ("identity:check_system_grant", ADMIN_OR_READER),
    ("identity:list_system_grants", ADMIN_OR_READER),
    ("identity:create_system_grant", ADMIN),
    ("identity:revoke_system_grant", ADMIN),
    ("identity:list_role_assignments", SELF_READ),
    // Identity: application credentials belong to their user
    ("identity:list_credentials", OWN_READ),
    ("identity:get_credential", OWN_READ),
    ("identity:create_credential", OWN),
    ("identity:update_credential", OWN),
    ("identity:delete_credential", OWN),
    ("identity:list_application_credentials", OWN),
    ("identity:get_application_credential", OWN),
    ("identity:create_application_credential", &[Owner]),
    ("identity:delete_application_credential", OWN),
    // Identity: catalog
    ("identity:list_regions", ANYONE),
    ("identity:get_region", ANYONE),
    ("identity:create_region", ADMIN),
    ("identity:update_region", ADMIN),
    ("identity:delete_region", ADMIN),
    ("identity:list_services", ANYONE),
    ("identity:get_service", ANYONE),
    ("identity:create_service", ADMIN),
    ("identity:update_service", ADMIN),
    ("identity:delete_service", ADMIN),
    ("identity:list_endpoints", ANYONE),
    ("identity:get_endpoint", ANYONE),
    ("identity:create_endpoint", ADMIN),
    ("identity:update_endpoint", ADMIN),
    ("identity:delete_endpoint", ADMIN),
    // Identity: tokens and the caller's own view
    (
        "identity:validate_token",
        &[CloudAdmin, SystemReader, Owner],
    ),
    ("identity:revoke_token", &[CloudAdmin, Owner]),
    ("identity:get_auth_catalog", ANYONE),
    ("identity:get_auth_projects", ANYONE),
    ("identity:get_auth_domains", ANYONE),
    ("identity:get_auth_system", ANYONE),
    // Audit trail
    ("identity:list_audit_records", ADMIN_OR_READER),
    // Compute: flavors are read by everyone (a private flavor only by cloud admins,
    // system readers and the projects on its access list: `nimbus_compute`'s
    // visibility check) and managed by cloud admins
    ("compute:flavors:index", ANYONE),
    ("compute:flavors:show", ANYONE),
    ("compute:os-flavor-manage:create", ADMIN),
    ("compute:os-flavor-manage:update", ADMIN),
    ("compute:os-flavor-manage:delete", ADMIN),
    ("compute:os-flavor-extra-specs:index", ANYONE),
    ("compute:os-flavor-extra-specs:show", ANYONE),
    ("compute:os-flavor-extra-specs:create", ADMIN),
    ("compute:os-flavor-extra-specs:update", ADMIN),
    ("compute:os-flavor-extra-specs:delete", ADMIN),
    ("compute:os-flavor-access", ADMIN_OR_READER),
    ("compute:os-flavor-access:add_tenant_access", ADMIN),
    ("compute:os-flavor-access:remove_tenant_access", ADMIN),
    // Compute: keypairs belong to their user; cloud admins act for anyone
    ("compute:os-keypairs:index", OWN_READ),
    ("compute:os-keypairs:show", OWN_READ),
    ("compute:os-keypairs:create", OWN),
    ("compute:os-keypairs:delete", OWN),
    // Compute: servers belong to their project (other projects get 404); readers
    // list and show, members create and act; admins see every project and the
    // host attributes
    ("compute:servers:index", ANYONE),
    ("compute:servers:detail", ANYONE),
    ("compute:servers:index:get_all_tenants", ADMIN),
    ("compute:servers:show", PROJECT_READ),
    ("compute:servers:show:host_attributes", ADMIN),
    ("compute:servers:create", PROJECT_WRITE),
    ("compute:servers:create:requested_destination", ADMIN),
    ("compute:servers:update", PROJECT_WRITE),
    ("compute:servers:delete", PROJECT_WRITE),
    ("compute:servers:start", PROJECT_WRITE),
    ("compute:servers:stop", PROJECT_WRITE),
    ("compute:servers:reboot", PROJECT_WRITE),
    ("compute:servers:lock", PROJECT_WRITE),
    ("compute:servers:unlock", PROJECT_WRITE),
    ("compute:servers:create_image", PROJECT_WRITE),
    ("compute:servers:console_output", PROJECT_WRITE),
    ("compute:servers:metadata:index", PROJECT_READ),
    ("compute:servers:metadata:update", PROJECT_WRITE),
    ("compute:servers:tags:index", PROJECT_READ),
    ("compute:servers:tags:update", PROJECT_WRITE),
    ("compute:servers:ips", PROJECT_READ),
    ("compute:os-interface:index", PROJECT_READ),
    ("compute:os-interface:attach", PROJECT_WRITE),
    ("compute:os-interface:detach", PROJECT_WRITE),
    // Compute: volume attachments (Nova's names); swapping is Cinder's (admins)
    ("os_compute_api:os-volumes-attachments:index", PROJECT_READ),
    ("os_compute_api:os-volumes-attachments:show", PROJECT_READ),
    (
        "os_compute_api:os-volumes-attachments:create",
        PROJECT_WRITE,
    ),
    (
        "os_compute_api:os-volumes-attachments:update",
        PROJECT_WRITE,
    ),
    (
        "os_compute_api:os-volumes-attachments:delete",
        PROJECT_WRITE,
    ),
    ("os_compute_api:os-volumes-attachments:swap", ADMIN),
    ("compute:os-security-groups:list", PROJECT_READ),
    ("compute:os-instance-actions:index", PROJECT_READ),
    ("compute:os-instance-actions:events:details", ADMIN),
    // Compute: server groups, quotas, limits, hypervisors, zones
    ("compute:os-server-groups:index", ANYONE),
    (
        "compute:os-server-groups:index:all_projects",
        ADMIN_OR_READER,
    ),
    ("compute:os-server-groups:show", PROJECT_READ),
    ("compute:os-server-groups:create", PROJECT_WRITE),
    ("compute:os-server-groups:delete", PROJECT_WRITE),
    ("compute:os-quota-sets:show", PROJECT_READ),
    ("compute:os-quota-sets:defaults", ANYONE),
    ("compute:os-quota-sets:update", ADMIN),
    ("compute:os-quota-sets:delete", ADMIN),
    ("compute:limits", ANYONE),
    ("compute:os-hypervisors", ADMIN_OR_READER),
    ("compute:os-services:list", ADMIN_OR_READER),
    ("compute:os-availability-zone:list", ANYONE),
    ("compute:os-availability-zone:detail", ADMIN_OR_READER),
    // Image (Glance v2). Reads need only sight of the image: its owner project, a
    // public or community image, or a shared one the caller's project is a member
    // of (`nimbus_image::access` builds the target); other projects' private
    // images answer 404. Writes need `member` on the owning project.
    ("image:get_images", ANYONE),
    ("image:get_image", SEEN),
    ("image:download_image", SEEN),
    ("image:add_image", PROJECT_WRITE),
    ("image:modify_image", PROJECT_WRITE),
    ("image:delete_image", PROJECT_WRITE),
    ("image:upload_image", PROJECT_WRITE),
    ("image:deactivate", PROJECT_WRITE),
    ("image:reactivate", PROJECT_WRITE),
    ("image:publicize_image", ADMIN),
    ("image:communitize_image", PROJECT_WRITE),
    ("image:set_image_owner", ADMIN),
    ("image:get_members", SEEN),
    ("image:get_member", SEEN),
    ("image:add_member", PROJECT_WRITE),
    ("image:delete_member", PROJECT_WRITE),
    // the member project answers for itself (target: the member project)
    ("image:modify_member", PROJECT_WRITE),
    // Network (Neutron v2.0). Reads need sight of the object: its own project, or
    // for shared and external networks (and their subnets) any project
    // (`nimbus_network::access` builds the target); others' objects answer 404.
    // Writes need `member` on the owning project (for a subnet: the network's
    // owner); `shared`, `router:external` and port bindings are for cloud admins.
    ("network:get_network", SEEN),
    ("network:create_network", PROJECT_WRITE),
    ("network:update_network", PROJECT_WRITE),
    ("network:delete_network", PROJECT_WRITE),
    ("network:create_network:shared", ADMIN),
    ("network:create_network:router:external", ADMIN),
    ("network:update_network:shared", ADMIN),
    ("network:update_network:router:external", ADMIN),
    ("network:get_subnet", SEEN),
    ("network:create_subnet", PROJECT_WRITE),
    ("network:update_subnet", PROJECT_WRITE),
    ("network:delete_subnet", PROJECT_WRITE),
    ("network:get_port", SEEN),
    ("network:create_port", PROJECT_WRITE),
    ("network:update_port", PROJECT_WRITE),
    ("network:delete_port", PROJECT_WRITE),
    ("network:create_port:binding:host_id", ADMIN),
    ("network:update_port:binding:host_id", ADMIN),
    ("network:get_router", SEEN),
    ("network:create_router", PROJECT_WRITE),
    ("network:update_router", PROJECT_WRITE),
    ("network:delete_router", PROJECT_WRITE),
    ("network:add_router_interface", PROJECT_WRITE),
    ("network:remove_router_interface", PROJECT_WRITE),
    (
        "network:create_router:external_gateway_info:external_fixed_ips",
        ADMIN,
    ),
    ("network:get_floatingip", SEEN),
    ("network:create_floatingip", PROJECT_WRITE),
    ("network:create_floatingip:floating_ip_address", ADMIN),
    ("network:update_floatingip", PROJECT_WRITE),
    ("network:delete_floatingip", PROJECT_WRITE),
    ("network:get_rbac_policy", SEEN),
    ("network:create_rbac_policy", PROJECT_WRITE),
    ("network:create_rbac_policy:target_tenant", ADMIN),
    ("network:update_rbac_policy", PROJECT_WRITE),
    ("network:delete_rbac_policy", PROJECT_WRITE),
    ("network:get_security_group", SEEN),
    ("network:create_security_group", PROJECT_WRITE),
    ("network:update_security_group", PROJECT_WRITE),
    ("network:delete_security_group", PROJECT_WRITE),
    ("network:get_security_group_rule", SEEN),
    ("network:create_security_group_rule", PROJECT_WRITE),
    ("network:delete_security_group_rule", PROJECT_WRITE),
    // Network quotas: a project reads its own; cloud admins set them
    ("network:get_quotas", ADMIN_OR_READER),
    (
        "network:get_quota",
        &[CloudAdmin, SystemReader, ProjectReader],
    ),
    ("network:update_quota", ADMIN),
    ("network:delete_quota", ADMIN),
    // Volume (Cinder v3). Volumes and snapshots belong to their project (other
    // projects get 404): readers list and show, members create and act, cloud
    // admins see every project (`all_tenants`). Types are read by everyone and
    // managed by cloud admins; their encryption is shown to admins, as in
    // Cinder's default policy. Quotas: a project reads its own, admins set them.
    ("volume:get_all", ANYONE),
    ("volume:get_all:all_tenants", ADMIN_OR_READER),
    ("volume:get", PROJECT_READ),
    ("volume:create", PROJECT_WRITE),
    ("volume:update", PROJECT_WRITE),
    ("volume:delete", PROJECT_WRITE),
    ("volume:extend", PROJECT_WRITE),
    ("volume:reset_status", ADMIN),
    ("volume:upload_image", PROJECT_WRITE),
    ("volume:get_volume_metadata", PROJECT_READ),
    ("volume:update_volume_metadata", PROJECT_WRITE),
    ("volume:delete_volume_metadata", PROJECT_WRITE),
    ("volume:get_all_snapshots", ANYONE),
    ("volume:get_all_snapshots:all_tenants", ADMIN_OR_READER),
    ("volume:get_snapshot", PROJECT_READ),
    ("volume:create_snapshot", PROJECT_WRITE),
    ("volume:update_snapshot", PROJECT_WRITE),
    ("volume:delete_snapshot", PROJECT_WRITE),
    ("volume:get_snapshot_metadata", PROJECT_READ),
    ("volume:update_snapshot_metadata", PROJECT_WRITE),
    ("volume:delete_snapshot_metadata", PROJECT_WRITE),
    // Backups belong to their project like volumes; resetting and forcing a
    // delete are for cloud admins, as in Cinder.
    ("backup:get_all", ANYONE),
    ("backup:get_all:all_tenants", ADMIN_OR_READER),
    ("backup:get", PROJECT_READ),
    ("backup:create", PROJECT_WRITE),
    ("backup:update", PROJECT_WRITE),
    ("backup:delete", PROJECT_WRITE),
    ("backup:restore", PROJECT_WRITE),
    ("volume_extension:backup_admin_actions:reset_status", ADMIN),
    ("volume_extension:backup_admin_actions:force_delete", ADMIN),
    ("volume:types:index", ANYONE),
    ("volume:types:show", ANYONE),
    ("volume:types:create", ADMIN),
    ("volume:types:update", ADMIN),
    ("volume:types:delete", ADMIN),
    ("volume:types:extra_specs:index", ANYONE),
    ("volume:types:extra_specs:update", ADMIN),
    ("volume:types:encryption:get", ADMIN_OR_READER),
    ("volume:types:encryption:create", ADMIN),
    ("volume:types:encryption:update", ADMIN),
    ("volume:types:encryption:delete", ADMIN),
    ("volume:quotas:show", PROJECT_READ),
    ("volume:quotas:defaults", ANYONE),
    ("volume:quotas:update", ADMIN),
    ("volume:quotas:delete", ADMIN),
    ("volume:limits", ANYONE),
    ("volume:get_pools", ADMIN_OR_READER),
    ("volume:default_types:get_all", ADMIN_OR_READER),
    ("volume:default_types:get", PROJECT_READ),
    ("volume:default_types:set", ADMIN),
    ("volume:default_types:delete", ADMIN),
    // Volume: attachments (Cinder's bookkeeping API, 3.27+) and the legacy
    // attach actions; in-use extend (3.42) has its own row as upstream
    ("volume:attachment_get_all", ANYONE),
    ("volume:attachment_get_all:all_tenants", ADMIN_OR_READER),
    ("volume:attachment_get", PROJECT_READ),
    ("volume:attachment_create", PROJECT_WRITE),
    ("volume:attachment_update", PROJECT_WRITE),
    ("volume:attachment_complete", PROJECT_WRITE),
    ("volume:attachment_delete", PROJECT_WRITE),
    ("volume:extend_attached_volume", PROJECT_WRITE),
    ("volume_extension:volume_actions:reserve", PROJECT_WRITE),
    ("volume_extension:volume_actions:unreserve", PROJECT_WRITE),
    (
        "volume_extension:volume_actions:begin_detaching",
        PROJECT_WRITE,
    ),
    (
        "volume_extension:volume_actions:roll_detaching",
        PROJECT_WRITE,
    ),
    ("volume_extension:volume_actions:attach", PROJECT_WRITE),
    ("volume_extension:volume_actions:detach", PROJECT_WRITE),
    (
        "volume_extension:volume_actions:initialize_connection",
        PROJECT_WRITE,
    ),
    (
        "volume_extension:volume_actions:terminate_connection",
        PROJECT_WRITE,
    ),
    // Status page (SCS Status Page API): reading needs no token at all (the
    // handlers do not ask), so only the writes are listed; cloud admins manage
    // components, incidents, their updates and the vocabulary.
    ("status:phases:create", ADMIN),
    ("status:impact_types:create", ADMIN),
    ("status:impact_types:update", ADMIN),
    ("status:impact_types:delete", ADMIN),
    ("status:severities:create", ADMIN),
    ("status:severities:update", ADMIN),
    ("status:severities:delete", ADMIN),
    ("status:components:create", ADMIN),
    ("status:components:update", ADMIN),
    ("status:components:delete", ADMIN),
    ("status:incidents:create", ADMIN),
    ("status:incidents:update", ADMIN),
    ("status:incidents:delete", ADMIN),
    ("status:incident_updates:create", ADMIN),
    ("status:incident_updates:update", ADMIN),
    ("status:incident_updates:delete", ADMIN),
];

/// Roles a domain manager may grant (never `admin`).
pub const DOMAIN_MANAGED_ROLES: &[&str] = &["manager", "member", "reader"];

/// What an action is performed on.
#[derive(Clone, Debug, Default)]
pub struct Target<'a> {
    /// The kind and id named in a 404 ("Could not find user: 42").
    pub kind: &'a str,
    pub id: &'a str,
    /// The domain the object lives in.
    pub domain_id: Option<&'a str>,
    /// The project the object is, or belongs to.
    pub project_id: Option<&'a str>,
    /// The user the object is, or belongs to.
    pub user_id: Option<&'a str>,
    /// Project-owned resources (servers, volumes): other projects get 404.
    pub hidden_outside_project: bool,
}

impl<'a> Target<'a> {
    pub fn new(kind: &'a str, id: &'a str) -> Self {
        Target {
            kind,
            id,
            ..Default::default()
        }
    }
    pub fn domain(mut self, domain_id: &'a str) -> Self {
        self.domain_id = Some(domain_id);
        self
    }
    pub fn project(mut self, project_id: &'a str) -> Self {
        self.project_id = Some(project_id);
        self
    }
    pub fn user(mut self, user_id: &'a str) -> Self {
        self.user_id = Some(user_id);
        self
    }
}

/// The rules of an action; unknown actions allow nobody.
pub fn rules(action: &str) -> &'static [Rule] {
    POLICY
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, r)| *r)
        .unwrap_or(&[])
}

/// Whether `p` may perform `action` on `target`.
pub fn allowed(p: &Principal, action: &str, target: &Target) -> bool {
    rules(action).iter().any(|r| matches(*r, p, target))
}

/// Allows, or answers 404 (target invisible to the caller) or 403.
pub fn authorize(p: &Principal, action: &str, target: &Target) -> Result<(), ApiError> {
    if allowed(p, action, target) {
        return Ok(());
    }
    if !visible(p, target) {
        return Err(ApiError::not_found(format!(
            "Could not find {}: {}.",
            target.kind, target.id
        )));
    }
    Err(ApiError::policy_denied(action))
}

/// Whether the caller can know that the target exists at all.
pub fn visible(p: &Principal, t: &Target) -> bool {
    if p.is_cloud_admin() || p.is_system_reader() {
        return true;
    }
    if t.user_id.is_some() && t.user_id == Some(p.user_id.as_str()) {
        return true;
    }
    if t.hidden_outside_project {
        if let Some(project) = t.project_id {
            let domain_sees_it = matches!(p.scope, crate::auth::Scope::Domain { .. })
                && t.domain_id.is_some()
                && t.domain_id == p.scope_domain_id();
            return p.project_id() == Some(project) || domain_sees_it;
        }
    }
    match t.domain_id {
        Some(d) => p.scope_domain_id() == Some(d) || p.user_domain_id == d,
        None => true,
    }
}

fn matches(rule: Rule, p: &Principal, t: &Target) -> bool {
    let domain_scoped_to_target = || match &p.scope {
        crate::auth::Scope::Domain { id, .. } => t.domain_id == Some(id.as_str()),
        _ => false,
    };
    let project_scoped_to_target = || t.project_id.is_some() && p.project_id() == t.project_id;
    match rule {
        Authenticated => true,
        CloudAdmin => p.is_cloud_admin(),
        SystemReader => p.is_system_reader(),
        DomainManager => p.has_role("manager") && domain_scoped_to_target(),
        DomainReader => p.has_role("reader") && domain_scoped_to_target(),
        InDomain => t.domain_id.is_some() && p.scope_domain_id() == t.domain_id,
        ProjectManager => p.has_role("manager") && project_scoped_to_target(),
        ProjectMember => p.has_role("member") && project_scoped_to_target(),
        ProjectReader => p.has_role("reader") && project_scoped_to_target(),
        Owner => t.user_id == Some(p.user_id.as_str()),
        Visible => visible(p, t),
    }
}

/// Whether `p` may grant or revoke `role_name` (a domain manager: never `admin`).
pub fn may_grant_role(p: &Principal, role_name: &str) -> bool {
    p.is_cloud_admin() || DOMAIN_MANAGED_ROLES.contains(&role_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_once() {
        let mut names: Vec<&str> = POLICY.iter().map(|(a, _)| *a).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate action in POLICY");
    }

    #[test]
    fn unknown_actions_allow_nobody() {
        assert!(rules("identity:no_such_thing").is_empty());
    }
}
