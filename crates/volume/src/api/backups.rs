//! `/backups` (Cinder v3 "Backups"): create (full or `incremental`, of an
//! available volume, of an in-use one with `force`, or of one of its
//! snapshots), list (summary and `/detail`, with the volume lists' filters and
//! paging), show, update (3.9), delete (not while incrementals depend on it),
//! `restore` (into a new volume or an available one at least as big), and the
//! admin actions `os-reset_status` and `os-force_delete`. Handlers only write
//! records and intents; the backup controller ([`crate::backup`]) copies data.
//! Views follow the microversion: `metadata` 3.43, `user_id` 3.56,
//! `encryption_key_id` 3.64, the project attribute for admins from 3.18.

use super::access;
use super::common::{self, opt_bool, opt_string, param, wrapped, Params};
use super::list::ListRequest;
use super::views::timestamp;
use super::UrlProject;
use crate::types::{
    Backup, BackupStatus, QuotaSet, Restore, Snapshot, SnapshotStatus, Source, Volume, VolumeStatus,
};
use crate::{quota, Volumes, AVAILABILITY_ZONE};
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
use nimbus_store::{Store, Versioned};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

const FILTERS: &[&str] = &["name", "status", "volume_id"];
const SORT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "size",
    "created_at",
    "updated_at",
    "volume_id",
    "data_timestamp",
];

pub fn backup_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Backup {id} could not be found."))
}

/// A backup the caller may perform `action` on.
async fn load(
    store: &Store,
    caller: &Principal,
    action: &str,
    id: &str,
) -> ApiResult<Versioned<Backup>> {
    let b = store
        .get::<Backup>(id)
        .await?
        .ok_or_else(|| backup_not_found(id))?;
    access::authorize(
        caller,
        action,
        &common::owned("backup", id, &b.value.project_id),
        || backup_not_found(id),
    )?;
    Ok(b)
}

async fn reload(tx: &mut nimbus_store::Tx<'_>, id: &str) -> ApiResult<Versioned<Backup>> {
    tx.get::<Backup>(id)
        .await?
        .ok_or_else(|| backup_not_found(id))
}

fn invalid_backup(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid backup: {why}"))
}

fn invalid_volume(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid volume: {why}"))
}

/// The summary view: `{id, name, links}`.
fn summary(url: &PublicUrl, b: &Backup) -> Value {
    json!({
        "id": b.id,
        "name": b.name,
        "links": common::links(url, &b.project_id, "backups", &b.id),
    })
}

/// The full view; `dependent`: whether incrementals are based on it.
fn detail(
    url: &PublicUrl,
    mv: Microversion,
    caller: &Principal,
    b: &Backup,
    dependent: bool,
) -> Value {
    let mut doc = json!({
        "id": b.id,
        "name": b.name,
        "description": b.description,
        "volume_id": b.volume_id,
        "snapshot_id": b.snapshot_id,
        "status": b.status.as_str(),
        "size": b.size,
        "object_count": b.object_count,
        "container": b.container,
        "availability_zone": b.availability_zone,
        "is_incremental": b.is_incremental,
        "has_dependent_backups": dependent,
        "fail_reason": b.fail_reason,
        "data_timestamp": timestamp(&b.data_timestamp),
        "created_at": timestamp(&b.created_at),
        "updated_at": timestamp(&b.updated_at),
        "links": common::links(url, &b.project_id, "backups", &b.id),
    });
    let obj = doc.as_object_mut().expect("an object");
    if mv.at_least(3, 18) && caller.is_cloud_admin() {
        obj.insert(
            "os-backup-project-attr:project_id".into(),
            json!(b.project_id),
        );
    }
    if mv.at_least(3, 43) {
        obj.insert("metadata".into(), json!(b.metadata));
    }
    if mv.at_least(3, 56) {
        obj.insert("user_id".into(), json!(b.user_id));
    }
    if mv.at_least(3, 64) {
        obj.insert("encryption_key_id".into(), json!(b.encryption_key_id));
    }
    doc
}

/// The ids of backups other backups are based on.
async fn parents(store: &Store) -> ApiResult<std::collections::HashSet<String>> {
    Ok(store
        .list::<Backup>(None)
        .await?
        .into_iter()
        .filter_map(|b| b.value.parent_id)
        .collect())
}

/// `GET /backups`.
pub async fn list(
    state: State<Arc<Volumes>>,
    auth: Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    list_backups(state, auth, mv, url, q, up, false).await
}

/// `GET /backups/detail`.
pub async fn list_detail(
    state: State<Arc<Volumes>>,
    auth: Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    list_backups(state, auth, mv, url, q, up, true).await
}

async fn list_backups(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
    full: bool,
) -> ApiResult<Json<Value>> {
    access::authorize(&caller, "backup:get_all", &Default::default(), || {
        ApiError::not_found("The resource could not be found.")
    })?;
    let req = ListRequest::parse(&q, mv, FILTERS, SORT_KEYS)?;
    let scope = req.scope(&caller, "backup:get_all:all_tenants");
    let based_on = parents(&svc.store).await?;
    let mut found = Vec::new();
    for b in svc.store.list::<Backup>(scope.as_deref()).await? {
        let b = b.value;
        let view = detail(&url, mv, &caller, &b, based_on.contains(&b.id));
        if req.matches(&view)? {
            found.push(view);
        }
    }
    let path = format!(
        "{}{}/backups{}",
        common::PREFIX,
        super::volumes::url_project(&up),
        if full { "/detail" } else { "" }
    );
    Ok(Json(req.answer(
        found,
        &url,
        &path,
        &q,
        "backups",
        |v| {
            if full {
                v
            } else {
                json!({"id": v["id"], "name": v["name"], "links": v["links"]})
            }
        },
    )?))
}

/// `GET /backups/{backup_id}`
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "backup_id")?;
    let b = load(&svc.store, &caller, "backup:get", id).await?;
    let dependent = parents(&svc.store).await?.contains(id);
    Ok(Json(
        json!({"backup": detail(&url, mv, &caller, &b.value, dependent)}),
    ))
}

/// What `POST /backups` asked for.
struct CreateRequest {
    volume_id: String,
    name: Option<String>,
    description: Option<String>,
    incremental: bool,
    force: bool,
    snapshot_id: Option<String>,
    container: Option<String>,
    metadata: BTreeMap<String, String>,
}

fn parse_create(body: &Value, mv: Microversion) -> ApiResult<CreateRequest> {
    let obj = wrapped(body, "backup")?;
    let mut allowed_fields = vec![
        "volume_id",
        "container",
        "description",
        "name",
        "incremental",
        "force",
        "snapshot_id",
    ];
    if mv.at_least(3, 43) {
        allowed_fields.push("metadata");
    }
    if mv.at_least(3, 51) {
        allowed_fields.push("availability_zone");
    }
    common::only_fields(obj, "backup", &allowed_fields)?;
    let volume_id = opt_string(obj, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute backup. 'volume_id' is a required property",
        )
    })?;
    if let Some(az) = opt_string(obj, "availability_zone")? {
        if az != AVAILABILITY_ZONE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Availability zone '{az}' is invalid."
            )));
        }
    }
    Ok(CreateRequest {
        volume_id,
        name: opt_string(obj, "name")?,
        description: opt_string(obj, "description")?,
        incremental: opt_bool(obj, "incremental")?.unwrap_or(false),
        force: opt_bool(obj, "force")?.unwrap_or(false),
        snapshot_id: opt_string(obj, "snapshot_id")?,
        container: opt_string(obj, "container")?,
        metadata: match obj.get("metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(m) => common::metadata_value("metadata", m)?,
        },
    })
}

/// `POST /backups` → 202 with `{id, links, name}`; the backup is `creating`.
pub async fn create(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = parse_create(&body, mv)?;
    let found = access::volume(&svc.store, &caller, "backup:create", &req.volume_id).await?;
    let project = found.value.project_id.clone();
    let mut tx = svc.store.begin().await?;
    let v = access::reload_volume(&mut tx, &req.volume_id).await?.value;
    // A snapshot's backup holds the data of the snapshot's time.
    let mut snapshot_time = None;
    if let Some(sid) = &req.snapshot_id {
        let s = tx
            .get::<Snapshot>(sid)
            .await?
            .filter(|s| s.value.for_backup.is_none() && s.value.project_id == project)
            .ok_or_else(|| access::snapshot_not_found(sid))?
            .value;
        if s.volume_id != v.id {
            return Err(ApiError::bad_request(format!(
                "Invalid snapshot: Snapshot {sid} is not a snapshot of volume {}.",
                v.id
            )));
        }
        if s.status != SnapshotStatus::Available {
            return Err(ApiError::bad_request(format!(
                "Invalid snapshot: Snapshot to be backed up must be available, but the \
                 current status is \"{}\".",
                s.status.as_str()
            )));
        }
        snapshot_time = Some(s.created_at);
    } else {
        match v.status {
            VolumeStatus::Available => {}
            VolumeStatus::InUse if req.force => {}
            VolumeStatus::InUse => {
                return Err(invalid_volume(
                    "Backing up an in-use volume must use the force flag.",
                ))
            }
            other => {
                return Err(invalid_volume(format!(
                    "Volume to be backed up must be available or in-use, but the current \
                     status is \"{}\".",
                    other.as_str()
                )))
            }
        }
    }
    let parent = if req.incremental {
        // The volume's backup with the newest data, as Cinder picks it; for a
        // snapshot, the newest one older than the snapshot.
        let latest = tx
            .list::<Backup>(Some(&project))
            .await?
            .into_iter()
            .map(|b| b.value)
            .filter(|b| b.volume_id == v.id)
            .filter(|b| snapshot_time.is_none_or(|t| b.data_timestamp < t))
            .max_by_key(|b| (b.data_timestamp, b.created_at));
        match latest {
            Some(p) if p.status == BackupStatus::Available => Some(p.id),
            Some(_) => {
                return Err(invalid_backup(
                    "The parent backup must be available for incremental backup.",
                ))
            }
            None => {
                return Err(invalid_backup(
                    "No backups available to do an incremental backup.",
                ))
            }
        }
    } else {
        None
    };
    let set = tx.get::<QuotaSet>(&project).await?.map(|s| s.value);
    let usage = quota::usage(&mut tx, &project, &BTreeMap::new()).await?;
    let gib = i64::try_from(v.size).unwrap_or(i64::MAX);
    quota::check(
        set.as_ref(),
        &usage,
        &[("backups".into(), 1), ("backup_gigabytes".into(), gib)],
    )?;
    let now = chrono::Utc::now();
    let backup = Backup {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project,
        user_id: caller.user_id.clone(),
        name: req.name,
        description: req.description,
        volume_id: v.id.clone(),
        snapshot_id: req.snapshot_id,
        status: BackupStatus::Creating,
        size: v.size,
        object_count: 0,
        container: Some(req.container.unwrap_or_else(|| "backups".into())),
        availability_zone: AVAILABILITY_ZONE.into(),
        is_incremental: parent.is_some(),
        parent_id: parent,
        data_timestamp: snapshot_time.unwrap_or(now),
        fail_reason: None,
        metadata: req.metadata,
        encryption_key_id: v.encryption_key_id.clone(),
        volume_type_id: v.volume_type_id.clone(),
        frozen: None,
        temp_snapshot: None,
        file: None,
        backing: None,
        restore: None,
        created_at: now,
        updated_at: now,
    };
    tx.create(&backup).await?;
    commit_audited(tx, &caller, "volume.backup.create", "backup", &backup.id).await?;
    let mut view = summary(&url, &backup);
    if mv.at_least(3, 43) {
        view["metadata"] = json!(backup.metadata);
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"backup": view}))))
}

/// `PUT /backups/{backup_id}` (3.9): name, description, and metadata (3.43).
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !mv.at_least(3, 9) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let id = param(&p, "backup_id")?;
    let obj = wrapped(&body, "backup")?.clone();
    let mut fields = vec!["name", "description"];
    if mv.at_least(3, 43) {
        fields.push("metadata");
    }
    common::only_fields(&obj, "backup", &fields)?;
    let name = opt_string(&obj, "name")?;
    let description = opt_string(&obj, "description")?;
    let metadata = match obj.get("metadata") {
        None => None,
        Some(m) => Some(common::metadata_value("metadata", m)?),
    };
    load(&svc.store, &caller, "backup:update", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = reload(&mut tx, id).await?;
    let mut b = found.value;
    if obj.contains_key("name") {
        b.name = name;
    }
    if obj.contains_key("description") {
        b.description = description;
    }
    if let Some(m) = metadata {
        b.metadata = m;
    }
    b.updated_at = chrono::Utc::now();
    tx.update(&b, Some(found.revision)).await?;
    commit_audited(tx, &caller, "volume.backup.update", "backup", id).await?;
    let dependent = parents(&svc.store).await?.contains(id);
    Ok(Json(
        json!({"backup": detail(&url, mv, &caller, &b, dependent)}),
    ))
}

/// Marks a backup `deleting` (inside `tx`): refused while incrementals depend
/// on it, and (unless forced) unless it is `available` or `error`.
async fn mark_deleting(tx: &mut nimbus_store::Tx<'_>, id: &str, force: bool) -> ApiResult<()> {
    let found = reload(tx, id).await?;
    let mut b = found.value;
    if !force && !matches!(b.status, BackupStatus::Available | BackupStatus::Error) {
        return Err(invalid_backup(format!(
            "Backup status must be available or error (backup {id} is {}).",
            b.status.as_str()
        )));
    }
    let dependent = tx
        .list::<Backup>(Some(&b.project_id))
        .await?
        .iter()
        .any(|o| o.value.parent_id.as_deref() == Some(id));
    if dependent {
        return Err(invalid_backup("Incremental backups exist for this backup."));
    }
    b.status = BackupStatus::Deleting;
    b.updated_at = chrono::Utc::now();
    tx.update(&b, Some(found.revision)).await?;
    Ok(())
}

/// `DELETE /backups/{backup_id}` → 202.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    let id = param(&p, "backup_id")?;
    load(&svc.store, &caller, "backup:delete", id).await?;
    let mut tx = svc.store.begin().await?;
    mark_deleting(&mut tx, id, false).await?;
    commit_audited(tx, &caller, "volume.backup.delete", "backup", id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /backups/{backup_id}/restore` → 202 `{"restore": {backup_id,
/// volume_id, volume_name}}`; the target is `restoring-backup`, the backup
/// `restoring`.
pub async fn restore(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = param(&p, "backup_id")?;
    let obj = wrapped(&body, "restore")?;
    common::only_fields(obj, "restore", &["volume_id", "name"])?;
    let volume_id = opt_string(obj, "volume_id")?;
    let name = opt_string(obj, "name")?;
    load(&svc.store, &caller, "backup:restore", id).await?;
    if let Some(vid) = &volume_id {
        access::volume(&svc.store, &caller, "volume:update", vid).await?;
    }
    let types = access::all_types(&svc.store).await?;
    let own_default = access::project_default(&svc.store, &caller).await?;
    let mut tx = svc.store.begin().await?;
    let b = reload(&mut tx, id).await?.value;
    if b.status != BackupStatus::Available {
        return Err(invalid_backup(format!(
            "Backup status must be available (backup {id} is {}).",
            b.status.as_str()
        )));
    }
    let encrypted_backup = b.encryption_key_id.is_some();
    let target = match &volume_id {
        Some(vid) => {
            let v = access::reload_volume(&mut tx, vid).await?;
            let mut vol = v.value;
            if vol.status != VolumeStatus::Available {
                return Err(invalid_volume(format!(
                    "Volume to be restored to must be available, but the current status is \
                     \"{}\".",
                    vol.status.as_str()
                )));
            }
            if vol.size < b.size {
                return Err(invalid_volume(format!(
                    "volume size {}GB is too small to restore backup of size {}GB.",
                    vol.size, b.size
                )));
            }
            if encrypted_backup && vol.encryption_key_id.is_none() {
                return Err(invalid_volume(
                    "an encrypted backup cannot be restored into an unencrypted volume.",
                ));
            }
            vol.status = VolumeStatus::RestoringBackup;
            vol.updated_at = chrono::Utc::now();
            tx.update(&vol, Some(v.revision)).await?;
            vol
        }
        None => {
            let vtype = types
                .get(&b.volume_type_id)
                .or_else(|| access::default_type(&types, own_default.as_deref()))
                .ok_or_else(|| access::type_not_found("default"))?;
            if encrypted_backup && vtype.encryption.is_none() {
                return Err(invalid_volume(
                    "the backup is encrypted and its volume type (with its encryption) is \
                     gone.",
                ));
            }
            let project = caller
                .project_id()
                .map(str::to_string)
                .unwrap_or_else(|| b.project_id.clone());
            let set = tx.get::<QuotaSet>(&project).await?.map(|s| s.value);
            let type_names = super::volume_create::type_names(&types);
            let usage = quota::usage(&mut tx, &project, &type_names).await?;
            let gib = i64::try_from(b.size).unwrap_or(i64::MAX);
            quota::check_per_volume(set.as_ref(), b.size)?;
            quota::check(
                set.as_ref(),
                &usage,
                &[
                    ("volumes".into(), 1),
                    ("gigabytes".into(), gib),
                    (format!("volumes_{}", vtype.name), 1),
                    (format!("gigabytes_{}", vtype.name), gib),
                ],
            )?;
            let now = chrono::Utc::now();
            let vol = Volume {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: project,
                user_id: caller.user_id.clone(),
                name: Some(name.unwrap_or_else(|| format!("restore_backup_{id}"))),
                description: Some("auto-created_from_restore_from_backup".into()),
                size: b.size,
                status: VolumeStatus::RestoringBackup,
                volume_type_id: vtype.id.clone(),
                bootable: false,
                metadata: BTreeMap::new(),
                source: Source::Blank,
                availability_zone: AVAILABILITY_ZONE.into(),
                error: None,
                target_size: None,
                image_metadata: BTreeMap::new(),
                top: None,
                chain: Vec::new(),
                base_image: None,
                generation: 0,
                upload: None,
                encryption_key_id: vtype
                    .encryption
                    .as_ref()
                    .map(|_| uuid::Uuid::new_v4().to_string()),
                created_at: now,
                updated_at: now,
            };
            tx.create(&vol).await?;
            vol
        }
    };
    start_restore(&mut tx, id, &target.id).await?;
    commit_audited(tx, &caller, "volume.backup.restore", "backup", id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"restore": {
            "backup_id": id,
            "volume_id": target.id,
            "volume_name": target.name,
        }})),
    ))
}

/// Inside the caller's transaction: the backup (still `available`) starts
/// restoring into `volume_id`, which the caller has put in `restoring-backup`.
pub async fn start_restore(
    tx: &mut nimbus_store::Tx<'_>,
    id: &str,
    volume_id: &str,
) -> ApiResult<()> {
    let found = reload(tx, id).await?;
    let mut b = found.value;
    if b.status != BackupStatus::Available {
        return Err(invalid_backup(format!(
            "Backup status must be available (backup {id} is {}).",
            b.status.as_str()
        )));
    }
    b.status = BackupStatus::Restoring;
    b.restore = Some(Restore {
        volume_id: volume_id.to_string(),
    });
    b.updated_at = chrono::Utc::now();
    tx.update(&b, Some(found.revision)).await?;
    Ok(())
}

/// `POST /backups/{backup_id}/action`: `os-reset_status` and `os-force_delete`.
pub async fn action(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<StatusCode> {
    let id = param(&p, "backup_id")?;
    let Some((name, args)) = body.as_object().and_then(one_action) else {
        return Err(ApiError::bad_request(
            "Invalid input received: exactly one action (os-reset_status or os-force_delete) \
             is expected.",
        ));
    };
    match name.as_str() {
        "os-reset_status" => {
            let status = args.get("status").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(
                    "Invalid input for field/attribute os-reset_status. 'status' is a \
                         required property",
                )
            })?;
            let status = match status {
                "available" => BackupStatus::Available,
                "error" => BackupStatus::Error,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute status. Value: {other}. '{other}' \
                         is not one of ['available', 'error']"
                    )))
                }
            };
            load(
                &svc.store,
                &caller,
                "volume_extension:backup_admin_actions:reset_status",
                id,
            )
            .await?;
            let mut tx = svc.store.begin().await?;
            let found = reload(&mut tx, id).await?;
            let mut b = found.value;
            if status == BackupStatus::Available && b.file.is_none() {
                return Err(invalid_backup(format!(
                    "Backup {id} has no data; it can only be reset to error."
                )));
            }
            b.status = status;
            b.restore = None;
            b.updated_at = chrono::Utc::now();
            tx.update(&b, Some(found.revision)).await?;
            commit_audited(tx, &caller, "volume.backup.reset_status", "backup", id).await?;
            Ok(StatusCode::ACCEPTED)
        }
        "os-force_delete" => {
            load(
                &svc.store,
                &caller,
                "volume_extension:backup_admin_actions:force_delete",
                id,
            )
            .await?;
            let mut tx = svc.store.begin().await?;
            mark_deleting(&mut tx, id, true).await?;
            commit_audited(tx, &caller, "volume.backup.force_delete", "backup", id).await?;
            Ok(StatusCode::ACCEPTED)
        }
        other => Err(ApiError::bad_request(format!(
            "Invalid input received: There is no such action: {other}"
        ))),
    }
}

/// The single `{"action": {...}}` of an action body.
fn one_action(obj: &Map<String, Value>) -> Option<(String, Map<String, Value>)> {
    if obj.len() != 1 {
        return None;
    }
    let (k, v) = obj.iter().next()?;
    let args = match v {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return None,
    };
    Some((k.clone(), args))
}
