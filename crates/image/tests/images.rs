//! The image records: discovery, create/show/delete, JSON-patch operations, tags,
//! list filters (`id=in:`, name, status, tag, properties, visibility), sorting,
//! pagination with `next`, schemas, deactivation, and the audit trail.

mod support;

use nimbus_api::audit::AuditRecord;
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn discovery_lists_versions_with_self_links() {
    let app = App::new().await;
    for path in ["/image", "/image/"] {
        let r = app.call("anon", "GET", path, None).await;
        assert_eq!(r.code(), 300, "{path}");
        let versions = r.json()["versions"].as_array().expect("versions").clone();
        assert_eq!(versions[0]["status"], "CURRENT");
        assert!(versions.iter().skip(1).all(|v| v["status"] == "SUPPORTED"));
        assert_eq!(
            versions[0]["links"][0],
            json!({"rel": "self", "href": "http://127.0.0.1:1/image/v2/"})
        );
    }
    for schema in ["image", "images", "member", "members"] {
        let r = app
            .call("alice", "GET", &format!("/schemas/{schema}"), None)
            .await;
        assert_eq!(r.code(), 200);
        assert_eq!(r.json()["name"], schema);
    }
}

#[tokio::test]
async fn create_show_delete() {
    let app = App::new().await;
    let r = app
        .call(
            "alice",
            "POST",
            "/images",
            Some(
                json!({"name": "img1", "disk_format": "qcow2", "container_format": "bare",
                        "min_ram": 256, "tags": ["a", "b"], "os_distro": "nimbus",
                        "hw_disk_bus": "virtio", "owner_specified.openstack.md5": ""}),
            ),
        )
        .await;
    assert_eq!(r.code(), 201, "{}", r.text());
    let img = r.json();
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location").unwrap(),
        format!("http://127.0.0.1:1/image/v2/images/{id}")
    );
    assert_eq!(img["status"], "queued");
    assert_eq!(img["visibility"], "shared");
    assert_eq!(img["owner"], "pa");
    assert_eq!(img["os_distro"], "nimbus");
    assert_eq!(img["tags"], json!(["a", "b"]));
    assert_eq!(img["min_ram"], 256);
    assert_eq!(img["self"], format!("/v2/images/{id}"));
    assert_eq!(img["file"], format!("/v2/images/{id}/file"));
    assert_eq!(img["schema"], "/v2/schemas/image");
    for null in ["size", "checksum", "os_hash_value", "virtual_size"] {
        assert!(img[null].is_null(), "{null}");
    }
    assert_eq!(app.show("alice", &id).await.json(), img);
    assert_eq!(app.show("rita", &id).await.code(), 200);

    // a chosen id, then the same id again
    let chosen = "1bea47ed-f6a9-463b-b423-14b9cca9ad27";
    let r = app
        .call("alice", "POST", "/images", Some(json!({"id": chosen})))
        .await;
    assert_eq!(r.code(), 201);
    assert!(r.json()["name"].is_null());
    let r = app
        .call("alice", "POST", "/images", Some(json!({"id": chosen})))
        .await;
    assert_eq!(r.code(), 409);

    // readers may not create or delete; unknown ids are 404
    let r = app
        .call("rita", "POST", "/images", Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call("rita", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(r.code(), 403);
    assert_eq!(app.show("alice", "cirros").await.code(), 404);

    // protected images refuse deletion until unprotected
    app.patch(
        "alice",
        &id,
        json!([{"op": "replace", "path": "/protected", "value": true}]),
    )
    .await;
    let r = app
        .call("alice", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(r.code(), 403);
    app.patch(
        "alice",
        &id,
        json!([{"op": "replace", "path": "/protected", "value": false}]),
    )
    .await;
    let r = app
        .call("alice", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(r.code(), 204);
    assert_eq!(app.show("alice", &id).await.code(), 404);
    let r = app
        .call("alice", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(r.code(), 404);
    let e = app.show("alice", &id).await;
    assert_eq!(glance_error_problem(&e), None);
    assert!(e.text().contains(&format!("No image found with ID {id}")));

    // every change left an audit record
    let actions: Vec<String> = app
        .store
        .store
        .list::<AuditRecord>(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.value.target_id == id)
        .map(|r| r.value.action)
        .collect();
    assert_eq!(
        actions,
        [
            "image.image.create",
            "image.image.update",
            "image.image.update",
            "image.image.delete"
        ]
    );
}

#[tokio::test]
async fn json_patch_operations() {
    let app = App::new().await;
    let id = app.create_raw("alice", "p1", json!({})).await;
    let r = app
        .patch(
            "alice",
            &id,
            json!([
                {"op": "replace", "path": "/name", "value": "renamed"},
                {"op": "add", "path": "/os_distro", "value": "nimbus"},
                {"op": "add", "path": "/kernel_id", "value": "k"},
                {"op": "replace", "path": "/min_disk", "value": 2},
                {"op": "add", "path": "/tags", "value": ["x", "y"]},
                {"op": "add", "path": "/tags/-", "value": "z"},
                {"op": "replace", "path": "/visibility", "value": "private"},
                {"op": "replace", "path": "/disk_format", "value": "qcow2"},
            ]),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let img = r.json();
    assert_eq!(img["name"], "renamed");
    assert_eq!(img["os_distro"], "nimbus");
    assert_eq!(img["kernel_id"], "k");
    assert_eq!(img["min_disk"], 2);
    assert_eq!(img["tags"], json!(["x", "y", "z"]));
    assert_eq!(img["visibility"], "private");
    assert_eq!(img["disk_format"], "qcow2");

    let r = app
        .patch(
            "alice",
            &id,
            json!([{"op": "remove", "path": "/kernel_id"},
                                     {"op": "remove", "path": "/tags/0"}]),
        )
        .await;
    assert_eq!(r.code(), 200);
    assert!(r.json().get("kernel_id").is_none());
    assert_eq!(r.json()["tags"], json!(["y", "z"]));

    // refused operations change nothing
    for (ops, code) in [
        (
            json!([{"op": "replace", "path": "/nothing", "value": "v"}]),
            409,
        ),
        (json!([{"op": "remove", "path": "/nothing"}]), 409),
        (json!([{"op": "remove", "path": "/name"}]), 403),
        (
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
            403,
        ),
        (json!([{"op": "replace", "path": "/id", "value": "x"}]), 403),
        (
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
            403,
        ),
        (
            json!([{"op": "replace", "path": "/visibility", "value": "secret"}]),
            400,
        ),
        (
            json!([{"op": "replace", "path": "/min_ram", "value": "1"}]),
            400,
        ),
        (
            json!([{"op": "add", "path": "/os_distro", "value": 5}]),
            400,
        ),
        (json!([{"op": "move", "from": "/name", "path": "/x"}]), 400),
        (json!([{"op": "add", "path": "name", "value": "v"}]), 400),
        (json!([{"op": "add", "path": "/a/b", "value": "v"}]), 400),
        (json!({"op": "add", "path": "/name", "value": "v"}), 400),
        (
            json!([{"op": "add", "path": "/name", "value": "ok"},
                {"op": "remove", "path": "/nothing"}]),
            409,
        ),
    ] {
        let r = app.patch("alice", &id, ops.clone()).await;
        assert_eq!(r.code(), code, "{ops}: {}", r.text());
        assert_eq!(glance_error_problem(&r), None);
    }
    assert_eq!(app.show("alice", &id).await.json()["name"], "renamed");

    // wrong media type; other project; reader
    let r = app
        .raw(
            "alice",
            "PATCH",
            &format!("/images/{id}"),
            &[("content-type", "application/json")],
            "[]",
        )
        .await;
    assert_eq!(r.code(), 415);
    let ops = json!([{"op": "replace", "path": "/name", "value": "stolen"}]);
    assert_eq!(app.patch("bob", &id, ops.clone()).await.code(), 404);
    assert_eq!(app.patch("rita", &id, ops.clone()).await.code(), 403);
    // the admin may publicize and give the image away
    let r = app
        .patch(
            "admin",
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "public"},
                                     {"op": "replace", "path": "/owner", "value": "pb"}]),
        )
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.json()["owner"], "pb");
    let r = app
        .patch(
            "bob",
            &id,
            json!([{"op": "replace", "path": "/owner", "value": "pc"}]),
        )
        .await;
    assert_eq!(r.code(), 403);
}

#[tokio::test]
async fn tags_endpoints() {
    let app = App::new().await;
    let id = app.create_raw("alice", "t", json!({})).await;
    for _ in 0..2 {
        let r = app
            .call("alice", "PUT", &format!("/images/{id}/tags/blue"), None)
            .await;
        assert_eq!(r.code(), 204);
    }
    assert_eq!(app.show("alice", &id).await.json()["tags"], json!(["blue"]));
    let r = app
        .call("bob", "PUT", &format!("/images/{id}/tags/red"), None)
        .await;
    assert_eq!(r.code(), 404);
    let long = "x".repeat(256);
    let r = app
        .call("alice", "PUT", &format!("/images/{id}/tags/{long}"), None)
        .await;
    assert_eq!(r.code(), 400);
    let r = app
        .call("alice", "DELETE", &format!("/images/{id}/tags/blue"), None)
        .await;
    assert_eq!(r.code(), 204);
    let r = app
        .call("alice", "DELETE", &format!("/images/{id}/tags/blue"), None)
        .await;
    assert_eq!(r.code(), 404);
    let many: Vec<String> = (0..129).map(|i| format!("t{i}")).collect();
    let r = app
        .patch(
            "alice",
            &id,
            json!([{"op": "replace", "path": "/tags", "value": many}]),
        )
        .await;
    assert_eq!(r.code(), 413);
}

#[tokio::test]
async fn list_filters() {
    let app = App::new().await;
    let a = app
        .create_raw(
            "alice",
            "alpha",
            json!({"tags": ["t1", "t2"], "os_distro": "debian"}),
        )
        .await;
    let b = app
        .create_raw(
            "alice",
            "beta",
            json!({"tags": ["t1"], "disk_format": "qcow2"}),
        )
        .await;
    let c = app
        .create_raw("alice", "gamma", json!({"visibility": "private"}))
        .await;
    let hidden = app
        .create_raw("alice", "hidden", json!({"os_hidden": true}))
        .await;
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = sorted(vec![a.clone(), b.clone(), c.clone()]);
    assert_eq!(sorted(app.list_ids("alice", "").await), all);
    assert_eq!(app.list_ids("alice", "?name=beta").await, [b.as_str()]);
    assert_eq!(
        sorted(app.list_ids("alice", &format!("?id=in:{a},{c}")).await),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(
        sorted(app.list_ids("alice", "?name=in:alpha,%22beta%22").await),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(app.list_ids("alice", "?tag=t1&tag=t2").await, [a.as_str()]);
    assert_eq!(
        app.list_ids("alice", "?os_distro=debian").await,
        [a.as_str()]
    );
    assert_eq!(
        app.list_ids("alice", "?disk_format=qcow2").await,
        [b.as_str()]
    );
    assert_eq!(
        app.list_ids("alice", "?visibility=private").await,
        [c.as_str()]
    );
    assert_eq!(
        app.list_ids("alice", "?status=active").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.list_ids("alice", "?os_hidden=true").await,
        [hidden.as_str()]
    );
    assert_eq!(
        app.list_ids("alice", "?owner=pb").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.list_ids("alice", "?created_at=gte:2000-01-01T00:00:00Z&name=gamma")
            .await,
        [c.as_str()]
    );
    assert_eq!(
        app.list_ids("alice", "?sort=name:asc").await,
        [a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        app.list_ids("alice", "?sort_key=name&sort_dir=desc").await,
        [c.clone(), b.clone(), a.clone()]
    );
    // bob sees none of alice's images (shared without membership, private)
    assert!(app.list_ids("bob", "").await.is_empty());
    for bad in [
        "?visibility=secret",
        "?limit=-1",
        "?limit=x",
        "?sort_key=bogus",
        "?sort=name&sort_key=name",
        "?member_status=maybe",
        "?marker=unknown",
        "?size_min=big",
    ] {
        let r = app
            .call("alice", "GET", &format!("/images{bad}"), None)
            .await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
        assert_eq!(glance_error_problem(&r), None);
    }
    let r = app.call("anon", "GET", "/images", None).await;
    assert_eq!(r.code(), 401);
    assert_eq!(glance_error_problem(&r), None);
}

#[tokio::test]
async fn pagination_follows_next_to_the_end() {
    let app = App::new().await;
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(
            app.create_raw("alice", &format!("page{n}"), json!({}))
                .await,
        );
    }
    let first = app
        .call("alice", "GET", "/images?limit=3&sort=name:asc", None)
        .await;
    let body = first.json();
    assert_eq!(body["first"], "/v2/images?limit=3&sort=name:asc");
    assert_eq!(body["schema"], "/v2/schemas/images");
    let mut seen = ids(&body["images"]);
    let mut next = body["next"].as_str().map(str::to_string);
    let mut pages = 1;
    while let Some(link) = next {
        // clients strip the version prefix and append the rest to their endpoint
        let path = link.strip_prefix("/v2").expect("relative /v2 link");
        let r = app.call("alice", "GET", path, None).await;
        assert_eq!(r.code(), 200, "{link}: {}", r.text());
        seen.extend(ids(&r.json()["images"]));
        next = r.json()["next"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
    // the default page is 25; no `next` on the last page
    let all = app.call("alice", "GET", "/images", None).await.json();
    assert_eq!(all["images"].as_array().unwrap().len(), 7);
    assert!(all.get("next").is_none());
    assert_eq!(all["first"], "/v2/images");
    let none = app
        .call("alice", "GET", "/images?limit=0", None)
        .await
        .json();
    assert_eq!(none["images"], json!([]));
}

#[tokio::test]
async fn deactivation_blocks_downloads_for_non_admins() {
    let app = App::new().await;
    let id = app.create_raw("alice", "d", json!({})).await;
    let deactivate = format!("/images/{id}/actions/deactivate");
    let reactivate = format!("/images/{id}/actions/reactivate");
    assert_eq!(
        app.call("alice", "POST", &deactivate, None).await.code(),
        403
    );
    assert_eq!(app.upload("alice", &id, b"data".to_vec()).await.code(), 204);
    assert_eq!(
        app.call("alice", "POST", &deactivate, None).await.code(),
        204
    );
    assert_eq!(app.show("alice", &id).await.json()["status"], "deactivated");
    let file = format!("/images/{id}/file");
    assert_eq!(app.call("alice", "GET", &file, None).await.code(), 403);
    assert_eq!(app.call("admin", "GET", &file, None).await.code(), 200);
    assert_eq!(app.call("bob", "POST", &reactivate, None).await.code(), 404);
    assert_eq!(
        app.call("alice", "POST", &reactivate, None).await.code(),
        204
    );
    assert_eq!(app.show("alice", &id).await.json()["status"], "active");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_glance_dialect() {
    let app = App::new().await;
    for (method, path, code) in [
        ("GET", "/image/v2/nothing", 404),
        ("GET", "/image/v3/images", 404),
        ("POST", "/image/v2/schemas/image", 405),
        ("PUT", "/image/v2/images", 405),
    ] {
        let r = app.call("alice", method, path, None).await;
        assert_eq!(r.code(), code, "{method} {path}");
        assert_eq!(glance_error_problem(&r), None, "{method} {path}");
    }
    let v: Value = app.call("alice", "GET", "/images", None).await.json();
    assert_eq!(v["images"], json!([]));
}
