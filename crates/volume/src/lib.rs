//! Volume: Cinder v3 for Nimbus. Volume, type and snapshot records live in the
//! store; volume data lives in qcow2 files under `DATA_DIR/volumes/`, made by the
//! storage controller with `qemu-img`, never by a handler.
//!
//! - [`types`]: what is stored;
//! - [`attach`]: the attachment state machine (Nova, Cinder and the agent use it);
//! - [`create`]: a new volume record (Cinder's create and Nova's boot from volume);
//! - [`storage`]: the files and the qemu-img commands;
//! - [`controller`]: makes the files match the records (create, snapshot, extend,
//!   delete, sweep of unused layers);
//! - [`backup`], [`backup_store`]: backups (full and incremental) and restores,
//!   in `DATA_DIR/backups/`;
//! - [`quota`]: quota keys, usage and checks;
//! - [`bootstrap`]: the seeded volume types (`standard`, `encrypted`);
//! - [`api`]: the HTTP routes under `/volume`.

pub mod api;
pub mod attach;
pub mod backup;
pub mod backup_store;
pub mod bootstrap;
pub mod controller;
pub mod create;
pub mod quota;
pub mod storage;
pub mod types;

use nimbus_image::Images;
use nimbus_store::Store;
use std::path::Path;
use std::sync::Arc;
use storage::Layout;

/// The availability zone every volume is in.
pub const AVAILABILITY_ZONE: &str = "nova";

/// The volume service: its routes' state, and what the controller works on.
pub struct Volumes {
    pub store: Store,
    pub images: Arc<Images>,
    pub layout: Layout,
    /// The backup store (`DATA_DIR/backups`).
    pub backups: backup_store::BackupLayout,
}

impl Volumes {
    /// Opens the service over `data_dir` (creates `volumes/`, `volumes/keys/`,
    /// `volumes/images/`, `backups/` and `backups/keys/`).
    pub async fn open(
        store: Store,
        images: Arc<Images>,
        data_dir: &Path,
    ) -> anyhow::Result<Arc<Volumes>> {
        let layout = Layout::new(data_dir);
        layout.create_dirs().await?;
        let backups = backup_store::BackupLayout::new(data_dir);
        backups.create_dirs().await?;
        Ok(Arc::new(Volumes {
            store,
            images,
            layout,
            backups,
        }))
    }
}
