//! The in-process API the compute service builds servers with (`Networking`):
//! usable networks and ports, `auto` networks, security group resolution, server
//! ports created, bound and released inside the caller's transaction, ports by
//! device; and the bootstrap defaults.

mod support;

use nimbus_api::testing::{cloud_admin, project_user};
use nimbus_network::types::{Network, Port, SecurityGroup, OWNER_COMPUTE};
use nimbus_network::PortRequest;
use serde_json::json;
use support::*;

#[tokio::test]
async fn usable_and_auto_networks() {
    let app = App::new().await;
    let alice = project_user("alice", PROJECT_A, &["member", "reader"]);
    let bob = project_user("bob", PROJECT_B, &["member", "reader"]);
    let admin = cloud_admin(ADMIN_PROJECT);
    let a = s(&app.network(ALICE, "a").await["id"]).to_string();
    let shared = app
        .expect(
            201,
            "POST",
            "/networks",
            ADMIN,
            Some(&json!({"network": {"name": "sh", "shared": true}})),
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ext = app
        .expect(
            201,
            "POST",
            "/networks",
            ADMIN,
            Some(&json!({"network": {"name": "ext", "router:external": true, "shared": true}})),
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.net.usable_network(&alice, &a).await.unwrap().id, a);
    assert_eq!(
        app.net.usable_network(&bob, &shared).await.unwrap().id,
        shared
    );
    let e = app.net.usable_network(&bob, &a).await.unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.message.as_str()),
        (404, format!("Network {a} could not be found.").as_str())
    );
    assert_eq!(
        app.net
            .usable_network(&alice, &ext)
            .await
            .unwrap_err()
            .status
            .as_u16(),
        404
    );
    assert!(app.net.usable_network(&admin, &ext).await.is_ok());
    assert!(app.net.usable_network(&admin, &a).await.is_ok());
    let mut auto: Vec<String> = app
        .net
        .auto_networks(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    auto.sort();
    let mut want = vec![a.clone(), shared.clone()];
    want.sort();
    assert_eq!(auto, want);
    let bob_auto: Vec<String> = app
        .net
        .auto_networks(&bob)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(bob_auto, vec![shared]);
}

#[tokio::test]
async fn security_group_resolution() {
    let app = App::new().await;
    let alice = project_user("alice", PROJECT_A, &["member", "reader"]);
    let bob = project_user("bob", PROJECT_B, &["member", "reader"]);
    let default = app.net.resolve_security_groups(&alice, &[]).await.unwrap();
    assert_eq!(default.len(), 1);
    assert_eq!(default[0].name, "default");
    // Idempotent, by name and by id.
    let again = app
        .net
        .resolve_security_groups(&alice, &["default".into()])
        .await
        .unwrap();
    assert_eq!(again[0].id, default[0].id);
    let web = app
        .expect(
            201,
            "POST",
            "/security-groups",
            ALICE,
            Some(&json!({"security_group": {"name": "web"}})),
        )
        .await["security_group"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = app
        .net
        .resolve_security_groups(&alice, &["web".into(), web.clone(), "default".into()])
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
        vec![web.clone(), default[0].id.clone()]
    );
    let e = app
        .net
        .resolve_security_groups(&alice, &["nope".into()])
        .await
        .unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.message.as_str()),
        (400, "Security group nope not found.")
    );
    // Another project's group, by id, is unknown to bob.
    assert_eq!(
        app.net
            .resolve_security_groups(&bob, std::slice::from_ref(&web))
            .await
            .unwrap_err()
            .status
            .as_u16(),
        400
    );
    // Two groups of one name: 409.
    app.expect(
        201,
        "POST",
        "/security-groups",
        ALICE,
        Some(&json!({"security_group": {"name": "web"}})),
    )
    .await;
    assert_eq!(
        app.net
            .resolve_security_groups(&alice, &["web".into()])
            .await
            .unwrap_err()
            .status
            .as_u16(),
        409
    );
}

#[tokio::test]
async fn server_ports_inside_the_callers_transaction() {
    let app = App::new().await;
    let alice = project_user("alice", PROJECT_A, &["member", "reader"]);
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    let bare = s(&app.network(ALICE, "bare").await["id"]).to_string();
    let sid = s(&app.subnet(ALICE, &nid, "10.0.0.0/24").await["id"]).to_string();
    let req = |fixed_ip: Option<&str>, network: &str| PortRequest {
        project_id: PROJECT_A.into(),
        network_id: network.into(),
        fixed_ip: fixed_ip.map(str::to_string),
        security_groups: vec![],
        device_id: "server1".into(),
        device_owner: OWNER_COMPUTE.into(),
        name: String::new(),
    };
    let mut tx = app.store.store.begin().await.unwrap();
    let p1 = app
        .net
        .create_port_in(&mut tx, req(None, &nid))
        .await
        .unwrap();
    let p2 = app
        .net
        .create_port_in(&mut tx, req(Some("10.0.0.77"), &nid))
        .await
        .unwrap();
    // Within the same transaction the next port sees the first ones' addresses.
    let p3 = app
        .net
        .create_port_in(&mut tx, req(None, &nid))
        .await
        .unwrap();
    let e = app
        .net
        .create_port_in(&mut tx, req(Some("10.0.0.77"), &nid))
        .await
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 409);
    let e = app
        .net
        .create_port_in(&mut tx, req(Some("192.168.1.1"), &nid))
        .await
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 400);
    let e = app
        .net
        .create_port_in(&mut tx, req(None, &bare))
        .await
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 400);
    let e = app
        .net
        .create_port_in(&mut tx, req(None, "nope"))
        .await
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 404);
    tx.commit().await.unwrap();
    assert_eq!(p1.fixed_ips[0].ip_address, "10.0.0.3");
    assert_eq!(p1.fixed_ips[0].subnet_id, sid);
    assert_eq!(p2.fixed_ips[0].ip_address, "10.0.0.77");
    assert_eq!(p3.fixed_ips[0].ip_address, "10.0.0.4");
    assert_eq!(p1.status, "DOWN");
    assert_eq!(p1.security_groups.len(), 1);
    let default = app
        .store
        .store
        .get::<SecurityGroup>(&p1.security_groups[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(default.value.name, "default");
    let mine = app.net.ports_of_device("server1").await.unwrap();
    assert_eq!(mine.len(), 3);

    // A free port is usable; a bound one is not; others' are invisible.
    let free = app.port(ALICE, &nid).await;
    let fid = s(&free["id"]).to_string();
    assert_eq!(app.net.usable_port(&alice, &fid).await.unwrap().id, fid);
    let e = app.net.usable_port(&alice, &p1.id).await.unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.message),
        (409, format!("Port {} is still in use.", p1.id))
    );
    let bob = project_user("bob", PROJECT_B, &["member", "reader"]);
    assert_eq!(
        app.net
            .usable_port(&bob, &fid)
            .await
            .unwrap_err()
            .status
            .as_u16(),
        404
    );
    let mut tx = app.store.store.begin().await.unwrap();
    let bound = app
        .net
        .bind_port_in(&mut tx, &fid, "server2", OWNER_COMPUTE)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(bound.device_id, "server2");
    assert_eq!(app.net.ports_of_device("server2").await.unwrap().len(), 1);

    // Release: delete the ports Nova made, unbind the user's; gone ones are skipped.
    let mut tx = app.store.store.begin().await.unwrap();
    let delete = vec![
        p1.id.clone(),
        p2.id.clone(),
        p3.id.clone(),
        "gone".to_string(),
    ];
    app.net
        .release_ports_in(&mut tx, &delete, &[fid.clone(), "gone".into()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(app.net.ports_of_device("server1").await.unwrap().is_empty());
    let kept = app
        .store
        .store
        .get::<Port>(&fid)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(kept.device_id.is_empty() && kept.device_owner.is_empty());
    // The addresses of deleted ports are free again.
    let p = app.port(ALICE, &nid).await;
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.0.0.3");
}

#[tokio::test]
async fn the_store_refuses_a_second_holder_of_an_address() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    app.subnet(ALICE, &nid, "10.0.0.0/24").await;
    let p = app.port(ALICE, &nid).await;
    let mut copy: Port = app
        .store
        .store
        .get::<Port>(s(&p["id"]))
        .await
        .unwrap()
        .unwrap()
        .value;
    copy.id = "another".into();
    copy.mac_address = "fa:16:3e:00:00:99".into();
    let mut tx = app.store.store.begin().await.unwrap();
    let e = tx.create(&copy).await.unwrap_err();
    assert!(
        matches!(e, nimbus_store::StoreError::Conflict { .. }),
        "{e}"
    );
}

#[tokio::test]
async fn bootstrap_defaults_are_idempotent() {
    let app = App::new().await;
    for _ in 0..2 {
        nimbus_network::bootstrap::ensure_defaults(&app.store.store, ADMIN_PROJECT)
            .await
            .unwrap();
    }
    let nets = app
        .store
        .store
        .list::<Network>(Some(ADMIN_PROJECT))
        .await
        .unwrap();
    // `private`, and `public` with the router (tested in routers_fips.rs).
    assert_eq!(nets.len(), 2);
    let private = nets.iter().find(|n| n.value.name == "private").unwrap();
    let nid = private.value.id.clone();
    let v = app
        .expect(
            200,
            "GET",
            &format!("/subnets?network_id={nid}"),
            ADMIN,
            None,
        )
        .await;
    let subnets = v["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 1);
    assert_eq!(subnets[0]["name"], "private-subnet");
    assert_eq!(subnets[0]["cidr"], "10.0.0.0/24");
    assert_eq!(subnets[0]["gateway_ip"], "10.0.0.1");
    assert_eq!(subnets[0]["enable_dhcp"], true);
    let dhcp = app
        .expect(
            200,
            "GET",
            &format!("/ports?network_id={nid}&device_owner=network:dhcp"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(dhcp["ports"].as_array().unwrap().len(), 1);
    assert_eq!(dhcp["ports"][0]["fixed_ips"][0]["ip_address"], "10.0.0.2");
    let groups = app
        .store
        .store
        .list::<SecurityGroup>(Some(ADMIN_PROJECT))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].value.name, "default");
}

#[tokio::test]
async fn an_address_held_where_the_listing_cannot_see_it_is_refused_by_the_store() {
    // Another process's port is simulated by one the network's port list does not
    // show (filed under another network) that holds 10.0.0.3's unique key: the
    // allocation picks 10.0.0.3, the store refuses it, every retry too, and the
    // client gets a 409 with nothing stored.
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    let sid = s(&app.subnet(ALICE, &nid, "10.0.0.0/24").await["id"]).to_string();
    let p = app.port(ALICE, &nid).await;
    let mut ghost: Port = app
        .store
        .store
        .get::<Port>(s(&p["id"]))
        .await
        .unwrap()
        .unwrap()
        .value;
    app.expect(
        204,
        "DELETE",
        &format!("/ports/{}", s(&p["id"])),
        ALICE,
        None,
    )
    .await;
    ghost.id = "ghost".into();
    ghost.network_id = "elsewhere".into();
    ghost.fixed_ips[0].subnet_id = sid.clone();
    let mut tx = app.store.store.begin().await.unwrap();
    tx.create(&ghost).await.unwrap();
    tx.commit().await.unwrap();
    let before = app.store.store.revision();
    let t = app
        .error_type(
            409,
            "POST",
            "/ports",
            ALICE,
            Some(&json!({"port": {"network_id": nid}})),
        )
        .await;
    assert_eq!(t, "IpAddressGenerationFailure");
    assert_eq!(app.store.store.revision(), before);
}
