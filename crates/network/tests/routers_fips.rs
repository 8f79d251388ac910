//! Routers, interfaces, floating IPs and RBAC sharing over HTTP: gateway info
//! as Neutron shows it (`null` without one), interface ports holding the
//! subnet's gateway IP, the in-use 409s (router, subnet, network, service
//! ports), floating IP allocation, association rules and filters, and
//! visibility of a network shared with one project.

mod support;

use serde_json::{json, Value};
use support::*;

/// An external network (admin-made) with 203.0.113.0/24, pool .10-.12.
async fn external(app: &App) -> (String, String) {
    let n = app
        .expect(
            201,
            "POST",
            "/networks",
            ADMIN,
            Some(&json!({"network": {"name": "public", "router:external": true}})),
        )
        .await["network"]
        .clone();
    let nid = s(&n["id"]).to_string();
    let body = json!({"subnet": {"network_id": nid, "cidr": "203.0.113.0/24", "ip_version": 4,
        "enable_dhcp": false, "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.12"}]}});
    let sub = app
        .expect(201, "POST", "/subnets", ADMIN, Some(&body))
        .await["subnet"]
        .clone();
    (nid, s(&sub["id"]).to_string())
}

async fn router(app: &App, token: &str, body: Value) -> Value {
    app.expect(
        201,
        "POST",
        "/routers",
        token,
        Some(&json!({ "router": body })),
    )
    .await["router"]
        .clone()
}

async fn add_subnet(app: &App, token: &str, rid: &str, sid: &str) -> Value {
    app.expect(
        200,
        "PUT",
        &format!("/routers/{rid}/add_router_interface"),
        token,
        Some(&json!({ "subnet_id": sid })),
    )
    .await
}

#[tokio::test]
async fn router_json_gateway_and_update() {
    let app = App::new().await;
    let (ext, ext_sub) = external(&app).await;
    let r = router(&app, ALICE, json!({"name": "r1"})).await;
    assert_eq!(r["external_gateway_info"], Value::Null);
    assert_eq!(r["routes"], json!([]));
    assert_eq!(r["project_id"], json!(PROJECT_A));
    assert_eq!(r["status"], json!("ACTIVE"));
    let rid = s(&r["id"]).to_string();
    let body = json!({"router": {"external_gateway_info": {"network_id": ext}}});
    let r = app
        .expect(200, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await["router"]
        .clone();
    let gw = &r["external_gateway_info"];
    assert_eq!(gw["network_id"], json!(ext));
    assert_eq!(gw["enable_snat"], json!(true));
    assert_eq!(
        gw["external_fixed_ips"],
        json!([{"subnet_id": ext_sub, "ip_address": "203.0.113.10"}])
    );
    // The gateway port exists with its owner.
    let ports = app
        .expect(
            200,
            "GET",
            &format!("/ports?device_id={rid}&device_owner=network:router_gateway"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 1);
    let gw_port = s(&ports["ports"][0]["id"]).to_string();
    // Service ports are not deleted through the port API.
    let t = app
        .error_type(409, "DELETE", &format!("/ports/{gw_port}"), ADMIN, None)
        .await;
    assert_eq!(t, "ServicePortInUse");
    // SNAT off keeps the same port.
    let body =
        json!({"router": {"external_gateway_info": {"network_id": ext, "enable_snat": false}}});
    let r = app
        .expect(200, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await["router"]
        .clone();
    assert_eq!(r["external_gateway_info"]["enable_snat"], json!(false));
    assert_eq!(
        r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        json!("203.0.113.10")
    );
    // Clearing removes the port.
    let body = json!({"router": {"external_gateway_info": {}}});
    let r = app
        .expect(200, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await["router"]
        .clone();
    assert_eq!(r["external_gateway_info"], Value::Null);
    app.expect(404, "GET", &format!("/ports/{gw_port}"), ADMIN, None)
        .await;
    // Non-external network → 400; unknown → 404; fixed IPs only for admins.
    let own = s(&app.network(ALICE, "own").await["id"]).to_string();
    let body = json!({"router": {"external_gateway_info": {"network_id": own}}});
    app.expect(400, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await;
    let body = json!({"router": {"external_gateway_info": {"network_id": "nope"}}});
    app.expect(404, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await;
    let body = json!({"router": {"external_gateway_info": {"network_id": ext,
        "external_fixed_ips": [{"ip_address": "203.0.113.11"}]}}});
    app.expect(403, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await;
    // Other projects do not see it; bad bodies are 400 and store nothing.
    app.expect(404, "GET", &format!("/routers/{rid}"), BOB, None)
        .await;
    assert!(app.ids("/routers", BOB, "routers").await.is_empty());
    app.expect(
        400,
        "POST",
        "/routers",
        ALICE,
        Some(&json!({"router": {"bogus": 1}})),
    )
    .await;
    app.expect(
        400,
        "POST",
        "/routers",
        ALICE,
        Some(&json!({"router": {"external_gateway_info": "x"}})),
    )
    .await;
    assert_eq!(
        app.ids("/routers", ALICE, "routers").await,
        vec![rid.clone()]
    );
    app.expect(204, "DELETE", &format!("/routers/{rid}"), ALICE, None)
        .await;
    app.expect(404, "GET", &format!("/routers/{rid}"), ALICE, None)
        .await;
}

#[tokio::test]
async fn interfaces_routes_and_in_use() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    let sid = s(&app.subnet(ALICE, &nid, "10.1.0.0/24").await["id"]).to_string();
    let r = router(&app, ALICE, json!({"name": "r"})).await;
    let rid = s(&r["id"]).to_string();
    let info = add_subnet(&app, ALICE, &rid, &sid).await;
    assert_eq!(info["id"], json!(rid));
    assert_eq!(info["subnet_id"], json!(sid));
    assert_eq!(info["subnet_ids"], json!([sid]));
    assert_eq!(info["network_id"], json!(nid));
    let pid = s(&info["port_id"]).to_string();
    let p = app
        .expect(200, "GET", &format!("/ports/{pid}"), ALICE, None)
        .await["port"]
        .clone();
    assert_eq!(p["device_owner"], json!("network:router_interface"));
    assert_eq!(p["device_id"], json!(rid));
    assert_eq!(p["fixed_ips"][0]["ip_address"], json!("10.1.0.1"));
    // Twice → 400; neither or both keys → 400.
    let path = format!("/routers/{rid}/add_router_interface");
    app.expect(400, "PUT", &path, ALICE, Some(&json!({"subnet_id": sid})))
        .await;
    app.expect(400, "PUT", &path, ALICE, Some(&json!({}))).await;
    app.expect(
        400,
        "PUT",
        &path,
        ALICE,
        Some(&json!({"subnet_id": sid, "port_id": pid})),
    )
    .await;
    app.expect(
        404,
        "PUT",
        &path,
        ALICE,
        Some(&json!({"subnet_id": "nope"})),
    )
    .await;
    // Bob cannot use Alice's subnet or router.
    let bob_r = s(&router(&app, BOB, json!({})).await["id"]).to_string();
    app.expect(
        404,
        "PUT",
        &format!("/routers/{bob_r}/add_router_interface"),
        BOB,
        Some(&json!({"subnet_id": sid})),
    )
    .await;
    app.expect(404, "PUT", &path, BOB, Some(&json!({"subnet_id": sid})))
        .await;
    // Static routes: nexthop must be on an attached subnet.
    let body =
        json!({"router": {"routes": [{"destination": "192.168.5.0/24", "nexthop": "10.1.0.50"}]}});
    let r = app
        .expect(200, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await["router"]
        .clone();
    assert_eq!(
        r["routes"],
        json!([{"destination": "192.168.5.0/24", "nexthop": "10.1.0.50"}])
    );
    let body =
        json!({"router": {"routes": [{"destination": "192.168.5.0/24", "nexthop": "172.16.0.1"}]}});
    assert_eq!(
        app.error_type(400, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
            .await,
        "InvalidRoutes"
    );
    // In use: router, subnet, network.
    assert_eq!(
        app.error_type(409, "DELETE", &format!("/routers/{rid}"), ALICE, None)
            .await,
        "RouterInUse"
    );
    assert_eq!(
        app.error_type(409, "DELETE", &format!("/subnets/{sid}"), ALICE, None)
            .await,
        "SubnetInUse"
    );
    assert_eq!(
        app.error_type(409, "DELETE", &format!("/networks/{nid}"), ALICE, None)
            .await,
        "NetworkInUse"
    );
    // By port: a free port becomes an interface.
    let n2 = s(&app.network(ALICE, "n2").await["id"]).to_string();
    app.subnet(ALICE, &n2, "10.2.0.0/24").await;
    let port = app.port(ALICE, &n2).await;
    let p2 = s(&port["id"]).to_string();
    let info = app
        .expect(200, "PUT", &path, ALICE, Some(&json!({"port_id": p2})))
        .await;
    assert_eq!(info["port_id"], json!(p2));
    let p = app
        .expect(200, "GET", &format!("/ports/{p2}"), ALICE, None)
        .await["port"]
        .clone();
    assert_eq!(p["device_owner"], json!("network:router_interface"));
    // Overlapping subnet → 400.
    let n3 = s(&app.network(ALICE, "n3").await["id"]).to_string();
    let s3 = s(&app.subnet(ALICE, &n3, "10.1.0.0/16").await["id"]).to_string();
    app.expect(400, "PUT", &path, ALICE, Some(&json!({"subnet_id": s3})))
        .await;
    // Removal by subnet and by port; unknown → 404.
    let rm = format!("/routers/{rid}/remove_router_interface");
    assert_eq!(
        app.error_type(404, "PUT", &rm, ALICE, Some(&json!({"subnet_id": s3})))
            .await,
        "RouterInterfaceNotFoundForSubnet"
    );
    let info = app
        .expect(200, "PUT", &rm, ALICE, Some(&json!({"subnet_id": sid})))
        .await;
    assert_eq!(info["port_id"], json!(pid));
    app.expect(404, "GET", &format!("/ports/{pid}"), ALICE, None)
        .await;
    app.expect(200, "PUT", &rm, ALICE, Some(&json!({"port_id": p2})))
        .await;
    app.expect(204, "DELETE", &format!("/subnets/{sid}"), ALICE, None)
        .await;
    app.expect(204, "DELETE", &format!("/routers/{rid}"), ALICE, None)
        .await;
}

#[tokio::test]
async fn floating_ips_allocate_associate_filter() {
    let app = App::new().await;
    let (ext, _) = external(&app).await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    let sid = s(&app.subnet(ALICE, &nid, "10.1.0.0/24").await["id"]).to_string();
    let port = app.port(ALICE, &nid).await;
    let pid = s(&port["id"]).to_string();
    let fixed = s(&port["fixed_ips"][0]["ip_address"]).to_string();
    let f = app
        .expect(
            201,
            "POST",
            "/floatingips",
            ALICE,
            Some(&json!({"floatingip": {"floating_network_id": ext}})),
        )
        .await["floatingip"]
        .clone();
    let fid = s(&f["id"]).to_string();
    assert_eq!(f["floating_ip_address"], json!("203.0.113.10"));
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["fixed_ip_address"], Value::Null);
    assert_eq!(f["router_id"], Value::Null);
    assert_eq!(f["status"], json!("DOWN"));
    assert_eq!(f["project_id"], json!(PROJECT_A));
    // Its port is not Alice's to see, and not deletable.
    assert!(app
        .ids("/ports?device_owner=network:floatingip", ALICE, "ports")
        .await
        .is_empty());
    let fports = app
        .ids(&format!("/ports?device_id={fid}"), ADMIN, "ports")
        .await;
    assert_eq!(fports.len(), 1);
    assert_eq!(
        app.error_type(409, "DELETE", &format!("/ports/{}", fports[0]), ADMIN, None)
            .await,
        "ServicePortInUse"
    );
    // No router yet → 404 ExternalGatewayForFloatingIPNotFound.
    let assoc = json!({"floatingip": {"port_id": pid}});
    assert_eq!(
        app.error_type(
            404,
            "PUT",
            &format!("/floatingips/{fid}"),
            ALICE,
            Some(&assoc)
        )
        .await,
        "ExternalGatewayForFloatingIPNotFound"
    );
    // Interface without gateway: still 404.
    let rid = s(&router(&app, ALICE, json!({"name": "r"})).await["id"]).to_string();
    add_subnet(&app, ALICE, &rid, &sid).await;
    app.expect(
        404,
        "PUT",
        &format!("/floatingips/{fid}"),
        ALICE,
        Some(&assoc),
    )
    .await;
    let body = json!({"router": {"external_gateway_info": {"network_id": ext}}});
    app.expect(200, "PUT", &format!("/routers/{rid}"), ALICE, Some(&body))
        .await;
    let f = app
        .expect(
            200,
            "PUT",
            &format!("/floatingips/{fid}"),
            ALICE,
            Some(&assoc),
        )
        .await["floatingip"]
        .clone();
    assert_eq!(f["port_id"], json!(pid));
    assert_eq!(f["fixed_ip_address"], json!(fixed));
    assert_eq!(f["router_id"], json!(rid));
    // A second FIP on the same fixed IP → 409.
    let body = json!({"floatingip": {"floating_network_id": ext, "port_id": pid}});
    assert_eq!(
        app.error_type(409, "POST", "/floatingips", ALICE, Some(&body))
            .await,
        "FloatingIPPortAlreadyAssociated"
    );
    // Wrong fixed IP → 400; nothing was stored by the failures.
    let body = json!({"floatingip": {"port_id": pid, "fixed_ip_address": "10.1.0.200"}});
    app.expect(
        400,
        "PUT",
        &format!("/floatingips/{fid}"),
        ALICE,
        Some(&body),
    )
    .await;
    assert_eq!(app.ids("/floatingips", ALICE, "floatingips").await.len(), 1);
    // Filters.
    for q in [
        format!("port_id={pid}"),
        format!("fixed_ip_address={fixed}"),
        format!("floating_network_id={ext}"),
        "floating_ip_address=203.0.113.10".to_string(),
    ] {
        assert_eq!(
            app.ids(&format!("/floatingips?{q}"), ALICE, "floatingips")
                .await,
            vec![fid.clone()],
            "{q}"
        );
    }
    assert!(app
        .ids("/floatingips?port_id=none", ALICE, "floatingips")
        .await
        .is_empty());
    assert!(app.ids("/floatingips", BOB, "floatingips").await.is_empty());
    // In use: interface, gateway.
    assert_eq!(
        app.error_type(
            409,
            "PUT",
            &format!("/routers/{rid}/remove_router_interface"),
            ALICE,
            Some(&json!({"subnet_id": sid}))
        )
        .await,
        "RouterInterfaceInUseByFloatingIP"
    );
    let clear = json!({"router": {"external_gateway_info": null}});
    assert_eq!(
        app.error_type(409, "PUT", &format!("/routers/{rid}"), ALICE, Some(&clear))
            .await,
        "RouterExternalGatewayInUseByFloatingIp"
    );
    // Disassociate, then everything can go.
    let f = app
        .expect(
            200,
            "PUT",
            &format!("/floatingips/{fid}"),
            ALICE,
            Some(&json!({"floatingip": {"port_id": null}})),
        )
        .await["floatingip"]
        .clone();
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["router_id"], Value::Null);
    app.expect(204, "DELETE", &format!("/floatingips/{fid}"), ALICE, None)
        .await;
    // The address is free again.
    let f = app
        .expect(
            201,
            "POST",
            "/floatingips",
            ALICE,
            Some(&json!({"floatingip": {"floating_network_id": ext}})),
        )
        .await["floatingip"]
        .clone();
    assert_eq!(f["floating_ip_address"], json!("203.0.113.10"));
    // Non-external network → 400; pool exhaustion → 409.
    let body = json!({"floatingip": {"floating_network_id": nid}});
    app.expect(400, "POST", "/floatingips", ALICE, Some(&body))
        .await;
    let body = json!({"floatingip": {"floating_network_id": ext}});
    app.expect(201, "POST", "/floatingips", ALICE, Some(&body))
        .await;
    app.expect(409, "POST", "/floatingips", ALICE, Some(&body))
        .await;
    // Explicit address only for admins.
    let body =
        json!({"floatingip": {"floating_network_id": ext, "floating_ip_address": "203.0.113.50"}});
    app.expect(403, "POST", "/floatingips", ALICE, Some(&body))
        .await;
}

#[tokio::test]
async fn rbac_shares_a_network_with_one_project() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    app.subnet(ALICE, &nid, "10.1.0.0/24").await;
    assert!(!app.ids("/networks", BOB, "networks").await.contains(&nid));
    app.expect(404, "GET", &format!("/networks/{nid}"), BOB, None)
        .await;
    let body = json!({"rbac_policy": {"object_type": "network", "object_id": nid,
        "action": "access_as_shared", "target_tenant": PROJECT_B}});
    // Bob cannot share Alice's network; '*' is for admins.
    app.expect(404, "POST", "/rbac-policies", BOB, Some(&body))
        .await;
    let star = json!({"rbac_policy": {"object_type": "network", "object_id": nid,
        "action": "access_as_shared", "target_tenant": "*"}});
    app.expect(403, "POST", "/rbac-policies", ALICE, Some(&star))
        .await;
    let p = app
        .expect(201, "POST", "/rbac-policies", ALICE, Some(&body))
        .await["rbac_policy"]
        .clone();
    let polid = s(&p["id"]).to_string();
    assert_eq!(p["target_tenant"], json!(PROJECT_B));
    assert_eq!(p["project_id"], json!(PROJECT_A));
    app.expect(409, "POST", "/rbac-policies", ALICE, Some(&body))
        .await;
    // Bob now sees it as shared, with its subnet, and may put a port on it.
    assert!(app.ids("/networks", BOB, "networks").await.contains(&nid));
    let n = app
        .expect(200, "GET", &format!("/networks/{nid}"), BOB, None)
        .await;
    assert_eq!(n["network"]["shared"], json!(true));
    let n = app
        .expect(200, "GET", &format!("/networks/{nid}"), ALICE, None)
        .await;
    assert_eq!(n["network"]["shared"], json!(false));
    assert_eq!(
        app.ids(&format!("/subnets?network_id={nid}"), BOB, "subnets")
            .await
            .len(),
        1
    );
    let port = app.port(BOB, &nid).await;
    // Carol (project A) sees the policy, Bob does not.
    assert_eq!(
        app.ids("/rbac-policies", CAROL, "rbac_policies").await,
        vec![polid.clone()]
    );
    assert!(app
        .ids("/rbac-policies", BOB, "rbac_policies")
        .await
        .is_empty());
    // Bob's port keeps the policy in use.
    assert_eq!(
        app.error_type(
            409,
            "DELETE",
            &format!("/rbac-policies/{polid}"),
            ALICE,
            None
        )
        .await,
        "RbacPolicyInUse"
    );
    app.expect(
        204,
        "DELETE",
        &format!("/ports/{}", s(&port["id"])),
        BOB,
        None,
    )
    .await;
    app.expect(
        204,
        "DELETE",
        &format!("/rbac-policies/{polid}"),
        ALICE,
        None,
    )
    .await;
    assert!(!app.ids("/networks", BOB, "networks").await.contains(&nid));
    // A network's policies go with it.
    app.expect(201, "POST", "/rbac-policies", ALICE, Some(&body))
        .await;
    app.expect(204, "DELETE", &format!("/networks/{nid}"), ALICE, None)
        .await;
    assert!(app
        .ids("/rbac-policies", ALICE, "rbac_policies")
        .await
        .is_empty());
    let nid = s(&app.network(ALICE, "n2").await["id"]).to_string();
    // Bad bodies.
    let bad = json!({"rbac_policy": {"object_type": "subnet", "object_id": nid,
        "action": "access_as_shared", "target_tenant": PROJECT_B}});
    app.expect(400, "POST", "/rbac-policies", ALICE, Some(&bad))
        .await;
    let bad = json!({"rbac_policy": {"object_type": "network", "object_id": nid,
        "action": "access_as_shared"}});
    app.expect(400, "POST", "/rbac-policies", ALICE, Some(&bad))
        .await;
}

#[tokio::test]
async fn bootstrap_makes_public_and_the_default_router_once() {
    let app = App::new().await;
    for _ in 0..2 {
        nimbus_network::bootstrap::ensure_defaults(&app.store.store, ADMIN_PROJECT)
            .await
            .unwrap();
    }
    let nets = app
        .expect(200, "GET", "/networks?name=public", ADMIN, None)
        .await["networks"]
        .clone();
    assert_eq!(nets.as_array().unwrap().len(), 1);
    let public = &nets[0];
    assert_eq!(public["router:external"], json!(true));
    assert_eq!(public["shared"], json!(false));
    assert_eq!(public["project_id"], json!(ADMIN_PROJECT));
    // Every project sees the external network (to pick it for floating IPs).
    assert_eq!(
        app.ids("/networks?router:external=true", ALICE, "networks")
            .await,
        vec![s(&public["id"]).to_string()]
    );
    let sub = app
        .expect(200, "GET", "/subnets?name=public-subnet", ADMIN, None)
        .await["subnets"][0]
        .clone();
    assert_eq!(sub["cidr"], json!("203.0.113.0/24"));
    assert_eq!(sub["gateway_ip"], json!("203.0.113.1"));
    assert_eq!(sub["enable_dhcp"], json!(false));
    assert_eq!(
        sub["allocation_pools"],
        json!([{"start": "203.0.113.10", "end": "203.0.113.250"}])
    );
    let routers = app.expect(200, "GET", "/routers", ADMIN, None).await["routers"].clone();
    assert_eq!(routers.as_array().unwrap().len(), 1);
    let r = &routers[0];
    assert_eq!(r["name"], json!("router"));
    assert_eq!(r["external_gateway_info"]["network_id"], public["id"]);
    assert_eq!(
        r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        json!("203.0.113.10")
    );
    let rid = s(&r["id"]);
    let ifaces = app
        .expect(
            200,
            "GET",
            &format!("/ports?device_id={rid}&device_owner=network:router_interface"),
            ADMIN,
            None,
        )
        .await["ports"]
        .clone();
    assert_eq!(ifaces[0]["fixed_ips"][0]["ip_address"], json!("10.0.0.1"));
    // A deleted default router does not come back on the next start.
    app.expect(
        200,
        "PUT",
        &format!("/routers/{rid}/remove_router_interface"),
        ADMIN,
        Some(&json!({"port_id": s(&ifaces[0]["id"])})),
    )
    .await;
    app.expect(204, "DELETE", &format!("/routers/{rid}"), ADMIN, None)
        .await;
    nimbus_network::bootstrap::ensure_defaults(&app.store.store, ADMIN_PROJECT)
        .await
        .unwrap();
    assert!(app.ids("/routers", ADMIN, "routers").await.is_empty());
}
