//! `block_device_mapping_v2` of a server create, as Nova's schema and its
//! `BlockDeviceDict.from_api` / `_validate_bdm` accept it: the image→local root
//! disk OSC sends with `--image`, and volumes (`destination_type: volume`) made
//! from an image, a snapshot or nothing, or existing ones. Bad mappings are 400s
//! with Nova's messages ("Block Device Mapping is Invalid: ...").

use super::common::{check_keys, invalid};
use super::server_input::is_uuid;
use nimbus_api::microversion::Microversion;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// Where a volume's data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// A new volume from this Glance image.
    Image(String),
    /// This existing volume.
    Volume(String),
    /// A new volume from this snapshot.
    Snapshot(String),
    /// A new empty volume.
    Blank,
}

/// One `destination_type: volume` mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeBdm {
    pub source: VolumeSource,
    /// 0: the root disk; None: not bootable.
    pub boot_index: Option<i32>,
    /// GiB.
    pub volume_size: Option<u64>,
    pub volume_type: Option<String>,
    pub delete_on_termination: bool,
    pub device_name: Option<String>,
    pub tag: Option<String>,
}

/// The block devices of a create request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDevices {
    /// The image of an image→local root mapping.
    pub local_image: Option<String>,
    pub volumes: Vec<VolumeBdm>,
}

impl BlockDevices {
    /// The mapping the server boots from, when it is a volume.
    pub fn root_volume(&self) -> Option<&VolumeBdm> {
        self.volumes.iter().find(|v| v.boot_index == Some(0))
    }
}

/// Nova's `InvalidBDMFormat` / `InvalidBDM` 400.
pub fn invalid_bdm(details: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Block Device Mapping is Invalid: {details}"))
}

/// Nova's `InvalidBDMBootSequence`.
fn bad_boot_sequence() -> ApiError {
    invalid_bdm(
        "Boot sequence for the instance and image/block device mapping combination is not \
         valid.",
    )
}

/// `boot_index`: an integer, a string of one, `null` or `"none"`; negative
/// numbers mean "not bootable" as `null` does.
fn boot_index(v: Option<&Value>) -> ApiResult<Option<i32>> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("none") => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match n.and_then(|n| i32::try_from(n).ok()) {
        Some(n) if n >= 0 => Ok(Some(n)),
        Some(_) => Ok(None),
        None => Err(invalid(
            "boot_index",
            v.unwrap_or(&Value::Null),
            "Must be an integer, a string of one, or null.",
        )),
    }
}

/// `volume_size`: a positive integer or a string of digits (null: none), as
/// Nova's schema (`minimum: 1`).
fn volume_size(v: Option<&Value>) -> ApiResult<Option<u64>> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        Some(_) => None,
    };
    match n {
        Some(n) if (1..=i32::MAX as u64).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(
            "volume_size",
            v.unwrap_or(&Value::Null),
            "Must be an integer from 1 to 2147483647 (or a string of one).",
        )),
    }
}

fn opt_str<'a>(b: &'a Map<String, Value>, field: &str) -> ApiResult<Option<&'a str>> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 255 => Ok(Some(s)),
        Some(v) => Err(invalid(
            field,
            v,
            "Must be a string of at most 255 characters.",
        )),
    }
}

fn opt_bool(b: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => super::common::bool_field(b, field),
    }
}

/// Parses `block_device_mapping_v2`; `image_ref` is the request's non-empty
/// `imageRef`, if any.
pub fn parse(
    mv: Microversion,
    v: Option<&Value>,
    image_ref: Option<&str>,
) -> ApiResult<BlockDevices> {
    let list = match v {
        None | Some(Value::Null) => return Ok(BlockDevices::default()),
        Some(Value::Array(l)) => l,
        Some(v) => return Err(invalid("block_device_mapping_v2", v, "Must be an array.")),
    };
    let mut out = BlockDevices::default();
    let mut boot_indexes = Vec::new();
    for item in list {
        let b = item
            .as_object()
            .ok_or_else(|| invalid("block_device_mapping_v2", item, "Must be an object."))?;
        let mut allowed = vec![
            "uuid",
            "boot_index",
            "source_type",
            "destination_type",
            "delete_on_termination",
            "device_name",
            "device_type",
            "disk_bus",
            "guest_format",
            "volume_size",
            "no_device",
            "image_id",
            "volume_id",
            "snapshot_id",
        ];
        if mv.at_least(2, 42) {
            allowed.push("tag");
        }
        if mv.at_least(2, 67) {
            allowed.push("volume_type");
        }
        check_keys(b, &allowed, &[])?;
        if opt_bool(b, "no_device")? == Some(true) {
            // Suppresses an image-defined device; there are none here.
            continue;
        }
        let source_type = opt_str(b, "source_type")?;
        let destination = opt_str(b, "destination_type")?;
        let uuid = opt_str(b, "uuid")?;
        let index = boot_index(b.get("boot_index"))?;
        let volume_type = opt_str(b, "volume_type")?;
        let source_type = match source_type {
            Some(s @ ("image" | "volume" | "snapshot" | "blank")) => s,
            Some(s) => {
                return Err(invalid(
                    "source_type",
                    &Value::String(s.to_string()),
                    "Must be one of image, volume, snapshot, blank.",
                ))
            }
            None => return Err(invalid_bdm("Missing device source_type.")),
        };
        let to_volume = match destination {
            Some("volume") => true,
            Some("local") => false,
            // Nova's default: volumes and snapshots stay volumes.
            None => matches!(source_type, "volume" | "snapshot"),
            Some(d) => {
                return Err(invalid(
                    "destination_type",
                    &Value::String(d.to_string()),
                    "Must be local or volume.",
                ))
            }
        };
        if source_type == "blank" && uuid.is_some() {
            return Err(invalid_bdm("Invalid device UUID."));
        }
        let id = match (source_type, uuid) {
            ("blank", _) => None,
            (_, Some(u)) if is_uuid(u) => Some(u.to_string()),
            (_, Some(_)) => return Err(invalid_bdm("Invalid device UUID.")),
            (_, None) => return Err(invalid_bdm("Missing device UUID.")),
        };
        if !to_volume && volume_type.is_some() {
            return Err(invalid_bdm(
                "Specifying a volume_type with destination_type=local is not supported.",
            ));
        }
        if source_type == "volume" && volume_type.is_some() {
            return Err(invalid_bdm(
                "Specifying volume type to existing volume is not supported.",
            ));
        }
        if let Some(bus) = opt_str(b, "disk_bus")? {
            if bus != "virtio" {
                return Err(invalid_bdm(format!(
                    "disk_bus {bus} is not supported (only virtio)."
                )));
            }
        }
        if let Some(t) = opt_str(b, "device_type")? {
            if t != "disk" {
                return Err(invalid_bdm(format!(
                    "device_type {t} is not supported (only disk)."
                )));
            }
        }
        let device_name = opt_str(b, "device_name")?;
        if let Some(d) = device_name {
            if d.is_empty() || d.contains(char::is_whitespace) {
                return Err(invalid_bdm("Device name empty or too long."));
            }
        }
        let tag = opt_str(b, "tag")?;
        if tag.is_some_and(|t| t.is_empty() || t.chars().count() > 60 || t.contains('/')) {
            return Err(invalid(
                "tag",
                &b["tag"],
                "Must be 1 to 60 characters without '/'.",
            ));
        }
        if let Some(i) = index {
            boot_indexes.push(i);
        }
        if !to_volume && source_type != "image" {
            return Err(invalid_bdm(format!(
                "source_type {source_type} with destination_type local is not supported                  (local ephemeral and swap disks are not offered; use a blank volume)."
            )));
        }
        if !to_volume {
            // Nova maps only the requested image to the local root disk.
            let image = id.unwrap_or_default();
            let is_root_image =
                source_type == "image" && index == Some(0) && image_ref.is_none_or(|r| r == image);
            if !is_root_image {
                return Err(invalid_bdm(
                    "Mapping image to local is not supported (only the image as the root disk).",
                ));
            }
            out.local_image = Some(image);
            continue;
        }
        let size = volume_size(b.get("volume_size"))?;
        if source_type == "image" && size.is_none() {
            return Err(invalid_bdm(
                "Images with destination_type 'volume' need to have a non-zero size specified",
            ));
        }
        if source_type == "blank" && size.is_none() {
            return Err(invalid_bdm(
                "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size",
            ));
        }
        let source = match (source_type, id) {
            ("image", Some(i)) => VolumeSource::Image(i),
            ("volume", Some(i)) => VolumeSource::Volume(i),
            ("snapshot", Some(i)) => VolumeSource::Snapshot(i),
            _ => VolumeSource::Blank,
        };
        if out.volumes.iter().any(|v| {
            matches!((&v.source, &source), (VolumeSource::Volume(a), VolumeSource::Volume(b)) if a == b)
        }) {
            return Err(invalid_bdm("the same volume is mapped more than once."));
        }
        out.volumes.push(VolumeBdm {
            source,
            boot_index: index,
            volume_size: size,
            volume_type: volume_type.map(str::to_string),
            // Nova's default for volume mappings: keep the volume.
            delete_on_termination: opt_bool(b, "delete_on_termination")?.unwrap_or(false),
            device_name: device_name.map(str::to_string),
            tag: tag.map(str::to_string),
        });
    }
    if image_ref.is_some() && out.local_image.is_none() && out.root_volume().is_none() {
        // The image named by imageRef is the root disk (boot index 0).
        boot_indexes.push(0);
    }
    boot_indexes.sort_unstable();
    let subsequent = boot_indexes
        .iter()
        .enumerate()
        .all(|(i, b)| usize::try_from(*b).is_ok_and(|b| b == i));
    if !boot_indexes.is_empty() && (!subsequent || boot_indexes[0] != 0) {
        return Err(bad_boot_sequence());
    }
    if boot_indexes.is_empty() && (!out.volumes.is_empty() || out.local_image.is_some()) {
        return Err(bad_boot_sequence());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_api::microversion::Version;
    use serde_json::json;

    const IMG: &str = "0b28a60d-6b2e-45d2-b366-df2dd544c63b";
    const VOL: &str = "4658d46d-a9a6-4581-b095-779e933c9298";

    fn mv(minor: u16) -> Microversion {
        Microversion(Version::new(2, minor))
    }

    fn p(v: Value, image_ref: Option<&str>) -> ApiResult<BlockDevices> {
        parse(mv(79), Some(&v), image_ref)
    }

    #[test]
    fn spec_body_boots_from_a_ten_gib_volume_of_the_image() {
        let b = p(
            json!([{"boot_index": 0, "uuid": IMG, "source_type": "image", "volume_size": "10",
                    "destination_type": "volume", "delete_on_termination": true}]),
            None,
        )
        .unwrap();
        assert_eq!(b.local_image, None);
        let root = b.root_volume().unwrap();
        assert_eq!(root.source, VolumeSource::Image(IMG.into()));
        assert_eq!(root.volume_size, Some(10));
        assert!(root.delete_on_termination);
    }

    #[test]
    fn boot_index_spellings() {
        for (v, want) in [
            (json!(0), Some(0)),
            (json!("0"), Some(0)),
            (json!("2"), Some(2)),
            (json!(-1), None),
            (json!("-1"), None),
            (json!("none"), None),
            (Value::Null, None),
        ] {
            assert_eq!(boot_index(Some(&v)).unwrap(), want, "{v}");
        }
        assert!(boot_index(Some(&json!("x"))).is_err());
        assert!(boot_index(Some(&json!(true))).is_err());
    }

    #[test]
    fn a_volume_is_the_root_and_a_blank_one_is_extra() {
        let b = p(
            json!([{"boot_index": "0", "uuid": VOL, "source_type": "volume",
                    "destination_type": "volume"},
                   {"boot_index": -1, "source_type": "blank", "destination_type": "volume",
                    "volume_size": 2}]),
            None,
        )
        .unwrap();
        assert_eq!(b.volumes.len(), 2);
        assert_eq!(b.volumes[1].source, VolumeSource::Blank);
        assert!(!b.volumes[0].delete_on_termination);
    }

    #[test]
    fn bad_mappings_are_refused_with_novas_words() {
        let cases = [
            // No boot device at all.
            (
                json!([{"boot_index": -1, "source_type": "blank", "destination_type": "volume",
                     "volume_size": 1}]),
                None,
                "Boot sequence",
            ),
            // Two roots.
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "destination_type": "volume"},
                    {"boot_index": 0, "uuid": IMG, "source_type": "image", "destination_type": "volume",
                     "volume_size": 1}]),
                None,
                "Boot sequence",
            ),
            // A gap in the boot order.
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "destination_type": "volume"},
                    {"boot_index": 2, "source_type": "blank", "destination_type": "volume",
                     "volume_size": 1}]),
                None,
                "Boot sequence",
            ),
            (
                json!([{"boot_index": 0, "uuid": IMG, "source_type": "image", "destination_type": "volume"}]),
                None,
                "need to have a non-zero size",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "destination_type": "volume"},
                    {"boot_index": 1, "source_type": "blank", "destination_type": "volume"}]),
                None,
                "Blank volumes",
            ),
            (
                json!([{"boot_index": 0, "source_type": "volume", "destination_type": "volume"}]),
                None,
                "Missing device UUID",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "blank", "destination_type": "volume",
                     "volume_size": 1}]),
                None,
                "Invalid device UUID",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "destination_type": "volume",
                     "disk_bus": "scsi"}]),
                None,
                "disk_bus",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "destination_type": "volume",
                     "volume_type": "standard"}]),
                None,
                "existing volume",
            ),
            (
                json!([{"boot_index": 1, "uuid": IMG, "source_type": "image", "destination_type": "local"}]),
                Some(IMG),
                "Mapping image to local",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "destination_type": "volume"},
                    {"boot_index": 1, "uuid": VOL, "source_type": "volume", "destination_type": "volume"}]),
                None,
                "more than once",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "disk"}]),
                None,
                "source_type",
            ),
            (
                json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume", "volume_size": "ten"}]),
                None,
                "volume_size",
            ),
        ];
        for (body, image_ref, want) in cases {
            let e = p(body.clone(), image_ref).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{body}");
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    #[test]
    fn fields_follow_the_microversion() {
        let body = json!([{"boot_index": 0, "uuid": VOL, "source_type": "volume",
                           "destination_type": "volume", "tag": "root"}]);
        assert!(parse(mv(41), Some(&body), None).is_err());
        assert_eq!(
            parse(mv(42), Some(&body), None).unwrap().volumes[0]
                .tag
                .as_deref(),
            Some("root")
        );
        let body = json!([{"boot_index": 0, "uuid": IMG, "source_type": "image",
                           "destination_type": "volume", "volume_size": 1, "volume_type": "encrypted"}]);
        assert!(parse(mv(66), Some(&body), None).is_err());
        assert!(parse(mv(67), Some(&body), None).is_ok());
    }

    #[test]
    fn image_ref_alone_is_the_root_and_extra_volumes_may_follow() {
        let b = p(
            json!([{"boot_index": 1, "source_type": "blank", "destination_type": "volume",
                    "volume_size": 1}]),
            Some(IMG),
        )
        .unwrap();
        assert_eq!(b.root_volume(), None);
        assert_eq!(b.volumes.len(), 1);
    }
}
