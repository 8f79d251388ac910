//! Ports over HTTP: Neutron's JSON, requested and generated MACs and addresses,
//! re-allocation on update, security groups (the project's `default` when none
//! are given), port security and allowed address pairs, the binding host for
//! admins, port filters (`fixed_ips=ip_address=…`, `device_id`), visibility.

mod support;

use serde_json::json;
use support::*;

async fn setup(app: &App) -> (String, String) {
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    let sid = s(&app.subnet(ALICE, &nid, "10.0.0.0/24").await["id"]).to_string();
    (nid, sid)
}

#[tokio::test]
async fn port_json_and_defaults() {
    let app = App::new().await;
    let (nid, sid) = setup(&app).await;
    let p = app.port(ALICE, &nid).await;
    for (k, v) in [
        ("network_id", json!(nid)),
        ("project_id", json!(PROJECT_A)),
        ("tenant_id", json!(PROJECT_A)),
        ("status", json!("DOWN")),
        ("admin_state_up", json!(true)),
        ("device_id", json!("")),
        ("device_owner", json!("")),
        ("port_security_enabled", json!(true)),
        ("allowed_address_pairs", json!([])),
        ("extra_dhcp_opts", json!([])),
        ("binding:host_id", json!("")),
        ("binding:vnic_type", json!("normal")),
        ("tags", json!([])),
    ] {
        assert_eq!(p[k], v, "{k}");
    }
    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": sid, "ip_address": "10.0.0.3"}])
    );
    // The default group of the project was created and used.
    let groups = app
        .expect(200, "GET", "/security-groups?name=default", ALICE, None)
        .await;
    let default_id = groups["security_groups"][0]["id"].clone();
    assert_eq!(p["security_groups"], json!([default_id]));
}

#[tokio::test]
async fn requested_addresses_macs_and_reallocation() {
    let app = App::new().await;
    let (nid, sid) = setup(&app).await;
    let body = json!({"port": {"network_id": nid, "name": "p", "mac_address": "FA:16:3E:AA:BB:CC",
        "fixed_ips": [{"ip_address": "10.0.0.50"}], "device_id": "vm1", "device_owner": "compute:nova"}});
    let p = app.expect(201, "POST", "/ports", ALICE, Some(&body)).await["port"].clone();
    assert_eq!(p["mac_address"], "fa:16:3e:aa:bb:cc");
    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": sid, "ip_address": "10.0.0.50"}])
    );
    let pid = s(&p["id"]).to_string();
    // The same MAC again is a conflict; a malformed one a 400.
    let dup = json!({"port": {"network_id": nid, "mac_address": "fa:16:3e:aa:bb:cc"}});
    assert_eq!(
        app.error_type(409, "POST", "/ports", ALICE, Some(&dup))
            .await,
        "MacAddressInUse"
    );
    let bad = json!({"port": {"network_id": nid, "mac_address": "01:00:5e:00:00:01"}});
    app.expect(400, "POST", "/ports", ALICE, Some(&bad)).await;
    // Addresses: the gateway and the network address are not for ports.
    for ip in ["10.0.0.1", "10.0.0.0", "10.0.0.255"] {
        let b = json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": ip}]}});
        assert!(
            app.call("POST", "/ports", ALICE, Some(&b)).await.code() >= 400,
            "{ip}"
        );
    }
    let b = json!({"port": {"network_id": nid, "fixed_ips": [{"subnet_id": "nope"}]}});
    app.expect(400, "POST", "/ports", ALICE, Some(&b)).await;

    // Updating fixed_ips re-allocates: the old address is free again.
    let b = json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}], "name": "q"}});
    let u = app
        .expect(200, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
        .await;
    assert_eq!(u["port"]["fixed_ips"][0]["ip_address"], "10.0.0.60");
    assert_eq!(u["port"]["name"], "q");
    let b = json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.50"}]}});
    app.expect(201, "POST", "/ports", ALICE, Some(&b)).await;
    // Keeping its own address is no conflict.
    let b = json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}, {"subnet_id": sid}]}});
    let u = app
        .expect(200, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
        .await;
    assert_eq!(u["port"]["fixed_ips"].as_array().unwrap().len(), 2);
    // Read-only attributes.
    let b = json!({"port": {"network_id": nid}});
    app.expect(400, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
        .await;
    let b = json!({"port": {"status": "ACTIVE"}});
    app.expect(400, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
        .await;

    // Filters a client uses.
    let ids = app
        .ids("/ports?fixed_ips=ip_address%3D10.0.0.60", ALICE, "ports")
        .await;
    assert_eq!(ids, vec![pid.clone()]);
    let ids = app
        .ids(
            &format!("/ports?fixed_ips=subnet_id%3D{sid}&fixed_ips=ip_address%3D10.0.0.60"),
            ALICE,
            "ports",
        )
        .await;
    assert_eq!(ids, vec![pid.clone()]);
    let ids = app
        .ids(
            "/ports?device_id=vm1&device_owner=compute:nova",
            ALICE,
            "ports",
        )
        .await;
    assert_eq!(ids, vec![pid.clone()]);
    let v = app
        .expect(
            200,
            "GET",
            "/ports?device_id=vm1&fields=id&fields=fixed_ips",
            ALICE,
            None,
        )
        .await;
    assert_eq!(v["ports"][0].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn security_groups_port_security_and_pairs() {
    let app = App::new().await;
    let (nid, _) = setup(&app).await;
    let g = app
        .expect(
            201,
            "POST",
            "/security-groups",
            ALICE,
            Some(&json!({"security_group": {"name": "web"}})),
        )
        .await["security_group"]
        .clone();
    let gid = s(&g["id"]).to_string();
    let b = json!({"port": {"network_id": nid, "security_groups": [gid],
        "allowed_address_pairs": [{"ip_address": "10.0.0.200"}, {"ip_address": "10.1.0.0/24", "mac_address": "fa:16:3e:00:00:01"}]}});
    let p = app.expect(201, "POST", "/ports", ALICE, Some(&b)).await["port"].clone();
    assert_eq!(p["security_groups"], json!([gid]));
    assert_eq!(
        p["allowed_address_pairs"][0]["mac_address"],
        p["mac_address"]
    );
    assert_eq!(
        p["allowed_address_pairs"][1]["mac_address"],
        "fa:16:3e:00:00:01"
    );
    let pid = s(&p["id"]).to_string();
    // A group of another project is not the port's to use.
    let bg = app
        .expect(
            201,
            "POST",
            "/security-groups",
            BOB,
            Some(&json!({"security_group": {"name": "b"}})),
        )
        .await["security_group"]["id"]
        .clone();
    let b = json!({"port": {"network_id": nid, "security_groups": [bg]}});
    assert_eq!(
        app.error_type(404, "POST", "/ports", ALICE, Some(&b)).await,
        "SecurityGroupNotFound"
    );
    // Port security off needs no groups and no pairs.
    let b = json!({"port": {"port_security_enabled": false}});
    assert_eq!(
        app.error_type(409, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
            .await,
        "PortSecurityPortHasSecurityGroup"
    );
    let b = json!({"port": {"port_security_enabled": false, "security_groups": [], "allowed_address_pairs": []}});
    let u = app
        .expect(200, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
        .await;
    assert_eq!(u["port"]["port_security_enabled"], false);
    assert_eq!(u["port"]["security_groups"], json!([]));
    let b = json!({"port": {"network_id": nid, "port_security_enabled": false, "security_groups": [gid]}});
    app.expect(400, "POST", "/ports", ALICE, Some(&b)).await;
    let b = json!({"port": {"network_id": nid, "port_security_enabled": false}});
    let p2 = app.expect(201, "POST", "/ports", ALICE, Some(&b)).await;
    assert_eq!(p2["port"]["security_groups"], json!([]));
    // A group in use cannot be deleted.
    let b = json!({"port": {"port_security_enabled": true, "security_groups": [gid]}});
    app.expect(200, "PUT", &format!("/ports/{pid}"), ALICE, Some(&b))
        .await;
    assert_eq!(
        app.error_type(
            409,
            "DELETE",
            &format!("/security-groups/{gid}"),
            ALICE,
            None
        )
        .await,
        "SecurityGroupInUse"
    );
}

#[tokio::test]
async fn binding_host_and_visibility() {
    let app = App::new().await;
    let (nid, _) = setup(&app).await;
    let b = json!({"port": {"network_id": nid, "binding:host_id": "host1"}});
    app.expect(403, "POST", "/ports", ALICE, Some(&b)).await;
    let b =
        json!({"port": {"network_id": nid, "binding:host_id": "host1", "project_id": PROJECT_A}});
    let p = app.expect(201, "POST", "/ports", ADMIN, Some(&b)).await["port"].clone();
    assert_eq!(p["binding:host_id"], "host1");
    assert_eq!(p["binding:vif_type"], "tap");
    let pid = s(&p["id"]).to_string();
    // Alice sees her project's port; Bob does not (404 on every verb).
    app.expect(200, "GET", &format!("/ports/{pid}"), ALICE, None)
        .await;
    app.expect(404, "GET", &format!("/ports/{pid}"), BOB, None)
        .await;
    app.expect(
        404,
        "PUT",
        &format!("/ports/{pid}"),
        BOB,
        Some(&json!({"port": {"name": "x"}})),
    )
    .await;
    app.expect(404, "DELETE", &format!("/ports/{pid}"), BOB, None)
        .await;
    assert!(!app.ids("/ports", BOB, "ports").await.contains(&pid));
    // Bob cannot put a port on Alice's private network.
    let b = json!({"port": {"network_id": nid}});
    assert_eq!(
        app.error_type(404, "POST", "/ports", BOB, Some(&b)).await,
        "NetworkNotFound"
    );
    // Carol reads but does not write.
    app.expect(200, "GET", &format!("/ports/{pid}"), CAROL, None)
        .await;
    app.expect(403, "DELETE", &format!("/ports/{pid}"), CAROL, None)
        .await;
    app.expect(204, "DELETE", &format!("/ports/{pid}"), ALICE, None)
        .await;
    assert_eq!(
        app.error_type(404, "GET", &format!("/ports/{pid}"), ALICE, None)
            .await,
        "PortNotFound"
    );
}

#[tokio::test]
async fn a_network_without_subnets_gives_ports_no_address() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "bare").await["id"]).to_string();
    let p = app.port(ALICE, &nid).await;
    assert_eq!(p["fixed_ips"], json!([]));
}
