//! Scheduling and accounting: server group policies with the real scheduler (anti-
//! affinity on one hypervisor fails the second server with Nova's fault), capacity
//! limits, quotas (403, nothing stored), quota sets and limits, hypervisors and
//! availability zones.

mod support;

use nimbus_image::types::Visibility;
use serde_json::{json, Value};
use support::cloud::*;
use support::*;

const MV: Option<&str> = Some("2.79");

async fn create(app: &App, token: &str, body: &Value) -> String {
    let r = app
        .expect(202, MV, "POST", "/servers", token, Some(body))
        .await;
    r["server"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn anti_affinity_on_one_host_fails_the_second_server() {
    let app = App::new().await;
    app.hypervisor("node1", 8, 16384).await;
    let _cloud = app.run_cloud("node1");
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let g = app
        .expect(
            200,
            Some("2.64"),
            "POST",
            "/os-server-groups",
            ALICE,
            Some(&json!({"server_group": {"name": "spread", "policy": "anti-affinity"}})),
        )
        .await;
    let gid = g["server_group"]["id"].as_str().unwrap().to_string();
    assert_eq!(g["server_group"]["policy"], "anti-affinity");
    let mut body = create_body("a", &image, &net);
    body["OS-SCH-HNT:scheduler_hints"] = json!({"group": gid});
    let first = create(&app, ALICE, &body).await;
    app.wait_status(ALICE, &first, "ACTIVE").await;
    body["server"]["name"] = json!("b");
    let second = create(&app, ALICE, &body).await;
    let s = app.wait_status(ALICE, &second, "ERROR").await;
    assert_eq!(s["fault"]["code"], 500);
    assert_eq!(
        s["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );
    assert!(
        s["fault"].get("details").is_none(),
        "details are admin-only"
    );
    let shown = app
        .expect(
            200,
            Some("2.1"),
            "GET",
            &format!("/os-server-groups/{gid}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(shown["server_group"]["policies"], json!(["anti-affinity"]));
    assert_eq!(
        shown["server_group"]["members"].as_array().unwrap().len(),
        2
    );
    // An ERROR server without a host is deleted at once.
    app.expect(
        204,
        MV,
        "DELETE",
        &format!("/servers/{second}"),
        ALICE,
        None,
    )
    .await;
    app.expect(404, MV, "GET", &format!("/servers/{second}"), ALICE, None)
        .await;
    let shown = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/os-server-groups/{gid}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(shown["server_group"]["members"], json!([first]));
    // Other projects do not see the group.
    app.expect(
        404,
        MV,
        "GET",
        &format!("/os-server-groups/{gid}"),
        BOB,
        None,
    )
    .await;
}

#[tokio::test]
async fn affinity_keeps_members_together_and_capacity_is_respected() {
    let app = App::new().await;
    // node1 fits two SCS-1V-4 (4 GiB) servers by RAM; node2 is roomier.
    app.hypervisor("node1", 8, 8192).await;
    app.hypervisor("node2", 8, 65536).await;
    let _cloud1 = app.run_cloud("node1");
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let g = app
        .expect(
            200,
            Some("2.1"),
            "POST",
            "/os-server-groups",
            ALICE,
            Some(&json!({"server_group": {"name": "together", "policies": ["affinity"]}})),
        )
        .await;
    let gid = g["server_group"]["id"].as_str().unwrap().to_string();
    let mut body = create_body("a", &image, &net);
    body["OS-SCH-HNT:scheduler_hints"] = json!({"group": gid});
    body["server"]["min_count"] = json!(3);
    body["server"]["max_count"] = json!(3);
    create(&app, ALICE, &body).await;
    // Least loaded first puts the first member on node2; the others follow it.
    let mut hosts = Vec::new();
    for _ in 0..300 {
        let list = app
            .expect(200, MV, "GET", "/servers/detail?all_tenants=1", ADMIN, None)
            .await;
        hosts = list["servers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["OS-EXT-SRV-ATTR:host"].as_str().map(str::to_string))
            .collect();
        if hosts.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(hosts, ["node2", "node2", "node2"]);
}

#[tokio::test]
async fn quota_exceeded_is_403_and_stores_nothing() {
    let app = App::new().await;
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    app.expect(
        200,
        MV,
        "PUT",
        &format!("/os-quota-sets/{PROJECT_A}"),
        ADMIN,
        Some(&json!({"quota_set": {"instances": 1}})),
    )
    .await;
    // Only admins change quotas.
    app.expect(
        403,
        MV,
        "PUT",
        &format!("/os-quota-sets/{PROJECT_A}"),
        ALICE,
        Some(&json!({"quota_set": {"instances": 100}})),
    )
    .await;
    create(&app, ALICE, &create_body("one", &image, &net)).await;
    let r = app
        .at(
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body("two", &image, &net)),
        )
        .await;
    assert_eq!(r.code(), 403, "{}", r.text());
    assert!(r.json()["forbidden"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Quota exceeded for instances: Requested 1, but already used 1 of 1"));
    assert_eq!(app.server_count().await, 1);
    let ports = app
        .store
        .store
        .list::<nimbus_network::types::Port>(None)
        .await
        .unwrap();
    assert_eq!(
        ports
            .iter()
            .filter(|p| p.value.device_owner == "compute:nova")
            .count(),
        1
    );

    let detail = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/os-quota-sets/{PROJECT_A}/detail"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(
        detail["quota_set"]["instances"],
        json!({"limit": 1, "in_use": 1, "reserved": 0})
    );
    assert_eq!(detail["quota_set"]["cores"]["in_use"], 1);
    assert!(detail["quota_set"].get("floating_ips").is_none());
    let old = app
        .expect(
            200,
            Some("2.35"),
            "GET",
            &format!("/os-quota-sets/{PROJECT_A}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(old["quota_set"]["floating_ips"], 10);
    let limits = app.expect(200, MV, "GET", "/limits", ALICE, None).await;
    assert_eq!(limits["limits"]["absolute"]["maxTotalInstances"], 1);
    assert_eq!(limits["limits"]["absolute"]["totalInstancesUsed"], 1);
    assert_eq!(limits["limits"]["absolute"]["totalRAMUsed"], 4096);
    // Another project's quota is invisible to alice.
    app.expect(
        404,
        MV,
        "GET",
        &format!("/os-quota-sets/{PROJECT_B}"),
        ALICE,
        None,
    )
    .await;
    app.expect(
        202,
        MV,
        "DELETE",
        &format!("/os-quota-sets/{PROJECT_A}"),
        ADMIN,
        None,
    )
    .await;
    let back = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/os-quota-sets/{PROJECT_A}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(back["quota_set"]["instances"], 10);
}

#[tokio::test]
async fn hypervisors_and_zones() {
    let app = App::new().await;
    app.hypervisor("node1", 4, 8192).await;
    let _cloud = app.run_cloud("node1");
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let id = create(&app, ALICE, &create_body("vm", &image, &net)).await;
    app.wait_status(ALICE, &id, "ACTIVE").await;
    app.expect(403, MV, "GET", "/os-hypervisors", ALICE, None)
        .await;
    let list = app
        .expect(200, Some("2.1"), "GET", "/os-hypervisors", ADMIN, None)
        .await;
    assert_eq!(list["hypervisors"][0]["hypervisor_hostname"], "node1");
    assert_eq!(list["hypervisors"][0]["id"], 1);
    assert_eq!(list["hypervisors"][0]["state"], "up");
    let detail = app
        .expect(200, MV, "GET", "/os-hypervisors/detail", AUDITOR, None)
        .await;
    let h = &detail["hypervisors"][0];
    assert_eq!(h["vcpus_used"], 1);
    assert_eq!(h["memory_mb_used"], 4096);
    assert_eq!(h["running_vms"], 1);
    let uuid = h["id"].as_str().unwrap();
    app.expect(
        200,
        MV,
        "GET",
        &format!("/os-hypervisors/{uuid}"),
        ADMIN,
        None,
    )
    .await;
    app.expect(200, Some("2.1"), "GET", "/os-hypervisors/1", ADMIN, None)
        .await;
    app.expect(404, Some("2.1"), "GET", "/os-hypervisors/7", ADMIN, None)
        .await;
    let az = app
        .expect(200, MV, "GET", "/os-availability-zone", ALICE, None)
        .await;
    assert_eq!(az["availabilityZoneInfo"][0]["zoneName"], "nova");
    assert_eq!(
        az["availabilityZoneInfo"][0]["zoneState"]["available"],
        true
    );
    let azd = app
        .expect(200, MV, "GET", "/os-availability-zone/detail", ADMIN, None)
        .await;
    assert_eq!(
        azd["availabilityZoneInfo"][0]["hosts"]["node1"]["nova-compute"]["available"],
        true
    );
}
