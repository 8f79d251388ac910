//! `/v3/projects`: projects in a domain, optionally under a parent project in the same
//! domain. A project with children cannot be deleted; deleting one removes its grants.

use super::common::*;
use super::views;
use crate::types::*;
use crate::Identity;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateProject {
    project: NewProject,
}

#[derive(Deserialize)]
struct NewProject {
    name: String,
    domain_id: Option<String>,
    parent_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    is_domain: Option<bool>,
    tags: Option<Vec<String>>,
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct UpdateProject {
    project: ProjectPatch,
}

#[derive(Deserialize)]
struct ProjectPatch {
    name: Option<String>,
    domain_id: Option<String>,
    parent_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    tags: Option<Vec<String>>,
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn load(
    id: &Identity,
    caller: &Principal,
    action: &str,
    project_id: &str,
) -> ApiResult<Project> {
    let p = id
        .store
        .get::<Project>(project_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find project: {project_id}.")))?
        .value;
    authorize(
        caller,
        action,
        &Target::new("project", project_id)
            .domain(&p.domain_id)
            .project(&p.id),
    )?;
    Ok(p)
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(
        &[
            PAGING,
            &[
                "name",
                "domain_id",
                "enabled",
                "parent_id",
                "is_domain",
                "tags",
            ],
        ]
        .concat(),
    )?;
    let domain = list_domain(
        &caller,
        "identity:list_projects",
        "project",
        q.get("domain_id"),
    )?;
    let enabled = q.bool("enabled")?;
    if q.bool("is_domain")? == Some(true) {
        // Domains are not projects here; nothing matches.
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
        return Ok(Json(collection(
            "projects",
            Vec::<Project>::new(),
            |p| &p.id,
            |p| views::project(&url, p),
            &url,
            path,
            &q,
        )?));
    }
    let tag = q.get("tags");
    let projects: Vec<Project> = id
        .store
        .list::<Project>(domain.as_deref())
        .await?
        .into_iter()
        .map(|p| p.value)
        .filter(|p| matches(q.get("name"), &p.name) && matches_bool(enabled, p.enabled))
        .filter(|p| {
            matches(
                q.get("parent_id"),
                p.parent_id.as_deref().unwrap_or(&p.domain_id),
            )
        })
        .filter(|p| tag.is_none_or(|t| t.split(',').all(|t| p.tags.iter().any(|x| x == t))))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "projects",
        projects,
        |p| &p.id,
        |p| views::project(&url, p),
        &url,
        path,
        &q,
    )?))
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<CreateProject>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = body.project;
    if p.is_domain == Some(true) {
        return Err(ApiError::bad_request("Create domains through /v3/domains."));
    }
    let snap = id.directory.snapshot().await?;
    let parent = match &p.parent_id {
        Some(pid) => match snap.projects.get(pid) {
            Some(parent) => Some(parent.clone()),
            // A parent id naming the domain itself means a top-level project.
            None if snap.domains.contains_key(pid) => None,
            None => {
                return Err(ApiError::bad_request(format!(
                    "Parent project {pid} does not exist."
                )))
            }
        },
        None => None,
    };
    let domain_id = p
        .domain_id
        .or_else(|| parent.as_ref().map(|x| x.domain_id.clone()))
        .or_else(|| p.parent_id.clone().filter(|d| snap.domains.contains_key(d)))
        .or_else(|| caller.scope_domain_id().map(str::to_string))
        .unwrap_or_else(|| caller.user_domain_id.clone());
    authorize(
        &caller,
        "identity:create_project",
        &Target::new("domain", &domain_id).domain(&domain_id),
    )?;
    if !snap.domains.contains_key(&domain_id) {
        return Err(ApiError::bad_request(format!(
            "Domain {domain_id} does not exist."
        )));
    }
    if parent.as_ref().is_some_and(|x| x.domain_id != domain_id) {
        return Err(ApiError::bad_request(
            "A project's parent must be in the same domain.",
        ));
    }
    let project = Project {
        id: new_id(),
        name: check_name("name", &p.name)?,
        domain_id,
        parent_id: parent.map(|x| x.id),
        description: p.description.unwrap_or_default(),
        enabled: p.enabled.unwrap_or(true),
        tags: p.tags.unwrap_or_default(),
        extra: super::clean_extra(p.extra, p.options),
    };
    let mut tx = id.store.begin().await?;
    tx.create(&project).await?;
    commit_audited(
        tx,
        &caller,
        "identity.project.create",
        "project",
        &project.id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": views::project(&url, &project)})),
    ))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(project_id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    // openstacksdk sends `domain_id` (and may send `is_domain`) when it looks a
    // project up by id; they select nothing more than the id does.
    q.only(&[
        "parents_as_list",
        "subtree_as_list",
        "parents_as_ids",
        "subtree_as_ids",
        "include_limits",
        "domain_id",
        "is_domain",
    ])?;
    let p = load(&id, &caller, "identity:get_project", &project_id).await?;
    let mut v = views::project(&url, &p);
    if q.flag("parents_as_list")? || q.flag("subtree_as_list")? {
        let snap = id.directory.snapshot().await?;
        if q.flag("parents_as_list")? {
            let parents: Vec<Value> = snap
                .project_parents(&p.id)
                .into_iter()
                .map(|x| json!({"project": views::project(&url, x)}))
                .collect();
            v["parents"] = json!(parents);
        }
        if q.flag("subtree_as_list")? {
            let mut below: Vec<&Project> = snap
                .projects
                .values()
                .filter(|x| x.id != p.id && snap.in_subtree(&x.id, &p.id))
                .collect();
            below.sort_by(|a, b| a.id.cmp(&b.id));
            v["subtree"] = json!(below
                .into_iter()
                .map(|x| json!({"project": views::project(&url, x)}))
                .collect::<Vec<_>>());
        }
    }
    Ok(Json(json!({ "project": v })))
}

pub async fn update(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(project_id): Path<String>,
    JsonBody(body): JsonBody<UpdateProject>,
) -> ApiResult<Json<Value>> {
    let mut p = load(&id, &caller, "identity:update_project", &project_id).await?;
    let patch = body.project;
    if patch.domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
        return Err(ApiError::bad_request(
            "A project cannot be moved to another domain.",
        ));
    }
    if patch
        .parent_id
        .as_ref()
        .is_some_and(|x| Some(x) != p.parent_id.as_ref() && *x != p.domain_id)
    {
        return Err(ApiError::forbidden(
            "Updating a project's parent is not allowed.",
        ));
    }
    if let Some(name) = patch.name {
        p.name = check_name("name", &name)?;
    }
    if let Some(d) = patch.description {
        p.description = d;
    }
    if let Some(e) = patch.enabled {
        if !e && p.id == id.admin_project_id {
            return Err(ApiError::forbidden(
                "The bootstrap admin project cannot be disabled.",
            ));
        }
        p.enabled = e;
    }
    if let Some(t) = patch.tags {
        p.tags = t;
    }
    for (k, v) in super::clean_extra(patch.extra, patch.options) {
        p.extra.insert(k, v);
    }
    let mut tx = id.store.begin().await?;
    tx.update(&p, None).await?;
    commit_audited(tx, &caller, "identity.project.update", "project", &p.id).await?;
    Ok(Json(json!({"project": views::project(&url, &p)})))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(project_id): Path<String>,
) -> ApiResult<StatusCode> {
    let p = load(&id, &caller, "identity:delete_project", &project_id).await?;
    if p.id == id.admin_project_id {
        return Err(ApiError::forbidden(
            "The bootstrap admin project cannot be deleted.",
        ));
    }
    let mut tx = id.store.begin().await?;
    let children = tx.list::<Project>(Some(&p.domain_id)).await?;
    if children
        .iter()
        .any(|c| c.value.parent_id.as_deref() == Some(&p.id))
    {
        return Err(ApiError::forbidden(
            "Cannot delete a project that has children; delete them first.",
        ));
    }
    tx.delete::<Project>(&p.id, None).await?;
    super::grants::delete_references(&mut tx, std::slice::from_ref(&p.id)).await?;
    commit_audited(tx, &caller, "identity.project.delete", "project", &p.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
