//! Listing servers: Nova's filters (name regex, status, image, flavor, tags, ip,
//! changes-since, deleted, all_tenants), sorting, paging with `servers_links`, and
//! what each project and persona sees; plus metadata, tags and ips routes.

mod support;

use nimbus_image::types::Visibility;
use serde_json::{json, Value};
use support::cloud::*;
use support::*;

const MV: Option<&str> = Some("2.79");

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn filters_paging_and_visibility() {
    let app = App::new().await;
    app.hypervisor("node1", 16, 65536).await;
    let _cloud = app.run_cloud("node1");
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let net_b = app.network(PROJECT_B, "netb", 2).await;
    let mut ids = Vec::new();
    for (name, tags) in [
        ("web-1", vec!["web", "prod"]),
        ("web-2", vec!["web"]),
        ("db", vec![]),
    ] {
        let mut body = create_body(name, &image, &net);
        body["server"]["tags"] = json!(tags);
        let r = app
            .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
            .await;
        ids.push(r["server"]["id"].as_str().unwrap().to_string());
    }
    let bob = app
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            BOB,
            Some(&create_body("bobs", &image, &net_b)),
        )
        .await;
    let bob_id = bob["server"]["id"].as_str().unwrap().to_string();
    for id in &ids {
        app.wait_status(ALICE, id, "ACTIVE").await;
    }

    let q = |query: &str| format!("/servers/detail?{query}");
    let all = app.expect(200, MV, "GET", &q(""), ALICE, None).await;
    assert_eq!(names(&all), ["db", "web-1", "web-2"]);
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("name=^web"), ALICE, None)
                .await
        ),
        ["web-1", "web-2"]
    );
    assert_eq!(
        names(&app.expect(200, MV, "GET", &q("name=b-"), ALICE, None).await),
        ["web-1", "web-2"]
    );
    assert_eq!(
        names(
            &app.expect(
                200,
                MV,
                "GET",
                &q("status=active&deleted=False"),
                ALICE,
                None
            )
            .await
        ),
        ["db", "web-1", "web-2"]
    );
    assert!(names(
        &app.expect(200, MV, "GET", &q("status=SHUTOFF"), ALICE, None)
            .await
    )
    .is_empty());
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("tags=web,prod"), ALICE, None)
                .await
        ),
        ["web-1"]
    );
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("tags-any=prod,web"), ALICE, None)
                .await
        ),
        ["web-1", "web-2"]
    );
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("not-tags-any=web"), ALICE, None)
                .await
        ),
        ["db"]
    );
    assert_eq!(
        names(
            &app.expect(
                200,
                MV,
                "GET",
                &q(&format!("image={image}&flavor=SCS-1V-4")),
                ALICE,
                None
            )
            .await
        ),
        ["db", "web-1", "web-2"]
    );
    assert!(names(
        &app.expect(200, MV, "GET", &q("flavor=nope"), ALICE, None)
            .await
    )
    .is_empty());
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("ip=10.1.0."), ALICE, None)
                .await
        )
        .len(),
        3
    );
    assert!(names(
        &app.expect(
            200,
            MV,
            "GET",
            &q("changes-since=2999-01-01T00:00:00Z"),
            ALICE,
            None
        )
        .await
    )
    .is_empty());
    app.expect(400, MV, "GET", &q("changes-since=yesterday"), ALICE, None)
        .await;
    app.expect(400, MV, "GET", &q("sort_key=bogus"), ALICE, None)
        .await;
    let sorted = app
        .expect(
            200,
            MV,
            "GET",
            &q("sort_key=display_name&sort_dir=asc"),
            ALICE,
            None,
        )
        .await;
    let order: Vec<&str> = sorted["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["db", "web-1", "web-2"]);

    // Paging: a full page gets a next link with the marker.
    let page = app
        .expect(
            200,
            MV,
            "GET",
            "/servers?limit=2&sort_key=display_name&sort_dir=asc",
            ALICE,
            None,
        )
        .await;
    assert_eq!(page["servers"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["servers"][0].as_object().unwrap().len(),
        3,
        "brief items"
    );
    let next = page["servers_links"][0]["href"].as_str().unwrap();
    assert!(next.contains(&format!(
        "marker={}",
        page["servers"][1]["id"].as_str().unwrap()
    )));
    let marker = page["servers"][1]["id"].as_str().unwrap();
    let rest = app
        .expect(
            200,
            MV,
            "GET",
            &format!("/servers?limit=2&sort_key=display_name&sort_dir=asc&marker={marker}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(rest["servers"][0]["name"], "web-2");
    assert!(rest.get("servers_links").is_none());
    app.expect(400, MV, "GET", "/servers?marker=nope", ALICE, None)
        .await;

    // Projects and personas.
    assert_eq!(
        names(&app.expect(200, MV, "GET", &q(""), BOB, None).await),
        ["bobs"]
    );
    assert_eq!(
        names(&app.expect(200, MV, "GET", &q(""), CAROL, None).await).len(),
        3
    );
    app.expect(403, MV, "GET", &q("all_tenants=1"), ALICE, None)
        .await;
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("all_tenants=True"), ADMIN, None)
                .await
        )
        .len(),
        4
    );
    assert_eq!(
        names(
            &app.expect(
                200,
                MV,
                "GET",
                &q(&format!("all_tenants=1&project_id={PROJECT_B}")),
                ADMIN,
                None
            )
            .await
        ),
        ["bobs"]
    );
    assert!(names(
        &app.expect(200, MV, "GET", &q("deleted=True"), ADMIN, None)
            .await
    )
    .is_empty());
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("all_tenants=1&host=node1"), ADMIN, None)
                .await
        )
        .len(),
        4
    );
    assert!(names(
        &app.expect(200, MV, "GET", &q("all_tenants=1&host=node9"), ADMIN, None)
            .await
    )
    .is_empty());
    // `host` is an admin filter: ignored for others.
    assert_eq!(
        names(
            &app.expect(200, MV, "GET", &q("host=node9"), ALICE, None)
                .await
        )
        .len(),
        3
    );
    // A reader cannot create.
    app.expect(
        403,
        MV,
        "POST",
        "/servers",
        CAROL,
        Some(&create_body("x", &image, &net)),
    )
    .await;
    app.expect(404, MV, "GET", &format!("/servers/{bob_id}"), ALICE, None)
        .await;
    app.expect(404, MV, "GET", "/servers/not-a-uuid", ALICE, None)
        .await;
}

#[tokio::test]
async fn metadata_tags_and_ips() {
    let app = App::new().await;
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let mut body = create_body("vm", &image, &net);
    body["server"]["metadata"] = json!({"a": "1"});
    let r = app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let base = format!("/servers/{id}");
    let m = app
        .expect(
            200,
            MV,
            "POST",
            &format!("{base}/metadata"),
            ALICE,
            Some(&json!({"metadata": {"b": "2"}})),
        )
        .await;
    assert_eq!(m["metadata"], json!({"a": "1", "b": "2"}));
    app.expect(
        200,
        MV,
        "PUT",
        &format!("{base}/metadata/c"),
        ALICE,
        Some(&json!({"meta": {"c": "3"}})),
    )
    .await;
    app.expect(
        400,
        MV,
        "PUT",
        &format!("{base}/metadata/c"),
        ALICE,
        Some(&json!({"meta": {"d": "3"}})),
    )
    .await;
    let one = app
        .expect(200, MV, "GET", &format!("{base}/metadata/c"), ALICE, None)
        .await;
    assert_eq!(one["meta"]["c"], "3");
    app.expect(
        204,
        MV,
        "DELETE",
        &format!("{base}/metadata/a"),
        ALICE,
        None,
    )
    .await;
    app.expect(
        404,
        MV,
        "DELETE",
        &format!("{base}/metadata/a"),
        ALICE,
        None,
    )
    .await;
    let m = app
        .expect(
            200,
            MV,
            "PUT",
            &format!("{base}/metadata"),
            ALICE,
            Some(&json!({"metadata": {"z": "9"}})),
        )
        .await;
    assert_eq!(m["metadata"], json!({"z": "9"}));
    app.expect(
        403,
        MV,
        "POST",
        &format!("{base}/metadata"),
        CAROL,
        Some(&json!({"metadata": {"b": "2"}})),
    )
    .await;

    app.expect(201, MV, "PUT", &format!("{base}/tags/blue"), ALICE, None)
        .await;
    app.expect(204, MV, "PUT", &format!("{base}/tags/blue"), ALICE, None)
        .await;
    app.expect(204, MV, "GET", &format!("{base}/tags/blue"), ALICE, None)
        .await;
    app.expect(404, MV, "GET", &format!("{base}/tags/red"), ALICE, None)
        .await;
    app.expect(
        404,
        Some("2.25"),
        "GET",
        &format!("{base}/tags"),
        ALICE,
        None,
    )
    .await;
    let t = app
        .expect(
            200,
            MV,
            "PUT",
            &format!("{base}/tags"),
            ALICE,
            Some(&json!({"tags": ["x", "y"]})),
        )
        .await;
    assert_eq!(t["tags"], json!(["x", "y"]));
    app.expect(
        400,
        MV,
        "PUT",
        &format!("{base}/tags"),
        ALICE,
        Some(&json!({"tags": ["a/b"]})),
    )
    .await;
    app.expect(204, MV, "DELETE", &format!("{base}/tags"), ALICE, None)
        .await;
    let t = app
        .expect(200, MV, "GET", &format!("{base}/tags"), ALICE, None)
        .await;
    assert_eq!(t["tags"], json!([]));

    let ips = app
        .expect(200, MV, "GET", &format!("{base}/ips"), ALICE, None)
        .await;
    assert!(ips["addresses"]["net1"][0]["addr"]
        .as_str()
        .unwrap()
        .starts_with("10.1.0."));
    app.expect(200, MV, "GET", &format!("{base}/ips/net1"), ALICE, None)
        .await;
    app.expect(404, MV, "GET", &format!("{base}/ips/other"), ALICE, None)
        .await;
    let ifs = app
        .expect(200, MV, "GET", &format!("{base}/os-interface"), ALICE, None)
        .await;
    let port = ifs["interfaceAttachments"][0]["port_id"].as_str().unwrap();
    assert_eq!(ifs["interfaceAttachments"][0]["net_id"], net.as_str());
    app.expect(
        200,
        MV,
        "GET",
        &format!("{base}/os-interface/{port}"),
        ALICE,
        None,
    )
    .await;
    app.expect(
        409,
        MV,
        "POST",
        &format!("{base}/os-interface"),
        ALICE,
        Some(&json!({"interfaceAttachment": {}})),
    )
    .await;
    let sgs = app
        .expect(
            200,
            MV,
            "GET",
            &format!("{base}/os-security-groups"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(sgs["security_groups"][0]["name"], "default");

    let upd = app
        .expect(
            200,
            MV,
            "PUT",
            &base,
            ALICE,
            Some(&json!({"server": {"name": "renamed", "description": "d"}})),
        )
        .await;
    assert_eq!(upd["server"]["name"], "renamed");
    assert_eq!(upd["server"]["description"], "d");
    app.expect(
        400,
        Some("2.18"),
        "PUT",
        &base,
        ALICE,
        Some(&json!({"server": {"description": "d"}})),
    )
    .await;
}
