//! The last step of a delete, once the guest and its files are gone: the
//! server's ports (`device_owner` compute:nova) and the server object go, in one
//! transaction.
//!
//! TODO(replace): a local stand-in for `nimbus_compute::lifecycle::finish_delete`
//! (written by the servers engineer); switch to it once it is on main.

use nimbus_compute::server::Server;
use nimbus_network::types::{Port, OWNER_COMPUTE};
use nimbus_store::{Store, StoreError};

/// Deletes the server's compute ports and the server. Idempotent: a server
/// already gone is fine.
pub async fn finish_delete(store: &Store, server_id: &str) -> anyhow::Result<()> {
    for _ in 0..10 {
        let mut tx = store.begin().await?;
        let Some(server) = tx.get::<Server>(server_id).await? else {
            return Ok(());
        };
        let ports = tx.list::<Port>(None).await?;
        let mut raced = false;
        for p in ports
            .iter()
            .filter(|p| p.value.device_id == server_id && p.value.device_owner == OWNER_COMPUTE)
        {
            match tx.delete::<Port>(&p.value.id, Some(p.revision)).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(StoreError::RevisionMismatch { .. }) => raced = true,
                Err(e) => return Err(e.into()),
            }
        }
        if raced {
            continue;
        }
        match tx.delete::<Server>(server_id, Some(server.revision)).await {
            Ok(_) => {}
            Err(StoreError::RevisionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        match tx.commit().await {
            Ok(_) => return Ok(()),
            Err(StoreError::RevisionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("server {server_id} kept changing while it was being deleted")
}
