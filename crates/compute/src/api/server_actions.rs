//! `POST /servers/{id}/action`: `os-start`, `os-stop`, `reboot`, `lock`/`unlock`,
//! `os-getConsoleOutput` and `createImage`, with Nova's state checks (409 "Cannot
//! 'stop' instance X while it is in vm_state stopped") and lock checks. Each
//! action writes the server's intent, its instance action and its audit record in
//! one transaction; the node agent does the work.

use super::common::*;
use super::servers::{load, not_found};
use crate::lifecycle::{record_action, request_id};
use crate::server::{console_log, PowerIntent, Server, SnapshotRequest, TaskState, VmState};
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::{ApiError, ApiResult};
use nimbus_image::types::{Image, Visibility};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Nova's spelling of a task state in messages and documents.
pub fn task_name(t: TaskState) -> &'static str {
    match t {
        TaskState::Scheduling => "scheduling",
        TaskState::Spawning => "spawning",
        TaskState::PoweringOff => "powering-off",
        TaskState::PoweringOn => "powering-on",
        TaskState::Rebooting => "rebooting",
        TaskState::RebootingHard => "rebooting_hard",
        TaskState::ImageSnapshot => "image_snapshot",
        TaskState::Deleting => "deleting",
    }
}

fn vm_name(v: VmState) -> &'static str {
    match v {
        VmState::Building => "building",
        VmState::Active => "active",
        VmState::Stopped => "stopped",
        VmState::Error => "error",
        VmState::Deleted => "deleted",
    }
}

/// Nova's `check_instance_state`: the vm states an action allows, and whether it
/// allows a task in progress (only a hard reboot interrupts a reboot).
pub fn check_state(
    s: &Server,
    action: &str,
    vm: &[VmState],
    tasks: &[Option<TaskState>],
) -> ApiResult<()> {
    let conflict = |what: &str, state: &str| {
        ApiError::conflict(format!(
            "Cannot '{action}' instance {} while it is in {what} {state}",
            s.id
        ))
    };
    if s.deleting {
        return Err(conflict("task_state", "deleting"));
    }
    if !vm.contains(&s.vm_state) {
        return Err(conflict("vm_state", vm_name(s.vm_state)));
    }
    if !tasks.contains(&s.task_state) {
        let t = s.task_state.map(task_name).unwrap_or("None");
        return Err(conflict("task_state", t));
    }
    Ok(())
}

pub fn check_lock(caller: &Principal, s: &Server) -> ApiResult<()> {
    if s.locked && !caller.is_cloud_admin() {
        return Err(ApiError::conflict(format!("Instance {} is locked", s.id)));
    }
    Ok(())
}

/// `POST /servers/{id}/action`
pub async fn action(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::bad_request("Invalid input: the body must name one action."))?;
    let (name, arg) = obj.iter().next().expect("one entry");
    match name.as_str() {
        "os-start" => {
            simple(&c, &caller, &id, "start", arg, |s| {
                check_state(s, "start", &[VmState::Stopped], &[None])?;
                s.desired_power = PowerIntent::Running;
                s.task_state = Some(TaskState::PoweringOn);
                Ok(())
            })
            .await
        }
        "os-stop" => {
            simple(&c, &caller, &id, "stop", arg, |s| {
                check_state(s, "stop", &[VmState::Active, VmState::Error], &[None])?;
                s.desired_power = PowerIntent::Stopped;
                s.task_state = Some(TaskState::PoweringOff);
                Ok(())
            })
            .await
        }
        "reboot" => {
            let hard = reboot_type(arg)?;
            simple(&c, &caller, &id, "reboot", &Value::Null, |s| {
                if hard {
                    check_state(
                        s,
                        "reboot",
                        &[VmState::Active, VmState::Stopped, VmState::Error],
                        &[
                            None,
                            Some(TaskState::Rebooting),
                            Some(TaskState::RebootingHard),
                        ],
                    )?;
                } else {
                    check_state(s, "reboot", &[VmState::Active], &[None])?;
                }
                s.reboot.seq += 1;
                s.reboot.hard = hard;
                s.desired_power = PowerIntent::Running;
                s.task_state = Some(if hard {
                    TaskState::RebootingHard
                } else {
                    TaskState::Rebooting
                });
                Ok(())
            })
            .await
        }
        "lock" => {
            let reason = lock_reason(mv, arg)?;
            simple(&c, &caller, &id, "lock", &Value::Null, |s| {
                s.locked = true;
                s.locked_reason = reason.clone();
                Ok(())
            })
            .await
        }
        "unlock" => {
            simple(&c, &caller, &id, "unlock", arg, |s| {
                s.locked = false;
                s.locked_reason = None;
                Ok(())
            })
            .await
        }
        "os-getConsoleOutput" => console_output(&c, &caller, &id, arg).await,
        "createImage" => create_image(&c, &caller, mv, &url, &id, arg).await,
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}

fn reboot_type(arg: &Value) -> ApiResult<bool> {
    let o = arg
        .as_object()
        .ok_or_else(|| invalid("reboot", arg, "Must be an object."))?;
    check_keys(o, &["type"], &["type"])?;
    match o["type"].as_str().map(str::to_uppercase).as_deref() {
        Some("SOFT") => Ok(false),
        Some("HARD") => Ok(true),
        _ => Err(invalid("type", &o["type"], "Must be SOFT or HARD.")),
    }
}

fn lock_reason(mv: Microversion, arg: &Value) -> ApiResult<Option<String>> {
    match arg {
        Value::Null => Ok(None),
        Value::Object(o) if o.is_empty() => Ok(None),
        Value::Object(o) if mv.at_least(2, 73) => {
            check_keys(o, &["locked_reason"], &[])?;
            match o.get("locked_reason") {
                None => Ok(None),
                Some(Value::String(r)) if r.chars().count() <= 255 => Ok(Some(r.clone())),
                Some(v) => Err(invalid(
                    "locked_reason",
                    v,
                    "Must be at most 255 characters.",
                )),
            }
        }
        v => Err(invalid("lock", v, "Must be null or an empty object.")),
    }
}

/// An action that only changes the server: lock and state checks, the change,
/// instance action and audit record in one transaction; 202.
async fn simple<F>(
    c: &Compute,
    caller: &Principal,
    id: &str,
    action: &str,
    arg: &Value,
    change: F,
) -> ApiResult<Response>
where
    F: FnOnce(&mut Server) -> ApiResult<()>,
{
    if !matches!(arg, Value::Null) && !arg.as_object().is_some_and(Map::is_empty) {
        return Err(invalid(action, arg, "Must be null or an empty object."));
    }
    load(c, caller, id, &format!("compute:servers:{action}")).await?;
    let mut tx = c.store.begin().await?;
    let current = tx.get::<Server>(id).await?.ok_or_else(|| not_found(id))?;
    let mut s = current.value;
    if action != "unlock" {
        check_lock(caller, &s)?;
    }
    change(&mut s)?;
    // Nova's `check_instance_host`: power actions need an agent to act.
    let needs_host = matches!(action, "start" | "stop" | "reboot");
    if needs_host && s.host.is_none() {
        return Err(ApiError::conflict(format!("Instance {id} is not ready")));
    }
    s.updated_at = Utc::now();
    tx.update(&s, Some(current.revision)).await?;
    record_action(&mut tx, caller, &s, action, &request_id()).await?;
    AuditRecord::new(
        Some(caller),
        &format!("compute.server.{action}"),
        "server",
        id,
        true,
    )
    .write(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-getConsoleOutput {length}`: the last `length` lines of the serial log.
async fn console_output(
    c: &Compute,
    caller: &Principal,
    id: &str,
    arg: &Value,
) -> ApiResult<Response> {
    let o = arg
        .as_object()
        .ok_or_else(|| invalid("os-getConsoleOutput", arg, "Must be an object."))?;
    check_keys(o, &["length"], &[])?;
    let length = match o.get("length") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(-1) => None,
            Some(l) if l >= 0 => Some(l as usize),
            _ => return Err(invalid("length", &o["length"], "Must be an integer >= -1.")),
        },
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(-1) => None,
            Ok(l) if l >= 0 => Some(l as usize),
            _ => return Err(invalid("length", &o["length"], "Must be an integer >= -1.")),
        },
        Some(v) => return Err(invalid("length", v, "Must be an integer >= -1.")),
    };
    let s = load(c, caller, id, "compute:servers:console_output").await?;
    if s.value.host.is_none() {
        return Err(ApiError::conflict(format!("Instance {id} is not ready")));
    }
    let text = match tokio::fs::read(console_log(&c.data_dir, id)).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            tracing::warn!(server = id, error = %e, "reading the console log");
            return Err(ApiError::conflict(format!(
                "Console output of instance {id} is not available."
            )));
        }
    };
    let output = match length {
        None => text,
        Some(n) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            lines[lines.len().saturating_sub(n)..].concat()
        }
    };
    Ok(Json(json!({ "output": output })).into_response())
}

/// Image properties a snapshot inherits from the image the server booted.
fn inherited(key: &str) -> bool {
    matches!(
        key,
        "kernel_id"
            | "ramdisk_id"
            | "os_command_line"
            | "os_admin_user"
            | "os_distro"
            | "os_type"
            | "architecture"
    ) || key.starts_with("hw_")
}

/// `createImage {name, metadata}`: a queued snapshot image the agent fills.
async fn create_image(
    c: &Compute,
    caller: &Principal,
    mv: Microversion,
    url: &PublicUrl,
    id: &str,
    arg: &Value,
) -> ApiResult<Response> {
    let o = arg
        .as_object()
        .ok_or_else(|| invalid("createImage", arg, "Must be an object."))?;
    check_keys(o, &["name", "metadata"], &["name"])?;
    let name = check_name("name", &o["name"])?;
    let metadata = match o.get("metadata") {
        None => Default::default(),
        Some(v) => super::server_input::metadata(v)?,
    };
    load(c, caller, id, "compute:servers:create_image").await?;
    let base = match c.store.get::<Server>(id).await? {
        Some(s) if !s.value.image_id.is_empty() => c
            .store
            .get::<Image>(&s.value.image_id)
            .await?
            .map(|i| i.value),
        _ => None,
    };
    let mut tx = c.store.begin().await?;
    let current = tx.get::<Server>(id).await?.ok_or_else(|| not_found(id))?;
    let mut s = current.value;
    check_lock(caller, &s)?;
    check_state(
        &s,
        "createImage",
        &[VmState::Active, VmState::Stopped],
        &[None],
    )?;
    if s.host.is_none() {
        return Err(ApiError::conflict(format!("Instance {id} is not ready")));
    }
    let image_id = uuid::Uuid::new_v4().to_string();
    let mut image = Image::new(image_id.clone(), Some(s.project_id.clone()));
    image.name = Some(name);
    image.visibility = Visibility::Private;
    image.disk_format = Some("qcow2".to_string());
    image.container_format = Some("bare".to_string());
    image.min_ram = base.as_ref().map(|b| b.min_ram).unwrap_or(0);
    image.min_disk = s.flavor.disk;
    if let Some(b) = &base {
        for (k, v) in b.properties.iter().filter(|(k, _)| inherited(k)) {
            image.properties.insert(k.clone(), v.clone());
        }
    }
    image.properties.extend(metadata);
    image
        .properties
        .insert("image_type".into(), "snapshot".into());
    image
        .properties
        .insert("instance_uuid".into(), s.id.clone());
    image
        .properties
        .insert("base_image_ref".into(), s.image_id.clone());
    image
        .properties
        .insert("user_id".into(), caller.user_id.clone());
    tx.create(&image).await?;
    s.snapshots.push(SnapshotRequest {
        image_id: image_id.clone(),
    });
    s.task_state = Some(TaskState::ImageSnapshot);
    s.updated_at = Utc::now();
    tx.update(&s, Some(current.revision)).await?;
    record_action(&mut tx, caller, &s, "createImage", &request_id()).await?;
    AuditRecord::new(
        Some(caller),
        "compute.server.create_image",
        "server",
        id,
        true,
    )
    .with_detail(format!("image {image_id}"))
    .write(&mut tx)
    .await?;
    tx.commit().await?;
    let location = url.join(&format!("/image/v2/images/{image_id}"));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert("location", v);
    }
    if mv.at_least(2, 45) {
        return Ok((
            StatusCode::ACCEPTED,
            headers,
            Json(json!({ "image_id": image_id })),
        )
            .into_response());
    }
    Ok((StatusCode::ACCEPTED, headers).into_response())
}
