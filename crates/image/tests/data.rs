//! Image data: upload and download round trips with checksums, the status model
//! (queued → saving → active, back to queued on failure), format checks, the
//! per-project quota (413), ranges, deletion removing the file, and recovery of
//! uploads cut off by a restart.

mod support;

use md5::{Digest, Md5};
use nimbus_image::types::{Image, Status};
use nimbus_image::{ImageConfig, Images};
use serde_json::json;
use sha2::Sha512;
use support::*;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// A qcow2 v3 header for a disk of `virtual_size` bytes.
fn qcow2(virtual_size: u64) -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[20..24].copy_from_slice(&16u32.to_be_bytes());
    h[24..32].copy_from_slice(&virtual_size.to_be_bytes());
    h
}

#[tokio::test]
async fn upload_download_round_trip_with_checksums() {
    let app = App::new().await;
    let id = app.create_raw("alice", "rt", json!({})).await;
    let file = format!("/images/{id}/file");
    // no data yet
    assert_eq!(app.call("alice", "GET", &file, None).await.code(), 204);

    let bytes = data(3 * 1024 * 1024 + 17);
    let r = app.upload("alice", &id, bytes.clone()).await;
    assert_eq!(r.code(), 204, "{}", r.text());
    let img = app.show("alice", &id).await.json();
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], bytes.len());
    assert_eq!(img["virtual_size"], bytes.len());
    assert_eq!(img["checksum"], hex::encode(Md5::digest(&bytes)));
    assert_eq!(img["os_hash_algo"], "sha512");
    assert_eq!(img["os_hash_value"], hex::encode(Sha512::digest(&bytes)));

    let r = app.call("alice", "GET", &file, None).await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.body, bytes);
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/octet-stream"
    );
    assert_eq!(
        r.header("content-md5").unwrap(),
        img["checksum"].as_str().unwrap()
    );
    assert_eq!(r.header("content-length").unwrap(), bytes.len().to_string());

    // ranges
    let r = app
        .raw("alice", "GET", &file, &[("range", "bytes=10-19")], "")
        .await;
    assert_eq!(r.code(), 206);
    assert_eq!(r.body, &bytes[10..20]);
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 10-19/{}", bytes.len())
    );
    let r = app
        .raw("alice", "GET", &file, &[("range", "bytes=999999999-")], "")
        .await;
    assert_eq!(r.code(), 416);

    // data lives in DATA_DIR/images/<id>; a second upload is a conflict
    let path = app.images.file_path(&id);
    assert_eq!(path, app.data_dir.path().join("images").join(&id));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        app.upload("alice", &id, b"again".to_vec()).await.code(),
        409
    );
    // others: bob cannot see it, rita may read but not write
    assert_eq!(app.call("bob", "GET", &file, None).await.code(), 404);
    assert_eq!(app.call("rita", "GET", &file, None).await.code(), 200);

    // deleting the image removes its data
    let r = app
        .call("alice", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(r.code(), 204);
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(app.data_dir.path().join("images"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn uploads_are_checked_before_and_after() {
    let app = App::new().await;
    // formats must be set first
    let bare = app.create("alice", json!({"name": "noformat"})).await;
    let bare = bare["id"].as_str().unwrap();
    assert_eq!(app.upload("alice", bare, b"x".to_vec()).await.code(), 400);
    // readers and other projects may not upload
    let id = app
        .create_raw("alice", "checked", json!({"disk_format": "qcow2"}))
        .await;
    assert_eq!(app.upload("rita", &id, qcow2(1)).await.code(), 403);
    assert_eq!(app.upload("bob", &id, qcow2(1)).await.code(), 404);
    // wrong media type
    let r = app
        .raw(
            "alice",
            "PUT",
            &format!("/images/{id}/file"),
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(r.code(), 415);
    // data that is not what disk_format says: 400, back to queued, no file left
    let r = app
        .upload("alice", &id, b"not a qcow2 image".to_vec())
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert_eq!(glance_error_problem(&r), None);
    let img = app.show("alice", &id).await.json();
    assert_eq!(img["status"], "queued");
    assert!(img["size"].is_null());
    assert!(!app.images.file_path(&id).exists());
    // a qcow2 with a backing file is refused
    let mut backed = qcow2(1 << 20);
    backed[8..16].copy_from_slice(&512u64.to_be_bytes());
    assert_eq!(app.upload("alice", &id, backed).await.code(), 400);
    // a real one: virtual size from the header
    assert_eq!(app.upload("alice", &id, qcow2(1 << 30)).await.code(), 204);
    let img = app.show("alice", &id).await.json();
    assert_eq!(img["status"], "active");
    assert_eq!(img["virtual_size"], 1u64 << 30);
    assert_eq!(img["size"], 4096);
    // formats are fixed once there is data
    let r = app
        .patch(
            "alice",
            &id,
            json!([{"op": "replace", "path": "/disk_format", "value": "raw"}]),
        )
        .await;
    assert_eq!(r.code(), 403);
}

#[tokio::test]
async fn quota_is_per_project_and_answers_413() {
    let app = App::with_quota(100_000).await;
    let a = app.create_raw("alice", "q1", json!({})).await;
    assert_eq!(app.upload("alice", &a, data(60_000)).await.code(), 204);
    // declared too big: refused before anything is read
    let b = app.create_raw("alice", "q2", json!({})).await;
    let r = app
        .raw(
            "alice",
            "PUT",
            &format!("/images/{b}/file"),
            &[
                ("content-type", "application/octet-stream"),
                ("x-openstack-image-size", "50000"),
            ],
            data(50_000),
        )
        .await;
    assert_eq!(r.code(), 413, "{}", r.text());
    assert_eq!(glance_error_problem(&r), None);
    assert_eq!(app.show("alice", &b).await.json()["status"], "queued");
    // streamed without a declared size: cut off when the quota is passed
    let body = axum::body::Body::from_stream(futures::stream::iter(
        (0..5).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(data(10_000)))),
    ));
    let r = app
        .raw(
            "alice",
            "PUT",
            &format!("/images/{b}/file"),
            &[("content-type", "application/octet-stream")],
            body,
        )
        .await;
    assert_eq!(r.code(), 413, "{}", r.text());
    let img = app.show("alice", &b).await.json();
    assert_eq!(img["status"], "queued");
    assert!(!app.images.file_path(&b).exists());
    // within the quota it works; another project has its own quota
    assert_eq!(app.upload("alice", &b, data(40_000)).await.code(), 204);
    let c = app.create_raw("bob", "q3", json!({})).await;
    assert_eq!(app.upload("bob", &c, data(90_000)).await.code(), 204);
    // deleting frees the space
    let d = app.create_raw("alice", "q4", json!({})).await;
    assert_eq!(app.upload("alice", &d, data(10)).await.code(), 413);
    app.call("alice", "DELETE", &format!("/images/{a}"), None)
        .await;
    assert_eq!(app.upload("alice", &d, data(10)).await.code(), 204);
}

#[tokio::test]
async fn a_broken_upload_goes_back_to_queued() {
    let app = App::new().await;
    let id = app.create_raw("alice", "broken", json!({})).await;
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from(data(1000))),
        Err(std::io::Error::other("connection reset")),
    ];
    let body = axum::body::Body::from_stream(futures::stream::iter(chunks));
    let r = app
        .raw(
            "alice",
            "PUT",
            &format!("/images/{id}/file"),
            &[("content-type", "application/octet-stream")],
            body,
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert_eq!(app.show("alice", &id).await.json()["status"], "queued");
    assert_eq!(
        std::fs::read_dir(app.data_dir.path().join("images"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(app.upload("alice", &id, data(10)).await.code(), 204);
}

#[tokio::test]
async fn restart_recovers_cut_off_uploads_and_stray_files() {
    let app = App::new().await;
    let id = app.create_raw("alice", "cut", json!({})).await;
    // simulate a crash while saving: status saving, a partial file, a stray file
    let mut tx = app.store.store.begin().await.unwrap();
    let mut img = tx.get::<Image>(&id).await.unwrap().unwrap().value;
    img.status = Status::Saving;
    tx.update(&img, None).await.unwrap();
    tx.commit().await.unwrap();
    let dir = app.data_dir.path().join("images");
    std::fs::write(dir.join(format!("{id}.partial-0123")), b"half").unwrap();
    std::fs::write(dir.join("11111111-2222-3333-4444-555555555555"), b"orphan").unwrap();
    let kept = app.create_raw("alice", "kept", json!({})).await;
    assert_eq!(app.upload("alice", &kept, data(5)).await.code(), 204);

    let reopened = Images::open(
        app.store.store.clone(),
        ImageConfig::new(app.data_dir.path()),
    )
    .await
    .unwrap();
    let img = reopened
        .store
        .get::<Image>(&id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(img.status, Status::Queued);
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [kept]);
}

#[tokio::test]
async fn register_file_creates_an_active_image() {
    let app = App::new().await;
    let src = app.data_dir.path().join("guest.qcow2");
    std::fs::write(&src, qcow2(2 << 30)).unwrap();
    let mut image = Image::new(uuid::Uuid::new_v4().to_string(), None);
    image.name = Some("nimbus-guest".into());
    image.disk_format = Some("qcow2".into());
    image.container_format = Some("bare".into());
    image.visibility = nimbus_image::types::Visibility::Public;
    image
        .properties
        .insert("os_admin_user".into(), "nimbus".into());
    let image = app.images.register_file(image, &src).await.unwrap();
    assert_eq!(image.status, Status::Active);
    assert_eq!(image.virtual_size, Some(2 << 30));
    // everyone sees and downloads a public image
    let shown = app.show("bob", &image.id).await.json();
    assert_eq!(shown["os_admin_user"], "nimbus");
    let r = app
        .call("carol", "GET", &format!("/images/{}/file", image.id), None)
        .await;
    assert_eq!(r.body, qcow2(2 << 30));
}

#[tokio::test]
async fn import_file_fills_a_queued_image_once() {
    let app = App::new().await;
    let src = app.data_dir.path().join("snap.qcow2");
    std::fs::write(&src, qcow2(3 << 30)).unwrap();
    let image = Image::new(uuid::Uuid::new_v4().to_string(), None);
    let mut tx = app.images.store.begin().await.unwrap();
    tx.create(&image).await.unwrap();
    tx.commit().await.unwrap();
    assert!(app
        .images
        .import_file(&image.id, &src, "qcow2")
        .await
        .unwrap());
    let stored = app
        .images
        .store
        .get::<Image>(&image.id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(stored.status, Status::Active);
    assert_eq!(stored.disk_format.as_deref(), Some("qcow2"));
    assert_eq!(stored.container_format.as_deref(), Some("bare"));
    assert_eq!(stored.virtual_size, Some(3 << 30));
    assert_eq!(
        std::fs::read(app.images.file_path(&image.id)).unwrap(),
        qcow2(3 << 30)
    );
    // No longer queued: refused, and the data stays as it was.
    std::fs::write(&src, b"other").unwrap();
    assert!(!app
        .images
        .import_file(&image.id, &src, "raw")
        .await
        .unwrap());
    assert_eq!(
        std::fs::read(app.images.file_path(&image.id)).unwrap(),
        qcow2(3 << 30)
    );
    // Gone: refused, nothing left behind.
    assert!(!app
        .images
        .import_file("no-such-image", &src, "raw")
        .await
        .unwrap());
    assert!(!app.images.file_path("no-such-image").exists());
}
