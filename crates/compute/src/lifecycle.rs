//! The end (and the bookkeeping) of a server's life that other parties call:
//! [`finish_delete`] is what the node agent calls once a deleted server's guest
//! and files are gone (and what the API calls itself for a server that never got
//! a host); [`record_action`] and [`finish_action`] keep `os-instance-actions`.

use crate::server::{ActionEvent, InstanceAction, Server, ServerGroup};
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::Principal;
use nimbus_api::ApiResult;
use nimbus_network::Networking;
use nimbus_store::{Store, Tx};

/// Removes a deleted server for good, in one transaction: its ports are released
/// (the ones Nova created are deleted, the ones the user passed in are unbound),
/// its volumes are detached (and those marked `delete_on_termination` deleted),
/// it leaves its server group, its `delete` instance action is finished, and the
/// server object is deleted. A server that is already gone is fine (idempotent:
/// the agent may call this twice after a restart).
pub async fn finish_delete(
    store: &Store,
    networking: &Networking,
    server_id: &str,
) -> ApiResult<()> {
    let mut tx = store.begin().await?;
    let Some(current) = tx.get::<Server>(server_id).await? else {
        return Ok(());
    };
    let server = current.value;
    let created: Vec<String> = server
        .port_ids
        .iter()
        .filter(|p| !server.user_ports.contains(p))
        .cloned()
        .collect();
    networking
        .release_ports_in(&mut tx, &created, &server.user_ports)
        .await?;
    // The guest is gone, so its volumes are no longer open: each is available
    // again, or deleted when it was attached with delete_on_termination.
    let deleted_volumes = nimbus_volume::attach::release_server(&mut tx, server_id).await?;
    if let Some(group_id) = &server.server_group {
        if let Some(g) = tx.get::<ServerGroup>(group_id).await? {
            let mut group = g.value;
            group.members.retain(|m| m != server_id);
            tx.update(&group, Some(g.revision)).await?;
        }
    }
    finish_action(
        &mut tx,
        server_id,
        "delete",
        "compute_terminate_instance",
        true,
    )
    .await?;
    tx.delete::<Server>(server_id, Some(current.revision))
        .await?;
    AuditRecord::new(None, "compute.server.delete", "server", server_id, true)
        .with_detail(if deleted_volumes.is_empty() {
            "guest removed; ports and volumes released".to_string()
        } else {
            format!(
                "guest removed; ports and volumes released; volumes deleted on termination: {}",
                deleted_volumes.join(", ")
            )
        })
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A new request id in Nova's form (`req-<uuid>`).
pub fn request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// Writes the instance action `action` of `server_id` (started now) in `tx`.
pub async fn record_action(
    tx: &mut Tx<'_>,
    caller: &Principal,
    server: &Server,
    action: &str,
    request_id: &str,
) -> nimbus_store::Result<()> {
    let a = InstanceAction {
        id: format!("{}/{request_id}", server.id),
        request_id: request_id.to_string(),
        server_id: server.id.clone(),
        project_id: server.project_id.clone(),
        user_id: caller.user_id.clone(),
        action: action.to_string(),
        start_time: Utc::now(),
        message: None,
        events: Vec::new(),
    };
    tx.create(&a).await.map(|_| ())
}

/// Appends a finished event `event` to the newest `action` of `server_id` that
/// does not have it yet (nothing when there is none).
pub async fn finish_action(
    tx: &mut Tx<'_>,
    server_id: &str,
    action: &str,
    event: &str,
    success: bool,
) -> nimbus_store::Result<()> {
    let mut actions = tx.list::<InstanceAction>(Some(server_id)).await?;
    actions.sort_by_key(|a| a.value.start_time);
    let Some(a) = actions
        .into_iter()
        .rev()
        .find(|a| a.value.action == action && !a.value.events.iter().any(|e| e.event == event))
    else {
        return Ok(());
    };
    let mut value = a.value;
    let now = Utc::now();
    value.events.push(ActionEvent {
        event: event.to_string(),
        start_time: value.start_time,
        finish_time: Some(now),
        result: Some(if success { "Success" } else { "Error" }.to_string()),
        traceback: None,
        host: None,
    });
    if !success {
        value.message = Some("Error".to_string());
    }
    tx.update(&value, Some(a.revision)).await.map(|_| ())
}
