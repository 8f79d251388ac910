//! The storage controller with real qemu-img: blank volumes, copy-on-write volumes
//! from images (time and disk use must not grow with the size), LUKS-encrypted
//! volumes, snapshots freezing the volume's layer, volumes from snapshots and
//! clones, extend, and layer files removed exactly when nothing needs them.

mod support;

use serde_json::json;
use std::time::Instant;
use support::*;

fn backing(info: &serde_json::Value) -> Option<String> {
    info["full-backing-filename"]
        .as_str()
        .or(info["backing-filename"].as_str())
        .map(|s| s.rsplit('/').next().unwrap().to_string())
}

#[tokio::test]
async fn blank_volume_is_a_qcow2_of_its_size() {
    let app = App::new().await;
    let id = app.create_volume(ALICE, json!({"size": 3})).await;
    app.settle().await;
    assert_eq!(app.volume(&id).await["status"], "available");
    let info = app.top_info(&id).await;
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 3u64 << 30);
    assert_eq!(backing(&info), None);
    assert_eq!(info["encrypted"], serde_json::Value::Null);
    assert_eq!(app.layer_files(), [format!("{id}.0.qcow2")]);
    app.call(ALICE, "DELETE", &format!("/volumes/{id}"), None)
        .await;
    app.settle().await;
    assert!(app.layer_files().is_empty());
}

#[tokio::test]
async fn volume_from_image_is_copy_on_write_at_any_size() {
    let app = App::new().await;
    let img = app.image(PROJECT_A, 1, true).await;
    let mut times = Vec::new();
    let mut ids = Vec::new();
    for size in [1u64, 10, 100] {
        let id = app
            .create_volume(BOB, json!({"size": size, "imageRef": img}))
            .await;
        let t = Instant::now();
        app.settle().await;
        times.push(t.elapsed());
        let info = app.top_info(&id).await;
        assert_eq!(info["virtual-size"], size << 30);
        assert_eq!(backing(&info).as_deref(), Some(img.as_str()), "{info}");
        assert_eq!(info["backing-filename-format"], "qcow2");
        assert!(
            info["actual-size"].as_u64().unwrap() < 1 << 20,
            "no copy: {info}"
        );
        let v = app.volume(&id).await;
        assert_eq!(
            (v["status"].as_str(), v["bootable"].as_str()),
            (Some("available"), Some("true"))
        );
        ids.push(id);
    }
    for t in &times {
        assert!(t.as_secs_f64() < 2.0, "volume-from-image took {times:?}");
    }
    // The base image is linked in once and stays while a volume needs it, even
    // after Glance deleted its own copy.
    let base = app.volumes.layout.base_image(&img);
    assert!(base.exists());
    std::fs::remove_file(nimbus_image::data::file_path(&app.images.config.dir, &img)).unwrap();
    for id in &ids {
        app.call(BOB, "DELETE", &format!("/volumes/{id}"), None)
            .await;
    }
    app.settle().await;
    assert!(!base.exists(), "the base image goes with its last volume");
}

#[tokio::test]
async fn encrypted_volume_is_luks_with_a_private_key() {
    let app = App::new().await;
    let id = app
        .create_volume(ALICE, json!({"size": 1, "volume_type": "encrypted"}))
        .await;
    app.settle().await;
    let v = app.volume(&id).await;
    assert_eq!(
        (v["status"].as_str(), v["encrypted"].as_bool()),
        (Some("available"), Some(true))
    );
    let info = app.top_info(&id).await;
    assert_eq!(info["encrypted"], true, "{info}");
    let luks = &info["format-specific"]["data"]["encrypt"];
    assert_eq!(luks["format"], "luks");
    // Cinder's aes-xts-plain64 with a 256-bit key: AES-128 in XTS mode.
    assert_eq!(
        (
            luks["cipher-alg"].as_str(),
            luks["cipher-mode"].as_str(),
            luks["ivgen-alg"].as_str()
        ),
        (Some("aes-128"), Some("xts"), Some("plain64")),
        "{luks}"
    );
    let key = app.volumes.layout.key(&id);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Extend and snapshot work through the secret; a volume from the snapshot
    // is encrypted too, over the frozen layer.
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/volumes/{id}/action"),
            Some(json!({"os-extend": {"new_size": 2}})),
        )
        .await;
    assert_eq!(r.code(), 202);
    app.settle().await;
    assert_eq!(app.top_info(&id).await["virtual-size"], 2u64 << 30);
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": id}})),
        )
        .await;
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    app.settle().await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/volumes",
            Some(json!({"volume": {"snapshot_id": snap, "volume_type": "standard"}})),
        )
        .await;
    assert_eq!(r.code(), 400, "encryption must match the source");
    let copy = app.create_volume(ALICE, json!({"snapshot_id": snap})).await;
    app.settle().await;
    let v = app.volume(&copy).await;
    assert_eq!(
        (
            v["status"].as_str(),
            v["encrypted"].as_bool(),
            v["size"].as_u64()
        ),
        (Some("available"), Some(true), Some(2))
    );
    let info = app.top_info(&copy).await;
    assert_eq!(info["encrypted"], true);
    assert_eq!(backing(&info), Some(format!("{id}.0.qcow2")));
    // Both keys open the shared layer: the copy got the source's secret.
    assert_eq!(
        std::fs::read(&key).unwrap(),
        std::fs::read(app.volumes.layout.key(&copy)).unwrap()
    );
    // A plain volume is not encrypted.
    let plain = app.create_volume(ALICE, json!({"size": 1})).await;
    app.settle().await;
    assert_eq!(
        app.top_info(&plain).await["encrypted"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn snapshots_freeze_layers_and_deletes_in_any_order_stay_correct() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    app.settle().await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol, "name": "s"}})),
        )
        .await;
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    app.settle().await;
    // The volume continues on a new top over the frozen layer.
    let l0 = format!("{vol}.0.qcow2");
    let l1 = format!("{vol}.1.qcow2");
    let info = app.top_info(&vol).await;
    assert_eq!(
        info["filename"].as_str().unwrap().rsplit('/').next(),
        Some(l1.as_str())
    );
    assert_eq!(backing(&info), Some(l0.clone()));

    // A volume from the snapshot (bigger) and a clone of the volume.
    let from_snap = app
        .create_volume(ALICE, json!({"snapshot_id": snap, "size": 2}))
        .await;
    let clone = app.create_volume(ALICE, json!({"source_volid": vol})).await;
    app.settle().await;
    let i = app.top_info(&from_snap).await;
    assert_eq!(
        (backing(&i), i["virtual-size"].as_u64()),
        (Some(l0.clone()), Some(2 << 30))
    );
    assert_eq!(app.volume(&from_snap).await["snapshot_id"], snap.as_str());
    // The clone froze the volume's layer 1; the volume is on layer 2 now.
    let l2 = format!("{vol}.2.qcow2");
    assert_eq!(backing(&app.top_info(&clone).await), Some(l1.clone()));
    assert_eq!(backing(&app.top_info(&vol).await), Some(l1.clone()));
    assert_eq!(app.volume(&clone).await["source_volid"], vol.as_str());

    // Delete the snapshot: l0 stays (the volume and from_snap still stand on it).
    assert_eq!(
        app.call(ALICE, "DELETE", &format!("/snapshots/{snap}"), None)
            .await
            .code(),
        202
    );
    app.settle().await;
    let files = app.layer_files();
    for f in [&l0, &l1, &l2] {
        assert!(files.contains(f), "{f} missing from {files:?}");
    }
    // Delete the original volume: its layers stay for the others.
    assert_eq!(
        app.call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
            .await
            .code(),
        202
    );
    app.settle().await;
    let files = app.layer_files();
    assert!(!files.contains(&l2), "the volume's own top goes: {files:?}");
    assert!(files.contains(&l0) && files.contains(&l1), "{files:?}");
    // Each remaining volume's chain still opens (qemu-img check reads it all).
    for id in [&from_snap, &clone] {
        let v = app
            .store
            .store
            .get::<nimbus_volume::types::Volume>(id)
            .await
            .unwrap()
            .unwrap()
            .value;
        let top = app.volumes.layout.layer(v.top.as_ref().unwrap());
        let out = std::process::Command::new("qemu-img")
            .args(["info", "--backing-chain", "-U"])
            .arg(&top)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Last users gone: nothing left.
    app.call(ALICE, "DELETE", &format!("/volumes/{clone}"), None)
        .await;
    app.settle().await;
    assert!(!app.layer_files().contains(&l1));
    assert!(app.layer_files().contains(&l0));
    app.call(ALICE, "DELETE", &format!("/volumes/{from_snap}"), None)
        .await;
    app.settle().await;
    assert!(app.layer_files().is_empty(), "{:?}", app.layer_files());
}

#[tokio::test]
async fn a_failed_create_says_error_and_leaves_nothing() {
    let app = App::new().await;
    let img = app.image(PROJECT_A, 1, true).await;
    let id = app
        .create_volume(ALICE, json!({"size": 1, "imageRef": img}))
        .await;
    // The image data vanishes before the controller gets to it.
    std::fs::remove_file(nimbus_image::data::file_path(&app.images.config.dir, &img)).unwrap();
    app.settle().await;
    let v = app.volume(&id).await;
    assert_eq!(v["status"], "error");
    assert!(app.layer_files().is_empty());
    assert_eq!(
        app.call(ALICE, "DELETE", &format!("/volumes/{id}"), None)
            .await
            .code(),
        202
    );
    app.settle().await;
    assert_eq!(
        app.call(ALICE, "GET", &format!("/volumes/{id}"), None)
            .await
            .code(),
        404
    );
}

#[tokio::test]
async fn snapshot_then_extend_in_one_go() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    app.settle().await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/volumes/{vol}/action"),
            Some(json!({"os-extend": {"new_size": 2}})),
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    app.settle().await;
    let r = app
        .call(ALICE, "GET", &format!("/snapshots/{snap}"), None)
        .await;
    assert_eq!(
        (
            r.json()["snapshot"]["status"].as_str(),
            r.json()["snapshot"]["size"].as_u64()
        ),
        (Some("available"), Some(1))
    );
    let info = app.top_info(&vol).await;
    assert_eq!(info["virtual-size"], 2u64 << 30);
    assert_eq!(backing(&info), Some(format!("{vol}.0.qcow2")));
    assert_eq!(app.volume(&vol).await["size"], 2);
}

#[tokio::test]
async fn upload_to_image_flattens_the_chain() {
    let app = App::new().await;
    let img = app.image(PROJECT_A, 1, true).await;
    let vol = app
        .create_volume(ALICE, json!({"size": 2, "imageRef": img}))
        .await;
    app.settle().await;
    let act = format!("/volumes/{vol}/action");
    for bad in [
        json!({"os-volume_upload_image": {}}),
        json!({"os-volume_upload_image": {"image_name": "x", "disk_format": "vmdk"}}),
        json!({"os-volume_upload_image": {"image_name": "x", "container_format": "tar"}}),
        json!({"os-volume_upload_image": {"image_name": "x", "visibility": "everyone"}}),
        json!({"os-volume_upload_image": "x"}),
    ] {
        let r = app.call(ALICE, "POST", &act, Some(bad.clone())).await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    let r = app
        .call(
            ALICE,
            "POST",
            &act,
            Some(json!({"os-volume_upload_image": {"image_name": "x", "visibility": "public"}})),
        )
        .await;
    assert_eq!(r.code(), 403, "only admins publish");
    let r = app
        .call(
            CAROL,
            "POST",
            &act,
            Some(json!({"os-volume_upload_image": {"image_name": "x"}})),
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            ALICE,
            "POST",
            &act,
            Some(json!({"os-volume_upload_image": {"image_name": "from-vol",
            "disk_format": "qcow2", "container_format": "bare", "force": false}})),
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let doc = r.json()["os-volume_upload_image"].clone();
    assert_eq!(
        (doc["status"].as_str(), doc["disk_format"].as_str()),
        (Some("uploading"), Some("qcow2"))
    );
    let image_id = doc["image_id"].as_str().unwrap().to_string();
    assert_eq!(app.volume(&vol).await["status"], "uploading");
    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
        .await;
    assert_eq!(r.code(), 400, "not while uploading");
    app.settle().await;
    assert_eq!(app.volume(&vol).await["status"], "available");
    let image = app
        .store
        .store
        .get::<nimbus_image::types::Image>(&image_id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(image.status, nimbus_image::types::Status::Active);
    assert_eq!(image.owner.as_deref(), Some(PROJECT_A));
    assert_eq!(image.virtual_size, Some(2 << 30));
    let file = nimbus_image::data::file_path(&app.images.config.dir, &image_id);
    let info = nimbus_volume::storage::info(&file).await.unwrap();
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "flattened: {info}");
    assert!(!app.layer_files().iter().any(|f| f.contains("upload")));

    let enc = app
        .create_volume(ALICE, json!({"size": 1, "volume_type": "encrypted"}))
        .await;
    app.settle().await;
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/volumes/{enc}/action"),
            Some(json!({"os-volume_upload_image": {"image_name": "e"}})),
        )
        .await;
    assert_eq!(r.code(), 400);
}
