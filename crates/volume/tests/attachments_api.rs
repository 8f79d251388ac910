//! The attachment side of the volume API in-process: Cinder's attachments API
//! (reserve, connect, complete, delete; lists, filters, projects), the legacy
//! attach actions, the volume view's `attachments`, and the in-use rules
//! (delete, extend from 3.42, snapshots with `force` / from 3.66, reset-status
//! `attach_status`). Attachments Nova makes are written here as its API does
//! (`attach::attach` with `compute: true`) and completed as the agent does
//! (`finish_attach`). Random bodies on the new routes never get a 5xx, and a
//! 4xx never changes the store.

mod support;

use nimbus_api::testing::Resp;
use nimbus_volume::attach::{self, NewAttachment};
use nimbus_volume::types::VolumeAttachment;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;

const SERVER: &str = "5b1f8a52-0c55-4b55-9a43-3d1c9b0f2a11";
const OTHER_SERVER: &str = "6c2a9b63-1d66-4c66-8b54-4e2d0c1f3b22";

/// An available 1 GiB volume of alice's.
async fn available_volume(app: &App) -> String {
    let id = app.create_volume(ALICE, json!({"size": 1})).await;
    app.settle().await;
    id
}

/// What Nova's API and then the agent do: a compute attachment, plugged.
async fn nova_attach(app: &App, volume: &str) -> VolumeAttachment {
    let store = &app.store.store;
    let mut tx = store.begin().await.unwrap();
    let a = attach::attach(
        &mut tx,
        volume,
        NewAttachment {
            project_id: PROJECT_A.into(),
            server_id: Some(SERVER.into()),
            compute: true,
            device: Some("/dev/vdb".into()),
            ..Default::default()
        },
    )
    .await
    .expect("attach");
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    attach::finish_attach(&mut tx, volume, Some(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    a
}

async fn action(app: &App, token: &str, volume: &str, body: Value) -> Resp {
    app.call(
        token,
        "POST",
        &format!("/volumes/{volume}/action"),
        Some(body),
    )
    .await
}

async fn action_mv(app: &App, volume: &str, body: Value, mv: &str) -> Resp {
    app.call_mv(
        ALICE,
        "POST",
        &format!("/volumes/{volume}/action"),
        Some(body),
        mv,
    )
    .await
}

#[tokio::test]
async fn reserve_connect_complete_delete() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    let body = json!({"attachment": {"volume_uuid": vol, "instance_uuid": SERVER}});
    let r = app
        .call_mv(ALICE, "POST", "/attachments", Some(body.clone()), "3.26")
        .await;
    assert_eq!(r.code(), 404, "no attachments API before 3.27");
    let r = app
        .call_mv(ALICE, "POST", "/attachments", Some(body), "3.27")
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let a = r.json()["attachment"].clone();
    let aid = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["status"], "reserved");
    assert_eq!(a["instance"], SERVER);
    assert_eq!(a["volume_id"], vol);
    assert_eq!(a["connection_info"], json!({}));
    assert_eq!(a["attached_at"], "");
    assert_eq!(app.volume(&vol).await["status"], "reserved");
    assert_eq!(app.volume(&vol).await["attachments"], json!([]));

    // A second attachment of a volume that is not multiattach is refused.
    let r = app
        .call(
            ALICE,
            "POST",
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": vol, "instance_uuid": OTHER_SERVER}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());

    let connector = json!({"host": "node-1", "mountpoint": "/dev/vdb", "initiator": null,
        "ip": null, "platform": null, "os_type": null, "multipath": false});
    let r = app
        .call(
            ALICE,
            "PUT",
            &format!("/attachments/{aid}"),
            Some(json!({"attachment": {"connector": connector}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let info = &r.json()["attachment"]["connection_info"];
    assert_eq!(r.json()["attachment"]["status"], "attaching");
    assert_eq!(info["driver_volume_type"], "file");
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["attachment_id"], aid.as_str());
    assert_eq!(info["access_mode"], "rw");
    assert!(info.get("path").is_none(), "file paths are for admins");
    assert_eq!(app.volume(&vol).await["status"], "attaching");
    let r = app
        .call(ADMIN, "GET", &format!("/attachments/{aid}"), None)
        .await;
    let path = r.json()["attachment"]["connection_info"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        path.ends_with(&format!("{vol}.0.qcow2")) && std::path::Path::new(&path).exists(),
        "{path}"
    );

    let complete = json!({"os-complete": aid});
    let r = app
        .call_mv(
            ALICE,
            "POST",
            &format!("/attachments/{aid}/action"),
            Some(complete.clone()),
            "3.43",
        )
        .await;
    assert_eq!(r.code(), 404, "os-complete needs 3.44");
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/attachments/{aid}/action"),
            Some(complete),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    let v = app.volume(&vol).await;
    assert_eq!(v["status"], "in-use");
    let listed = &v["attachments"][0];
    assert_eq!(listed["attachment_id"], aid.as_str());
    assert_eq!(listed["server_id"], SERVER);
    assert_eq!(listed["host_name"], "node-1");
    assert_eq!(listed["device"], "/dev/vdb");
    assert_eq!(listed["id"], vol.as_str());
    assert!(listed["attached_at"].is_string());
    let r = app.call(ALICE, "GET", "/volumes/detail", None).await;
    let mine = &r.json()["volumes"][0]["attachments"][0];
    assert_eq!(mine["attachment_id"], aid.as_str());
    assert_eq!(mine["host_name"], Value::Null, "the host is for admins");

    // Lists: summary, detail, filters; other projects see nothing.
    let r = app.call(ALICE, "GET", "/attachments", None).await;
    assert_eq!(
        r.json()["attachments"],
        json!([{"id": aid, "status": "attached", "instance": SERVER, "volume_id": vol}])
    );
    let r = app.call(ALICE, "GET", "/attachments/detail", None).await;
    assert_eq!(r.json()["attachments"][0]["attach_mode"], "rw");
    for (q, n) in [
        (format!("volume_id={vol}"), 1),
        ("status=attached".to_string(), 1),
        ("attach_status=reserved".to_string(), 0),
        (format!("instance_id={SERVER}"), 1),
        (format!("instance_id={OTHER_SERVER}"), 0),
    ] {
        let r = app
            .call(ALICE, "GET", &format!("/attachments?{q}"), None)
            .await;
        assert_eq!(r.code(), 200, "{q}: {}", r.text());
        assert_eq!(r.json()["attachments"].as_array().unwrap().len(), n, "{q}");
    }
    let r = app
        .call(
            ALICE,
            "GET",
            &format!("/volume/v3/{PROJECT_A}/attachments/{aid}"),
            None,
        )
        .await;
    assert_eq!(r.code(), 200, "the classic URL form: {}", r.text());
    let r = app.call(ALICE, "GET", "/attachments?color=red", None).await;
    assert_eq!(r.code(), 400, "unknown filters are refused from 3.31");
    let r = app.call(BOB, "GET", "/attachments", None).await;
    assert_eq!(r.json()["attachments"], json!([]));
    let r = app
        .call(BOB, "GET", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(BOB, "DELETE", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(BOB, "GET", "/attachments?all_tenants=1", None)
        .await;
    assert_eq!(
        r.json()["attachments"],
        json!([]),
        "all_tenants is for admins"
    );
    let r = app
        .call(ADMIN, "GET", "/attachments?all_tenants=1", None)
        .await;
    assert_eq!(r.json()["attachments"].as_array().unwrap().len(), 1);
    let r = app
        .call(CAROL, "DELETE", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 403, "readers do not detach");

    // In use: the volume is not deleted, even by a forced delete.
    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
        .await;
    assert_eq!(r.code(), 400);
    assert!(r.json()["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("Volume status must be available"));
    let r = app
        .call(ADMIN, "DELETE", &format!("/volumes/{vol}?force=true"), None)
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());

    let r = app
        .call(ALICE, "DELETE", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json(), json!({"attachments": []}));
    let v = app.volume(&vol).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    let r = app
        .call(ALICE, "GET", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 404);
    assert!(r.json()["itemNotFound"]["message"]
        .as_str()
        .unwrap()
        .contains(&aid));
}

#[tokio::test]
async fn create_checks_its_body_and_the_volume() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    let post = |body: Value, mv: &'static str| {
        let app = &app;
        async move {
            app.call_mv(ALICE, "POST", "/attachments", Some(body), mv)
                .await
        }
    };
    for body in [
        json!({}),
        json!({"attachment": {}}),
        json!({"attachment": {"volume_uuid": "not-a-uuid"}}),
        json!({"attachment": {"volume_uuid": vol, "instance_uuid": "x"}}),
        json!({"attachment": {"volume_uuid": vol, "connector": "host"}}),
        json!({"attachment": {"volume_uuid": vol, "connector": {"mode": "rx"}}}),
        json!({"attachment": {"volume_uuid": vol, "mode": "rw"}}),
        json!({"attachment": {"volume_uuid": vol, "surprise": 1}}),
        json!({"attachment": {"volume_uuid": vol}, "extra": 1}),
    ] {
        let r = post(body.clone(), "3.44").await;
        assert_eq!(r.code(), 400, "{body}: {}", r.text());
    }
    let r = post(
        json!({"attachment": {"volume_uuid": vol, "mode": "rx"}}),
        "3.54",
    )
    .await;
    assert_eq!(r.code(), 400);
    let missing = "0f0f0f0f-0000-4000-8000-000000000000";
    let r = post(json!({"attachment": {"volume_uuid": missing}}), "3.44").await;
    assert_eq!(r.code(), 404);
    assert_eq!(
        r.json()["itemNotFound"]["message"],
        format!("Volume {missing} could not be found.")
    );
    let r = app
        .call(
            BOB,
            "POST",
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": vol}})),
        )
        .await;
    assert_eq!(r.code(), 404, "another project's volume");
    let r = app
        .call(
            CAROL,
            "POST",
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": vol}})),
        )
        .await;
    assert_eq!(r.code(), 403, "readers do not attach");
    assert_eq!(app.volume(&vol).await["status"], "available");

    // `mode: null` (what the SDK sends below 3.54) is no mode; a connector at
    // once gives `attaching`; 3.54's mode wins over the connector's.
    let r = post(
        json!({"attachment": {"volume_uuid": vol, "mode": null,
            "connector": {"host": "h", "mode": "rw"}}}),
        "3.44",
    )
    .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json()["attachment"]["status"], "attaching");
    assert_eq!(
        r.json()["attachment"]["connection_info"]["driver_volume_type"],
        "file"
    );
    let aid = r.json()["attachment"]["id"].as_str().unwrap().to_string();
    let r = app
        .call(ALICE, "DELETE", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 200);
    let r = post(
        json!({"attachment": {"volume_uuid": vol, "mode": "ro",
            "connector": {"host": "h", "mode": "rw"}}}),
        "3.54",
    )
    .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json()["attachment"]["attach_mode"], "ro");
    assert_eq!(
        r.json()["attachment"]["connection_info"]["access_mode"],
        "ro"
    );
    let aid = r.json()["attachment"]["id"].as_str().unwrap().to_string();

    // PUT needs a non-empty connector object.
    for body in [
        json!({"attachment": {}}),
        json!({"attachment": {"connector": {}}}),
        json!({"attachment": {"connector": "h"}}),
        json!({"attachment": {"connector": {"host": "h"}, "x": 1}}),
    ] {
        let r = app
            .call(ALICE, "PUT", &format!("/attachments/{aid}"), Some(body))
            .await;
        assert_eq!(r.code(), 400, "{}", r.text());
    }
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/attachments/{aid}/action"),
            Some(json!({"os-explode": null})),
        )
        .await;
    assert_eq!(r.code(), 400);

    // A volume that is not available cannot be reserved.
    let other = available_volume(&app).await;
    let r = app
        .call(
            ADMIN,
            "POST",
            &format!("/volumes/{other}/action"),
            Some(json!({"os-reset_status": {"status": "error"}})),
        )
        .await;
    assert_eq!(r.code(), 202);
    let r = post(json!({"attachment": {"volume_uuid": other}}), "3.44").await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("error state"), "{}", r.text());
}

#[tokio::test]
async fn nova_attachments_are_listed_but_changed_through_nova() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    let a = nova_attach(&app, &vol).await;
    let aid = a.attachment_id.clone();
    let v = app.volume(&vol).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["server_id"], SERVER);
    assert_eq!(v["attachments"][0]["device"], "/dev/vdb");
    assert_eq!(v["attachments"][0]["host_name"], Value::Null);

    let r = app
        .call(ALICE, "GET", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.json()["attachment"]["status"], "attached");
    assert_eq!(
        r.json()["attachment"]["connection_info"]["driver_volume_type"],
        "file"
    );
    let r = app
        .call(ALICE, "DELETE", &format!("/attachments/{aid}"), None)
        .await;
    assert_eq!(r.code(), 409, "{}", r.text());
    let r = app
        .call(
            ALICE,
            "PUT",
            &format!("/attachments/{aid}"),
            Some(json!({"attachment": {"connector": {"host": "h"}}})),
        )
        .await;
    assert_eq!(r.code(), 409);
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/attachments/{aid}/action"),
            Some(json!({"os-complete": null})),
        )
        .await;
    assert_eq!(r.code(), 409, "the agent completes it");
    for body in [
        json!({"os-detach": {"attachment_id": aid}}),
        json!({"os-begin_detaching": null}),
        json!({"os-unreserve": {}}),
        json!({"os-terminate_connection": {"connector": {}}}),
    ] {
        let r = action(&app, ALICE, &vol, body.clone()).await;
        assert_eq!(r.code(), 409, "{body}: {}", r.text());
    }
    assert_eq!(app.volume(&vol).await["status"], "in-use");
    let r = app
        .call(ADMIN, "DELETE", &format!("/volumes/{vol}?force=true"), None)
        .await;
    assert_eq!(r.code(), 400);
    let r = app
        .call(
            ALICE,
            "POST",
            "/volumes",
            Some(json!({"volume": {"source_volid": vol}})),
        )
        .await;
    assert_eq!(r.code(), 400, "no clone of an attached volume");

    // Extend in use: from 3.42 only, then the agent's job.
    let extend = json!({"os-extend": {"new_size": 2}});
    let r = action_mv(&app, &vol, extend.clone(), "3.41").await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("in-use"));
    let r = action_mv(&app, &vol, extend, "3.42").await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let stored = app
        .store
        .store
        .get::<nimbus_volume::types::Volume>(&vol)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(stored.status.as_str(), "extending");
    assert_eq!(stored.target_size, Some(2));
    nimbus_volume::controller::pass(&app.volumes).await.unwrap();
    assert_eq!(
        app.volume(&vol).await["status"],
        "extending",
        "the controller leaves a plugged volume to the agent"
    );
}

#[tokio::test]
async fn snapshots_of_volumes_in_use() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    nova_attach(&app, &vol).await;
    let snap = |force: Value, mv: &'static str| {
        let app = &app;
        let vol = vol.clone();
        async move {
            let mut body = json!({"snapshot": {"volume_id": vol}});
            if !force.is_null() {
                body["snapshot"]["force"] = force;
            }
            app.call_mv(ALICE, "POST", "/snapshots", Some(body), mv)
                .await
        }
    };
    let r = snap(Value::Null, "3.65").await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("must be available"), "{}", r.text());
    let r = snap(json!(false), "3.65").await;
    assert_eq!(r.code(), 400);
    let r = snap(json!(false), "3.66").await;
    assert_eq!(r.code(), 400, "an explicit false is invalid from 3.66");
    assert!(r.text().contains("3.66"));
    let r = snap(json!(true), "3.65").await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let r = snap(Value::Null, "3.66").await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let r = snap(json!("true"), "3.66").await;
    assert_eq!(r.code(), 202, "a true flag is ignored from 3.66");
}

#[tokio::test]
async fn bookkeeping_only_in_use_volumes_are_not_grown_or_frozen() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdc"}}),
    )
    .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(app.volume(&vol).await["status"], "in-use");
    let r = action_mv(&app, &vol, json!({"os-extend": {"new_size": 2}}), "3.42").await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("no server has it plugged"));
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol, "force": true}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert_eq!(app.volume(&vol).await["status"], "in-use");
}

#[tokio::test]
async fn legacy_attach_actions() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    // reserve → unreserve
    let r = action(&app, ALICE, &vol, json!({"os-reserve": null})).await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(app.volume(&vol).await["status"], "attaching");
    let r = action(&app, ALICE, &vol, json!({"os-reserve": {}})).await;
    assert_eq!(r.code(), 400, "reserved twice");
    let r = action(&app, ALICE, &vol, json!({"os-unreserve": null})).await;
    assert_eq!(r.code(), 202);
    assert_eq!(app.volume(&vol).await["status"], "available");

    // reserve → attach → begin/roll detaching → detach
    action(&app, ALICE, &vol, json!({"os-reserve": null})).await;
    for bad in [
        json!({"os-attach": {"instance_uuid": SERVER}}),
        json!({"os-attach": {"mountpoint": "/dev/vdb"}}),
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "rx"}}),
        json!({"os-attach": {"instance_uuid": "nope", "mountpoint": "/dev/vdb"}}),
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "", "x": 1}}),
        json!({"os-attach": "yes"}),
    ] {
        let r = action(&app, ALICE, &vol, bad.clone()).await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "rw"}}),
    )
    .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let v = app.volume(&vol).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["server_id"], SERVER);
    assert_eq!(v["attachments"][0]["device"], "/dev/vdb");
    let aid = v["attachments"][0]["attachment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}}),
    )
    .await;
    assert_eq!(r.code(), 202, "the same attach again changes nothing");
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-attach": {"instance_uuid": OTHER_SERVER, "mountpoint": "/dev/vdb"}}),
    )
    .await;
    assert_eq!(r.code(), 400, "not multiattach");

    let r = action(&app, ALICE, &vol, json!({"os-begin_detaching": {}})).await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(app.volume(&vol).await["status"], "detaching");
    assert_eq!(
        app.volume(&vol).await["attachments"][0]["attachment_id"],
        aid.as_str()
    );
    let r = action(&app, ALICE, &vol, json!({"os-begin_detaching": {}})).await;
    assert_eq!(r.code(), 400, "only an in-use volume starts detaching");
    let r = action(&app, ALICE, &vol, json!({"os-roll_detaching": {}})).await;
    assert_eq!(r.code(), 202);
    assert_eq!(app.volume(&vol).await["status"], "in-use");
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-detach": {"attachment_id": OTHER_SERVER}}),
    )
    .await;
    assert_eq!(r.code(), 400, "another attachment id");
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-detach": {"attachment_id": aid}}),
    )
    .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let v = app.volume(&vol).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    let r = action(&app, ALICE, &vol, json!({"os-detach": null})).await;
    assert_eq!(r.code(), 400, "not attached");

    // attach at once by host name; detach without an id
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-attach": {"host_name": "backup-host", "mountpoint": "/mnt/x"}}),
    )
    .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let v = app.volume(&vol).await;
    assert_eq!(v["attachments"][0]["host_name"], "backup-host");
    assert_eq!(v["attachments"][0]["server_id"], Value::Null);
    let r = action(&app, ALICE, &vol, json!({"os-detach": null})).await;
    assert_eq!(r.code(), 202);
    assert_eq!(app.volume(&vol).await["status"], "available");

    // initialize / terminate connection
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-initialize_connection": {"connector": {"host": "h", "mode": "ro"}}}),
    )
    .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let info = &r.json()["connection_info"];
    assert_eq!(info["driver_volume_type"], "file");
    assert_eq!(info["data"]["volume_id"], vol.as_str());
    assert_eq!(info["data"]["access_mode"], "ro");
    assert_eq!(info["enforce_multipath"], false);
    assert!(info["data"].get("path").is_none());
    let r = action(
        &app,
        ADMIN,
        &vol,
        json!({"os-initialize_connection": {"connector": {"host": "h"}}}),
    )
    .await;
    assert!(r.json()["connection_info"]["data"]["path"].is_string());
    assert_eq!(app.volume(&vol).await["status"], "available");
    let r = action(&app, ALICE, &vol, json!({"os-initialize_connection": {}})).await;
    assert_eq!(r.code(), 400);
    action(&app, ALICE, &vol, json!({"os-reserve": null})).await;
    let r = action(
        &app,
        ALICE,
        &vol,
        json!({"os-terminate_connection": {"connector": {"host": "h"}}}),
    )
    .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(app.volume(&vol).await["status"], "available");
    let r = action(&app, CAROL, &vol, json!({"os-reserve": null})).await;
    assert_eq!(r.code(), 403);
    let r = action(&app, BOB, &vol, json!({"os-reserve": null})).await;
    assert_eq!(r.code(), 404);
}

#[tokio::test]
async fn reset_status_and_forced_delete_of_a_reservation() {
    let app = App::new().await;
    let vol = available_volume(&app).await;
    action(
        &app,
        ALICE,
        &vol,
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}}),
    )
    .await;
    let reset = |body: Value, token: &'static str| {
        let app = &app;
        let vol = vol.clone();
        async move { action(app, token, &vol, json!({"os-reset_status": body})).await }
    };
    let r = reset(json!({"attach_status": "detached"}), ALICE).await;
    assert_eq!(r.code(), 403);
    for bad in [
        json!({}),
        json!({"attach_status": "glued"}),
        json!({"status": "deleting"}),
        json!({"status": "available", "colour": "red"}),
    ] {
        let r = reset(bad.clone(), ADMIN).await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    let r = reset(
        json!({"status": "available", "attach_status": "detached"}),
        ADMIN,
    )
    .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let v = app.volume(&vol).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    let r = reset(json!({"status": "in-use"}), ADMIN).await;
    assert_eq!(r.code(), 400, "in-use needs an attachment");

    // A forced delete takes a bookkeeping reservation with it.
    let r = app
        .call(
            ALICE,
            "POST",
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": vol}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
        .await;
    assert_eq!(r.code(), 400, "reserved");
    let r = app
        .call(ADMIN, "DELETE", &format!("/volumes/{vol}?force=true"), None)
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert!(app
        .store
        .store
        .get::<VolumeAttachment>(&vol)
        .await
        .unwrap()
        .is_none());
    app.settle().await;
    let r = app
        .call(ALICE, "GET", &format!("/volumes/{vol}"), None)
        .await;
    assert_eq!(r.code(), 404);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("rw"),
            Just("ro"),
            Just("/dev/vdb"),
            Just(SERVER),
            Just("0f0f0f0f-0000-4000-8000-000000000000"),
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("attachment".to_string()),
                    Just("volume_uuid".to_string()),
                    Just("instance_uuid".to_string()),
                    Just("connector".to_string()),
                    Just("host".to_string()),
                    Just("mode".to_string()),
                    Just("mountpoint".to_string()),
                    Just("os-complete".to_string()),
                    Just("os-attach".to_string()),
                    Just("os-detach".to_string()),
                    Just("os-reserve".to_string()),
                    Just("os-begin_detaching".to_string()),
                    Just("os-initialize_connection".to_string()),
                    Just("os-terminate_connection".to_string()),
                    Just("os-reset_status".to_string()),
                    Just("attach_status".to_string()),
                    Just("attachment_id".to_string()),
                    Just("host_name".to_string()),
                    ".{0,8}",
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_bodies_get_4xx_and_change_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, vol, aid) = rt.block_on(async {
        let app = App::new().await;
        let vol = available_volume(&app).await;
        let other = available_volume(&app).await;
        let r = app
            .call(
                ALICE,
                "POST",
                "/attachments",
                Some(json!({"attachment": {"volume_uuid": other, "instance_uuid": SERVER}})),
            )
            .await;
        let aid = r.json()["attachment"]["id"].as_str().unwrap().to_string();
        (app, vol, aid)
    });
    let routes = [
        ("POST", "/attachments".to_string()),
        ("PUT", format!("/attachments/{aid}")),
        ("POST", format!("/attachments/{aid}/action")),
        ("POST", format!("/volumes/{vol}/action")),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&(0..routes.len(), arb_json()), |(i, body)| {
            let (method, path) = &routes[i];
            for who in [ALICE, ADMIN] {
                let before = app.store.store.revision();
                let r = rt.block_on(app.call(who, method, path, Some(body.clone())));
                prop_assert!(
                    r.code() < 500,
                    "{method} {path} {body}: {} {}",
                    r.code(),
                    r.text()
                );
                if r.code() >= 400 {
                    prop_assert_eq!(
                        app.store.store.revision(),
                        before,
                        "{} {} {}: a {} changed the store",
                        method,
                        path,
                        body,
                        r.code()
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn odd_ids_and_queries_are_client_errors() {
    let app = App::new().await;
    for id in [
        "x",
        "%00",
        "..",
        "%2e%2e%2f",
        &"9".repeat(300),
        "%F0%9F%92%A5",
    ] {
        for (method, path, body) in [
            ("GET", format!("/attachments/{id}"), None),
            ("DELETE", format!("/attachments/{id}"), None),
            (
                "PUT",
                format!("/attachments/{id}"),
                Some(json!({"attachment": {"connector": {"host": "h"}}})),
            ),
            (
                "POST",
                format!("/attachments/{id}/action"),
                Some(json!({"os-complete": null})),
            ),
        ] {
            let r = app.call(ALICE, method, &path, body).await;
            assert!(
                matches!(r.code(), 400 | 404),
                "{method} {path}: {} {}",
                r.code(),
                r.text()
            );
        }
    }
    for q in [
        "limit=-1",
        "limit=x",
        "sort=status:sideways",
        "sort=colour:asc",
        "all_tenants=maybe",
        "marker=nothing",
        "with_count=2x",
    ] {
        let r = app
            .call(ALICE, "GET", &format!("/attachments/detail?{q}"), None)
            .await;
        assert_eq!(r.code(), 400, "{q}: {}", r.text());
    }
}
