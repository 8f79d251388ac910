//! The service catalog: `/v3/regions`, `/v3/services`, `/v3/endpoints`. Nimbus
//! registers its own services at start-up (`bootstrap::ensure_service`); admins may
//! add more, which tokens then carry.

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
use nimbus_store::Resource;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const INTERFACES: &[&str] = &["public", "internal", "admin"];

#[derive(Deserialize)]
pub struct RegionBody {
    region: RegionFields,
}

#[derive(Deserialize)]
struct RegionFields {
    id: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "super::nullable")]
    parent_region_id: Option<Option<String>>,
}

#[derive(Deserialize)]
pub struct ServiceBody {
    service: ServiceFields,
}

#[derive(Deserialize)]
struct ServiceFields {
    #[serde(rename = "type")]
    service_type: Option<String>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
pub struct EndpointBody {
    endpoint: EndpointFields,
}

#[derive(Deserialize)]
struct EndpointFields {
    service_id: Option<String>,
    interface: Option<String>,
    url: Option<String>,
    region_id: Option<String>,
    region: Option<String>,
    enabled: Option<bool>,
}

/// Loads any catalog object after the policy check (catalog objects have no domain).
async fn load<T: Resource>(
    id: &Identity,
    caller: &Principal,
    action: &str,
    kind: &str,
    oid: &str,
) -> ApiResult<T> {
    authorize(caller, action, &Target::new(kind, oid))?;
    Ok(id
        .store
        .get::<T>(oid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find {kind}: {oid}.")))?
        .value)
}

async fn save<T: Resource>(
    id: &Identity,
    caller: &Principal,
    obj: &T,
    create: bool,
    action: &str,
) -> ApiResult<()> {
    let mut tx = id.store.begin().await?;
    if create {
        tx.create(obj).await?;
    } else {
        tx.update(obj, None).await?;
    }
    commit_audited(tx, caller, action, T::KIND, obj.id()).await
}

async fn region_exists(id: &Identity, region: &str) -> ApiResult<()> {
    match id.store.get::<Region>(region).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(format!(
            "Region {region} does not exist."
        ))),
    }
}

pub async fn list_regions(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["parent_region_id"]].concat())?;
    authorize(&caller, "identity:list_regions", &Target::new("region", ""))?;
    let regions: Vec<Region> = id
        .store
        .list::<Region>(None)
        .await?
        .into_iter()
        .map(|r| r.value)
        .filter(|r| {
            q.get("parent_region_id")
                .is_none_or(|p| r.parent_region_id.as_deref() == Some(p))
        })
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "regions",
        regions,
        |r| &r.id,
        |r| views::region(&url, r),
        &url,
        path,
        &q,
    )?))
}

pub async fn create_region(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<RegionBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(
        &caller,
        "identity:create_region",
        &Target::new("region", ""),
    )?;
    let f = body.region;
    let parent = f.parent_region_id.flatten();
    if let Some(p) = &parent {
        region_exists(&id, p).await?;
    }
    let region = Region {
        id: match f.id {
            Some(x) => check_name("id", &x)?,
            None => new_id(),
        },
        description: f.description.unwrap_or_default(),
        parent_region_id: parent,
    };
    save(&id, &caller, &region, true, "identity.region.create").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"region": views::region(&url, &region)})),
    ))
}

pub async fn show_region(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(rid): Path<String>,
) -> ApiResult<Json<Value>> {
    let r: Region = load(&id, &caller, "identity:get_region", "region", &rid).await?;
    Ok(Json(json!({"region": views::region(&url, &r)})))
}

pub async fn update_region(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(rid): Path<String>,
    JsonBody(body): JsonBody<RegionBody>,
) -> ApiResult<Json<Value>> {
    let mut r: Region = load(&id, &caller, "identity:update_region", "region", &rid).await?;
    let f = body.region;
    if f.id.as_ref().is_some_and(|x| *x != r.id) {
        return Err(ApiError::bad_request("A region's id cannot change."));
    }
    if let Some(d) = f.description {
        r.description = d;
    }
    if let Some(p) = f.parent_region_id {
        if let Some(p) = &p {
            if *p == r.id {
                return Err(ApiError::bad_request("A region cannot be its own parent."));
            }
            region_exists(&id, p).await?;
        }
        r.parent_region_id = p;
    }
    save(&id, &caller, &r, false, "identity.region.update").await?;
    Ok(Json(json!({"region": views::region(&url, &r)})))
}

pub async fn delete_region(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(rid): Path<String>,
) -> ApiResult<StatusCode> {
    let r: Region = load(&id, &caller, "identity:delete_region", "region", &rid).await?;
    let snap = id.directory.snapshot().await?;
    if snap
        .regions
        .iter()
        .any(|x| x.parent_region_id.as_deref() == Some(&r.id))
        || snap
            .endpoints
            .iter()
            .any(|e| e.region_id.as_deref() == Some(&r.id))
    {
        return Err(ApiError::conflict(
            "The region has child regions or endpoints.",
        ));
    }
    let mut tx = id.store.begin().await?;
    tx.delete::<Region>(&r.id, None).await?;
    commit_audited(tx, &caller, "identity.region.delete", "region", &r.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_services(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["type", "name"]].concat())?;
    authorize(
        &caller,
        "identity:list_services",
        &Target::new("service", ""),
    )?;
    let services: Vec<Service> = id
        .store
        .list::<Service>(None)
        .await?
        .into_iter()
        .map(|s| s.value)
        .filter(|s| matches(q.get("type"), &s.service_type) && matches(q.get("name"), &s.name))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "services",
        services,
        |s| &s.id,
        |s| views::service(&url, s),
        &url,
        path,
        &q,
    )?))
}

pub async fn create_service(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<ServiceBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(
        &caller,
        "identity:create_service",
        &Target::new("service", ""),
    )?;
    let f = body.service;
    let service_type = f
        .service_type
        .ok_or_else(|| ApiError::bad_request("service.type is required."))?;
    let service = Service {
        id: new_id(),
        service_type: check_name("type", &service_type)?,
        name: f.name.unwrap_or_default(),
        description: f.description.unwrap_or_default(),
        enabled: f.enabled.unwrap_or(true),
    };
    save(&id, &caller, &service, true, "identity.service.create").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"service": views::service(&url, &service)})),
    ))
}

pub async fn show_service(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(sid): Path<String>,
) -> ApiResult<Json<Value>> {
    let s: Service = load(&id, &caller, "identity:get_service", "service", &sid).await?;
    Ok(Json(json!({"service": views::service(&url, &s)})))
}

pub async fn update_service(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(sid): Path<String>,
    JsonBody(body): JsonBody<ServiceBody>,
) -> ApiResult<Json<Value>> {
    let mut s: Service = load(&id, &caller, "identity:update_service", "service", &sid).await?;
    let f = body.service;
    if let Some(t) = f.service_type {
        s.service_type = check_name("type", &t)?;
    }
    if let Some(n) = f.name {
        s.name = n;
    }
    if let Some(d) = f.description {
        s.description = d;
    }
    if let Some(e) = f.enabled {
        s.enabled = e;
    }
    save(&id, &caller, &s, false, "identity.service.update").await?;
    Ok(Json(json!({"service": views::service(&url, &s)})))
}

pub async fn delete_service(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(sid): Path<String>,
) -> ApiResult<StatusCode> {
    let s: Service = load(&id, &caller, "identity:delete_service", "service", &sid).await?;
    let mut tx = id.store.begin().await?;
    for e in tx.list::<Endpoint>(Some(&s.id)).await? {
        tx.delete::<Endpoint>(&e.value.id, None).await?;
    }
    tx.delete::<Service>(&s.id, None).await?;
    commit_audited(tx, &caller, "identity.service.delete", "service", &s.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_endpoints(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["service_id", "interface", "region_id"]].concat())?;
    authorize(
        &caller,
        "identity:list_endpoints",
        &Target::new("endpoint", ""),
    )?;
    let endpoints: Vec<Endpoint> = id
        .store
        .list::<Endpoint>(q.get("service_id"))
        .await?
        .into_iter()
        .map(|e| e.value)
        .filter(|e| matches(q.get("interface"), &e.interface))
        .filter(|e| {
            q.get("region_id")
                .is_none_or(|r| e.region_id.as_deref() == Some(r))
        })
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "endpoints",
        endpoints,
        |e| &e.id,
        |e| views::endpoint(&url, e),
        &url,
        path,
        &q,
    )?))
}

fn check_interface(i: &str) -> ApiResult<String> {
    if INTERFACES.contains(&i) {
        Ok(i.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid interface {i:?}: use public, internal or admin."
        )))
    }
}

fn check_url(u: &str) -> ApiResult<String> {
    if u.starts_with("http://") || u.starts_with("https://") {
        Ok(u.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid endpoint URL {u:?}."
        )))
    }
}

pub async fn create_endpoint(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<EndpointBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(
        &caller,
        "identity:create_endpoint",
        &Target::new("endpoint", ""),
    )?;
    let f = body.endpoint;
    let service_id = f
        .service_id
        .ok_or_else(|| ApiError::bad_request("endpoint.service_id is required."))?;
    if id.store.get::<Service>(&service_id).await?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Service {service_id} does not exist."
        )));
    }
    let region_id = f.region_id.or(f.region);
    if let Some(r) = &region_id {
        region_exists(&id, r).await?;
    }
    let endpoint = Endpoint {
        id: new_id(),
        service_id,
        interface: check_interface(f.interface.as_deref().unwrap_or(""))?,
        url: check_url(f.url.as_deref().unwrap_or(""))?,
        region_id,
        enabled: f.enabled.unwrap_or(true),
    };
    save(&id, &caller, &endpoint, true, "identity.endpoint.create").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"endpoint": views::endpoint(&url, &endpoint)})),
    ))
}

pub async fn show_endpoint(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(eid): Path<String>,
) -> ApiResult<Json<Value>> {
    let e: Endpoint = load(&id, &caller, "identity:get_endpoint", "endpoint", &eid).await?;
    Ok(Json(json!({"endpoint": views::endpoint(&url, &e)})))
}

pub async fn update_endpoint(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(eid): Path<String>,
    JsonBody(body): JsonBody<EndpointBody>,
) -> ApiResult<Json<Value>> {
    let mut e: Endpoint = load(&id, &caller, "identity:update_endpoint", "endpoint", &eid).await?;
    let f = body.endpoint;
    if let Some(s) = f.service_id {
        if id.store.get::<Service>(&s).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "Service {s} does not exist."
            )));
        }
        e.service_id = s;
    }
    if let Some(i) = f.interface {
        e.interface = check_interface(&i)?;
    }
    if let Some(u) = f.url {
        e.url = check_url(&u)?;
    }
    if let Some(r) = f.region_id.or(f.region) {
        region_exists(&id, &r).await?;
        e.region_id = Some(r);
    }
    if let Some(en) = f.enabled {
        e.enabled = en;
    }
    save(&id, &caller, &e, false, "identity.endpoint.update").await?;
    Ok(Json(json!({"endpoint": views::endpoint(&url, &e)})))
}

pub async fn delete_endpoint(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(eid): Path<String>,
) -> ApiResult<StatusCode> {
    let e: Endpoint = load(&id, &caller, "identity:delete_endpoint", "endpoint", &eid).await?;
    let mut tx = id.store.begin().await?;
    tx.delete::<Endpoint>(&e.id, None).await?;
    commit_audited(tx, &caller, "identity.endpoint.delete", "endpoint", &e.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
