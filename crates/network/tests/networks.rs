//! Networks over HTTP: discovery, CRUD with Neutron's JSON, admin-only attributes,
//! visibility across projects (404, never 403, for what a project cannot see),
//! shared networks, `NetworkInUse`, and deletion taking subnets and the DHCP port.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn discovery_documents_and_extensions() {
    let app = App::new().await;
    for path in ["/network", "/network/"] {
        let v = app.expect(200, "GET", path, ALICE, None).await;
        assert_eq!(v["versions"][0]["id"], "v2.0");
        assert_eq!(v["versions"][0]["status"], "CURRENT");
        assert!(s(&v["versions"][0]["links"][0]["href"]).ends_with("/network/v2.0/"));
    }
    for path in ["/network/v2.0", "/network/v2.0/"] {
        let v = app.expect(200, "GET", path, ALICE, None).await;
        let names: Vec<&str> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| s(&r["collection"]))
            .collect();
        assert!(names.contains(&"networks") && names.contains(&"security-group-rules"));
    }
    let v = app.expect(200, "GET", "/extensions", ALICE, None).await;
    let aliases: Vec<&str> = v["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["alias"]))
        .collect();
    for a in [
        "security-group",
        "standard-attr-tag",
        "port-security",
        "allowed-address-pairs",
    ] {
        assert!(aliases.contains(&a), "{a} missing");
    }
    app.expect(200, "GET", "/extensions/security-group", ALICE, None)
        .await;
    app.expect(404, "GET", "/extensions/nope", ALICE, None)
        .await;
    // Unknown paths and missing tokens answer in Neutron's format too.
    app.expect(404, "GET", "/routerz", ALICE, None).await;
    let r = app
        .client
        .call("GET", "/network/v2.0/networks", None, None)
        .await;
    assert_eq!(r.code(), 401);
    assert_neutron_error(&r);
}

#[tokio::test]
async fn network_crud_with_neutron_fields() {
    let app = App::new().await;
    let n = app.network(ALICE, "net1").await;
    for (k, v) in [
        ("name", json!("net1")),
        ("project_id", json!(PROJECT_A)),
        ("tenant_id", json!(PROJECT_A)),
        ("status", json!("ACTIVE")),
        ("admin_state_up", json!(true)),
        ("shared", json!(false)),
        ("router:external", json!(false)),
        ("mtu", json!(1450)),
        ("port_security_enabled", json!(true)),
        ("subnets", json!([])),
        ("tags", json!([])),
    ] {
        assert_eq!(n[k], v, "{k}");
    }
    assert!(n["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(n["revision_number"].is_number());
    let id = s(&n["id"]).to_string();

    let shown = app
        .expect(200, "GET", &format!("/networks/{id}"), CAROL, None)
        .await;
    assert_eq!(shown["network"]["id"], id.as_str());
    let f = app
        .expect(
            200,
            "GET",
            &format!("/networks/{id}?fields=id&fields=name"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(f["network"], json!({"id": id, "name": "net1"}));

    let body = json!({"network": {"name": "renamed", "mtu": 1400, "description": "d"}});
    let u = app
        .expect(200, "PUT", &format!("/networks/{id}"), ALICE, Some(&body))
        .await;
    assert_eq!(u["network"]["name"], "renamed");
    assert_eq!(u["network"]["mtu"], 1400);
    assert!(u["network"]["revision_number"].as_i64() > n["revision_number"].as_i64());

    // A reader may read but not write.
    let t = app
        .error_type(403, "PUT", &format!("/networks/{id}"), CAROL, Some(&body))
        .await;
    assert_eq!(t, "PolicyNotAuthorized");
    // Bad input.
    for bad in [
        json!({"network": {"mtu": 9000}}),
        json!({"network": {"mtu": 10}}),
        json!({"network": {"bogus": 1}}),
        json!({"network": {"status": "DOWN"}}),
        json!({"network": {"admin_state_up": "maybe"}}),
        json!({"network": {"name": 5}}),
        json!({"netwrk": {}}),
    ] {
        app.expect(400, "POST", "/networks", ALICE, Some(&bad))
            .await;
    }
    app.expect(204, "DELETE", &format!("/networks/{id}"), ALICE, None)
        .await;
    let t = app
        .error_type(404, "GET", &format!("/networks/{id}"), ALICE, None)
        .await;
    assert_eq!(t, "NetworkNotFound");
}

#[tokio::test]
async fn shared_and_external_are_for_admins_and_visible_to_all() {
    let app = App::new().await;
    for attr in ["shared", "router:external"] {
        let body = json!({"network": {"name": "x", attr: true}});
        app.expect(403, "POST", "/networks", ALICE, Some(&body))
            .await;
    }
    let body = json!({"network": {"name": "pub", "shared": true}});
    let shared = app
        .expect(201, "POST", "/networks", ADMIN, Some(&body))
        .await["network"]
        .clone();
    let sid = s(&shared["id"]).to_string();
    let ext = app
        .expect(
            201,
            "POST",
            "/networks",
            ADMIN,
            Some(&json!({"network": {"name": "ext", "router:external": true}})),
        )
        .await["network"]
        .clone();
    let private_admin = app.network(ADMIN, "adminonly").await;
    let a = app.network(ALICE, "a").await;
    let b = app.network(BOB, "b").await;

    let seen = app.ids("/networks", ALICE, "networks").await;
    assert!(seen.contains(&sid) && seen.contains(&s(&ext["id"]).to_string()));
    assert!(seen.contains(&s(&a["id"]).to_string()));
    assert!(!seen.contains(&s(&b["id"]).to_string()));
    assert!(!seen.contains(&s(&private_admin["id"]).to_string()));
    assert_eq!(app.ids("/networks", ADMIN, "networks").await.len(), 5);
    assert_eq!(app.ids("/networks", AUDITOR, "networks").await.len(), 5);

    // Others' networks are invisible: 404 on every verb.
    let bid = s(&b["id"]);
    for method in ["GET", "DELETE"] {
        app.expect(404, method, &format!("/networks/{bid}"), ALICE, None)
            .await;
    }
    app.expect(
        404,
        "PUT",
        &format!("/networks/{bid}"),
        ALICE,
        Some(&json!({"network": {"name": "z"}})),
    )
    .await;
    // A shared network is readable but not writable by others.
    app.expect(200, "GET", &format!("/networks/{sid}"), BOB, None)
        .await;
    app.expect(
        403,
        "PUT",
        &format!("/networks/{sid}"),
        BOB,
        Some(&json!({"network": {"name": "z"}})),
    )
    .await;
    app.expect(403, "DELETE", &format!("/networks/{sid}"), BOB, None)
        .await;
    // Filters on booleans, as the CLI writes them.
    let shared_only = app.ids("/networks?shared=True", ALICE, "networks").await;
    assert_eq!(shared_only, vec![sid.clone()]);
    let ext_only = app
        .ids("/networks?router:external=true", ALICE, "networks")
        .await;
    assert_eq!(ext_only, vec![s(&ext["id"]).to_string()]);
    // Creating for another project: only admins.
    let body = json!({"network": {"name": "x", "project_id": PROJECT_B}});
    app.expect(403, "POST", "/networks", ALICE, Some(&body))
        .await;
    let n = app
        .expect(201, "POST", "/networks", ADMIN, Some(&body))
        .await;
    assert_eq!(n["network"]["project_id"], PROJECT_B);
    // Unsharing while another project has a port on it.
    let sub = app.subnet(ADMIN, &sid, "10.9.0.0/24").await;
    assert_eq!(sub["network_id"], sid.as_str());
    app.port(BOB, &sid).await;
    let t = app
        .error_type(
            409,
            "PUT",
            &format!("/networks/{sid}"),
            ADMIN,
            Some(&json!({"network": {"shared": false}})),
        )
        .await;
    assert_eq!(t, "InvalidSharedSetting");
}

#[tokio::test]
async fn delete_in_use_and_cascade() {
    let app = App::new().await;
    let n = app.network(ALICE, "n").await;
    let id = s(&n["id"]).to_string();
    let sub = app.subnet(ALICE, &id, "10.1.0.0/24").await;
    let port = app.port(ALICE, &id).await;
    let t = app
        .error_type(409, "DELETE", &format!("/networks/{id}"), ALICE, None)
        .await;
    assert_eq!(t, "NetworkInUse");
    app.expect(
        204,
        "DELETE",
        &format!("/ports/{}", s(&port["id"])),
        ALICE,
        None,
    )
    .await;
    // Only the DHCP port remains; the network goes, with subnet and DHCP port.
    let left = app
        .ids(&format!("/ports?network_id={id}"), ADMIN, "ports")
        .await;
    assert_eq!(left.len(), 1);
    app.expect(204, "DELETE", &format!("/networks/{id}"), ALICE, None)
        .await;
    app.expect(
        404,
        "GET",
        &format!("/subnets/{}", s(&sub["id"])),
        ALICE,
        None,
    )
    .await;
    assert!(app
        .ids(&format!("/ports?network_id={id}"), ADMIN, "ports")
        .await
        .is_empty());
}

#[tokio::test]
async fn list_filters_fields_sorting_and_pagination() {
    let app = App::new().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s(&app.network(ALICE, &format!("n{}", i % 2)).await["id"]).to_string());
    }
    ids.sort();
    let named = app.ids("/networks?name=n0", ALICE, "networks").await;
    assert_eq!(named.len(), 3);
    let either = app
        .ids("/networks?name=n0&name=n1", ALICE, "networks")
        .await;
    assert_eq!(either.len(), 5);
    let by_id = app
        .ids(
            &format!("/networks?id={}&id={}", ids[0], ids[1]),
            ALICE,
            "networks",
        )
        .await;
    assert_eq!(by_id, vec![ids[0].clone(), ids[1].clone()]);
    // Unknown filters are ignored, as Neutron does.
    assert_eq!(
        app.ids("/networks?frobnicate=1", ALICE, "networks")
            .await
            .len(),
        5
    );
    // fields= keeps only the keys asked for.
    let v = app
        .expect(200, "GET", "/networks?fields=id&fields=name", ALICE, None)
        .await;
    for n in v["networks"].as_array().unwrap() {
        assert_eq!(n.as_object().unwrap().len(), 2);
    }
    // Pages of 2 follow the next links to the end.
    let mut seen = Vec::new();
    let mut path = "/networks?limit=2".to_string();
    loop {
        let v = app.expect(200, "GET", &path, ALICE, None).await;
        seen.extend(
            v["networks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| s(&n["id"]).to_string()),
        );
        let next = v["networks_links"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["rel"] == "next"))
            .map(|l| s(&l["href"]).to_string());
        match next {
            Some(href) => path = href.split_once("/network/v2.0").unwrap().1.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    // Sorting by name then id, descending.
    let v = app
        .expect(
            200,
            "GET",
            "/networks?sort_key=name&sort_dir=desc&sort_key=id&sort_dir=desc",
            ALICE,
            None,
        )
        .await;
    let names: Vec<&str> = v["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n["name"]))
        .collect();
    assert_eq!(names, vec!["n1", "n1", "n0", "n0", "n0"]);
    app.expect(400, "GET", "/networks?sort_key=nope", ALICE, None)
        .await;
    app.expect(400, "GET", "/networks?limit=x", ALICE, None)
        .await;
}

#[tokio::test]
async fn tags_on_networks() {
    let app = App::new().await;
    let n = app.network(ALICE, "t").await;
    let id = s(&n["id"]).to_string();
    let other = app.network(ALICE, "u").await;
    app.expect(201, "PUT", &format!("/networks/{id}/tags/red"), ALICE, None)
        .await;
    app.expect(
        201,
        "PUT",
        &format!("/networks/{id}/tags/blue"),
        ALICE,
        None,
    )
    .await;
    app.expect(204, "GET", &format!("/networks/{id}/tags/red"), CAROL, None)
        .await;
    let t = app
        .error_type(
            404,
            "GET",
            &format!("/networks/{id}/tags/green"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(t, "TagNotFound");
    let v = app
        .expect(200, "GET", &format!("/networks/{id}/tags"), ALICE, None)
        .await;
    assert_eq!(v["tags"], json!(["blue", "red"]));
    let shown = app
        .expect(200, "GET", &format!("/networks/{id}"), ALICE, None)
        .await;
    assert_eq!(shown["network"]["tags"], json!(["blue", "red"]));
    assert_eq!(
        app.ids("/networks?tags=red,blue", ALICE, "networks").await,
        vec![id.clone()]
    );
    assert_eq!(
        app.ids("/networks?tags-any=red,green", ALICE, "networks")
            .await,
        vec![id.clone()]
    );
    assert_eq!(
        app.ids("/networks?not-tags=red", ALICE, "networks").await,
        vec![s(&other["id"]).to_string()]
    );
    assert_eq!(
        app.ids("/networks?not-tags-any=blue", ALICE, "networks")
            .await
            .len(),
        1
    );
    let v = app
        .expect(
            200,
            "PUT",
            &format!("/networks/{id}/tags"),
            ALICE,
            Some(&json!({"tags": ["x", "y"]})),
        )
        .await;
    assert_eq!(v["tags"], json!(["x", "y"]));
    app.expect(
        204,
        "DELETE",
        &format!("/networks/{id}/tags/x"),
        ALICE,
        None,
    )
    .await;
    app.expect(
        404,
        "DELETE",
        &format!("/networks/{id}/tags/x"),
        ALICE,
        None,
    )
    .await;
    app.expect(204, "DELETE", &format!("/networks/{id}/tags"), ALICE, None)
        .await;
    let v = app
        .expect(200, "GET", &format!("/networks/{id}/tags"), ALICE, None)
        .await;
    assert_eq!(v["tags"], json!([]));
    // Readers may not tag; others do not see the network.
    app.expect(403, "PUT", &format!("/networks/{id}/tags/z"), CAROL, None)
        .await;
    app.expect(404, "PUT", &format!("/networks/{id}/tags/z"), BOB, None)
        .await;
    app.expect(
        400,
        "PUT",
        &format!("/networks/{id}/tags"),
        ALICE,
        Some(&json!({"tags": [1]})),
    )
    .await;
    let long = "x".repeat(61);
    app.expect(
        400,
        "PUT",
        &format!("/networks/{id}/tags/{long}"),
        ALICE,
        None,
    )
    .await;
}
