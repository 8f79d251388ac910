//! `GET /v3/role_assignments`: who holds which role where, filtered by user, group,
//! role and scope; `effective` expands group membership and implied roles into the
//! roles users really hold; `include_names` adds names; `include_subtree` widens a
//! project filter to the projects below it.

use super::common::*;
use crate::directory::Snapshot;
use crate::types::*;
use crate::Identity;
use axum::extract::{OriginalUri, State};
use axum::Json;
use nimbus_api::auth::Auth;
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// One (possibly derived) assignment, with how it was derived.
#[derive(Clone)]
struct Row<'a> {
    a: Assignment,
    via_group: Option<&'a str>,
    prior_role: Option<String>,
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[
        "user.id",
        "group.id",
        "role.id",
        "scope.project.id",
        "scope.domain.id",
        "scope.system",
        "scope.OS-INHERIT:inherited_to",
        "effective",
        "include_names",
        "include_subtree",
    ])?;
    let effective = q.flag("effective")?;
    let include_names = q.flag("include_names")?;
    let include_subtree = q.flag("include_subtree")?;
    let user_filter = q.get("user.id");
    let group_filter = q.get("group.id");
    let project_filter = q.get("scope.project.id");
    let domain_filter = q.get("scope.domain.id");
    let system_filter = q.has("scope.system");
    if effective && group_filter.is_some() {
        return Err(ApiError::bad_request(
            "effective and group.id cannot be combined.",
        ));
    }
    if include_subtree && project_filter.is_none() {
        return Err(ApiError::bad_request(
            "include_subtree needs scope.project.id.",
        ));
    }
    let snap = id.directory.snapshot().await?;

    // Which domain the caller is asking about, for the policy check.
    let asked_domain: Option<String> = match (project_filter, domain_filter) {
        (Some(p), _) => snap.projects.get(p).map(|p| p.domain_id.clone()),
        (None, Some(d)) => Some(d.to_string()),
        _ => None,
    };
    // Cloud admins and system readers see everything; a user may always list her
    // own assignments; a domain reader or manager sees those inside her domain (the
    // domain she names through a scope filter, else the domain of her token).
    let sees_all = caller.is_cloud_admin() || caller.is_system_reader();
    let own_only = !sees_all && user_filter == Some(caller.user_id.as_str());
    let domain_limit = if sees_all || own_only {
        let mut target = Target::new("role_assignment", "");
        if let Some(u) = user_filter {
            target = target.user(u);
        }
        authorize(&caller, "identity:list_role_assignments", &target)?;
        None
    } else {
        let domain = asked_domain.or_else(|| match &caller.scope {
            nimbus_api::auth::Scope::Domain { id, .. } => Some(id.clone()),
            _ => None,
        });
        let mut target = Target::new("role_assignment", "");
        if let Some(d) = &domain {
            target = target.domain(d);
        }
        authorize(&caller, "identity:list_role_assignments", &target)?;
        domain
    };

    let mut rows: Vec<Row> = snap
        .assignments
        .iter()
        .map(|a| Row {
            a: a.clone(),
            via_group: None,
            prior_role: None,
        })
        .collect();
    if effective {
        rows = expand(&snap, rows);
    }
    let projects_in_scope: Option<BTreeSet<String>> = project_filter.map(|p| {
        if include_subtree {
            snap.projects
                .keys()
                .filter(|x| snap.in_subtree(x, p))
                .cloned()
                .collect()
        } else {
            [p.to_string()].into()
        }
    });
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| user_filter.is_none_or(|u| r.a.actor == Actor::User && r.a.actor_id == u))
        .filter(|r| group_filter.is_none_or(|g| r.a.actor == Actor::Group && r.a.actor_id == g))
        .filter(|r| matches(q.get("role.id"), &r.a.role_id))
        .filter(|r| {
            projects_in_scope
                .as_ref()
                .is_none_or(|ps| r.a.target == TargetType::Project && ps.contains(&r.a.target_id))
        })
        .filter(|r| {
            domain_filter.is_none_or(|d| r.a.target == TargetType::Domain && r.a.target_id == d)
        })
        .filter(|r| !system_filter || r.a.target == TargetType::System)
        .filter(|r| {
            domain_limit
                .as_deref()
                .is_none_or(|d| target_domain(&snap, &r.a).as_deref() == Some(d))
        })
        .collect();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| view(&url, &snap, r, include_names))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(json!({
        "role_assignments": items,
        "links": {"self": url.join(path), "previous": null, "next": null},
    })))
}

/// Replaces group assignments by one per member, and adds implied roles.
fn expand<'a>(snap: &'a Snapshot, rows: Vec<Row<'a>>) -> Vec<Row<'a>> {
    let mut users: Vec<Row> = Vec::new();
    for r in rows {
        match r.a.actor {
            Actor::User => users.push(r),
            Actor::Group => {
                for member in snap.users_of_group.get(&r.a.actor_id).into_iter().flatten() {
                    let group: &str = snap
                        .groups
                        .get(&r.a.actor_id)
                        .map(|g| g.id.as_str())
                        .unwrap_or("");
                    users.push(Row {
                        a: Assignment::new(
                            Actor::User,
                            member,
                            r.a.target,
                            &r.a.target_id,
                            &r.a.role_id,
                        ),
                        via_group: Some(group),
                        prior_role: None,
                    });
                }
            }
        }
    }
    let mut out: Vec<Row> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in users {
        let mut implied = BTreeSet::new();
        snap.expand_role(&r.a.role_id, &mut implied);
        for role in implied {
            let a = Assignment::new(r.a.actor, &r.a.actor_id, r.a.target, &r.a.target_id, &role);
            if seen.insert(a.id.clone()) {
                let prior = (role != r.a.role_id).then(|| r.a.role_id.clone());
                out.push(Row {
                    a,
                    via_group: r.via_group,
                    prior_role: prior,
                });
            }
        }
    }
    out
}

fn target_domain(snap: &Snapshot, a: &Assignment) -> Option<String> {
    match a.target {
        TargetType::Project => snap.projects.get(&a.target_id).map(|p| p.domain_id.clone()),
        TargetType::Domain => Some(a.target_id.clone()),
        TargetType::System => None,
    }
}

fn domain_ref(snap: &Snapshot, id: &str, names: bool) -> Value {
    match snap.domains.get(id) {
        Some(d) if names => json!({"id": d.id, "name": d.name}),
        _ => json!({"id": id}),
    }
}

fn view(url: &PublicUrl, snap: &Snapshot, r: &Row, names: bool) -> Value {
    let a = &r.a;
    let mut role = json!({"id": a.role_id});
    if names {
        if let Some(x) = snap.roles.get(&a.role_id) {
            role["name"] = json!(x.name);
            if let Some(d) = &x.domain_id {
                role["domain"] = domain_ref(snap, d, true);
            }
        }
    }
    let (actor_key, actor_path) = match a.actor {
        Actor::User => ("user", "users"),
        Actor::Group => ("group", "groups"),
    };
    let mut actor = json!({"id": a.actor_id});
    if names {
        let found = match a.actor {
            Actor::User => snap
                .users
                .get(&a.actor_id)
                .map(|u| (u.name.clone(), u.domain_id.clone())),
            Actor::Group => snap
                .groups
                .get(&a.actor_id)
                .map(|g| (g.name.clone(), g.domain_id.clone())),
        };
        if let Some((name, domain)) = found {
            actor["name"] = json!(name);
            actor["domain"] = domain_ref(snap, &domain, true);
        }
    }
    let (scope, scope_path) = match a.target {
        TargetType::Project => {
            let mut p = json!({"id": a.target_id});
            if names {
                if let Some(x) = snap.projects.get(&a.target_id) {
                    p["name"] = json!(x.name);
                    p["domain"] = domain_ref(snap, &x.domain_id, true);
                }
            }
            (json!({"project": p}), format!("projects/{}", a.target_id))
        }
        TargetType::Domain => (
            json!({"domain": domain_ref(snap, &a.target_id, names)}),
            format!("domains/{}", a.target_id),
        ),
        TargetType::System => (json!({"system": {"all": true}}), "system".to_string()),
    };
    let mut links = json!({
        "assignment": url.join(&format!(
            "/identity/v3/{scope_path}/{actor_path}/{}/roles/{}",
            a.actor_id,
            r.prior_role.as_deref().unwrap_or(&a.role_id)
        )),
    });
    if let Some(g) = r.via_group {
        links["membership"] =
            json!(url.join(&format!("/identity/v3/groups/{g}/users/{}", a.actor_id)));
    }
    if let Some(prior) = &r.prior_role {
        links["prior_role"] = json!(url.join(&format!("/identity/v3/roles/{prior}")));
    }
    json!({"role": role, actor_key: actor, "scope": scope, "links": links})
}
