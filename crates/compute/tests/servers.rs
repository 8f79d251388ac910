//! Servers end to end in-process: the API, the real scheduler and network code,
//! and a fake agent (test double) standing in for the node agent. Create → ACTIVE
//! with addresses, stop/start/reboot with Nova's 409s, console output, delete → 404
//! with the ports gone, multi-create, microversion differences, project isolation.

mod support;

use nimbus_compute::server::console_log;
use nimbus_image::types::Visibility;
use nimbus_network::types::Port;
use serde_json::{json, Value};
use support::cloud::*;
use support::*;

const MV: Option<&str> = Some("2.79");

async fn action(app: &App, token: &str, id: &str, body: Value) -> (u16, Value) {
    let r = app
        .at(
            MV,
            "POST",
            &format!("/servers/{id}/action"),
            token,
            Some(&body),
        )
        .await;
    let v = if r.text().is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.code(), v)
}

#[tokio::test]
async fn create_run_stop_start_reboot_delete() {
    let app = App::new().await;
    app.hypervisor("node1", 8, 16384).await;
    let _cloud = app.run_cloud("node1");
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;

    let created = app
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body("vm1", &image, &net)),
        )
        .await;
    let id = created["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["server"]["security_groups"][0]["name"], "default");
    // Addresses exist from creation on, before ACTIVE.
    let first = app
        .expect(200, MV, "GET", &format!("/servers/{id}"), ALICE, None)
        .await;
    assert_eq!(first["server"]["addresses"]["net1"][0]["version"], 4);

    let s = app.wait_status(ALICE, &id, "ACTIVE").await;
    let addr = &s["addresses"]["net1"][0];
    assert!(addr["addr"].as_str().unwrap().starts_with("10.1.0."), "{s}");
    assert_eq!(addr["OS-EXT-IPS:type"], "fixed");
    assert!(addr["OS-EXT-IPS-MAC:mac_addr"].as_str().is_some());
    assert_eq!(s["flavor"]["original_name"], "SCS-1V-4");
    assert_eq!(s["tenant_id"], PROJECT_A);
    assert_eq!(s["hostId"].as_str().unwrap().len(), 56);
    assert_eq!(s["OS-EXT-STS:power_state"], 1);
    assert_eq!(s["image"]["id"], image.as_str());
    assert!(
        s.get("OS-EXT-SRV-ATTR:host").is_none(),
        "admin-only field shown: {s}"
    );
    let admin_view = app
        .expect(200, MV, "GET", &format!("/servers/{id}"), ADMIN, None)
        .await;
    assert_eq!(admin_view["server"]["OS-EXT-SRV-ATTR:host"], "node1");
    assert_eq!(admin_view["server"]["host_status"], "UP");

    // Start while running: Nova's 409.
    let (code, body) = action(&app, ALICE, &id, json!({"os-start": null})).await;
    assert_eq!(code, 409);
    assert_eq!(
        body["conflictingRequest"]["message"],
        format!("Cannot 'start' instance {id} while it is in vm_state active")
    );
    assert_eq!(
        action(&app, ALICE, &id, json!({"os-stop": null})).await.0,
        202
    );
    app.wait_status(ALICE, &id, "SHUTOFF").await;
    let (code, body) = action(&app, ALICE, &id, json!({"os-stop": null})).await;
    assert_eq!(code, 409, "{body}");
    assert!(body["conflictingRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("vm_state stopped"));
    // A soft reboot needs ACTIVE; a hard one works from SHUTOFF.
    assert_eq!(
        action(&app, ALICE, &id, json!({"reboot": {"type": "SOFT"}}))
            .await
            .0,
        409
    );
    assert_eq!(
        action(&app, ALICE, &id, json!({"os-start": {}})).await.0,
        202
    );
    app.wait_status(ALICE, &id, "ACTIVE").await;
    assert_eq!(
        action(&app, ALICE, &id, json!({"reboot": {"type": "SOFT"}}))
            .await
            .0,
        202
    );
    app.wait_status(ALICE, &id, "ACTIVE").await;
    assert_eq!(
        action(&app, ALICE, &id, json!({"reboot": {"type": "sideways"}}))
            .await
            .0,
        400
    );

    // Console output: the last N lines of the serial log.
    let log = console_log(app.dir.path(), &id);
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
    let (code, out) = action(
        &app,
        ALICE,
        &id,
        json!({"os-getConsoleOutput": {"length": 2}}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(out["output"], "two\nthree\n");
    let (_, out) = action(&app, ALICE, &id, json!({"os-getConsoleOutput": {}})).await;
    assert_eq!(out["output"], "one\ntwo\nthree\n");

    // A reader sees but cannot act; another project does not see it at all.
    app.expect(200, MV, "GET", &format!("/servers/{id}"), CAROL, None)
        .await;
    assert_eq!(
        action(&app, CAROL, &id, json!({"os-stop": null})).await.0,
        403
    );
    let r = app
        .at(MV, "GET", &format!("/servers/{id}"), BOB, None)
        .await;
    assert_eq!(r.code(), 404);
    assert_eq!(
        r.json()["itemNotFound"]["message"],
        format!("Instance {id} could not be found.")
    );
    assert_eq!(
        action(&app, BOB, &id, json!({"os-stop": null})).await.0,
        404
    );
    assert_eq!(
        app.at(MV, "DELETE", &format!("/servers/{id}"), BOB, None)
            .await
            .code(),
        404
    );

    // The instance actions recorded along the way.
    let actions = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/servers/{id}/os-instance-actions"),
            ALICE,
            None,
        )
        .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in ["create", "stop", "start", "reboot"] {
        assert!(names.contains(&a), "{names:?}");
    }

    let port_ids: Vec<String> = app
        .store
        .store
        .list::<Port>(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.value.device_id == id)
        .map(|p| p.value.id)
        .collect();
    assert_eq!(port_ids.len(), 1);
    app.expect(204, MV, "DELETE", &format!("/servers/{id}"), ALICE, None)
        .await;
    app.wait_gone(ALICE, &id).await;
    assert!(app
        .store
        .store
        .get::<Port>(&port_ids[0])
        .await
        .unwrap()
        .is_none());
    assert_eq!(app.server_count().await, 0);
}

#[tokio::test]
async fn flavor_is_embedded_from_2_47() {
    let app = App::new().await;
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let created = app
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body("vm", &image, &net)),
        )
        .await;
    let id = created["server"]["id"].as_str().unwrap();
    let old = app
        .expect(
            200,
            Some("2.46"),
            "GET",
            &format!("/servers/{id}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(old["server"]["flavor"]["id"], "SCS-1V-4");
    assert!(old["server"]["flavor"]["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/compute/flavors/SCS-1V-4"));
    let new = app
        .expect(
            200,
            Some("2.47"),
            "GET",
            &format!("/servers/{id}"),
            ALICE,
            None,
        )
        .await;
    let f = &new["server"]["flavor"];
    assert!(f.get("id").is_none(), "{f}");
    assert_eq!(f["vcpus"], 1);
    assert_eq!(f["ram"], 4096);
    assert!(f["extra_specs"].is_object());
    // Fields that come with later microversions.
    assert!(old["server"].get("tags").is_some());
    let v21 = app
        .expect(
            200,
            Some("2.1"),
            "GET",
            &format!("/servers/{id}"),
            ALICE,
            None,
        )
        .await;
    for absent in ["tags", "locked", "description"] {
        assert!(v21["server"].get(absent).is_none(), "{absent} at 2.1");
    }
    assert_eq!(v21["server"]["status"], "BUILD");
}

#[tokio::test]
async fn multi_create_names_and_reservation() {
    let app = App::new().await;
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let mut body = create_body("web", &image, &net);
    body["server"]["min_count"] = json!(2);
    body["server"]["max_count"] = json!(3);
    body["server"]["return_reservation_id"] = json!(true);
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    assert!(r["reservation_id"].as_str().unwrap().starts_with("r-"));
    let list = app
        .expect(200, MV, "GET", "/servers/detail", ALICE, None)
        .await;
    let mut names: Vec<&str> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["web-1", "web-2", "web-3"]);
    // Every server got its own port and address.
    let addrs: std::collections::BTreeSet<String> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["addresses"]["net1"][0]["addr"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(addrs.len(), 3);
}
