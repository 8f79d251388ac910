//! Visibility across projects: private images are invisible (404) to other
//! projects; public ones need a cloud admin to publish; community images are open
//! but listed only on request; shared images reach the projects they are shared
//! with, listed once accepted; members answer only for themselves.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn private_images_of_another_project_are_404() {
    let app = App::new().await;
    let id = app
        .create_raw("alice", "secret", json!({"visibility": "private"}))
        .await;
    assert_eq!(app.show("alice", &id).await.code(), 200);
    assert_eq!(app.show("admin", &id).await.code(), 200);
    for (method, path) in [
        ("GET", format!("/images/{id}")),
        ("DELETE", format!("/images/{id}")),
        ("GET", format!("/images/{id}/file")),
        ("PUT", format!("/images/{id}/tags/x")),
        ("GET", format!("/images/{id}/members")),
        ("POST", format!("/images/{id}/actions/deactivate")),
    ] {
        let r = app.call("bob", method, &path, None).await;
        assert_eq!(r.code(), 404, "{method} {path}");
        assert_eq!(glance_error_problem(&r), None);
    }
    assert!(app.list_ids("bob", "?visibility=all").await.is_empty());
    assert_eq!(app.list_ids("admin", "").await, [id]);
}

#[tokio::test]
async fn public_images_are_published_by_admins_only() {
    let app = App::new().await;
    let r = app
        .call(
            "alice",
            "POST",
            "/images",
            Some(json!({"name": "p", "visibility": "public"})),
        )
        .await;
    assert_eq!(r.code(), 403);
    let id = app
        .create_raw("admin", "pub", json!({"visibility": "public"}))
        .await;
    assert_eq!(app.show("bob", &id).await.json()["visibility"], "public");
    assert_eq!(app.list_ids("bob", "").await, [id.as_str()]);
    assert_eq!(
        app.list_ids("bob", "?visibility=public").await,
        [id.as_str()]
    );
    // visible, but not bob's to change: 403, not 404
    let r = app
        .patch(
            "bob",
            &id,
            json!([{"op": "replace", "path": "/name", "value": "mine"}]),
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call("bob", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(r.code(), 403);
}

#[tokio::test]
async fn community_images_are_open_but_listed_on_request() {
    let app = App::new().await;
    let id = app
        .create_raw("alice", "comm", json!({"visibility": "community"}))
        .await;
    assert_eq!(app.show("bob", &id).await.code(), 200);
    assert!(app.list_ids("bob", "").await.is_empty());
    assert_eq!(
        app.list_ids("bob", "?visibility=community").await,
        [id.as_str()]
    );
    assert_eq!(app.list_ids("alice", "").await, [id]);
}

#[tokio::test]
async fn shared_images_and_member_flows() {
    let app = App::new().await;
    let id = app.create_raw("alice", "shared", json!({})).await;
    let members = format!("/images/{id}/members");
    assert_eq!(app.show("bob", &id).await.code(), 404);

    // only the owner adds members; only shared images have them
    let r = app
        .call("bob", "POST", &members, Some(json!({"member": "pb"})))
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call("alice", "POST", &members, Some(json!({"member": "pb"})))
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["status"], "pending");
    assert_eq!(m["member_id"], "pb");
    assert_eq!(m["image_id"], id);
    assert_eq!(m["schema"], "/v2/schemas/member");
    let r = app
        .call("alice", "POST", &members, Some(json!({"member": "pb"})))
        .await;
    assert_eq!(r.code(), 409);
    app.call("alice", "POST", &members, Some(json!({"member": "pc"})))
        .await;

    // pending: bob can show it, but his default list leaves it out
    assert_eq!(app.show("bob", &id).await.code(), 200);
    assert!(app.list_ids("bob", "").await.is_empty());
    assert_eq!(
        app.list_ids("bob", "?member_status=pending").await,
        [id.as_str()]
    );
    assert_eq!(
        app.list_ids("bob", "?member_status=all").await,
        [id.as_str()]
    );

    // the owner sees every member, a member only herself
    let all = app.call("alice", "GET", &members, None).await.json();
    assert_eq!(all["members"].as_array().unwrap().len(), 2);
    assert_eq!(all["schema"], "/v2/schemas/members");
    let own = app.call("bob", "GET", &members, None).await.json();
    assert_eq!(own["members"].as_array().unwrap().len(), 1);
    let r = app.call("bob", "GET", &format!("{members}/pc"), None).await;
    assert_eq!(r.code(), 404);
    assert_eq!(
        app.call("bob", "GET", &format!("{members}/pb"), None)
            .await
            .code(),
        200
    );

    // the owner may not accept for bob; bob accepts for himself
    let accept = json!({"status": "accepted"});
    let r = app
        .call(
            "alice",
            "PUT",
            &format!("{members}/pb"),
            Some(accept.clone()),
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            "bob",
            "PUT",
            &format!("{members}/pb"),
            Some(json!({"status": "maybe"})),
        )
        .await;
    assert_eq!(r.code(), 400);
    let r = app
        .call("bob", "PUT", &format!("{members}/pb"), Some(accept))
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.json()["status"], "accepted");
    assert_eq!(app.list_ids("bob", "").await, [id.as_str()]);
    assert_eq!(
        app.list_ids("bob", "?visibility=shared").await,
        [id.as_str()]
    );
    // members read and download, but do not write
    let ops = json!([{"op": "replace", "path": "/name", "value": "bob's"}]);
    assert_eq!(app.patch("bob", &id, ops).await.code(), 403);
    let r = app
        .call("bob", "DELETE", &format!("{members}/pc"), None)
        .await;
    assert_eq!(r.code(), 404);

    // turning the image private hides it from members again
    let private = json!([{"op": "replace", "path": "/visibility", "value": "private"}]);
    assert_eq!(app.patch("alice", &id, private).await.code(), 200);
    assert_eq!(app.show("bob", &id).await.code(), 404);
    let r = app
        .call("alice", "POST", &members, Some(json!({"member": "pd"})))
        .await;
    assert_eq!(r.code(), 403);
    let shared = json!([{"op": "replace", "path": "/visibility", "value": "shared"}]);
    assert_eq!(app.patch("alice", &id, shared).await.code(), 200);
    assert_eq!(app.show("bob", &id).await.code(), 200);

    // the owner removes a member: the image is gone for her
    let r = app
        .call("alice", "DELETE", &format!("{members}/pb"), None)
        .await;
    assert_eq!(r.code(), 204);
    assert_eq!(app.show("bob", &id).await.code(), 404);
    let r = app
        .call("alice", "DELETE", &format!("{members}/pb"), None)
        .await;
    assert_eq!(r.code(), 404);
    // bad member bodies
    for body in [
        json!({}),
        json!({"member": ""}),
        json!({"member": 5}),
        json!([]),
    ] {
        let r = app
            .call("alice", "POST", &members, Some(body.clone()))
            .await;
        assert_eq!(r.code(), 400, "{body}");
    }
    // deleting the image deletes its memberships
    app.call("alice", "DELETE", &format!("/images/{id}"), None)
        .await;
    let left = app
        .store
        .store
        .list::<nimbus_image::types::ImageMember>(None)
        .await
        .unwrap();
    assert!(left.is_empty());
}
