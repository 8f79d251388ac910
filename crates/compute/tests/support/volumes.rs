//! What volume tests need around the compute API: the seeded volume types,
//! volumes written straight into the store, and a **fake volume side** (a test
//! double, never shipped) that plays the storage controller and the node
//! agent's volume work for servers on one host: a volume made for a server
//! (`creating` with an attachment) turns `attaching` as the controller turns it,
//! compute attachments are "plugged" (`finish_attach`) or "unplugged"
//! (`finish_detach`) as the agent does through QMP, and `deleting` volumes go.

use super::cloud::Running;
use super::App;
use chrono::Utc;
use nimbus_compute::server::Server;
use nimbus_store::Store;
use nimbus_volume::attach;
use nimbus_volume::types::VolumeType;
use nimbus_volume::types::{AttachmentStatus, Volume, VolumeAttachment, VolumeStatus};
use std::time::Duration;

impl App {
    /// Seeds the volume types (`standard`, the default, and `encrypted`).
    pub async fn volume_types(&self) {
        nimbus_volume::bootstrap::seed_types(&self.store.store)
            .await
            .expect("volume types");
    }

    /// An `available` volume of `project` (default type), `size` GiB.
    pub async fn volume(&self, project: &str, size: u64, bootable: bool) -> String {
        let types = self.store.store.list::<VolumeType>(None).await.unwrap();
        let vtype = types
            .iter()
            .find(|t| t.value.is_default)
            .expect("seeded types (call volume_types first)");
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().to_string();
        let v = Volume {
            id: id.clone(),
            project_id: project.into(),
            user_id: "someone".into(),
            name: Some("data".into()),
            description: None,
            size,
            status: VolumeStatus::Available,
            volume_type_id: vtype.value.id.clone(),
            bootable,
            metadata: Default::default(),
            source: Default::default(),
            availability_zone: "nova".into(),
            error: None,
            target_size: None,
            image_metadata: Default::default(),
            top: Some(format!("{id}.0.qcow2")),
            chain: vec![],
            base_image: None,
            generation: 0,
            upload: None,
            encryption_key_id: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.store.begin().await.unwrap();
        tx.create(&v).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// A volume as stored (None once deleted).
    pub async fn stored_volume(&self, id: &str) -> Option<Volume> {
        self.store
            .store
            .get::<Volume>(id)
            .await
            .unwrap()
            .map(|v| v.value)
    }

    /// Polls until volume `id` has `status` (None: is gone); panics after 10 s.
    pub async fn wait_volume(&self, id: &str, status: Option<VolumeStatus>) -> Option<Volume> {
        for _ in 0..500 {
            let v = self.stored_volume(id).await;
            if v.as_ref().map(|v| v.status) == status {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "volume {id} never reached {status:?}: {:?}",
            self.stored_volume(id).await.map(|v| v.status)
        );
    }

    /// Starts the fake volume side for servers on `host`.
    pub fn run_volumes(&self, host: &str) -> Running {
        let store = self.store.store.clone();
        Running::new(vec![tokio::spawn(fake_volume_side(
            store,
            host.to_string(),
        ))])
    }
}

/// One pass every 10 ms.
async fn fake_volume_side(store: Store, host: String) {
    loop {
        let _ = pass(&store, &host).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn pass(store: &Store, host: &str) -> nimbus_store::Result<()> {
    let mut tx = store.begin().await?;
    for a in tx.list::<VolumeAttachment>(None).await? {
        let a = a.value;
        let Some(server_id) = a.server_id.clone().filter(|_| a.compute) else {
            continue;
        };
        let on_host = tx
            .get::<Server>(&server_id)
            .await?
            .is_some_and(|s| s.value.host.as_deref() == Some(host));
        let Some(v) = tx.get::<Volume>(&a.id).await? else {
            continue;
        };
        if v.value.status == VolumeStatus::Creating {
            // The controller made the data and hands the volume to the agent.
            let mut volume = v.value;
            volume.status = VolumeStatus::Attaching;
            volume.top = Some(format!("{}.0.qcow2", volume.id));
            tx.update(&volume, Some(v.revision)).await?;
            continue;
        }
        if !on_host {
            continue;
        }
        match a.status {
            AttachmentStatus::Attaching => attach::finish_attach(&mut tx, &a.id, Some(1)).await?,
            AttachmentStatus::Detaching => attach::finish_detach(&mut tx, &a.id).await?,
            _ => {}
        }
    }
    for v in tx.list::<Volume>(None).await? {
        if v.value.status == VolumeStatus::Deleting {
            tx.delete::<Volume>(&v.value.id, Some(v.revision)).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
