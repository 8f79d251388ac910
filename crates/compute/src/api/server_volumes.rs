//! The volumes of a server create (`block_device_mapping_v2` with
//! `destination_type: volume`): checked before the transaction ([`plan`]: each
//! new volume through the volume service's own create path, each existing one
//! for sight, state and bootability) and then made and attached inside the
//! server-create transaction ([`create_in`]), so a refused volume leaves no
//! server behind and a server never waits for a volume that was never made.
//!
//! Also the device names Nova reports (`/dev/vda` is the root disk, the others
//! get the next free `/dev/vdX`), shared with `os-volume_attachments`.

use super::bdm::{invalid_bdm, BlockDevices, VolumeBdm, VolumeSource};
use crate::types::Flavor;
use crate::Compute;
use axum::http::StatusCode;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::Principal;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Tx;
use nimbus_volume::api::access;
use nimbus_volume::attach::{self, NewAttachment};
use nimbus_volume::create::{self, Planned, VolumeSpec};
use nimbus_volume::types::{Source, Volume, VolumeStatus};

/// The root disk's device name.
pub const ROOT_DEVICE: &str = "/dev/vda";

/// A checked volume mapping.
#[derive(Clone, Debug)]
pub struct PlannedBdm {
    pub bdm: VolumeBdm,
    /// A volume to make (one per server: its id is renewed for each).
    pub new: Option<Planned>,
}

/// `vda`, `vdb`, ... `vdz`, `vdaa`, ...: the letters after `/dev/vd` of index `n`.
fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The first `/dev/vdX` not in `taken` (the root disk's `vda` is always taken).
/// Nova's libvirt driver picks the name itself, whatever the request hinted.
pub fn next_device<'a>(taken: impl IntoIterator<Item = &'a str> + Clone) -> String {
    (1..)
        .map(|n| format!("/dev/vd{}", letters(n)))
        .find(|d| !taken.clone().into_iter().any(|t| t == d))
        .unwrap_or_else(|| "/dev/vdb".to_string())
}

/// Nova's 400 for a referenced object the caller cannot use.
fn bdm_error(e: ApiError, what: &str, id: &str) -> ApiError {
    match e.status {
        StatusCode::NOT_FOUND => invalid_bdm(format!("failed to get {what} {id}.")),
        _ => e,
    }
}

/// Checks every volume mapping for `caller` of `project`; `flavor` is the
/// server's (an image root's minimum RAM must fit it).
pub async fn plan(
    c: &Compute,
    caller: &Principal,
    project: &str,
    devices: &BlockDevices,
    flavor: &Flavor,
) -> ApiResult<Vec<PlannedBdm>> {
    let mut out = Vec::new();
    for bdm in &devices.volumes {
        let is_root = bdm.boot_index == Some(0);
        let source = match &bdm.source {
            VolumeSource::Volume(id) => {
                let v = c.store.get::<Volume>(id).await?;
                let usable = v.filter(|v| {
                    nimbus_api::policy::allowed(
                        caller,
                        "volume:get",
                        &volume_target(&v.value.project_id, id),
                    )
                });
                let Some(v) = usable else {
                    return Err(invalid_bdm(format!("failed to get volume {id}.")));
                };
                if v.value.status != VolumeStatus::Available {
                    return Err(ApiError::bad_request(format!(
                        "Invalid volume: volume {id} status must be available, but current \
                         status is: {}.",
                        v.value.status.as_str()
                    )));
                }
                if is_root && !v.value.bootable {
                    return Err(ApiError::bad_request(format!(
                        "Block Device {id} is not bootable."
                    )));
                }
                out.push(PlannedBdm {
                    bdm: bdm.clone(),
                    new: None,
                });
                continue;
            }
            VolumeSource::Image(id) => {
                let image = c
                    .images
                    .visible_image(caller, id)
                    .await
                    .map_err(|e| bdm_error(e, "image", id))?;
                if image.status != nimbus_image::types::Status::Active {
                    return Err(ApiError::bad_request(format!("Image {id} is not active.")));
                }
                let min_bytes = image
                    .virtual_size
                    .or(image.size)
                    .unwrap_or(0)
                    .max(image.min_disk << 30);
                let size = bdm.volume_size.unwrap_or(0);
                if size << 30 < min_bytes {
                    return Err(ApiError::bad_request(format!(
                        "Volume is smaller than the minimum size specified in image metadata. \
                         Volume size is {} bytes, minimum size is {min_bytes} bytes.",
                        size << 30
                    )));
                }
                if is_root && image.min_ram > flavor.ram {
                    return Err(ApiError::bad_request(
                        "Flavor's memory is too small for requested image.",
                    ));
                }
                Source::Image(id.clone())
            }
            VolumeSource::Snapshot(id) => {
                access::snapshot(&c.store, caller, "volume:get_snapshot", id)
                    .await
                    .map_err(|e| bdm_error(e, "snapshot", id))?;
                Source::Snapshot(id.clone())
            }
            VolumeSource::Blank => Source::Blank,
        };
        // Nova names the volumes it makes "" (Cinder shows them so).
        let spec = VolumeSpec {
            name: Some(String::new()),
            description: Some(String::new()),
            size: bdm.volume_size,
            volume_type: bdm.volume_type.clone(),
            source: source.clone(),
            metadata: Default::default(),
        };
        let planned = create::plan(&c.store, &c.images, caller, project, spec)
            .await
            .map_err(|e| match e.status {
                // What is left to miss is the volume type: a bad request in Nova.
                StatusCode::NOT_FOUND => ApiError::bad_request(e.message),
                _ => e,
            })?;
        out.push(PlannedBdm {
            bdm: bdm.clone(),
            new: Some(planned),
        });
    }
    Ok(out)
}

/// The policy target of a volume (other projects do not see it).
fn volume_target<'a>(project: &'a str, id: &'a str) -> nimbus_api::policy::Target<'a> {
    let mut t = nimbus_api::policy::Target::new("volume", id).project(project);
    t.hidden_outside_project = true;
    t
}

/// Makes and attaches the planned volumes of server `server_id` in `tx`: new
/// volumes are written `creating` (the storage controller makes them and turns
/// them `attaching`), existing ones turn `attaching`; the agent plugs them.
/// Cinder's quota refusal (413) is Nova's 403.
pub async fn create_in(
    tx: &mut Tx<'_>,
    caller: &Principal,
    project: &str,
    server_id: &str,
    planned: &[PlannedBdm],
) -> ApiResult<()> {
    let mut taken: Vec<String> = vec![ROOT_DEVICE.to_string()];
    // The root first, then in the order given.
    let mut order: Vec<&PlannedBdm> = planned.iter().collect();
    order.sort_by_key(|p| p.bdm.boot_index != Some(0));
    for p in order {
        let volume_id = match (&p.new, &p.bdm.source) {
            (Some(new), _) => {
                let mut new = new.clone();
                new.volume.id = uuid::Uuid::new_v4().to_string();
                if new.volume.encryption_key_id.is_some() {
                    new.volume.encryption_key_id = Some(uuid::Uuid::new_v4().to_string());
                }
                create::new_volume_in(tx, &new)
                    .await
                    .map_err(|e| match e.status {
                        StatusCode::PAYLOAD_TOO_LARGE => {
                            ApiError::forbidden(format!("Quota exceeded: {}", e.message))
                        }
                        _ => e,
                    })?;
                AuditRecord::new(
                    Some(caller),
                    "volume.volume.create",
                    "volume",
                    &new.volume.id,
                    true,
                )
                .with_detail(format!("block_device_mapping_v2 of server {server_id}"))
                .write(tx)
                .await?;
                new.volume.id
            }
            (None, VolumeSource::Volume(id)) => id.clone(),
            (None, _) => continue,
        };
        let device = if p.bdm.boot_index == Some(0) {
            ROOT_DEVICE.to_string()
        } else {
            let d = next_device(taken.iter().map(String::as_str));
            taken.push(d.clone());
            d
        };
        attach::attach(
            tx,
            &volume_id,
            NewAttachment {
                project_id: project.to_string(),
                server_id: Some(server_id.to_string()),
                compute: true,
                device: Some(device),
                boot_index: p.bdm.boot_index,
                delete_on_termination: p.bdm.delete_on_termination,
                tag: p.bdm.tag.clone(),
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_follow_the_root() {
        assert_eq!(next_device([ROOT_DEVICE]), "/dev/vdb");
        assert_eq!(
            next_device([ROOT_DEVICE, "/dev/vdb", "/dev/vdd"]),
            "/dev/vdc"
        );
        let many: Vec<String> = (0..26).map(|n| format!("/dev/vd{}", letters(n))).collect();
        assert_eq!(next_device(many.iter().map(String::as_str)), "/dev/vdaa");
        assert_eq!(letters(27), "ab");
    }
}
