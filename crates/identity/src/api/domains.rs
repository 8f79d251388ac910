//! `/v3/domains`: the top of the identity hierarchy. A domain must be disabled before
//! it can be deleted (as in Keystone), and deleting it removes everything in it.

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
pub struct CreateDomain {
    domain: NewDomain,
}

#[derive(Deserialize)]
struct NewDomain {
    name: String,
    id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    tags: Option<Vec<String>>,
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct UpdateDomain {
    domain: DomainPatch,
}

#[derive(Deserialize)]
struct DomainPatch {
    name: Option<String>,
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
    domain_id: &str,
) -> ApiResult<Domain> {
    let d = id
        .store
        .get::<Domain>(domain_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find domain: {domain_id}.")))?
        .value;
    authorize(
        caller,
        action,
        &Target::new("domain", domain_id).domain(&d.id),
    )?;
    Ok(d)
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["name", "enabled"]].concat())?;
    let enabled = q.bool("enabled")?;
    let domains: Vec<Domain> = if caller.is_cloud_admin() || caller.is_system_reader() {
        id.store
            .list::<Domain>(None)
            .await?
            .into_iter()
            .map(|d| d.value)
            .collect()
    } else {
        // Others see the domain they act in, as Keystone's domain readers do.
        let own = caller
            .scope_domain_id()
            .unwrap_or(&caller.user_domain_id)
            .to_string();
        authorize(
            &caller,
            "identity:get_domain",
            &Target::new("domain", &own).domain(&own),
        )?;
        id.store
            .get::<Domain>(&own)
            .await?
            .into_iter()
            .map(|d| d.value)
            .collect()
    };
    let domains: Vec<Domain> = domains
        .into_iter()
        .filter(|d| matches(q.get("name"), &d.name) && matches_bool(enabled, d.enabled))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "domains",
        domains,
        |d| &d.id,
        |d| views::domain(&url, d),
        &url,
        path,
        &q,
    )?))
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<CreateDomain>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(
        &caller,
        "identity:create_domain",
        &Target::new("domain", ""),
    )?;
    let d = body.domain;
    let domain = Domain {
        id: match d.id {
            Some(explicit) => check_name("id", &explicit)?,
            None => new_id(),
        },
        name: check_name("name", &d.name)?,
        description: d.description.unwrap_or_default(),
        enabled: d.enabled.unwrap_or(true),
        tags: d.tags.unwrap_or_default(),
        extra: super::clean_extra(d.extra, d.options),
    };
    let mut tx = id.store.begin().await?;
    tx.create(&domain).await?;
    commit_audited(tx, &caller, "identity.domain.create", "domain", &domain.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"domain": views::domain(&url, &domain)})),
    ))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(domain_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = load(&id, &caller, "identity:get_domain", &domain_id).await?;
    Ok(Json(json!({"domain": views::domain(&url, &d)})))
}

pub async fn update(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(domain_id): Path<String>,
    JsonBody(body): JsonBody<UpdateDomain>,
) -> ApiResult<Json<Value>> {
    let mut d = load(&id, &caller, "identity:update_domain", &domain_id).await?;
    let p = body.domain;
    if let Some(name) = p.name {
        d.name = check_name("name", &name)?;
    }
    if let Some(desc) = p.description {
        d.description = desc;
    }
    if let Some(enabled) = p.enabled {
        if !enabled && d.id == crate::bootstrap::DEFAULT_DOMAIN_ID {
            return Err(ApiError::forbidden(
                "The default domain cannot be disabled.",
            ));
        }
        d.enabled = enabled;
    }
    if let Some(tags) = p.tags {
        d.tags = tags;
    }
    for (k, v) in super::clean_extra(p.extra, p.options) {
        d.extra.insert(k, v);
    }
    let mut tx = id.store.begin().await?;
    tx.update(&d, None).await?;
    commit_audited(tx, &caller, "identity.domain.update", "domain", &d.id).await?;
    Ok(Json(json!({"domain": views::domain(&url, &d)})))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(domain_id): Path<String>,
) -> ApiResult<StatusCode> {
    let d = load(&id, &caller, "identity:delete_domain", &domain_id).await?;
    if d.enabled {
        return Err(ApiError::forbidden(
            "Cannot delete a domain that is enabled, please disable it first.",
        ));
    }
    let mut tx = id.store.begin().await?;
    let mut gone: Vec<String> = vec![d.id.clone()];
    for p in tx.list::<Project>(Some(&d.id)).await? {
        tx.delete::<Project>(&p.value.id, None).await?;
        gone.push(p.value.id);
    }
    for u in tx.list::<User>(Some(&d.id)).await? {
        tx.delete::<User>(&u.value.id, None).await?;
        gone.push(u.value.id);
    }
    for g in tx.list::<Group>(Some(&d.id)).await? {
        tx.delete::<Group>(&g.value.id, None).await?;
        gone.push(g.value.id);
    }
    super::grants::delete_references(&mut tx, &gone).await?;
    tx.delete::<Domain>(&d.id, None).await?;
    commit_audited(tx, &caller, "identity.domain.delete", "domain", &d.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
