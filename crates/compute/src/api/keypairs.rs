//! `/os-keypairs`: import (`public_key`) or generate (no `public_key`: the private
//! key is returned once, never stored), list (double-wrapped, paged from 2.35),
//! show, delete. Keypairs belong to their user; from 2.10 a cloud admin may act for
//! another user with `user_id` (body on create, query otherwise).
//!
//! Per microversion: `type` (ssh, x509) from 2.2, which also turns create into 201
//! and delete into 204 (200 and 202 before).

use super::common::*;
use crate::keys;
use crate::types::{KeyType, Keypair};
use crate::{keypair_not_found, Compute};
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
use nimbus_store::StoreError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Nova's default `key_pairs` quota, per user (a project's quota set may change it).
pub const MAX_KEYPAIRS_PER_USER: usize = 100;

/// The user a request acts for: `?user_id=` from 2.10 on, else the caller.
fn target_user(caller: &Principal, mv: Microversion, requested: Option<&str>) -> String {
    match requested {
        Some(u) if mv.at_least(2, 10) => u.to_string(),
        _ => caller.user_id.clone(),
    }
}

fn authorize_for(caller: &Principal, action: &str, user_id: &str, name: &str) -> ApiResult<()> {
    authorize(caller, action, &Target::new("keypair", name).user(user_id))
}

fn query_params(mv: Microversion) -> &'static [&'static str] {
    if mv.at_least(2, 35) {
        &["user_id", "limit", "marker"]
    } else {
        &["user_id"]
    }
}

fn created_at(k: &Keypair) -> String {
    k.created_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The list item: name, public_key, fingerprint (and type from 2.2).
fn brief(mv: Microversion, k: &Keypair) -> Value {
    let mut v = json!({
        "name": k.name,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
    });
    if mv.at_least(2, 2) {
        v["type"] = json!(k.key_type.as_str());
    }
    v
}

/// The show document: the list item plus user and Nova's soft-delete fields.
fn full(mv: Microversion, k: &Keypair) -> Value {
    let mut v = brief(mv, k);
    v["user_id"] = json!(k.user_id);
    v["id"] = json!(k.serial);
    v["created_at"] = json!(created_at(k));
    v["updated_at"] = Value::Null;
    v["deleted_at"] = Value::Null;
    v["deleted"] = json!(false);
    v
}

/// `GET /os-keypairs`: `{"keypairs": [{"keypair": {...}}, ...]}`.
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
) -> ApiResult<Json<Value>> {
    check_query(mv, &q, query_params(mv))?;
    let user_id = target_user(&caller, mv, q.get("user_id"));
    authorize_for(&caller, "compute:os-keypairs:index", &user_id, "")?;
    let all: Vec<Keypair> = c
        .store
        .list::<Keypair>(Some(&user_id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let (page, paging) = if mv.at_least(2, 35) {
        let paging = Paging::from_query(&q)?;
        (paging.page(all, |k| &k.name)?, Some(paging))
    } else {
        (all, None)
    };
    let items: Vec<Value> = page
        .iter()
        .map(|k| json!({"keypair": brief(mv, k)}))
        .collect();
    let mut doc = json!({ "keypairs": items });
    if let Some(paging) = paging {
        let last = page.last().map(|k| k.name.as_str());
        if let Some(links) = paging.next_links(&url, "os-keypairs", &q, page.len(), last) {
            doc["keypairs_links"] = links;
        }
    }
    Ok(Json(doc))
}

/// `GET /os-keypairs/{name}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    check_query(mv, &q, &["user_id"])?;
    let user_id = target_user(&caller, mv, q.get("user_id"));
    authorize_for(&caller, "compute:os-keypairs:show", &user_id, &name)?;
    let k = c.keypair(&user_id, &name).await?;
    Ok(Json(json!({"keypair": full(mv, &k)})))
}

/// `DELETE /os-keypairs/{name}`: 202 below 2.2, 204 from it.
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    check_query(mv, &q, &["user_id"])?;
    let user_id = target_user(&caller, mv, q.get("user_id"));
    authorize_for(&caller, "compute:os-keypairs:delete", &user_id, &name)?;
    let id = Keypair::store_id(&user_id, &name);
    let mut tx = c.store.begin().await?;
    match tx.delete::<Keypair>(&id, None).await {
        Err(StoreError::NotFound { .. }) => return Err(keypair_not_found(&user_id, &name)),
        other => other?,
    };
    commit_audited(tx, &caller, "compute.keypair.delete", "keypair", &id).await?;
    Ok(if mv.at_least(2, 2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

/// Nova's keypair names before 2.92: letters, digits, `_`, `-` and spaces.
fn check_keypair_name(v: &Value) -> ApiResult<String> {
    let name = check_name("name", v)?;
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_- ".contains(&b));
    if !ok {
        return Err(invalid(
            "name",
            v,
            "Keypair names may contain only letters, digits, '_', '-' and spaces.",
        ));
    }
    Ok(name)
}

fn key_type(obj: &Map<String, Value>) -> ApiResult<KeyType> {
    match obj.get("type") {
        None => Ok(KeyType::Ssh),
        Some(Value::String(s)) if s == "ssh" => Ok(KeyType::Ssh),
        Some(Value::String(s)) if s == "x509" => Ok(KeyType::X509),
        Some(other) => Err(invalid("type", other, "Must be one of: ssh, x509.")),
    }
}

fn invalid_keypair(e: keys::InvalidKey) -> ApiError {
    ApiError::bad_request(format!("Keypair data is invalid: {}", e.0))
}

/// `POST /os-keypairs`: import or generate; 200 below 2.2, 201 from it.
pub async fn create(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "keypair")?;
    let mut allowed = vec!["name", "public_key"];
    if mv.at_least(2, 2) {
        allowed.push("type");
    }
    if mv.at_least(2, 10) {
        allowed.push("user_id");
    }
    check_keys(obj, &allowed, &["name"])?;
    let name = check_keypair_name(&obj["name"])?;
    let key_type = key_type(obj)?;
    let user_id = match obj.get("user_id") {
        None => caller.user_id.clone(),
        Some(Value::String(u)) => u.clone(),
        Some(other) => return Err(invalid("user_id", other, "Must be a string.")),
    };
    authorize_for(&caller, "compute:os-keypairs:create", &user_id, &name)?;
    let (public_key, fingerprint, private_key) = match obj.get("public_key") {
        Some(Value::String(pk)) => {
            let fp = match key_type {
                KeyType::Ssh => keys::ssh_fingerprint(pk),
                KeyType::X509 => keys::x509_fingerprint(pk),
            }
            .map_err(invalid_keypair)?;
            (pk.clone(), fp, None)
        }
        Some(other) => return Err(invalid("public_key", other, "Must be a string.")),
        None if key_type == KeyType::X509 => {
            return Err(ApiError::bad_request(
                "Keypair data is invalid: generating x509 certificates is not supported; \
                 import one with public_key.",
            ))
        }
        None => {
            let g = keys::generate_ssh().map_err(invalid_keypair)?;
            (g.public_key, g.fingerprint, Some(g.private_key))
        }
    };
    let mut tx = c.store.begin().await?;
    // The `key_pairs` limit of the caller's project (Nova counts it per user).
    let limit = match caller.project_id() {
        Some(p) => crate::quota::limits(&mut tx, p).await?.limit("key_pairs"),
        None => MAX_KEYPAIRS_PER_USER as i64,
    };
    let count = tx.list::<Keypair>(Some(&user_id)).await?.len() as i64;
    if limit >= 0 && count >= limit {
        return Err(ApiError::forbidden("Quota exceeded, too many key pairs."));
    }
    let keypair = Keypair {
        id: Keypair::store_id(&user_id, &name),
        user_id,
        name,
        key_type,
        public_key,
        fingerprint,
        serial: tx.revision().await?,
        created_at: chrono::Utc::now(),
    };
    match tx.create(&keypair).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict(format!(
                "Key pair '{}' already exists.",
                keypair.name
            )))
        }
        other => other?,
    };
    commit_audited(
        tx,
        &caller,
        "compute.keypair.create",
        "keypair",
        &keypair.id,
    )
    .await?;
    let mut v = brief(mv, &keypair);
    v["user_id"] = json!(keypair.user_id);
    if let Some(pk) = private_key {
        v["private_key"] = json!(pk);
    }
    let status = if mv.at_least(2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "keypair": v }))))
}
