//! Flavors as the clients use them: the seeded list, fields per microversion,
//! CRUD as admin and member, private flavors and their access lists, extra specs,
//! filters, sorting and paging.

mod support;

use serde_json::{json, Value};
use support::*;

fn names(v: &Value) -> Vec<String> {
    v["flavors"]
        .as_array()
        .expect("flavors")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn seeded_flavors_are_listed_for_everyone() {
    let app = App::new().await;
    for token in [ADMIN, ALICE, CAROL, AUDITOR] {
        let v = app
            .expect(
                200,
                Some("2.61"),
                "GET",
                "/flavors/detail?is_public=None",
                token,
                None,
            )
            .await;
        let n = names(&v);
        for want in [
            "SCS-1V-4",
            "SCS-2V-8",
            "SCS-1L-1",
            "SCS-4V-16-100s",
            "nimbus.tiny",
            "nimbus.small",
        ] {
            assert!(
                n.contains(&want.to_string()),
                "{token}: {want} missing from {n:?}"
            );
        }
    }
    let v = app
        .expect(200, Some("2.61"), "GET", "/flavors/SCS-2V-8", ALICE, None)
        .await;
    let f = &v["flavor"];
    assert_eq!(
        (f["vcpus"].as_u64(), f["ram"].as_u64(), f["disk"].as_u64()),
        (Some(2), Some(8192), Some(0))
    );
    assert_eq!(f["extra_specs"]["scs:name-v1"], "SCS-2V:8");
    assert_eq!(f["extra_specs"]["scs:cpu-type"], "shared-core");
    assert_eq!(f["os-flavor-access:is_public"], true);
    assert_eq!(f["OS-FLV-EXT-DATA:ephemeral"], 0);
    assert_eq!(f["OS-FLV-DISABLED:disabled"], false);
    assert_eq!(f["rxtx_factor"], 1.0);
    assert_eq!(
        f["links"][0]["href"],
        "http://127.0.0.1:1/compute/v2.1/flavors/SCS-2V-8"
    );
    // seeding again does nothing
    assert_eq!(
        nimbus_compute::seed::seed_flavors(&app.store.store)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn fields_follow_the_microversion() {
    let app = App::new().await;
    let f = &app
        .expect(200, None, "GET", "/flavors/nimbus.tiny", ALICE, None)
        .await["flavor"];
    assert_eq!(f["swap"], "");
    assert!(f.get("description").is_none() && f.get("extra_specs").is_none());
    let f = &app
        .expect(
            200,
            Some("2.55"),
            "GET",
            "/flavors/nimbus.tiny",
            ALICE,
            None,
        )
        .await["flavor"];
    assert!(f["description"].is_null() && f.get("extra_specs").is_none());
    let f = &app
        .expect(
            200,
            Some("2.75"),
            "GET",
            "/flavors/nimbus.tiny",
            ALICE,
            None,
        )
        .await["flavor"];
    assert_eq!(f["swap"], 0);
    assert_eq!(f["extra_specs"], json!({}));
    let brief = app
        .expect(200, Some("2.55"), "GET", "/flavors", ALICE, None)
        .await;
    let keys: Vec<&String> = brief["flavors"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
}

#[tokio::test]
async fn admins_manage_flavors_members_do_not() {
    let app = App::new().await;
    let body = json!({"flavor": {"name": "m1.test", "ram": 1024, "vcpus": "2", "disk": 10,
        "id": "m1-test", "swap": 512, "OS-FLV-EXT-DATA:ephemeral": 5, "rxtx_factor": "2.0",
        "description": "for tests"}});
    for token in [ALICE, CAROL, AUDITOR] {
        app.expect(403, Some("2.61"), "POST", "/flavors", token, Some(&body))
            .await;
    }
    let v = app
        .expect(200, Some("2.61"), "POST", "/flavors", ADMIN, Some(&body))
        .await;
    let f = &v["flavor"];
    assert_eq!(f["id"], "m1-test");
    assert_eq!(
        (
            f["vcpus"].as_u64(),
            f["swap"].as_u64(),
            f["rxtx_factor"].as_f64()
        ),
        (Some(2), Some(512), Some(2.0))
    );
    assert_eq!(f["description"], "for tests");
    assert_eq!(f["extra_specs"], json!({}));
    // duplicate name, duplicate id
    let v = app
        .expect(409, Some("2.61"), "POST", "/flavors", ADMIN, Some(&body))
        .await;
    assert!(v["conflictingRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("m1-test"));
    let same_name = json!({"flavor": {"name": "m1.test", "ram": 1, "vcpus": 1, "disk": 0}});
    let v = app
        .expect(409, None, "POST", "/flavors", ADMIN, Some(&same_name))
        .await;
    assert_eq!(
        v["conflictingRequest"]["message"],
        "Flavor with name m1.test already exists."
    );
    // no id: a UUID
    let anon = json!({"flavor": {"name": "anon", "ram": 64, "vcpus": 1, "disk": 0, "id": null}});
    let v = app
        .expect(200, None, "POST", "/flavors", ADMIN, Some(&anon))
        .await;
    assert_eq!(v["flavor"]["id"].as_str().unwrap().len(), 36);
    // description: PUT from 2.55 on, admins only
    let d = json!({"flavor": {"description": "changed"}});
    app.expect(
        403,
        Some("2.55"),
        "PUT",
        "/flavors/m1-test",
        ALICE,
        Some(&d),
    )
    .await;
    let v = app
        .expect(
            200,
            Some("2.55"),
            "PUT",
            "/flavors/m1-test",
            ADMIN,
            Some(&d),
        )
        .await;
    assert_eq!(v["flavor"]["description"], "changed");
    app.expect(404, Some("2.55"), "PUT", "/flavors/nope", ADMIN, Some(&d))
        .await;
    // delete: 202, then gone
    app.expect(403, None, "DELETE", "/flavors/m1-test", ALICE, None)
        .await;
    let r = app
        .at(None, "DELETE", "/flavors/m1-test", ADMIN, None)
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    app.expect(404, None, "GET", "/flavors/m1-test", ADMIN, None)
        .await;
    app.expect(404, None, "DELETE", "/flavors/m1-test", ADMIN, None)
        .await;
    // every change left an audit record
    let audit = app
        .store
        .store
        .list::<nimbus_api::audit::AuditRecord>(None)
        .await
        .unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .filter(|a| a.value.target_id == "m1-test")
        .map(|a| a.value.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "compute.flavor.create",
            "compute.flavor.update",
            "compute.flavor.delete"
        ]
    );
}

#[tokio::test]
async fn bad_flavor_bodies_are_400() {
    let app = App::new().await;
    let base = json!({"name": "x", "ram": 1, "vcpus": 1, "disk": 0});
    let with = |k: &str, v: Value| {
        let mut f = base.clone();
        f[k] = v;
        json!({ "flavor": f })
    };
    let bad = [
        json!({}),
        json!([]),
        json!({"flavor": "x"}),
        json!({"flavor": {"name": "x"}}),
        json!({"flavor": base.clone(), "extra": 1}),
        with("ram", json!(0)),
        with("ram", json!(-1)),
        with("ram", json!("1.5")),
        with("vcpus", json!(2147483648u64)),
        with("disk", json!(null)),
        with("name", json!("")),
        with("name", json!(" padded")),
        with("name", json!(42)),
        with("id", json!(" x")),
        with("id", json!("a/b")),
        with("id", json!(true)),
        with("rxtx_factor", json!(0)),
        with("rxtx_factor", json!("fast")),
        with("os-flavor-access:is_public", json!("maybe")),
        with("unknown", json!(1)),
        with("description", json!("below 2.55")),
    ];
    for body in bad {
        app.expect(400, None, "POST", "/flavors", ADMIN, Some(&body))
            .await;
    }
    let r = app
        .client
        .raw(
            "POST",
            "/compute/v2.1/flavors",
            Some(ADMIN),
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(r.code(), 400);
    assert_nova_error(&r);
}

#[tokio::test]
async fn private_flavors_are_seen_by_admins_and_projects_with_access() {
    let app = App::new().await;
    let body = json!({"flavor": {"name": "private", "ram": 128, "vcpus": 1, "disk": 1,
        "id": "priv", "os-flavor-access:is_public": false}});
    app.expect(200, None, "POST", "/flavors", ADMIN, Some(&body))
        .await;
    let listed = |v: Value| names(&v).contains(&"private".to_string());
    // members neither list nor see it
    for token in [ALICE, BOB] {
        let v = app
            .expect(
                200,
                None,
                "GET",
                "/flavors/detail?is_public=None",
                token,
                None,
            )
            .await;
        assert!(!listed(v), "{token}");
        app.expect(404, None, "GET", "/flavors/priv", token, None)
            .await;
        app.expect(
            404,
            None,
            "GET",
            "/flavors/priv/os-extra_specs",
            token,
            None,
        )
        .await;
    }
    // admins: is_public=None all, False only private, default public (+ shared)
    assert!(listed(
        app.expect(
            200,
            None,
            "GET",
            "/flavors/detail?is_public=None",
            ADMIN,
            None
        )
        .await
    ));
    let v = app
        .expect(200, None, "GET", "/flavors?is_public=False", ADMIN, None)
        .await;
    assert_eq!(names(&v), ["private"]);
    assert!(!listed(
        app.expect(200, None, "GET", "/flavors", ADMIN, None).await
    ));
    app.expect(400, None, "GET", "/flavors?is_public=perhaps", ADMIN, None)
        .await;
    // access: public flavors have no list; add needs a real project; 409 twice
    let v = app
        .expect(
            200,
            None,
            "GET",
            "/flavors/priv/os-flavor-access",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(v, json!({"flavor_access": []}));
    app.expect(
        404,
        None,
        "GET",
        "/flavors/SCS-1V-4/os-flavor-access",
        ADMIN,
        None,
    )
    .await;
    app.expect(
        403,
        None,
        "GET",
        "/flavors/priv/os-flavor-access",
        ALICE,
        None,
    )
    .await;
    let add = json!({"addTenantAccess": {"tenant": PROJECT_A}});
    app.expect(403, None, "POST", "/flavors/priv/action", ALICE, Some(&add))
        .await;
    let v = app
        .expect(200, None, "POST", "/flavors/priv/action", ADMIN, Some(&add))
        .await;
    assert_eq!(
        v,
        json!({"flavor_access": [{"flavor_id": "priv", "tenant_id": PROJECT_A}]})
    );
    app.expect(409, None, "POST", "/flavors/priv/action", ADMIN, Some(&add))
        .await;
    let ghost = json!({"addTenantAccess": {"tenant": "no-such-project"}});
    app.expect(
        400,
        None,
        "POST",
        "/flavors/priv/action",
        ADMIN,
        Some(&ghost),
    )
    .await;
    app.expect(
        409,
        Some("2.7"),
        "POST",
        "/flavors/SCS-1V-4/action",
        ADMIN,
        Some(&add),
    )
    .await;
    app.expect(404, None, "POST", "/flavors/nope/action", ADMIN, Some(&add))
        .await;
    app.expect(
        400,
        None,
        "POST",
        "/flavors/priv/action",
        ADMIN,
        Some(&json!({"reboot": {}})),
    )
    .await;
    // now alice's project sees it, bob's still does not
    assert!(listed(
        app.expect(200, None, "GET", "/flavors/detail", ALICE, None)
            .await
    ));
    assert!(listed(
        app.expect(200, None, "GET", "/flavors/detail", CAROL, None)
            .await
    ));
    app.expect(200, None, "GET", "/flavors/priv", ALICE, None)
        .await;
    app.expect(404, None, "GET", "/flavors/priv", BOB, None)
        .await;
    let bob = nimbus_api::testing::project_user("bob", PROJECT_B, &["member"]);
    let bob_view = app.compute.flavor(&bob, "priv").await;
    assert_eq!(bob_view.unwrap_err().status.as_u16(), 404);
    // remove
    let remove = json!({"removeTenantAccess": {"tenant": PROJECT_A}});
    let v = app
        .expect(
            200,
            None,
            "POST",
            "/flavors/priv/action",
            ADMIN,
            Some(&remove),
        )
        .await;
    assert_eq!(v, json!({"flavor_access": []}));
    app.expect(
        404,
        None,
        "POST",
        "/flavors/priv/action",
        ADMIN,
        Some(&remove),
    )
    .await;
    app.expect(404, None, "GET", "/flavors/priv", ALICE, None)
        .await;
}

#[tokio::test]
async fn extra_specs_are_read_by_all_and_written_by_admins() {
    let app = App::new().await;
    let p = "/flavors/nimbus.tiny/os-extra_specs";
    let v = app.expect(200, None, "GET", p, ALICE, None).await;
    assert_eq!(v, json!({"extra_specs": {}}));
    let body =
        json!({"extra_specs": {"hw:cpu_policy": "shared", "quota:disk_read_bytes_sec": 1000}});
    app.expect(403, None, "POST", p, ALICE, Some(&body)).await;
    let v = app.expect(200, None, "POST", p, ADMIN, Some(&body)).await;
    assert_eq!(v, body);
    let v = app.expect(200, None, "GET", p, CAROL, None).await;
    assert_eq!(v["extra_specs"]["quota:disk_read_bytes_sec"], "1000");
    let v = app
        .expect(200, None, "GET", &format!("{p}/hw:cpu_policy"), ALICE, None)
        .await;
    assert_eq!(v, json!({"hw:cpu_policy": "shared"}));
    app.expect(404, None, "GET", &format!("{p}/nope"), ALICE, None)
        .await;
    // update one key: body and URL must agree
    let upd = json!({"hw:cpu_policy": "dedicated"});
    app.expect(
        200,
        None,
        "PUT",
        &format!("{p}/hw:cpu_policy"),
        ADMIN,
        Some(&upd),
    )
    .await;
    app.expect(400, None, "PUT", &format!("{p}/other"), ADMIN, Some(&upd))
        .await;
    app.expect(
        400,
        None,
        "PUT",
        &format!("{p}/hw:cpu_policy"),
        ADMIN,
        Some(&json!({"a": "1", "b": "2"})),
    )
    .await;
    // in the flavor from 2.61
    let f = app
        .expect(
            200,
            Some("2.61"),
            "GET",
            "/flavors/nimbus.tiny",
            ALICE,
            None,
        )
        .await;
    assert_eq!(f["flavor"]["extra_specs"]["hw:cpu_policy"], "dedicated");
    // bad keys and values
    for bad in [
        json!({"extra_specs": {"bad/key": "x"}}),
        json!({"extra_specs": {"k": true}}),
        json!({"extra_specs": {"k": "x".repeat(256)}}),
        json!({"extra_specs": []}),
        json!({"specs": {}}),
    ] {
        app.expect(400, None, "POST", p, ADMIN, Some(&bad)).await;
    }
    // delete: 200, then 404
    let r = app
        .at(None, "DELETE", &format!("{p}/hw:cpu_policy"), ADMIN, None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    app.expect(
        404,
        None,
        "DELETE",
        &format!("{p}/hw:cpu_policy"),
        ADMIN,
        None,
    )
    .await;
    app.expect(
        403,
        None,
        "DELETE",
        &format!("{p}/quota:disk_read_bytes_sec"),
        ALICE,
        None,
    )
    .await;
    app.expect(
        404,
        None,
        "POST",
        "/flavors/nope/os-extra_specs",
        ADMIN,
        Some(&body),
    )
    .await;
}

#[tokio::test]
async fn filters_sorting_and_pages() {
    let app = App::new().await;
    let v = app
        .expect(
            200,
            None,
            "GET",
            "/flavors/detail?minRam=16384&minDisk=100",
            ALICE,
            None,
        )
        .await;
    assert_eq!(names(&v), ["SCS-4V-16-100s"]);
    app.expect(400, None, "GET", "/flavors?minRam=lots", ALICE, None)
        .await;
    app.expect(400, None, "GET", "/flavors?sort_key=colour", ALICE, None)
        .await;
    app.expect(400, None, "GET", "/flavors?sort_dir=up", ALICE, None)
        .await;
    let v = app
        .expect(
            200,
            None,
            "GET",
            "/flavors/detail?sort_key=memory_mb&sort_dir=desc",
            ALICE,
            None,
        )
        .await;
    let rams: Vec<u64> = v["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ram"].as_u64().unwrap())
        .collect();
    assert!(rams.windows(2).all(|w| w[0] >= w[1]), "{rams:?}");
    // pages of 5 with next links until the end
    let mut seen = vec![];
    let mut path = "/flavors?limit=5".to_string();
    loop {
        let v = app.expect(200, None, "GET", &path, ALICE, None).await;
        seen.extend(names(&v));
        match v["flavors_links"][0]["href"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with("http://127.0.0.1:1/compute/v2.1/flavors?"),
                    "{next}"
                );
                assert!(next.contains("limit=5"), "{next}");
                path = next
                    .trim_start_matches("http://127.0.0.1:1/compute/v2.1")
                    .to_string();
            }
            None => break,
        }
        assert!(seen.len() <= 17, "{seen:?}");
    }
    assert_eq!(seen.len(), 17, "{seen:?}");
    app.expect(400, None, "GET", "/flavors?marker=nope", ALICE, None)
        .await;
    app.expect(400, None, "GET", "/flavors?limit=-1", ALICE, None)
        .await;
    app.expect(400, None, "GET", "/flavors?limit=many", ALICE, None)
        .await;
    // unknown parameters: ignored before 2.75, 400 from it
    app.expect(200, Some("2.74"), "GET", "/flavors?colour=red", ALICE, None)
        .await;
    app.expect(400, Some("2.75"), "GET", "/flavors?colour=red", ALICE, None)
        .await;
    app.expect(
        200,
        Some("2.75"),
        "GET",
        "/flavors/detail?is_public=None",
        ALICE,
        None,
    )
    .await;
}
