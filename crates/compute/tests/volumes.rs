//! Nova's side of volumes, in-process: `os-volume_attachments` (attach and
//! detach through the attachment state machine, fields per microversion, Nova's
//! 4xx answers), `block_device_mapping_v2` (boot from a volume made of an image,
//! of an existing volume, extra blank volumes, the spec's 7.1 body as written),
//! `volumes_attached` in server documents, and what a server's delete does to its
//! volumes. A fake volume side plays the storage controller and the agent's
//! plugging (`support/volumes.rs`).

mod support;

use nimbus_image::types::Visibility;
use nimbus_volume::types::{VolumeAttachment, VolumeStatus};
use serde_json::{json, Value};
use support::cloud::*;
use support::*;

const MV: Option<&str> = Some("2.79");

/// A cloud with a host, the scheduler, the fake agent and volume side, an image
/// and a network of project A.
struct Setup {
    app: App,
    image: String,
    net: String,
    _cloud: Running,
    _volumes: Running,
}

async fn setup() -> Setup {
    let app = App::new().await;
    app.volume_types().await;
    app.hypervisor("node1", 16, 65536).await;
    let cloud = app.run_cloud("node1");
    let volumes = app.run_volumes("node1");
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    Setup {
        app,
        image,
        net,
        _cloud: cloud,
        _volumes: volumes,
    }
}

async fn running_server(s: &Setup, name: &str) -> String {
    let r = s
        .app
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body(name, &s.image, &s.net)),
        )
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    s.app.wait_status(ALICE, &id, "ACTIVE").await;
    id
}

fn attach_body(volume: &str) -> Value {
    json!({"volumeAttachment": {"volumeId": volume, "device": null}})
}

async fn actions(app: &App, server: &str) -> Vec<String> {
    let r = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/servers/{server}/os-instance-actions"),
            ALICE,
            None,
        )
        .await;
    r["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect()
}

/// Whether an audit record of `action` on `target` was written.
async fn audited(app: &App, action: &str, target: &str) -> bool {
    app.store
        .store
        .list::<nimbus_api::audit::AuditRecord>(None)
        .await
        .unwrap()
        .iter()
        .any(|r| r.value.action == action && r.value.target_id == target)
}

#[tokio::test]
async fn attach_and_detach_move_the_statuses_and_show_per_microversion() {
    let s = setup().await;
    let app = &s.app;
    let server = running_server(&s, "vm1").await;
    let vol = app.volume(PROJECT_A, 1, false).await;
    let path = format!("/servers/{server}/os-volume_attachments");
    let body = json!({"volumeAttachment": {"volumeId": vol, "device": "/dev/vdq", "tag": "data",
        "delete_on_termination": true}});
    let r = app.expect(200, MV, "POST", &path, ALICE, Some(&body)).await;
    let a = &r["volumeAttachment"];
    // The device is a hint: the next free name is used, as Nova's libvirt driver.
    assert_eq!(a["device"], "/dev/vdb");
    assert_eq!(a["id"], vol.as_str());
    assert_eq!(a["volumeId"], vol.as_str());
    assert_eq!(a["serverId"], server.as_str());
    assert_eq!(a["tag"], "data");
    assert_eq!(a["delete_on_termination"], true);
    // The agent plugs it: attaching, then in-use.
    app.wait_volume(&vol, Some(VolumeStatus::InUse)).await;

    // Fields per microversion.
    let at = |mv: &'static str| {
        let path = path.clone();
        async move {
            app.expect(200, Some(mv), "GET", &path, ALICE, None).await["volumeAttachments"][0]
                .clone()
        }
    };
    let old = at("2.1").await;
    assert!(old.get("tag").is_none() && old.get("delete_on_termination").is_none());
    assert_eq!(old["device"], "/dev/vdb");
    assert!(at("2.69").await.get("tag").is_none());
    assert_eq!(at("2.70").await["tag"], "data");
    assert!(at("2.78").await.get("delete_on_termination").is_none());
    assert_eq!(at("2.79").await["delete_on_termination"], true);
    let one = app
        .expect(200, MV, "GET", &format!("{path}/{vol}"), CAROL, None)
        .await;
    assert_eq!(one["volumeAttachment"]["volumeId"], vol.as_str());

    // The server document lists it.
    let doc = app
        .expect(200, MV, "GET", &format!("/servers/{server}"), ALICE, None)
        .await;
    assert_eq!(
        doc["server"]["os-extended-volumes:volumes_attached"],
        json!([{"id": vol, "delete_on_termination": true}])
    );
    let doc = app
        .expect(200, Some("2.1"), "GET", "/servers/detail", ALICE, None)
        .await;
    assert_eq!(
        doc["servers"][0]["os-extended-volumes:volumes_attached"],
        json!([{"id": vol}])
    );

    // Attached already: 400; a second volume gets the next device.
    let r = app
        .expect(400, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
        .await;
    assert!(r["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("already attached"));
    let vol2 = app.volume(PROJECT_A, 2, false).await;
    let r = app
        .expect(200, MV, "POST", &path, ALICE, Some(&attach_body(&vol2)))
        .await;
    assert_eq!(r["volumeAttachment"]["device"], "/dev/vdc");
    assert_eq!(r["volumeAttachment"]["delete_on_termination"], false);
    app.wait_volume(&vol2, Some(VolumeStatus::InUse)).await;

    // Detach: 202, detaching, then available and gone from the list.
    let r = app
        .at(MV, "DELETE", &format!("{path}/{vol}"), ALICE, None)
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    app.wait_volume(&vol, Some(VolumeStatus::Available)).await;
    let list = app.expect(200, MV, "GET", &path, ALICE, None).await;
    assert_eq!(list["volumeAttachments"].as_array().unwrap().len(), 1);
    // Paging: limit and offset, as Nova.
    let page = |q: &'static str| {
        let path = path.clone();
        async move {
            app.expect(200, MV, "GET", &format!("{path}?{q}"), ALICE, None)
                .await["volumeAttachments"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(page("limit=0").await, 1);
    assert_eq!(page("offset=1").await, 0);
    app.expect(400, MV, "GET", &format!("{path}?limit=-1"), ALICE, None)
        .await;
    assert_eq!(list["volumeAttachments"][0]["volumeId"], vol2.as_str());
    app.expect(404, MV, "GET", &format!("{path}/{vol}"), ALICE, None)
        .await;
    // Detaching again: not attached (404).
    app.expect(404, MV, "DELETE", &format!("{path}/{vol}"), ALICE, None)
        .await;
    let acts = actions(app, &server).await;
    assert_eq!(
        acts.iter().filter(|a| *a == "attach_volume").count(),
        2,
        "{acts:?}"
    );
    assert!(acts.contains(&"detach_volume".to_string()), "{acts:?}");
    assert!(audited(app, "compute.server.attach_volume", &server).await);
    assert!(audited(app, "compute.server.detach_volume", &server).await);

    // Shut off: attach and detach still work.
    app.expect(
        202,
        MV,
        "POST",
        &format!("/servers/{server}/action"),
        ALICE,
        Some(&json!({"os-stop": null})),
    )
    .await;
    app.wait_status(ALICE, &server, "SHUTOFF").await;
    app.expect(200, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
        .await;
    app.wait_volume(&vol, Some(VolumeStatus::InUse)).await;

    // Deleting the server: vol2 (kept) is available again, vol (delete on
    // termination false now) too.
    app.expect(
        204,
        MV,
        "DELETE",
        &format!("/servers/{server}"),
        ALICE,
        None,
    )
    .await;
    app.wait_gone(ALICE, &server).await;
    app.wait_volume(&vol2, Some(VolumeStatus::Available)).await;
    app.wait_volume(&vol, Some(VolumeStatus::Available)).await;
}

#[tokio::test]
async fn attach_and_detach_refusals_follow_nova() {
    let s = setup().await;
    let app = &s.app;
    let server = running_server(&s, "vm1").await;
    let path = format!("/servers/{server}/os-volume_attachments");
    let vol = app.volume(PROJECT_A, 1, false).await;
    let theirs = app.volume(PROJECT_B, 1, false).await;

    // Another project's volume: Nova's "not found".
    let r = app
        .expect(404, MV, "POST", &path, ALICE, Some(&attach_body(&theirs)))
        .await;
    assert_eq!(
        r["itemNotFound"]["message"],
        format!("Volume {theirs} could not be found.")
    );
    // Bad bodies.
    for (mv, body) in [
        (MV, json!({"volumeAttachment": {"volumeId": "nope"}})),
        (MV, json!({"volumeAttachment": {}})),
        (
            MV,
            json!({"volumeAttachment": {"volumeId": vol, "device": "vdb"}}),
        ),
        (
            MV,
            json!({"volumeAttachment": {"volumeId": vol, "bogus": 1}}),
        ),
        (
            Some("2.48"),
            json!({"volumeAttachment": {"volumeId": vol, "tag": "t"}}),
        ),
        (
            Some("2.78"),
            json!({"volumeAttachment": {"volumeId": vol, "delete_on_termination": true}}),
        ),
        (
            MV,
            json!({"volumeAttachment": {"volumeId": vol, "delete_on_termination": "maybe"}}),
        ),
        (
            MV,
            json!({"volumeAttachment": {"volumeId": vol, "tag": "a/b"}}),
        ),
        (MV, json!({"volume": {"volumeId": vol}})),
    ] {
        let r = app.at(mv, "POST", &path, ALICE, Some(&body)).await;
        assert_eq!(r.code(), 400, "{body}: {}", r.text());
        assert_nova_error(&r);
    }
    // Who may: the reader reads but may not attach; another project sees nothing.
    app.expect(403, MV, "POST", &path, CAROL, Some(&attach_body(&vol)))
        .await;
    app.expect(404, MV, "POST", &path, BOB, Some(&attach_body(&vol)))
        .await;
    app.expect(404, MV, "GET", &path, BOB, None).await;
    app.expect(200, MV, "GET", &path, CAROL, None).await;

    // Locked: 409 for the owner.
    let action = format!("/servers/{server}/action");
    app.expect(
        202,
        MV,
        "POST",
        &action,
        ALICE,
        Some(&json!({"lock": null})),
    )
    .await;
    let r = app
        .expect(409, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
        .await;
    assert_eq!(
        r["conflictingRequest"]["message"],
        format!("Instance {server} is locked")
    );
    app.expect(
        202,
        MV,
        "POST",
        &action,
        ALICE,
        Some(&json!({"unlock": null})),
    )
    .await;

    // A volume in use elsewhere: 400.
    let other = running_server(&s, "vm2").await;
    app.expect(
        200,
        MV,
        "POST",
        &format!("/servers/{other}/os-volume_attachments"),
        ALICE,
        Some(&attach_body(&vol)),
    )
    .await;
    app.expect(400, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
        .await;
    // Detaching from the wrong server: not attached there.
    let r = app
        .expect(404, MV, "DELETE", &format!("{path}/{vol}"), ALICE, None)
        .await;
    assert_eq!(
        r["itemNotFound"]["message"],
        format!("Instance {server} is not attached to volume {vol}")
    );

    app.wait_volume(&vol, Some(VolumeStatus::InUse)).await;

    // Swap (any PUT before 2.85): admins only, and refused as Nova refuses a swap
    // Cinder did not ask for.
    let put = json!({"volumeAttachment": {"volumeId": vol}});
    let other_path = format!("/servers/{other}/os-volume_attachments/{vol}");
    app.expect(403, MV, "PUT", &other_path, ALICE, Some(&put))
        .await;
    let r = app
        .expect(409, MV, "PUT", &other_path, ADMIN, Some(&put))
        .await;
    assert!(r["conflictingRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("is not migrating"));

    // A server still building: 409 with Nova's words.
    let no_host = App::new().await;
    no_host.volume_types().await;
    let image = no_host.image(PROJECT_A, Visibility::Public).await;
    let net = no_host.network(PROJECT_A, "net1", 1).await;
    let r = no_host
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body("waiting", &image, &net)),
        )
        .await;
    let waiting = r["server"]["id"].as_str().unwrap().to_string();
    let v = no_host.volume(PROJECT_A, 1, false).await;
    let r = no_host
        .expect(
            409,
            MV,
            "POST",
            &format!("/servers/{waiting}/os-volume_attachments"),
            ALICE,
            Some(&attach_body(&v)),
        )
        .await;
    assert_eq!(
        r["conflictingRequest"]["message"],
        format!("Cannot 'attach_volume' instance {waiting} while it is in vm_state building")
    );
}

#[tokio::test]
async fn the_spec_body_boots_from_a_ten_gib_volume_made_of_the_image() {
    let s = setup().await;
    let app = &s.app;
    app.expect(
        200,
        Some("2.1"),
        "POST",
        "/os-keypairs",
        ALICE,
        Some(&json!({"keypair": {"name": "SSHkey-Demo"}})),
    )
    .await;
    let sg = app
        .compute
        .networking
        .ensure_default_group(PROJECT_A)
        .await
        .unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spec71.json"))
        .unwrap()
        .replace("f7da0a83-d1b9-45a4-8b6a-0be086408094", "SCS-1V-4")
        .replace("c6328f85-1fb0-4c81-9277-5b03d8a04635", &sg.id)
        .replace("0b28a60d-6b2e-45d2-b366-df2dd544c63b", &s.image)
        .replace("4658d46d-a9a6-4581-b095-779e933c9298", &s.net);
    let body: Value = serde_json::from_str(&text).unwrap();
    // As the SDK sends it for OSC (2.96 capped to what is served).
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let doc = app.wait_status(ALICE, &id, "ACTIVE").await;
    assert_eq!(doc["image"], "");
    let attached = doc["os-extended-volumes:volumes_attached"].clone();
    assert_eq!(attached.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(attached[0]["delete_on_termination"], true);
    let vol = attached[0]["id"].as_str().unwrap().to_string();
    let v = app
        .wait_volume(&vol, Some(VolumeStatus::InUse))
        .await
        .unwrap();
    assert_eq!(v.size, 10);
    assert!(v.bootable);
    assert_eq!(v.project_id, PROJECT_A);
    assert_eq!(v.image_metadata["image_id"], s.image);
    assert!(audited(app, "volume.volume.create", &vol).await);
    let a = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/servers/{id}/os-volume_attachments/{vol}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(a["volumeAttachment"]["device"], "/dev/vda");
    // The root cannot be detached.
    let r = app
        .expect(
            400,
            MV,
            "DELETE",
            &format!("/servers/{id}/os-volume_attachments/{vol}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(
        r["badRequest"]["message"],
        "Cannot detach a root device volume"
    );
    // delete_on_termination: the volume goes with the server.
    app.expect(204, MV, "DELETE", &format!("/servers/{id}"), ALICE, None)
        .await;
    app.wait_gone(ALICE, &id).await;
    app.wait_volume(&vol, None).await;
}

#[tokio::test]
async fn boot_from_an_existing_volume_with_a_blank_one_and_keep_them() {
    let s = setup().await;
    let app = &s.app;
    let root = app.volume(PROJECT_A, 5, true).await;
    // OSC's `--volume` mapping, plus a blank volume from `--block-device`.
    let body = json!({"server": {"name": "bfv", "imageRef": "", "flavorRef": "SCS-1V-4",
    "min_count": 1, "max_count": 1, "networks": [{"uuid": s.net}],
    "block_device_mapping_v2": [
        {"uuid": root, "boot_index": 0, "source_type": "volume", "destination_type": "volume"},
        {"source_type": "blank", "destination_type": "volume", "volume_size": "2",
         "boot_index": -1, "delete_on_termination": true, "tag": "scratch"},
    ]}});
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let doc = app.wait_status(ALICE, &id, "ACTIVE").await;
    let attached = doc["os-extended-volumes:volumes_attached"].clone();
    assert_eq!(
        attached[0],
        json!({"id": root, "delete_on_termination": false})
    );
    let blank = attached[1]["id"].as_str().unwrap().to_string();
    assert_eq!(attached[1]["delete_on_termination"], true);
    app.wait_volume(&root, Some(VolumeStatus::InUse)).await;
    let b = app
        .wait_volume(&blank, Some(VolumeStatus::InUse))
        .await
        .unwrap();
    assert_eq!(b.size, 2);
    assert!(!b.bootable);
    let list = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/servers/{id}/os-volume_attachments"),
            ALICE,
            None,
        )
        .await;
    let devices: Vec<&str> = list["volumeAttachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["device"].as_str().unwrap())
        .collect();
    assert_eq!(devices, ["/dev/vda", "/dev/vdb"]);
    assert_eq!(list["volumeAttachments"][1]["tag"], "scratch");
    // The 2.1 document has no delete_on_termination.
    let old = app
        .expect(
            200,
            Some("2.1"),
            "GET",
            &format!("/servers/{id}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(
        old["server"]["os-extended-volumes:volumes_attached"][0],
        json!({"id": root})
    );
    // Deleting the server keeps the root (available) and deletes the blank one.
    app.expect(204, MV, "DELETE", &format!("/servers/{id}"), ALICE, None)
        .await;
    app.wait_gone(ALICE, &id).await;
    app.wait_volume(&root, Some(VolumeStatus::Available)).await;
    app.wait_volume(&blank, None).await;
}

#[tokio::test]
async fn bad_volume_mappings_are_400s_and_leave_nothing_behind() {
    let s = setup().await;
    let app = &s.app;
    let plain = app.volume(PROJECT_A, 1, false).await;
    let theirs = app.volume(PROJECT_B, 1, true).await;
    let mapping = |bdms: Value, image_ref: &str, max: u32| {
        json!({"server": {"name": "x", "imageRef": image_ref, "flavorRef": "SCS-1V-4",
            "min_count": 1, "max_count": max, "networks": [{"uuid": s.net}],
            "block_device_mapping_v2": bdms}})
    };
    let cases = [
        (
            mapping(
                json!([{"uuid": plain, "boot_index": 0, "source_type": "volume",
                        "destination_type": "volume"}]),
                "",
                1,
            ),
            "is not bootable",
        ),
        (
            mapping(
                json!([{"uuid": theirs, "boot_index": 0, "source_type": "volume",
                        "destination_type": "volume"}]),
                "",
                1,
            ),
            "failed to get volume",
        ),
        (
            mapping(
                json!([{"uuid": s.image, "boot_index": 0, "source_type": "image",
                        "destination_type": "volume"}]),
                "",
                1,
            ),
            "non-zero size",
        ),
        (
            // The test image is 1 GiB virtual; 1 fits, so ask for a type that
            // does not exist instead.
            mapping(
                json!([{"uuid": s.image, "boot_index": 0, "source_type": "image",
                        "destination_type": "volume", "volume_size": 1,
                        "volume_type": "gold"}]),
                "",
                1,
            ),
            "gold",
        ),
        (
            mapping(
                json!([{"uuid": uuid::Uuid::new_v4().to_string(), "boot_index": 0,
                        "source_type": "snapshot", "destination_type": "volume"}]),
                "",
                1,
            ),
            "failed to get snapshot",
        ),
        (
            mapping(
                json!([{"uuid": uuid::Uuid::new_v4().to_string(), "boot_index": 0,
                        "source_type": "image", "destination_type": "volume",
                        "volume_size": 1}]),
                "",
                1,
            ),
            "failed to get image",
        ),
        (
            mapping(
                json!([{"uuid": plain, "boot_index": 1, "source_type": "volume",
                        "destination_type": "volume"}]),
                &s.image,
                2,
            ),
            "multiple instances",
        ),
        (mapping(json!([]), "", 1), "Missing imageRef"),
    ];
    for (body, want) in cases {
        let r = app.at(MV, "POST", "/servers", ALICE, Some(&body)).await;
        assert_eq!(r.code(), 400, "{body}: {}", r.text());
        assert_nova_error(&r);
        assert!(r.text().contains(want), "{want}: {}", r.text());
    }
    assert_eq!(app.server_count().await, 0);
    // The volume count is unchanged: nothing was made.
    let volumes = app
        .store
        .store
        .list::<nimbus_volume::types::Volume>(None)
        .await
        .unwrap();
    assert_eq!(volumes.len(), 2);

    // An image too big for the volume asked for.
    let big = app.image(PROJECT_A, Visibility::Public).await;
    let mut img = app
        .store
        .store
        .get::<nimbus_image::types::Image>(&big)
        .await
        .unwrap()
        .unwrap();
    img.value.virtual_size = Some(3 << 30);
    let mut tx = app.store.store.begin().await.unwrap();
    tx.update(&img.value, Some(img.revision)).await.unwrap();
    tx.commit().await.unwrap();
    let r = app
        .at(
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&mapping(
                json!([{"uuid": big, "boot_index": 0, "source_type": "image",
                        "destination_type": "volume", "volume_size": 2}]),
                "",
                1,
            )),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("Volume is smaller than the minimum size"));

    // Over the volume quota: Nova's 403, nothing made.
    let r = app
        .at(
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&mapping(
                json!([{"uuid": s.image, "boot_index": 0, "source_type": "image",
                        "destination_type": "volume", "volume_size": 2000}]),
                "",
                1,
            )),
        )
        .await;
    assert_eq!(r.code(), 403, "{}", r.text());
    assert!(r.text().contains("gigabytes"), "{}", r.text());
    assert_eq!(app.server_count().await, 0);
}

#[tokio::test]
async fn osc_boot_from_volume_creates_one_volume_per_server() {
    let s = setup().await;
    let app = &s.app;
    // `openstack server create --boot-from-volume 3 --image X --min 2 --max 2`.
    let body = json!({"server": {"name": "many", "imageRef": "", "flavorRef": "SCS-1V-4",
        "min_count": 2, "max_count": 2, "networks": [{"uuid": s.net}],
        "block_device_mapping_v2": [{"uuid": s.image, "boot_index": 0, "source_type": "image",
            "destination_type": "volume", "volume_size": 3, "delete_on_termination": false}]}});
    app.expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    let list = app
        .store
        .store
        .list::<VolumeAttachment>(None)
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_ne!(list[0].value.id, list[1].value.id);
    assert_ne!(list[0].value.server_id, list[1].value.server_id);
    for a in &list {
        assert_eq!(a.value.boot_index, Some(0));
        assert!(a.value.compute);
    }
}

#[tokio::test]
async fn a_volume_root_takes_no_disk_of_its_host() {
    let s = setup().await;
    let app = &s.app;
    let bfv = json!({"server": {"name": "bfv", "imageRef": "", "flavorRef": "SCS-2V-4-20s",
        "networks": [{"uuid": s.net}],
        "block_device_mapping_v2": [{"uuid": s.image, "boot_index": 0, "source_type": "image",
            "destination_type": "volume", "volume_size": 1}]}});
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&bfv))
        .await;
    app.wait_status(ALICE, r["server"]["id"].as_str().unwrap(), "ACTIVE")
        .await;
    let used = || async {
        app.expect(200, MV, "GET", "/os-hypervisors/detail", ADMIN, None)
            .await["hypervisors"][0]["local_gb_used"]
            .clone()
    };
    assert_eq!(used().await, 0);
    let mut local = create_body("local", &s.image, &s.net);
    local["server"]["flavorRef"] = json!("SCS-2V-4-20s");
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&local))
        .await;
    app.wait_status(ALICE, r["server"]["id"].as_str().unwrap(), "ACTIVE")
        .await;
    assert_eq!(used().await, 20);
}

#[tokio::test]
async fn cinder_reservations_are_not_novas_attachments() {
    let s = setup().await;
    let app = &s.app;
    let server = running_server(&s, "vm1").await;
    let vol = app.volume(PROJECT_A, 1, false).await;
    // Cinder's attachments API reserving the volume for the server.
    let mut tx = app.store.store.begin().await.unwrap();
    nimbus_volume::attach::attach(
        &mut tx,
        &vol,
        nimbus_volume::attach::NewAttachment {
            project_id: PROJECT_A.into(),
            server_id: Some(server.clone()),
            compute: false,
            status: Some(nimbus_volume::types::AttachmentStatus::Reserved),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let doc = app
        .expect(200, MV, "GET", &format!("/servers/{server}"), ALICE, None)
        .await;
    assert_eq!(
        doc["server"]["os-extended-volumes:volumes_attached"],
        json!([])
    );
    let path = format!("/servers/{server}/os-volume_attachments");
    let list = app.expect(200, MV, "GET", &path, ALICE, None).await;
    assert_eq!(list["volumeAttachments"], json!([]));
    app.expect(404, MV, "GET", &format!("{path}/{vol}"), ALICE, None)
        .await;
    // Reserved: not available for Nova to attach.
    app.expect(400, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
        .await;
    assert_eq!(
        app.stored_volume(&vol).await.unwrap().status,
        VolumeStatus::Reserved
    );
}

#[tokio::test]
async fn boot_from_a_snapshot_makes_a_volume_of_it() {
    let s = setup().await;
    let app = &s.app;
    let origin = app.volume(PROJECT_A, 3, true).await;
    let now = chrono::Utc::now();
    let snap = nimbus_volume::types::Snapshot {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: PROJECT_A.into(),
        user_id: "someone".into(),
        volume_id: origin.clone(),
        name: None,
        description: None,
        size: 3,
        status: nimbus_volume::types::SnapshotStatus::Available,
        metadata: Default::default(),
        error: None,
        layer: Some(format!("{origin}.0.qcow2")),
        chain: vec![],
        base_image: None,
        for_backup: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.store.store.begin().await.unwrap();
    tx.create(&snap).await.unwrap();
    tx.commit().await.unwrap();
    // OSC's `--snapshot` mapping.
    let body = json!({"server": {"name": "fromsnap", "imageRef": "", "flavorRef": "SCS-1V-4",
        "networks": [{"uuid": s.net}],
        "block_device_mapping_v2": [{"uuid": snap.id, "boot_index": 0, "source_type": "snapshot",
            "destination_type": "volume", "delete_on_termination": false}]}});
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let doc = app.wait_status(ALICE, &id, "ACTIVE").await;
    let vol = doc["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = app
        .wait_volume(&vol, Some(VolumeStatus::InUse))
        .await
        .unwrap();
    assert_eq!(
        v.source,
        nimbus_volume::types::Source::Snapshot(snap.id.clone())
    );
    assert_eq!(v.size, 3);
    assert!(v.bootable, "bootable as its origin");
    // A size below the snapshot's is Cinder's 400.
    let mut small = body.clone();
    small["server"]["block_device_mapping_v2"][0]["volume_size"] = json!(1);
    let r = app.at(MV, "POST", "/servers", ALICE, Some(&small)).await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(
        r.text().contains("cannot be smaller than the snapshot"),
        "{}",
        r.text()
    );
    // Another project cannot use the snapshot.
    let mut theirs = body.clone();
    theirs["server"]["networks"] = json!("none");
    let r = app.at(MV, "POST", "/servers", BOB, Some(&theirs)).await;
    assert_eq!(r.code(), 400, "{}", r.text());
    assert!(r.text().contains("failed to get snapshot"), "{}", r.text());
}

/// 2.85 and 2.89 are above the newest microversion served, so the negotiation
/// layer would refuse them: the handlers are called directly with them, to
/// check what raising the maximum will bring.
#[tokio::test]
async fn update_at_2_85_and_fields_at_2_89() {
    use axum::extract::{Path, State};
    use nimbus_api::auth::Auth;
    use nimbus_api::body::JsonBody;
    use nimbus_api::microversion::{Microversion, Version};
    use nimbus_compute::api::volume_attachments::{show, update};
    let s = setup().await;
    let app = &s.app;
    let server = running_server(&s, "vm1").await;
    let vol = app.volume(PROJECT_A, 1, false).await;
    let path = format!("/servers/{server}/os-volume_attachments");
    app.expect(200, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
        .await;
    app.wait_volume(&vol, Some(VolumeStatus::InUse)).await;
    let alice = std::sync::Arc::new(nimbus_api::testing::project_user(
        "alice",
        PROJECT_A,
        &["member", "reader"],
    ));
    let at = |minor| Microversion(Version::new(2, minor));
    let put = |body: Value| {
        update(
            State(app.compute.clone()),
            Auth(alice.clone()),
            at(85),
            Path((server.clone(), vol.clone())),
            JsonBody(body),
        )
    };
    let ok = put(
        json!({"volumeAttachment": {"volumeId": vol, "delete_on_termination": true,
        "device": "/dev/vdb", "serverId": server}}),
    )
    .await
    .unwrap();
    assert_eq!(ok.as_u16(), 202);
    let a = app
        .store
        .store
        .get::<VolumeAttachment>(&vol)
        .await
        .unwrap()
        .unwrap();
    assert!(a.value.delete_on_termination);
    for body in [
        json!({"volumeAttachment": {"volumeId": vol, "device": "/dev/vdz"}}),
        json!({"volumeAttachment": {"volumeId": vol, "tag": "new"}}),
        json!({"volumeAttachment": {"volumeId": vol, "serverId": vol}}),
        json!({"volumeAttachment": {"volumeId": vol, "delete_on_termination": "perhaps"}}),
    ] {
        let e = put(body.clone()).await.unwrap_err();
        assert_eq!(e.status.as_u16(), 400, "{body}: {}", e.message);
    }
    // Another volume id is a swap: admins only.
    let other = app.volume(PROJECT_A, 1, false).await;
    let e = put(json!({"volumeAttachment": {"volumeId": other}}))
        .await
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 403, "{}", e.message);
    let shown = show(
        State(app.compute.clone()),
        Auth(alice.clone()),
        at(89),
        Path((server.clone(), vol.clone())),
    )
    .await
    .unwrap()
    .0;
    let a = &shown["volumeAttachment"];
    assert!(a.get("id").is_none(), "{a}");
    assert_eq!(a["delete_on_termination"], true);
    assert!(a["attachment_id"].as_str().is_some_and(|x| !x.is_empty()));
}

#[tokio::test]
async fn a_server_takes_as_many_volumes_as_it_has_hot_plug_ports() {
    let s = setup().await;
    let app = &s.app;
    let server = running_server(&s, "full").await;
    let path = format!("/servers/{server}/os-volume_attachments");
    for _ in 0..nimbus_volume::attach::MAX_PLUGGED_VOLUMES {
        let vol = app.volume(PROJECT_A, 1, false).await;
        app.expect(200, MV, "POST", &path, ALICE, Some(&attach_body(&vol)))
            .await;
    }
    let one_more = app.volume(PROJECT_A, 1, false).await;
    let r = app
        .expect(403, MV, "POST", &path, ALICE, Some(&attach_body(&one_more)))
        .await;
    assert!(
        r["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum allowed number of disk devices"),
        "{r}"
    );
    // Refused without a trace: the volume is still available.
    app.wait_volume(&one_more, Some(VolumeStatus::Available))
        .await;
}
