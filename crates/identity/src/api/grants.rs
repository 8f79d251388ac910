//! Grants: `PUT/HEAD/GET/DELETE /v3/{projects|domains}/{id}/{users|groups}/{id}/roles/{role}`
//! and the same on `/v3/system/...`, all 204. A domain manager may grant only
//! `manager`, `member` and `reader`, and only between objects of her own domain.

use super::common::*;
use super::views;
use crate::types::*;
use crate::Identity;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, may_grant_role, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{StoreError, Tx};
use serde_json::Value;
use std::sync::Arc;

/// A resolved grant path: who, where, and the domain each lives in.
struct GrantPath {
    actor: Actor,
    actor_id: String,
    actor_domain: String,
    target: TargetType,
    target_id: String,
    target_domain: Option<String>,
}

fn parse_actor(actor: &str) -> ApiResult<Actor> {
    match actor {
        "users" => Ok(Actor::User),
        "groups" => Ok(Actor::Group),
        _ => Err(ApiError::not_found("The resource could not be found.")),
    }
}

async fn resolve(
    id: &Identity,
    target: &str,
    target_id: &str,
    actor: &str,
    actor_id: &str,
) -> ApiResult<GrantPath> {
    let snap = id.directory.snapshot().await?;
    let (target, target_domain) = match target {
        "projects" => {
            let p = snap.projects.get(target_id).ok_or_else(|| {
                ApiError::not_found(format!("Could not find project: {target_id}."))
            })?;
            (TargetType::Project, Some(p.domain_id.clone()))
        }
        "domains" => {
            if !snap.domains.contains_key(target_id) {
                return Err(ApiError::not_found(format!(
                    "Could not find domain: {target_id}."
                )));
            }
            (TargetType::Domain, Some(target_id.to_string()))
        }
        "system" => (TargetType::System, None),
        _ => return Err(ApiError::not_found("The resource could not be found.")),
    };
    let actor = parse_actor(actor)?;
    let actor_domain = match actor {
        Actor::User => snap.users.get(actor_id).map(|u| u.domain_id.clone()),
        Actor::Group => snap.groups.get(actor_id).map(|g| g.domain_id.clone()),
    }
    .ok_or_else(|| {
        ApiError::not_found(format!("Could not find {actor:?}: {actor_id}.").to_lowercase())
    })?;
    Ok(GrantPath {
        actor,
        actor_id: actor_id.to_string(),
        actor_domain,
        target,
        target_id: if target == TargetType::System {
            SYSTEM_ALL.to_string()
        } else {
            target_id.to_string()
        },
        target_domain,
    })
}

/// Authorizes `action` on both the target and the actor of a grant.
fn authorize_grant(caller: &Principal, action: &str, g: &GrantPath) -> ApiResult<()> {
    if let Some(d) = &g.target_domain {
        authorize(
            caller,
            action,
            &Target::new("target", &g.target_id)
                .domain(d)
                .project(&g.target_id),
        )?;
    } else {
        authorize(caller, action, &Target::new("system", SYSTEM_ALL))?;
    }
    authorize(
        caller,
        action,
        &Target::new("actor", &g.actor_id).domain(&g.actor_domain),
    )
}

async fn role(id: &Identity, role_id: &str) -> ApiResult<Role> {
    Ok(id
        .store
        .get::<Role>(role_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find role: {role_id}.")))?
        .value)
}

fn action(g: &GrantPath, verb: &str) -> String {
    if g.target == TargetType::System {
        format!(
            "identity:{verb}_system_grant{}",
            if verb == "list" { "s" } else { "" }
        )
    } else {
        format!(
            "identity:{verb}_grant{}",
            if verb == "list" { "s" } else { "" }
        )
    }
}

async fn put_grant(
    id: &Identity,
    caller: &Principal,
    g: GrantPath,
    role_id: &str,
) -> ApiResult<StatusCode> {
    authorize_grant(caller, &action(&g, "create"), &g)?;
    let r = role(id, role_id).await?;
    if !may_grant_role(caller, &r.name) {
        return Err(ApiError::forbidden(format!(
            "You may not grant the role {}.",
            r.name
        )));
    }
    let a = Assignment::new(g.actor, &g.actor_id, g.target, &g.target_id, &r.id);
    let mut tx = id.store.begin().await?;
    if tx.get::<Assignment>(&a.id).await?.is_none() {
        tx.create(&a).await?;
        commit_audited(tx, caller, "identity.grant.create", "assignment", &a.id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn check_grant(
    id: &Identity,
    caller: &Principal,
    g: GrantPath,
    role_id: &str,
) -> ApiResult<StatusCode> {
    authorize_grant(caller, &action(&g, "check"), &g)?;
    let key = Assignment::key(g.actor, &g.actor_id, g.target, &g.target_id, role_id);
    match id.store.get::<Assignment>(&key).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found(format!(
            "Could not find role assignment of role {role_id}."
        ))),
    }
}

async fn delete_grant(
    id: &Identity,
    caller: &Principal,
    g: GrantPath,
    role_id: &str,
) -> ApiResult<StatusCode> {
    authorize_grant(caller, &action(&g, "revoke"), &g)?;
    let r = role(id, role_id).await?;
    if !may_grant_role(caller, &r.name) {
        return Err(ApiError::forbidden(format!(
            "You may not revoke the role {}.",
            r.name
        )));
    }
    let key = Assignment::key(g.actor, &g.actor_id, g.target, &g.target_id, &r.id);
    let mut tx = id.store.begin().await?;
    if tx.get::<Assignment>(&key).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "Could not find role assignment of role {role_id}."
        )));
    }
    tx.delete::<Assignment>(&key, None).await?;
    commit_audited(tx, caller, "identity.grant.revoke", "assignment", &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_grants(
    id: &Identity,
    caller: &Principal,
    g: GrantPath,
    url: &PublicUrl,
    path: &str,
    q: &Query,
) -> ApiResult<Json<Value>> {
    q.only(PAGING)?;
    authorize_grant(caller, &action(&g, "list"), &g)?;
    let snap = id.directory.snapshot().await?;
    let roles: Vec<Role> = snap
        .assignments
        .iter()
        .filter(|a| {
            a.actor == g.actor
                && a.actor_id == g.actor_id
                && a.target == g.target
                && a.target_id == g.target_id
        })
        .filter_map(|a| snap.roles.get(&a.role_id).cloned())
        .collect();
    Ok(Json(collection(
        "roles",
        roles,
        |r| &r.id,
        |r| views::role(url, r),
        url,
        path,
        q,
    )?))
}

type GrantRolePath = Path<(String, String, String, String, String)>;

pub async fn grant(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((t, tid, a, aid, r)): GrantRolePath,
) -> ApiResult<StatusCode> {
    let g = resolve(&id, &t, &tid, &a, &aid).await?;
    put_grant(&id, &caller, g, &r).await
}

pub async fn check(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((t, tid, a, aid, r)): GrantRolePath,
) -> ApiResult<StatusCode> {
    let g = resolve(&id, &t, &tid, &a, &aid).await?;
    check_grant(&id, &caller, g, &r).await
}

pub async fn revoke(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((t, tid, a, aid, r)): GrantRolePath,
) -> ApiResult<StatusCode> {
    let g = resolve(&id, &t, &tid, &a, &aid).await?;
    delete_grant(&id, &caller, g, &r).await
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    Path((t, tid, a, aid)): Path<(String, String, String, String)>,
    q: Query,
) -> ApiResult<Json<Value>> {
    let g = resolve(&id, &t, &tid, &a, &aid).await?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    list_grants(&id, &caller, g, &url, path, &q).await
}

type SystemRolePath = Path<(String, String, String)>;

pub async fn grant_system(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((a, aid, r)): SystemRolePath,
) -> ApiResult<StatusCode> {
    let g = resolve(&id, "system", SYSTEM_ALL, &a, &aid).await?;
    put_grant(&id, &caller, g, &r).await
}

pub async fn check_system(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((a, aid, r)): SystemRolePath,
) -> ApiResult<StatusCode> {
    let g = resolve(&id, "system", SYSTEM_ALL, &a, &aid).await?;
    check_grant(&id, &caller, g, &r).await
}

pub async fn revoke_system(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((a, aid, r)): SystemRolePath,
) -> ApiResult<StatusCode> {
    let g = resolve(&id, "system", SYSTEM_ALL, &a, &aid).await?;
    delete_grant(&id, &caller, g, &r).await
}

pub async fn list_system(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    Path((a, aid)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<Value>> {
    let g = resolve(&id, "system", SYSTEM_ALL, &a, &aid).await?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    list_grants(&id, &caller, g, &url, path, &q).await
}

/// Removes everything that refers to deleted users, groups or projects: their role
/// assignments (as actor or target), group memberships, application credentials and
/// login state, inside the deleting transaction.
pub async fn delete_references(tx: &mut Tx<'_>, ids: &[String]) -> Result<(), StoreError> {
    let gone = |x: &String| ids.contains(x);
    for a in tx.list::<Assignment>(None).await? {
        if gone(&a.value.actor_id) || gone(&a.value.target_id) {
            tx.delete::<Assignment>(&a.value.id, None).await?;
        }
    }
    for m in tx.list::<Membership>(None).await? {
        if gone(&m.value.user_id) || gone(&m.value.group_id) {
            tx.delete::<Membership>(&m.value.id, None).await?;
        }
    }
    for c in tx.list::<ApplicationCredential>(None).await? {
        if gone(&c.value.user_id) || gone(&c.value.project_id) {
            tx.delete::<ApplicationCredential>(&c.value.id, None)
                .await?;
        }
    }
    for id in ids {
        if tx.get::<LoginState>(id).await?.is_some() {
            tx.delete::<LoginState>(id, None).await?;
        }
    }
    Ok(())
}
