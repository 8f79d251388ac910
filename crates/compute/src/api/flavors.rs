//! `/flavors`: list (brief and `detail`, with Nova's filters, sorting and paging),
//! show, create (cloud admins; 200 as Nova answers), update of the description
//! (PUT, 2.55 on) and delete (202).
//!
//! Who sees what, as in Nova: a cloud admin lists by `is_public` (`True`, the
//! default: public flavors and those shared with her project; `False`: private
//! ones; `None`: all); everyone else sees public flavors and the private flavors
//! shared with their project, never disabled ones.

use super::common::*;
use super::views;
use crate::types::Flavor;
use crate::{flavor_not_found, Compute};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{StoreError, Tx};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::sync::Arc;

const LIST_PARAMS: &[&str] = &[
    "limit",
    "marker",
    "is_public",
    "minRam",
    "minDisk",
    "sort_key",
    "sort_dir",
];

const SORT_KEYS: &[&str] = &[
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

/// Whether the caller gets the admin's view of flavor lists.
fn sees_all(p: &Principal) -> bool {
    p.is_cloud_admin() || p.is_system_reader()
}

/// Nova's `is_public` filter: absent means public, `None` means all.
fn is_public_filter(q: &Query) -> ApiResult<Option<bool>> {
    let Some(v) = q.get("is_public") else {
        return Ok(Some(true));
    };
    match v.to_ascii_lowercase().as_str() {
        "none" => Ok(None),
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(Some(true)),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(Some(false)),
        _ => Err(ApiError::bad_request(format!(
            "Invalid is_public filter [{v}]"
        ))),
    }
}

fn min_filter(q: &Query, key: &str) -> ApiResult<Option<i64>> {
    q.get(key)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("Invalid {key} filter [{v}]")))
        })
        .transpose()
}

fn compare(key: &str, a: &Flavor, b: &Flavor) -> Ordering {
    let by = match key {
        "created_at" | "updated_at" => a.created_at.cmp(&b.created_at),
        "description" => a.description.cmp(&b.description),
        "disabled" => a.disabled.cmp(&b.disabled),
        "ephemeral_gb" => a.ephemeral.cmp(&b.ephemeral),
        "is_public" => a.is_public.cmp(&b.is_public),
        "memory_mb" => a.ram.cmp(&b.ram),
        "name" => a.name.cmp(&b.name),
        "root_gb" => a.disk.cmp(&b.disk),
        "rxtx_factor" => a.rxtx_factor.total_cmp(&b.rxtx_factor),
        "swap" => a.swap.cmp(&b.swap),
        "vcpus" => a.vcpus.cmp(&b.vcpus),
        _ => Ordering::Equal,
    };
    by.then_with(|| a.id.cmp(&b.id))
}

/// The flavors a list shows, filtered, sorted and cut to the page.
async fn listed(
    c: &Compute,
    caller: &Principal,
    mv: Microversion,
    q: &Query,
) -> ApiResult<(Vec<Flavor>, Paging)> {
    authorize(caller, "compute:flavors:index", &Target::new("flavor", ""))?;
    check_query(mv, q, LIST_PARAMS)?;
    let paging = Paging::from_query(q)?;
    let own_project = caller.project_id();
    let shared = |f: &Flavor| own_project.is_some_and(|p| f.projects.contains(p));
    let is_public = if sees_all(caller) {
        is_public_filter(q)?
    } else {
        Some(true)
    };
    let min_ram = min_filter(q, "minRam")?;
    let min_disk = min_filter(q, "minDisk")?;
    let sort_key = q.get("sort_key").unwrap_or("flavorid");
    if !SORT_KEYS.contains(&sort_key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for query parameters sort_key. Value: {sort_key}. \
             Must be one of: {}.",
            SORT_KEYS.join(", ")
        )));
    }
    let descending = match q.get("sort_dir").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {other}. \
                 Must be one of: asc, desc."
            )))
        }
    };
    let mut flavors: Vec<Flavor> = c
        .store
        .list::<Flavor>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|f| match is_public {
            Some(true) => f.is_public || shared(f),
            Some(false) => !f.is_public,
            None => true,
        })
        .filter(|f| sees_all(caller) || !f.disabled)
        .filter(|f| min_ram.is_none_or(|m| f.ram as i64 >= m))
        .filter(|f| min_disk.is_none_or(|m| f.disk as i64 >= m))
        .collect();
    flavors.sort_by(|a, b| compare(sort_key, a, b));
    if descending {
        flavors.reverse();
    }
    let page = paging.page(flavors, |f| &f.id)?;
    Ok((page, paging))
}

fn list_document(
    url: &PublicUrl,
    q: &Query,
    collection: &str,
    flavors: Vec<Value>,
    last: Option<&str>,
    paging: &Paging,
) -> Value {
    let n = flavors.len();
    let mut doc = json!({ "flavors": flavors });
    if let Some(links) = paging.next_links(url, collection, q, n, last) {
        doc["flavors_links"] = links;
    }
    doc
}

/// `GET /flavors`
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
) -> ApiResult<Json<Value>> {
    let (flavors, paging) = listed(&c, &caller, mv, &q).await?;
    let items = flavors
        .iter()
        .map(|f| views::flavor_brief(&url, mv, f))
        .collect();
    let last = flavors.last().map(|f| f.id.as_str());
    Ok(Json(list_document(
        &url, &q, "flavors", items, last, &paging,
    )))
}

/// `GET /flavors/detail`
pub async fn detail(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
) -> ApiResult<Json<Value>> {
    let (flavors, paging) = listed(&c, &caller, mv, &q).await?;
    let items = flavors.iter().map(|f| views::flavor(&url, mv, f)).collect();
    let last = flavors.last().map(|f| f.id.as_str());
    Ok(Json(list_document(
        &url,
        &q,
        "flavors/detail",
        items,
        last,
        &paging,
    )))
}

/// `GET /flavors/{id}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&caller, "compute:flavors:show", &Target::new("flavor", &id))?;
    let f = c.flavor(&caller, &id).await?;
    Ok(Json(json!({"flavor": views::flavor(&url, mv, &f)})))
}

/// The flavor `id` inside a write transaction, with its revision.
pub async fn load_for_update(tx: &mut Tx<'_>, id: &str) -> ApiResult<(Flavor, i64)> {
    let v = tx
        .get::<Flavor>(id)
        .await?
        .ok_or_else(|| flavor_not_found(id))?;
    Ok((v.value, v.revision))
}

fn flavor_id(v: Option<&Value>) -> ApiResult<String> {
    let id = match v {
        None | Some(Value::Null) => return Ok(uuid::Uuid::new_v4().to_string()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(invalid("id", other, "Must be a string, a number or null.")),
    };
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b". _-".contains(&b));
    if !ok_chars || id.is_empty() || id.len() > 255 || id.starts_with(' ') || id.ends_with(' ') {
        return Err(invalid(
            "id",
            &json!(id),
            "Must match '^(?! )[a-zA-Z0-9. _-]+(?<! )$' and be 1 to 255 characters.",
        ));
    }
    Ok(id)
}

fn rxtx_factor(obj: &Map<String, Value>) -> ApiResult<f64> {
    let Some(v) = obj.get("rxtx_factor") else {
        return Ok(1.0);
    };
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
            let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            (digits(int) && digits(frac))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    };
    match n {
        Some(n) if n > 0.0 && n <= 3.40282e38 => Ok(n),
        _ => Err(invalid(
            "rxtx_factor",
            v,
            "Must be a number above 0 and at most 3.40282e+38.",
        )),
    }
}

/// `POST /flavors` (cloud admins): 200 with the flavor, as Nova answers.
pub async fn create(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-flavor-manage:create",
        &Target::new("flavor", ""),
    )?;
    let f = wrapped(&body, "flavor")?;
    let mut allowed = vec![
        "name",
        "id",
        "ram",
        "vcpus",
        "disk",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    if mv.at_least(2, 55) {
        allowed.push("description");
    }
    check_keys(f, &allowed, &["name", "ram", "vcpus", "disk"])?;
    let required = |field: &str, min: u64| -> ApiResult<u64> {
        int_field(f, field, min)?
            .ok_or_else(|| ApiError::bad_request(format!("'{field}' is a required property")))
    };
    let flavor = Flavor {
        id: flavor_id(f.get("id"))?,
        name: check_name("name", &f["name"])?,
        ram: required("ram", 1)?,
        vcpus: required("vcpus", 1)?,
        disk: required("disk", 0)?,
        ephemeral: int_field(f, "OS-FLV-EXT-DATA:ephemeral", 0)?.unwrap_or(0),
        swap: int_field(f, "swap", 0)?.unwrap_or(0),
        rxtx_factor: rxtx_factor(f)?,
        is_public: bool_field(f, "os-flavor-access:is_public")?.unwrap_or(true),
        disabled: false,
        description: match f.get("description") {
            Some(d) => description(d, 65535)?,
            None => None,
        },
        extra_specs: Default::default(),
        projects: Default::default(),
        created_at: chrono::Utc::now(),
    };
    let mut tx = c.store.begin().await?;
    if tx.get::<Flavor>(&flavor.id).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "Flavor with ID {} already exists.",
            flavor.id
        )));
    }
    match tx.create(&flavor).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict(format!(
                "Flavor with name {} already exists.",
                flavor.name
            )))
        }
        other => other?,
    };
    commit_audited(tx, &caller, "compute.flavor.create", "flavor", &flavor.id).await?;
    Ok(Json(json!({"flavor": views::flavor(&url, mv, &flavor)})))
}

/// `PUT /flavors/{id}` (2.55 on, cloud admins): only the description changes.
pub async fn update(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    mv.require(2, 55)?;
    authorize(
        &caller,
        "compute:os-flavor-manage:update",
        &Target::new("flavor", &id),
    )?;
    let f = wrapped(&body, "flavor")?;
    check_keys(f, &["description"], &["description"])?;
    let new_description = description(&f["description"], 65535)?;
    let mut tx = c.store.begin().await?;
    let (mut flavor, revision) = load_for_update(&mut tx, &id).await?;
    flavor.description = new_description;
    tx.update(&flavor, Some(revision)).await?;
    commit_audited(tx, &caller, "compute.flavor.update", "flavor", &id).await?;
    Ok(Json(json!({"flavor": views::flavor(&url, mv, &flavor)})))
}

/// `DELETE /flavors/{id}` (cloud admins): 202. Servers keep their own copy of the
/// flavor they were built with, so nothing else changes.
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(
        &caller,
        "compute:os-flavor-manage:delete",
        &Target::new("flavor", &id),
    )?;
    let mut tx = c.store.begin().await?;
    let (_, revision) = load_for_update(&mut tx, &id).await?;
    tx.delete::<Flavor>(&id, Some(revision)).await?;
    commit_audited(tx, &caller, "compute.flavor.delete", "flavor", &id).await?;
    Ok(StatusCode::ACCEPTED)
}
