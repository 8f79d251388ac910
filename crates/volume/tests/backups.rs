//! Backups with real qemu-img: full and incremental backups of data written
//! into volume layers (with `qemu-io`, as a guest would), restores into new and
//! existing volumes compared with `qemu-img compare` against copies taken when
//! each backup was made, encrypted backups, the delete rules, the temporary
//! snapshot hidden from users, and bad input answered with 4xx and no change.

mod support;

use nimbus_volume::types::{Backup, Snapshot, Volume, VolumeStatus};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::*;

/// Runs storage and backup controller passes until nothing is in a
/// transitional status.
async fn settle_all(app: &App) {
    for _ in 0..40 {
        nimbus_volume::controller::pass(&app.volumes)
            .await
            .expect("storage pass");
        nimbus_volume::backup::pass(&app.volumes)
            .await
            .expect("backup pass");
        let store = &app.store.store;
        let busy_backups = store.list::<Backup>(None).await.unwrap().iter().any(|b| {
            matches!(
                b.value.status.as_str(),
                "creating" | "restoring" | "deleting"
            )
        });
        let busy_volumes = store.list::<Volume>(None).await.unwrap().iter().any(|v| {
            matches!(
                v.value.status.as_str(),
                "creating" | "deleting" | "extending" | "restoring-backup"
            )
        });
        let busy_snaps = store
            .list::<Snapshot>(None)
            .await
            .unwrap()
            .iter()
            .any(|s| matches!(s.value.status.as_str(), "creating" | "deleting"));
        if !busy_backups && !busy_volumes && !busy_snaps {
            return;
        }
    }
    panic!("the controllers did not settle");
}

async fn volume_record(app: &App, id: &str) -> Volume {
    app.store
        .store
        .get::<Volume>(id)
        .await
        .unwrap()
        .expect("volume")
        .value
}

async fn backup_record(app: &App, id: &str) -> Backup {
    app.store
        .store
        .get::<Backup>(id)
        .await
        .unwrap()
        .expect("backup")
        .value
}

/// The JSON filename that opens a volume's whole chain (each layer with the
/// volume's secret when encrypted).
async fn volume_spec(app: &App, id: &str) -> (String, Vec<String>) {
    let v = volume_record(app, id).await;
    let mut names = vec![v.top.clone().expect("top")];
    names.extend(v.chain.clone());
    let key = v
        .encryption_key_id
        .as_ref()
        .map(|_| app.volumes.layout.key(id));
    let secret = format!("k{}", &id[..8]);
    let mut below: Option<Value> = None;
    for n in names.iter().rev() {
        let mut node = json!({"driver": "qcow2", "file": {"driver": "file",
            "filename": app.volumes.layout.layer(n).display().to_string()}});
        if key.is_some() {
            node["encrypt.key-secret"] = secret.clone().into();
        }
        if let Some(b) = below.take() {
            node["backing"] = b;
        }
        below = Some(node);
    }
    let objects = match key {
        Some(k) => vec![
            "--object".to_string(),
            format!("secret,id={secret},file={}", k.display()),
        ],
        None => Vec::new(),
    };
    (format!("json:{}", below.unwrap()), objects)
}

/// Writes with qemu-io into a volume's top layer (the volume is not attached).
async fn write(app: &App, id: &str, cmds: &[&str]) {
    let (spec, objects) = volume_spec(app, id).await;
    let mut c = Command::new("qemu-io");
    c.args(&objects);
    for cmd in cmds {
        c.args(["-c", cmd]);
    }
    let out = c.arg(&spec).output().expect("qemu-io");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A flat plain copy of a volume's current data (the reference to compare with).
async fn reference(app: &App, id: &str, name: &str) -> PathBuf {
    let (spec, objects) = volume_spec(app, id).await;
    let dest = app.data_dir.path().join(name);
    let out = Command::new("qemu-img")
        .arg("convert")
        .args(&objects)
        .args(["-O", "qcow2", &spec])
        .arg(&dest)
        .output()
        .expect("qemu-img");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dest
}

/// Whether a volume's data equals a reference file.
async fn same_data(app: &App, id: &str, reference: &Path) -> bool {
    let (spec, objects) = volume_spec(app, id).await;
    let out = Command::new("qemu-img")
        .arg("compare")
        .args(&objects)
        .args(["-q", &spec])
        .arg(reference)
        .output()
        .expect("qemu-img");
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("compare: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

async fn create_backup(app: &App, token: &str, body: Value) -> String {
    let r = app
        .call(token, "POST", "/backups", Some(json!({"backup": body})))
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    r.json()["backup"]["id"].as_str().expect("id").to_string()
}

async fn show(app: &App, id: &str) -> Value {
    let r = app
        .call(ALICE, "GET", &format!("/backups/{id}"), None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    r.json()["backup"].clone()
}

async fn restore(app: &App, backup: &str, body: Value) -> String {
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/backups/{backup}/restore"),
            Some(json!({ "restore": body })),
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    r.json()["restore"]["volume_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn info(path: &Path) -> Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .expect("qemu-img");
    serde_json::from_slice(&out.stdout).expect("info json")
}

#[tokio::test]
async fn full_and_incremental_backups_restore_the_data_they_saw() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    settle_all(&app).await;
    write(
        &app,
        &vol,
        &[
            "write -P 0x11 0 4M",
            "write -P 0x22 100M 4M",
            "write -P 0x33 1020M 4M",
        ],
    )
    .await;
    let ref_full = reference(&app, &vol, "ref-full.qcow2").await;

    let full = create_backup(&app, ALICE, json!({"volume_id": vol, "name": "full"})).await;
    // After one backup pass the temporary snapshot exists but users never see it.
    nimbus_volume::backup::pass(&app.volumes).await.unwrap();
    let temp = backup_record(&app, &full)
        .await
        .temp_snapshot
        .expect("temp");
    let r = app.call(ALICE, "GET", "/snapshots", None).await;
    assert_eq!(r.json()["snapshots"], json!([]), "{}", r.text());
    let r = app
        .call(ALICE, "GET", &format!("/snapshots/{temp}"), None)
        .await;
    assert_eq!(r.code(), 404);
    settle_all(&app).await;
    let b = show(&app, &full).await;
    assert_eq!(
        (
            b["status"].as_str(),
            b["is_incremental"].as_bool(),
            b["size"].as_u64()
        ),
        (Some("available"), Some(false), Some(1)),
        "{b}"
    );
    assert!(app
        .store
        .store
        .get::<Snapshot>(&temp)
        .await
        .unwrap()
        .is_none());
    let full_file = app.volumes.backups.file(&format!("{full}.qcow2"));
    assert!(info(&full_file)["backing-filename"].is_null());

    // Changes in two frozen layers (a user snapshot in between), zero writes included.
    write(&app, &vol, &["write -P 0x44 2M 1M", "write -z 100M 1M"]).await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 202);
    let user_snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    settle_all(&app).await;
    write(&app, &vol, &["write -P 0x55 600M 1M", "write -z 0 512k"]).await;
    let ref_inc = reference(&app, &vol, "ref-inc.qcow2").await;
    assert!(
        !same_data(&app, &vol, &ref_full).await,
        "the data must have changed"
    );

    let inc = create_backup(&app, ALICE, json!({"volume_id": vol, "incremental": true})).await;
    settle_all(&app).await;
    let b = show(&app, &inc).await;
    assert_eq!(
        (b["status"].as_str(), b["is_incremental"].as_bool()),
        (Some("available"), Some(true)),
        "{b}"
    );
    let inc_file = app.volumes.backups.file(&format!("{inc}.qcow2"));
    let inc_info = info(&inc_file);
    assert_eq!(
        inc_info["backing-filename"].as_str(),
        Some(full_file.display().to_string().as_str())
    );
    // Only the changed clusters: far less than the full backup's 12 MiB.
    let inc_bytes = std::fs::metadata(&inc_file).unwrap().len();
    assert!(inc_bytes < 6 << 20, "incremental is {inc_bytes} bytes");
    let r = app
        .call(ALICE, "GET", &format!("/backups/{full}"), None)
        .await;
    assert_eq!(r.json()["backup"]["has_dependent_backups"], true);

    // An unchanged volume's incremental is quick.
    let t = Instant::now();
    let inc2 = create_backup(&app, ALICE, json!({"volume_id": vol, "incremental": true})).await;
    settle_all(&app).await;
    let took = t.elapsed();
    assert_eq!(show(&app, &inc2).await["status"], "available");
    assert!(
        took.as_millis() < 1000,
        "unchanged incremental took {took:?}"
    );

    // Restores into new volumes give each backup's data.
    let from_full = restore(&app, &full, json!({"name": "r-full"})).await;
    assert_eq!(app.volume(&from_full).await["status"], "restoring-backup");
    assert_eq!(show(&app, &full).await["status"], "restoring");
    settle_all(&app).await;
    let v = app.volume(&from_full).await;
    assert_eq!(
        (v["status"].as_str(), v["name"].as_str()),
        (Some("available"), Some("r-full"))
    );
    assert!(same_data(&app, &from_full, &ref_full).await);
    let from_inc = restore(&app, &inc2, json!({})).await;
    settle_all(&app).await;
    assert_eq!(
        app.volume(&from_inc).await["name"],
        format!("restore_backup_{inc2}")
    );
    assert!(same_data(&app, &from_inc, &ref_inc).await);
    assert!(!same_data(&app, &from_inc, &ref_full).await);

    // Into an existing, bigger volume: its data is replaced, its size kept.
    let target = app.create_volume(ALICE, json!({"size": 2})).await;
    settle_all(&app).await;
    write(&app, &target, &["write -P 0x77 0 8M"]).await;
    restore(&app, &inc, json!({"volume_id": target})).await;
    settle_all(&app).await;
    let v = app.volume(&target).await;
    assert_eq!(
        (v["status"].as_str(), v["size"].as_u64()),
        (Some("available"), Some(2))
    );
    assert_eq!(app.top_info(&target).await["virtual-size"], 2u64 << 30);
    let cmp = Command::new("qemu-img")
        .args(["compare", "-q"])
        .arg(&ref_inc)
        .arg(
            app.volumes
                .layout
                .layer(&volume_record(&app, &target).await.top.unwrap()),
        )
        .status()
        .unwrap();
    // Identical over the backup's 1 GiB, zeros beyond: compare says same (0).
    assert_eq!(cmp.code(), Some(0));

    // The restored volume lives on after the backups and the source go.
    for id in [&inc2, &inc, &full] {
        let r = app
            .call(ALICE, "DELETE", &format!("/backups/{id}"), None)
            .await;
        assert_eq!(r.code(), 202, "{}", r.text());
        settle_all(&app).await;
    }
    let r = app
        .call(ALICE, "DELETE", &format!("/snapshots/{user_snap}"), None)
        .await;
    assert_eq!(r.code(), 202);
    settle_all(&app).await;
    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    settle_all(&app).await;
    assert!(same_data(&app, &from_inc, &ref_inc).await);
    let left: Vec<_> = std::fs::read_dir(&app.volumes.backups.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "backup files left: {left:?}");
}

#[tokio::test]
async fn delete_rules_and_bad_input_change_nothing() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    settle_all(&app).await;
    let count = |app: &App| {
        let store = app.store.store.clone();
        async move { store.list::<Backup>(None).await.unwrap().len() }
    };
    let bad: Vec<(Value, u16)> = vec![
        (json!({}), 400),
        (json!({"backup": {}}), 400),
        (json!({"backup": {"volume_id": vol, "bogus": 1}}), 400),
        (json!({"backup": {"volume_id": vol, "name": 5}}), 400),
        (
            json!({"backup": {"volume_id": vol, "incremental": "maybe"}}),
            400,
        ),
        (json!({"backup": {"volume_id": "nope"}}), 404),
        // No full backup yet to base an incremental on.
        (
            json!({"backup": {"volume_id": vol, "incremental": true}}),
            400,
        ),
        (
            json!({"backup": {"volume_id": vol, "snapshot_id": "nope"}}),
            404,
        ),
    ];
    for (body, code) in bad {
        let r = app
            .call(ALICE, "POST", "/backups", Some(body.clone()))
            .await;
        assert_eq!(r.code(), code, "{body}: {}", r.text());
        assert!(r
            .json()
            .get("badRequest")
            .or(r.json().get("itemNotFound"))
            .is_some());
    }
    // Another project's volume is not there for bob.
    let r = app
        .call(
            BOB,
            "POST",
            "/backups",
            Some(json!({"backup": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 404);
    // In use needs force.
    app.store
        .store
        .modify::<Volume, _, _>(&vol, |v| {
            v.status = VolumeStatus::InUse;
            Ok(nimbus_store::Change::Write(()))
        })
        .await
        .unwrap();
    let r = app
        .call(
            ALICE,
            "POST",
            "/backups",
            Some(json!({"backup": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("force"));
    app.store
        .store
        .modify::<Volume, _, _>(&vol, |v| {
            v.status = VolumeStatus::Available;
            Ok(nimbus_store::Change::Write(()))
        })
        .await
        .unwrap();
    assert_eq!(count(&app).await, 0);

    // Quota: one backup allowed.
    let r = app
        .call(
            ADMIN,
            "PUT",
            &format!("/os-quota-sets/{PROJECT_A}"),
            Some(json!({"quota_set": {"backups": 1}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let full = create_backup(&app, ALICE, json!({"volume_id": vol})).await;
    // Not deletable while being made.
    let r = app
        .call(ALICE, "DELETE", &format!("/backups/{full}"), None)
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    let r = app
        .call(
            ALICE,
            "POST",
            "/backups",
            Some(json!({"backup": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 413, "{}", r.text());
    let r = app.call(ALICE, "GET", "/limits", None).await;
    assert_eq!(r.json()["limits"]["absolute"]["totalBackupsUsed"], 1);
    let r = app
        .call(
            ADMIN,
            "PUT",
            &format!("/os-quota-sets/{PROJECT_A}"),
            Some(json!({"quota_set": {"backups": 10}})),
        )
        .await;
    assert_eq!(r.code(), 200);
    settle_all(&app).await;
    let inc = create_backup(&app, ALICE, json!({"volume_id": vol, "incremental": true})).await;
    settle_all(&app).await;
    assert_eq!(count(&app).await, 2);

    // The parent of an incremental cannot go, not even forced.
    let r = app
        .call(ALICE, "DELETE", &format!("/backups/{full}"), None)
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    let r = app
        .call(
            ADMIN,
            "POST",
            &format!("/backups/{full}/action"),
            Some(json!({"os-force_delete": {}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());

    // Restore rules: too small, not available, unknown fields, other projects.
    let small = app.create_volume(ALICE, json!({"size": 1})).await;
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/backups/{full}/restore"),
            Some(json!({"restore": {"volume_id": small}})),
        )
        .await;
    assert_eq!(r.code(), 400, "target still creating: {}", r.text());
    settle_all(&app).await;
    for (body, code) in [
        (json!({"restore": {"volume_id": small, "x": 1}}), 400),
        (json!({"restore": {"volume_id": "nope"}}), 404),
        (json!({"nope": {}}), 400),
    ] {
        let r = app
            .call(
                ALICE,
                "POST",
                &format!("/backups/{full}/restore"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.code(), code, "{body}: {}", r.text());
    }
    let r = app
        .call(
            BOB,
            "POST",
            &format!("/backups/{full}/restore"),
            Some(json!({"restore": {}})),
        )
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(BOB, "GET", &format!("/backups/{full}"), None)
        .await;
    assert_eq!(r.code(), 404);
    let r = app.call(BOB, "GET", "/backups", None).await;
    assert_eq!(r.json()["backups"], json!([]));

    // Admin actions: members may not; bad statuses are refused.
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/backups/{inc}/action"),
            Some(json!({"os-reset_status": {"status": "error"}})),
        )
        .await;
    assert_eq!(r.code(), 403);
    for body in [
        json!({"os-reset_status": {"status": "bogus"}}),
        json!({"os-reset_status": {}}),
        json!({"os-explode": {}}),
        json!({}),
    ] {
        let r = app
            .call(
                ADMIN,
                "POST",
                &format!("/backups/{inc}/action"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.code(), 400, "{body}: {}", r.text());
    }
    assert_eq!(show(&app, &inc).await["status"], "available");
    assert_eq!(show(&app, &full).await["status"], "available");
    let vols = app.store.store.list::<Volume>(None).await.unwrap().len();
    assert_eq!(vols, 2, "no restore made a volume");

    // Lists: summary and detail, filters and paging; admins see every project.
    let r = app
        .call(ADMIN, "GET", "/backups/detail?all_tenants=1", None)
        .await;
    let all = r.json()["backups"].as_array().unwrap().clone();
    assert_eq!(all.len(), 2, "{}", r.text());
    assert_eq!(all[0]["os-backup-project-attr:project_id"], PROJECT_A);
    let r = app.call(BOB, "GET", "/backups?all_tenants=1", None).await;
    assert_eq!(r.json()["backups"], json!([]));
    let r = app
        .call_mv(ALICE, "GET", &format!("/backups/{full}"), None, "3.0")
        .await;
    let old = &r.json()["backup"];
    assert!(
        old.get("metadata").is_none() && old.get("user_id").is_none(),
        "{old}"
    );
    let r = app.call(ALICE, "GET", "/backups", None).await;
    let listed = r.json()["backups"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].get("status").is_none() && listed[0].get("links").is_some());
    let r = app
        .call(
            ALICE,
            "GET",
            "/backups/detail?limit=1&sort=created_at:asc",
            None,
        )
        .await;
    assert_eq!(r.json()["backups"][0]["id"], full.as_str(), "{}", r.text());
    assert!(r.json()["backups_links"].is_array());
    let r = app
        .call(
            ALICE,
            "GET",
            &format!("/backups/detail?volume_id={vol}&status=error"),
            None,
        )
        .await;
    assert_eq!(r.json()["backups"], json!([]));
    let r = app
        .call(ALICE, "GET", "/backups/detail?bogus=1", None)
        .await;
    assert_eq!(r.code(), 400);

    // Reset to error, then the incremental and its parent can go in order.
    let r = app
        .call(
            ADMIN,
            "POST",
            &format!("/backups/{inc}/action"),
            Some(json!({"os-reset_status": {"status": "error"}})),
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let r = app
        .call(ALICE, "DELETE", &format!("/backups/{inc}"), None)
        .await;
    assert_eq!(r.code(), 202);
    settle_all(&app).await;
    let r = app
        .call(ALICE, "DELETE", &format!("/backups/{full}"), None)
        .await;
    assert_eq!(r.code(), 202);
    settle_all(&app).await;
    assert_eq!(count(&app).await, 0);
    let r = app
        .call(ALICE, "GET", &format!("/backups/{full}"), None)
        .await;
    assert_eq!(r.code(), 404);
}

#[tokio::test]
async fn encrypted_backups_stay_encrypted_and_restore_under_the_new_key() {
    let app = App::new().await;
    let vol = app
        .create_volume(ALICE, json!({"size": 1, "volume_type": "encrypted"}))
        .await;
    settle_all(&app).await;
    write(&app, &vol, &["write -P 0x5a 0 2M", "write -P 0xa5 512M 2M"]).await;
    let ref_full = reference(&app, &vol, "ref-enc.qcow2").await;
    let full = create_backup(&app, ALICE, json!({"volume_id": vol})).await;
    settle_all(&app).await;
    // Two changed layers (a user snapshot in between): the incremental merges
    // them with `qemu-img commit`, under the backup's secret.
    write(&app, &vol, &["write -P 0x66 1M 1M"]).await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 202);
    settle_all(&app).await;
    write(&app, &vol, &["write -P 0x77 1M 512k", "write -z 512M 1M"]).await;
    let ref_inc = reference(&app, &vol, "ref-enc-inc.qcow2").await;
    let inc = create_backup(&app, ALICE, json!({"volume_id": vol, "incremental": true})).await;
    settle_all(&app).await;
    for id in [&full, &inc] {
        let b = show(&app, id).await;
        assert_eq!(b["status"], "available", "{b}");
        let file = app.volumes.backups.file(&format!("{id}.qcow2"));
        assert_eq!(info(&file)["encrypted"], true);
        let key = app.volumes.backups.key(id);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        backup_record(&app, &inc).await.backing.as_deref(),
        Some(full.as_str()),
        "the incremental is an overlay of the full backup"
    );
    // A plain volume cannot take an encrypted backup.
    let plain = app.create_volume(ALICE, json!({"size": 1})).await;
    settle_all(&app).await;
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/backups/{inc}/restore"),
            Some(json!({"restore": {"volume_id": plain}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());

    let restored = restore(&app, &inc, json!({})).await;
    settle_all(&app).await;
    let v = app.volume(&restored).await;
    assert_eq!(
        (v["status"].as_str(), v["encrypted"].as_bool()),
        (Some("available"), Some(true)),
        "{v}"
    );
    // Its own secret, not the source's; it opens with it and holds the data.
    assert_ne!(
        std::fs::read(app.volumes.layout.key(&restored)).unwrap(),
        std::fs::read(app.volumes.layout.key(&vol)).unwrap()
    );
    assert!(same_data(&app, &restored, &ref_inc).await);
    assert!(!same_data(&app, &restored, &ref_full).await);
}

#[tokio::test]
async fn backups_of_snapshots_and_incrementals_after_them() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    let other = app.create_volume(ALICE, json!({"size": 1})).await;
    settle_all(&app).await;
    write(&app, &vol, &["write -P 0x21 0 1M"]).await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    settle_all(&app).await;
    let ref_snap = reference(&app, &vol, "ref-snap.qcow2").await;
    write(&app, &vol, &["write -P 0x42 4M 1M"]).await;
    let ref_now = reference(&app, &vol, "ref-now.qcow2").await;

    // A snapshot of another volume is refused.
    let r = app
        .call(
            ALICE,
            "POST",
            "/backups",
            Some(json!({"backup": {"volume_id": other, "snapshot_id": snap}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());

    let of_snap = create_backup(&app, ALICE, json!({"volume_id": vol, "snapshot_id": snap})).await;
    let r = app
        .call(ALICE, "DELETE", &format!("/snapshots/{snap}"), None)
        .await;
    assert_eq!(r.code(), 400, "being backed up: {}", r.text());
    settle_all(&app).await;
    let b = show(&app, &of_snap).await;
    assert_eq!(
        (b["status"].as_str(), b["snapshot_id"].as_str()),
        (Some("available"), Some(snap.as_str())),
        "{b}"
    );
    // The incremental's parent is the snapshot's backup: only later writes are copied.
    let inc = create_backup(&app, ALICE, json!({"volume_id": vol, "incremental": true})).await;
    settle_all(&app).await;
    assert_eq!(
        backup_record(&app, &inc).await.backing.as_deref(),
        Some(of_snap.as_str())
    );
    let a = restore(&app, &of_snap, json!({})).await;
    let b = restore(&app, &inc, json!({})).await;
    // Two restores of different backups run side by side.
    settle_all(&app).await;
    assert!(same_data(&app, &a, &ref_snap).await);
    assert!(same_data(&app, &b, &ref_now).await);
    assert!(!same_data(&app, &a, &ref_now).await);
}

#[tokio::test]
async fn the_sweep_removes_what_no_backup_names() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    settle_all(&app).await;
    let kept = create_backup(&app, ALICE, json!({"volume_id": vol})).await;
    settle_all(&app).await;
    let backups = &app.volumes.backups;
    // Leftovers of a crash: a file in the making, an unnamed backup file, a
    // key of no backup, a restore's file in the making next to the layers.
    let junk = [
        backups.tmp("gone", "full"),
        backups.file("gone.qcow2"),
        backups.key("gone"),
        app.volumes.layout.dir.join(".restore-gone.tmp"),
    ];
    for p in &junk {
        std::fs::write(p, b"x").unwrap();
    }
    let other = app.volumes.layout.dir.join("unrelated.txt");
    std::fs::write(&other, b"x").unwrap();
    nimbus_volume::backup::pass(&app.volumes).await.unwrap();
    for p in &junk {
        assert!(!p.exists(), "{} was left", p.display());
    }
    assert!(other.exists(), "not ours: left alone");
    assert!(backups.file(&format!("{kept}.qcow2")).exists());
}

#[tokio::test]
async fn a_backup_that_cannot_freeze_ends_in_error_and_cleans_up() {
    let app = App::new().await;
    let vol = app.create_volume(ALICE, json!({"size": 1})).await;
    settle_all(&app).await;
    // In use without a plugged (Nova) attachment: the storage controller will
    // not freeze it offline, so the temporary snapshot fails.
    app.store
        .store
        .modify::<Volume, _, _>(&vol, |v| {
            v.status = VolumeStatus::InUse;
            Ok(nimbus_store::Change::Write(()))
        })
        .await
        .unwrap();
    let b = create_backup(&app, ALICE, json!({"volume_id": vol, "force": true})).await;
    settle_all(&app).await;
    let shown = show(&app, &b).await;
    assert_eq!(shown["status"], "error", "{shown}");
    assert_eq!(
        shown["fail_reason"], "the volume could not be frozen (snapshot error)",
        "{shown}"
    );
    // The detail (the storage controller's words) is in the audit trail.
    let audited = app
        .store
        .store
        .list::<nimbus_api::audit::AuditRecord>(None)
        .await
        .unwrap();
    assert!(
        audited.iter().any(|a| {
            let a = serde_json::to_string(&a.value).unwrap();
            a.contains("volume.backup.create") && a.contains("in-use")
        }),
        "no audit record with the reason"
    );
    // The temporary snapshot is gone, no file was kept, the volume is untouched.
    assert!(app
        .store
        .store
        .list::<Snapshot>(None)
        .await
        .unwrap()
        .is_empty());
    assert!(!app.volumes.backups.file(&format!("{b}.qcow2")).exists());
    assert_eq!(volume_record(&app, &vol).await.status, VolumeStatus::InUse);
    // An errored backup can be deleted.
    let r = app
        .call(ALICE, "DELETE", &format!("/backups/{b}"), None)
        .await;
    assert_eq!(r.code(), 202);
    settle_all(&app).await;
    assert!(app.store.store.get::<Backup>(&b).await.unwrap().is_none());
}
