//! Events on `os-instance-actions`: when the API recorded an action (create, stop,
//! start, reboot, delete) for a server, the agent appends the compute event Nova
//! shows for it (`compute__do_build_and_run_instance`, ...), with its result.
//! Best effort: a missing action is fine, a failed write is only logged.

use chrono::{DateTime, Utc};
use nimbus_compute::server::{ActionEvent, InstanceAction};
use nimbus_store::{Change, Store};

/// Appends `event` to the newest `action` of `server_id` unless it has it already.
pub async fn record(
    store: &Store,
    host: &str,
    server_id: &str,
    action: &str,
    event: &str,
    started: DateTime<Utc>,
    error: Option<&str>,
) {
    let latest = match store.list::<InstanceAction>(Some(server_id)).await {
        Ok(list) => list
            .into_iter()
            .map(|a| a.value)
            .filter(|a| a.action == action)
            .max_by_key(|a| a.start_time),
        Err(e) => {
            tracing::warn!(server = %server_id, "listing instance actions: {e}");
            return;
        }
    };
    let Some(latest) = latest else {
        return;
    };
    let result = store
        .modify::<InstanceAction, _, _>(&latest.id, |a| {
            if a.events.iter().any(|e| e.event == event) {
                return Ok(Change::Keep(()));
            }
            a.events.push(ActionEvent {
                event: event.to_string(),
                start_time: started,
                finish_time: Some(Utc::now()),
                result: Some(if error.is_some() { "Error" } else { "Success" }.to_string()),
                traceback: error.map(str::to_string),
                host: Some(host.to_string()),
            });
            if error.is_some() && a.message.is_none() {
                a.message = Some("Error".to_string());
            }
            Ok(Change::Write(()))
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(server = %server_id, "recording instance action event: {e}");
    }
}
