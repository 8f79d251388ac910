//! `/attachments` (Cinder 3.27+): reserve a volume for a server (`POST` without
//! a connector: attachment and volume `reserved`; with one: `attaching` and the
//! connection info), `PUT` a connector (`attaching`), `os-complete` (3.44:
//! `attached`, volume `in-use`), `DELETE` (volume `available`), list (summary
//! and `/detail`, filters `volume_id`, `status`, `instance_id`,
//! `attach_status`; admins `all_tenants`) and show, all by the attachment's own
//! id. These records are bookkeeping only (`compute: false`), as upstream
//! Cinder never touches a hypervisor; attachments Nova made are listed too but
//! changed only through Nova (409 here).

use super::access;
use super::attachment_views::{self, Conn};
use super::common::{self, param, wrapped, Params};
use super::list::ListRequest;
use super::UrlProject;
use crate::attach::{self, NewAttachment};
use crate::types::{AttachmentStatus, Volume, VolumeAttachment, VolumeStatus};
use crate::Volumes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Store;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Cinder's `allowed_filters` for attachments.
const FILTERS: &[&str] = &["volume_id", "status", "instance_id", "attach_status"];
const SORT_KEYS: &[&str] = &[
    "id",
    "status",
    "attach_status",
    "volume_id",
    "instance_id",
    "created_at",
    "updated_at",
];

/// The attachments API exists from 3.27 on.
const NEW_ATTACH: (u16, u16) = (3, 27);
/// `os-complete` from 3.44.
const ATTACH_COMPLETION: (u16, u16) = (3, 44);
/// `mode` in the create body from 3.54.
const CREATE_MODE: (u16, u16) = (3, 54);

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Volume attachment could not be found with filter: attachment_id = {id}."
    ))
}

/// The attachment with Cinder id `id` that the caller may perform `action` on.
async fn find(
    store: &Store,
    caller: &Principal,
    action: &str,
    id: &str,
) -> ApiResult<VolumeAttachment> {
    let found = store
        .list::<VolumeAttachment>(None)
        .await?
        .into_iter()
        .map(|a| a.value)
        .find(|a| a.attachment_id == id)
        .ok_or_else(|| not_found(id))?;
    access::authorize(
        caller,
        action,
        &common::owned("attachment", id, &found.project_id),
        || not_found(id),
    )?;
    Ok(found)
}

/// The same attachment inside the writing transaction (its volume may have
/// been detached and attached again meanwhile: then it is gone).
async fn reload(tx: &mut nimbus_store::Tx<'_>, a: &VolumeAttachment) -> ApiResult<()> {
    match tx.get::<VolumeAttachment>(&a.id).await? {
        Some(now) if now.value.attachment_id == a.attachment_id => Ok(()),
        _ => Err(not_found(&a.attachment_id)),
    }
}

/// The detailed view of one attachment, with its volume read now.
async fn render(svc: &Volumes, caller: &Principal, a: &VolumeAttachment) -> ApiResult<Value> {
    let volume = svc.store.get::<Volume>(&a.id).await?.map(|v| v.value);
    let encrypted = match &volume {
        Some(v) => svc
            .store
            .get::<crate::types::VolumeType>(&v.volume_type_id)
            .await?
            .is_some_and(|t| t.value.encryption.is_some()),
        None => false,
    };
    let conn = Conn {
        layout: &svc.layout,
        admin: caller.is_cloud_admin(),
    };
    Ok(attachment_views::detail(
        &conn,
        a,
        volume.as_ref(),
        encrypted,
    ))
}

/// `GET /attachments`
pub async fn list(
    svc: State<Arc<Volumes>>,
    auth: Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    list_attachments(svc, auth, mv, url, q, up, false).await
}

/// `GET /attachments/detail`
pub async fn detail(
    svc: State<Arc<Volumes>>,
    auth: Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    list_attachments(svc, auth, mv, url, q, up, true).await
}

async fn list_attachments(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
    detailed: bool,
) -> ApiResult<Json<Value>> {
    mv.require(NEW_ATTACH.0, NEW_ATTACH.1)?;
    access::authorize(
        &caller,
        "volume:attachment_get_all",
        &Default::default(),
        || ApiError::not_found("The resource could not be found."),
    )?;
    let req = ListRequest::parse(&q, mv, FILTERS, SORT_KEYS)?;
    let scope = req.scope(&caller, "volume:attachment_get_all:all_tenants");
    let attachments: Vec<VolumeAttachment> = svc
        .store
        .list::<VolumeAttachment>(None)
        .await?
        .into_iter()
        .map(|a| a.value)
        .filter(|a| scope.as_deref().is_none_or(|p| a.project_id == p))
        .collect();
    // The detail needs each volume (connection info): one read for the list.
    let (volumes, encrypted) = if detailed && !attachments.is_empty() {
        let types = access::all_types(&svc.store).await?;
        let volumes: HashMap<String, Volume> = svc
            .store
            .list::<Volume>(scope.as_deref())
            .await?
            .into_iter()
            .map(|v| (v.value.id.clone(), v.value))
            .collect();
        let encrypted = volumes
            .values()
            .filter(|v| {
                types
                    .get(&v.volume_type_id)
                    .is_some_and(|t| t.encryption.is_some())
            })
            .map(|v| v.id.clone())
            .collect::<std::collections::HashSet<_>>();
        (volumes, encrypted)
    } else {
        Default::default()
    };
    let conn = Conn {
        layout: &svc.layout,
        admin: caller.is_cloud_admin(),
    };
    let mut docs = Vec::new();
    for a in &attachments {
        let view = if detailed {
            attachment_views::detail(&conn, a, volumes.get(&a.id), encrypted.contains(&a.id))
        } else {
            attachment_views::summary(a)
        };
        // What filters and sort keys look at, next to what is shown.
        let doc = json!({
            "id": a.attachment_id,
            "status": a.status.as_str(),
            "attach_status": a.status.as_str(),
            "volume_id": a.id,
            "instance_id": a.server_id,
            "created_at": super::views::timestamp(&a.created_at),
            "updated_at": super::views::timestamp(&a.updated_at),
            "view": view,
        });
        if req.matches(&doc)? {
            docs.push(doc);
        }
    }
    let path = format!(
        "{}{}/attachments{}",
        common::PREFIX,
        super::volumes::url_project(&up),
        if detailed { "/detail" } else { "" }
    );
    let doc = req.answer(docs, &url, &path, &q, "attachments", |mut d| {
        d.get_mut("view").map(Value::take).unwrap_or_default()
    })?;
    Ok(Json(doc))
}

/// `GET /attachments/{attachment_id}`
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    mv.require(NEW_ATTACH.0, NEW_ATTACH.1)?;
    let id = param(&p, "attachment_id")?;
    let a = find(&svc.store, &caller, "volume:attachment_get", id).await?;
    Ok(Json(
        json!({"attachment": render(&svc, &caller, &a).await?}),
    ))
}

/// A uuid field (Cinder validates the format, not existence).
fn uuid_field(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => Ok(Some(s.clone())),
        Some(v) => Err(common::invalid(field, v, "It is not a 'uuid'.")),
    }
}

/// A connector object (`None` for null or `{}`, which Cinder treats as none).
pub fn connector_field(
    obj: &Map<String, Value>,
    field: &str,
) -> ApiResult<Option<Map<String, Value>>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(Value::Object(m)) => {
            for key in ["host", "mountpoint", "mode"] {
                match m.get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) if s.chars().count() <= common::MAX_STRING => {}
                    Some(v) => {
                        return Err(common::invalid(
                            &format!("{field}.{key}"),
                            v,
                            "Must be a string of at most 255 characters.",
                        ))
                    }
                }
            }
            if let Some(mode) = m.get("mode").and_then(Value::as_str) {
                mode_value(&format!("{field}.mode"), &json!(mode))?;
            }
            Ok(Some(m.clone()))
        }
        Some(v) => Err(common::invalid(field, v, "Must be an object.")),
    }
}

/// `rw` or `ro`.
pub fn mode_value(field: &str, v: &Value) -> ApiResult<String> {
    match v.as_str() {
        Some(m @ ("rw" | "ro")) => Ok(m.to_string()),
        _ => Err(common::invalid(field, v, "Must be 'rw' or 'ro'.")),
    }
}

/// A string field of a connector (`host`, `mountpoint`, `mode`).
pub fn connector_str(c: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    c.and_then(|c| c.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `POST /attachments` → 200 with the attachment's detail.
pub async fn create(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    mv.require(NEW_ATTACH.0, NEW_ATTACH.1)?;
    if let Some(top) = body.as_object() {
        common::only_fields(top, "body", &["attachment"])?;
    }
    let obj = wrapped(&body, "attachment")?;
    // The SDK sends `"mode": null` below 3.54; only a real mode needs 3.54.
    let mode_given = obj.get("mode").is_some_and(|m| !m.is_null());
    let mut fields = vec!["volume_uuid", "instance_uuid", "connector"];
    if mv.at_least(CREATE_MODE.0, CREATE_MODE.1) || !mode_given {
        fields.push("mode");
    }
    common::only_fields(obj, "attachment", &fields)?;
    let volume_id = uuid_field(obj, "volume_uuid")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute attachment. 'volume_uuid' is a required property",
        )
    })?;
    let server_id = uuid_field(obj, "instance_uuid")?;
    let connector = connector_field(obj, "connector")?;
    let mode = match obj.get("mode") {
        None | Some(Value::Null) => None,
        Some(m) => Some(mode_value("mode", m)?),
    };
    let found = access::volume(&svc.store, &caller, "volume:attachment_create", &volume_id).await?;
    let mut tx = svc.store.begin().await?;
    let volume = access::reload_volume(&mut tx, &volume_id).await?.value;
    if matches!(
        volume.status,
        VolumeStatus::Error | VolumeStatus::ErrorDeleting | VolumeStatus::ErrorExtending
    ) {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume attachments can not be created if the volume is in an \
             error state. The Volume {volume_id} currently has a status of: {}",
            volume.status.as_str()
        )));
    }
    // Cinder reserves available volumes only (`creating` ones are reserved by
    // a server booting from them, in Nova's transaction).
    if volume.status != VolumeStatus::Available {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {volume_id} status must be available or downloading to \
             reserve, but the current status is {}.",
            volume.status.as_str()
        )));
    }
    let status = if connector.is_some() {
        AttachmentStatus::Attaching
    } else {
        AttachmentStatus::Reserved
    };
    let a = attach::attach(
        &mut tx,
        &volume_id,
        NewAttachment {
            project_id: found.value.project_id.clone(),
            server_id,
            compute: false,
            status: Some(status),
            device: connector_str(connector.as_ref(), "mountpoint"),
            mode: mode.or_else(|| connector_str(connector.as_ref(), "mode")),
            connector: connector.map(Value::Object),
            ..Default::default()
        },
    )
    .await?;
    commit_audited(
        tx,
        &caller,
        "volume.attachment.create",
        "volume_attachment",
        &a.attachment_id,
    )
    .await?;
    Ok(Json(
        json!({"attachment": render(&svc, &caller, &a).await?}),
    ))
}

/// `PUT /attachments/{attachment_id}` `{"attachment": {"connector": {...}}}` →
/// `attaching` with the connection info.
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    mv.require(NEW_ATTACH.0, NEW_ATTACH.1)?;
    let id = param(&p, "attachment_id")?;
    if let Some(top) = body.as_object() {
        common::only_fields(top, "body", &["attachment"])?;
    }
    let obj = wrapped(&body, "attachment")?;
    common::only_fields(obj, "attachment", &["connector"])?;
    let connector = connector_field(obj, "connector")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute connector. 'connector' is a required property \
             and must have at least one property.",
        )
    })?;
    let a = find(&svc.store, &caller, "volume:attachment_update", id).await?;
    if a.compute {
        return Err(attach::owned_by_compute(&a));
    }
    let mut tx = svc.store.begin().await?;
    reload(&mut tx, &a).await?;
    let volume = access::reload_volume(&mut tx, &a.id).await?.value;
    if volume.status.as_str().starts_with("error") {
        return Err(ApiError::conflict(format!(
            "Volume attachments can not be updated if the volume is in an error state. The \
             Volume {} currently has a status of: {}",
            volume.id,
            volume.status.as_str()
        )));
    }
    let mountpoint = connector_str(Some(&connector), "mountpoint");
    let updated = attach::advance(&mut tx, &a.id, AttachmentStatus::Attaching, |rec| {
        if mountpoint.is_some() {
            rec.device = mountpoint;
        }
        rec.connector = Some(Value::Object(connector));
    })
    .await?;
    commit_audited(
        tx,
        &caller,
        "volume.attachment.update",
        "volume_attachment",
        id,
    )
    .await?;
    Ok(Json(
        json!({"attachment": render(&svc, &caller, &updated).await?}),
    ))
}

/// `POST /attachments/{attachment_id}/action` `{"os-complete": ...}` (3.44) →
/// 204: `attached`, volume `in-use`.
pub async fn action(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<StatusCode> {
    mv.require(ATTACH_COMPLETION.0, ATTACH_COMPLETION.1)?;
    let id = param(&p, "attachment_id")?;
    let Some(obj) = body.as_object().filter(|o| o.len() == 1) else {
        return Err(ApiError::bad_request(
            "Invalid input received: the body must name exactly one action.",
        ));
    };
    if !obj.contains_key("os-complete") {
        let name = obj.keys().next().map(String::as_str).unwrap_or("");
        return Err(ApiError::bad_request(format!(
            "There is no such action: {name}"
        )));
    }
    let a = find(&svc.store, &caller, "volume:attachment_complete", id).await?;
    let mut tx = svc.store.begin().await?;
    reload(&mut tx, &a).await?;
    attach::advance(&mut tx, &a.id, AttachmentStatus::Attached, |_| {}).await?;
    commit_audited(
        tx,
        &caller,
        "volume.attachment.complete",
        "volume_attachment",
        id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /attachments/{attachment_id}` → 200 with the volume's remaining
/// attachments (none: volumes are not multi-attached); the volume is
/// `available` again.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    mv.require(NEW_ATTACH.0, NEW_ATTACH.1)?;
    let id = param(&p, "attachment_id")?;
    let a = find(&svc.store, &caller, "volume:attachment_delete", id).await?;
    if a.compute {
        return Err(attach::owned_by_compute(&a));
    }
    let mut tx = svc.store.begin().await?;
    reload(&mut tx, &a).await?;
    attach::finish_detach(&mut tx, &a.id).await?;
    commit_audited(
        tx,
        &caller,
        "volume.attachment.delete",
        "volume_attachment",
        id,
    )
    .await?;
    Ok(Json(json!({"attachments": []})))
}
