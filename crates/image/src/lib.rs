//! Image: Glance v2 for Nimbus. Image records live in the store; their data lives in
//! files under `DATA_DIR/images/`.
//!
//! - [`types`]: what is stored ([`types::Image`], [`types::ImageMember`]);
//! - [`access`]: who sees which image (public, private, shared, community);
//! - [`data`]: data files, streamed and hashed, format checks, upload accounting;
//! - [`api`]: the HTTP routes under `/image`.
//!
//! Other services read images through [`Images`]: [`Images::visible_image`] for an
//! image the caller may use, [`Images::file_path`] (or [`data::file_path`] from the
//! data directory alone) for its data, [`types::Image::property`] for its properties.

pub mod access;
pub mod api;
pub mod data;
pub mod types;

use anyhow::Context;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::Principal;
use nimbus_api::ApiResult;
use nimbus_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use types::{Image, Status};

/// Default image storage per project: 100 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 100 << 30;

/// The directory holding image data inside the server's data directory.
pub fn images_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("images")
}

/// Settings of the image service.
#[derive(Clone, Debug)]
pub struct ImageConfig {
    /// Where data files live (`DATA_DIR/images`).
    pub dir: PathBuf,
    /// Bytes of image data each project may store (413 beyond).
    pub quota_bytes: u64,
}

impl ImageConfig {
    /// Data under `data_dir/images`, default quota.
    pub fn new(data_dir: &Path) -> Self {
        ImageConfig {
            dir: images_dir(data_dir),
            quota_bytes: DEFAULT_QUOTA_BYTES,
        }
    }
}

/// The image service: its routes' state, and what other services use.
pub struct Images {
    pub store: Store,
    pub config: ImageConfig,
    inflight: Arc<data::Inflight>,
}

impl Images {
    /// Opens the service: creates the data directory, then repairs what a crash
    /// left behind (uploads cut off in `saving` go back to `queued`; files no image
    /// owns are removed).
    pub async fn open(store: Store, config: ImageConfig) -> anyhow::Result<Arc<Images>> {
        tokio::fs::create_dir_all(&config.dir)
            .await
            .with_context(|| format!("creating {}", config.dir.display()))?;
        let images = Arc::new(Images {
            store,
            config,
            inflight: Arc::new(data::Inflight::default()),
        });
        images.recover().await.context("recovering image uploads")?;
        Ok(images)
    }

    /// The data file of an image (present once the image is active).
    pub fn file_path(&self, image_id: &str) -> PathBuf {
        data::file_path(&self.config.dir, image_id)
    }

    /// An image `p` may see and use, or the Glance 404.
    pub async fn visible_image(&self, p: &Principal, id: &str) -> ApiResult<Image> {
        access::visible_image(&self.store, p, id).await
    }

    /// Bytes of image data `project` stores, not counting `except`.
    pub async fn used_bytes(&self, project: &str, except: &str) -> nimbus_store::Result<u64> {
        Ok(self
            .store
            .list::<Image>(Some(project))
            .await?
            .iter()
            .filter(|i| i.value.id != except)
            .filter_map(|i| i.value.size)
            .sum())
    }

    /// Registers an image whose data is a local file (the built-in guest image, a
    /// server snapshot): the file is copied in and hashed, the image created
    /// `active` with `image` as its metadata (status and data fields are set here).
    pub async fn register_file(&self, mut image: Image, src: &Path) -> anyhow::Result<Image> {
        let dest = self.file_path(&image.id);
        let partial = data::partial_path(&self.config.dir, &image.id);
        let (from, to) = (src.to_path_buf(), partial.clone());
        let stored = tokio::task::spawn_blocking(move || data::copy_file(&from, &to)).await??;
        let format = image.disk_format.clone().unwrap_or_default();
        let virtual_size = match data::inspect(&format, &stored.head, stored.size) {
            Ok(v) => v,
            Err(e) => {
                data::remove(&partial).await;
                anyhow::bail!("{}: {e}", src.display());
            }
        };
        tokio::fs::rename(&partial, &dest).await?;
        api::file::set_data(&mut image, &stored, virtual_size);
        let mut tx = self.store.begin().await?;
        tx.create(&image).await?;
        AuditRecord::new(None, "image.image.create", "image", &image.id, true)
            .with_detail(format!("registered from {}", src.display()))
            .write(&mut tx)
            .await?;
        if let Err(e) = tx.commit().await {
            data::remove(&dest).await;
            return Err(e.into());
        }
        Ok(image)
    }

    /// Fills the queued image `image_id` with a local file in `disk_format` (a
    /// server snapshot the node agent made): copied in and hashed, the image
    /// becomes `active` (`disk_format`/`container_format` are set if still unset).
    /// `Ok(false)` when the image is gone or no longer queued (deleted meanwhile):
    /// the data is dropped then.
    pub async fn import_file(
        &self,
        image_id: &str,
        src: &Path,
        disk_format: &str,
    ) -> anyhow::Result<bool> {
        let dest = self.file_path(image_id);
        let partial = data::partial_path(&self.config.dir, image_id);
        let (from, to) = (src.to_path_buf(), partial.clone());
        let stored = tokio::task::spawn_blocking(move || data::copy_file(&from, &to)).await??;
        let virtual_size = match data::inspect(disk_format, &stored.head, stored.size) {
            Ok(v) => v,
            Err(e) => {
                data::remove(&partial).await;
                anyhow::bail!("{}: {e}", src.display());
            }
        };
        let queued = self
            .store
            .get::<Image>(image_id)
            .await?
            .is_some_and(|i| i.value.status == Status::Queued);
        if !queued {
            data::remove(&partial).await;
            return Ok(false);
        }
        tokio::fs::rename(&partial, &dest).await?;
        let written = self
            .store
            .modify_with::<Image, _, _>(image_id, |image, _tx| {
                if image.status != Status::Queued {
                    return Ok(nimbus_store::Change::Keep(false));
                }
                image
                    .disk_format
                    .get_or_insert_with(|| disk_format.to_string());
                image
                    .container_format
                    .get_or_insert_with(|| "bare".to_string());
                api::file::set_data(image, &stored, virtual_size);
                Ok(nimbus_store::Change::Write(true))
            })
            .await;
        match written {
            Ok(Some((_, true))) => {
                let mut tx = self.store.begin().await?;
                AuditRecord::new(None, "image.image.upload", "image", image_id, true)
                    .with_detail(format!("imported from {}", src.display()))
                    .write(&mut tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
            Ok(_) => {
                data::remove(&dest).await;
                Ok(false)
            }
            Err(e) => {
                data::remove(&dest).await;
                Err(e.into())
            }
        }
    }

    async fn recover(&self) -> anyhow::Result<()> {
        for stuck in self.store.list::<Image>(None).await? {
            let mut image = stuck.value;
            if image.status != Status::Saving {
                continue;
            }
            image.status = Status::Queued;
            image.clear_data();
            let mut tx = self.store.begin().await?;
            tx.update(&image, Some(stuck.revision)).await?;
            AuditRecord::new(None, "image.image.upload", "image", &image.id, false)
                .with_detail("upload cut off by a restart; back to queued")
                .write(&mut tx)
                .await?;
            tx.commit().await?;
            data::remove(&self.file_path(&image.id)).await;
        }
        let mut dir = tokio::fs::read_dir(&self.config.dir).await?;
        while let Some(entry) = dir.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owned = match name.split_once(".partial-") {
                Some(_) => false,
                None => self
                    .store
                    .get::<Image>(&name)
                    .await?
                    .is_some_and(|i| i.value.has_data()),
            };
            if !owned {
                tracing::info!(file = %name, "removing image data no image owns");
                data::remove(&entry.path()).await;
            }
        }
        Ok(())
    }
}
