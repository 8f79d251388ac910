//! Tags on networks, subnets, ports and security groups (`standard-attr-tag`):
//! `GET/PUT/DELETE /{collection}/{id}/tags` and `GET/PUT/DELETE
//! /{collection}/{id}/tags/{tag}`. Reading needs sight of the object, changing
//! tags the right to update it.

use super::common::check_tag;
use crate::access::{self, authorize_on};
use crate::error::{Fault, Kind, NResult};
use crate::types::{Network, Port, SecurityGroup, Subnet};
use crate::Networking;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_store::{Resource, Store};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Neutron's limit of tags per resource.
const MAX_TAGS: usize = 50;

/// A resource that carries tags.
pub trait Tagged: Resource + Clone {
    const KIND_OF: Kind;
    const GET: &'static str;
    const UPDATE: &'static str;
    fn tags_mut(&mut self) -> &mut BTreeSet<String>;
    fn touch(&mut self);
    /// The owner project and whether other projects see the object (for subnets:
    /// looked up through the network).
    fn owner(&self) -> &str;
    fn open<'a>(
        &'a self,
        store: &'a Store,
    ) -> impl std::future::Future<Output = NResult<bool>> + Send + 'a;
}

macro_rules! tagged {
    () => {
        fn tags_mut(&mut self) -> &mut BTreeSet<String> {
            &mut self.tags
        }
        fn touch(&mut self) {
            self.updated_at = Utc::now();
        }
        fn owner(&self) -> &str {
            &self.project_id
        }
    };
}

impl Tagged for Network {
    const KIND_OF: Kind = Kind::Network;
    const GET: &'static str = "network:get_network";
    const UPDATE: &'static str = "network:update_network";
    tagged!();
    async fn open(&self, _: &Store) -> NResult<bool> {
        Ok(access::network_open(self))
    }
}

impl Tagged for Subnet {
    const KIND_OF: Kind = Kind::Subnet;
    const GET: &'static str = "network:get_subnet";
    const UPDATE: &'static str = "network:update_subnet";
    tagged!();
    async fn open(&self, store: &Store) -> NResult<bool> {
        let n = store.get::<Network>(&self.network_id).await?;
        Ok(n.is_some_and(|n| access::network_open(&n.value)))
    }
}

impl Tagged for Port {
    const KIND_OF: Kind = Kind::Port;
    const GET: &'static str = "network:get_port";
    const UPDATE: &'static str = "network:update_port";
    tagged!();
    async fn open(&self, _: &Store) -> NResult<bool> {
        Ok(false)
    }
}

impl Tagged for SecurityGroup {
    const KIND_OF: Kind = Kind::SecurityGroup;
    const GET: &'static str = "network:get_security_group";
    const UPDATE: &'static str = "network:update_security_group";
    tagged!();
    async fn open(&self, _: &Store) -> NResult<bool> {
        Ok(false)
    }
}

/// The object, after checking the caller may see it (and, for writes, change it).
async fn load<T: Tagged>(
    net: &Networking,
    caller: &Principal,
    id: &str,
    write: bool,
) -> NResult<(T, i64)> {
    let v = net
        .store
        .get::<T>(id)
        .await?
        .ok_or_else(|| Fault::not_found(T::KIND_OF, id))?;
    let open = v.value.open(&net.store).await?;
    authorize_on(caller, T::GET, T::KIND_OF, id, v.value.owner(), open)?;
    if write {
        authorize_on(caller, T::UPDATE, T::KIND_OF, id, v.value.owner(), open)?;
    }
    Ok((v.value, v.revision))
}

async fn save<T: Tagged>(
    net: &Networking,
    caller: &Principal,
    mut obj: T,
    revision: i64,
) -> NResult<T> {
    if obj.tags_mut().len() > MAX_TAGS {
        return Err(Fault::bad(
            "TagLimitExceeded",
            format!("The number of tags exceeds the limit of {MAX_TAGS}."),
        ));
    }
    obj.touch();
    let mut tx = net.store.begin().await?;
    tx.update(&obj, Some(revision)).await?;
    commit_audited(
        tx,
        caller,
        &format!("network.{}.tags", T::KIND),
        T::KIND,
        obj.id(),
    )
    .await?;
    Ok(obj)
}

fn tag_list(obj: &mut impl Tagged) -> Json<Value> {
    Json(json!({"tags": obj.tags_mut().iter().collect::<Vec<_>>()}))
}

/// `GET .../{id}/tags`
pub async fn list<T: Tagged>(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let (mut obj, _) = load::<T>(&net, &caller, &id, false).await?;
    Ok(tag_list(&mut obj))
}

/// `PUT .../{id}/tags` with `{"tags": [...]}`: replaces all tags.
pub async fn replace<T: Tagged>(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let tags = body
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| Fault::invalid("Invalid tags body: {\"tags\": [...]} is required"))?;
    let tags = tags
        .iter()
        .map(|t| match t {
            Value::String(s) => check_tag(s.clone()),
            other => Err(Fault::invalid(format!("'{other}' is not a valid tag"))),
        })
        .collect::<NResult<BTreeSet<String>>>()?;
    let (mut obj, revision) = load::<T>(&net, &caller, &id, true).await?;
    *obj.tags_mut() = tags;
    let mut obj = save(&net, &caller, obj, revision).await?;
    Ok(tag_list(&mut obj))
}

/// `DELETE .../{id}/tags`
pub async fn clear<T: Tagged>(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let (mut obj, revision) = load::<T>(&net, &caller, &id, true).await?;
    obj.tags_mut().clear();
    save(&net, &caller, obj, revision).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn tag_not_found(id: &str, tag: &str) -> Fault {
    Fault::new(
        StatusCode::NOT_FOUND,
        "TagNotFound",
        format!("Tag {tag} could not be found for resource {id}."),
    )
}

/// `GET .../{id}/tags/{tag}`: 204 when present.
pub async fn check<T: Tagged>(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> NResult<StatusCode> {
    let (mut obj, _) = load::<T>(&net, &caller, &id, false).await?;
    if obj.tags_mut().contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(tag_not_found(&id, &tag))
    }
}

/// `PUT .../{id}/tags/{tag}`: 201.
pub async fn add<T: Tagged>(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> NResult<StatusCode> {
    let tag = check_tag(tag)?;
    let (mut obj, revision) = load::<T>(&net, &caller, &id, true).await?;
    if obj.tags_mut().insert(tag) {
        save(&net, &caller, obj, revision).await?;
    }
    Ok(StatusCode::CREATED)
}

/// `DELETE .../{id}/tags/{tag}`: 204, or 404 when absent.
pub async fn remove<T: Tagged>(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> NResult<StatusCode> {
    let (mut obj, revision) = load::<T>(&net, &caller, &id, true).await?;
    if !obj.tags_mut().remove(&tag) {
        return Err(tag_not_found(&id, &tag));
    }
    save(&net, &caller, obj, revision).await?;
    Ok(StatusCode::NO_CONTENT)
}
