//! The volume API in-process: discovery and microversions, volume CRUD in both URL
//! forms, list filters, sorting and pagination, metadata, actions, types, who may
//! do what (other projects get 404, readers cannot write), quotas and limits.

mod support;

use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn discovery_and_microversions() {
    let app = App::new().await;
    let r = app.client.call("GET", "/volume/v3/", None, None).await;
    assert_eq!(r.code(), 200);
    let v = &r.json()["versions"][0];
    assert_eq!(v["id"], "v3.0");
    assert_eq!(v["min_version"], "3.0");
    assert_eq!(v["version"], "3.67");
    assert!(v["links"][1]["href"]
        .as_str()
        .unwrap()
        .ends_with("/volume/v3/"));
    let r = app.client.call("GET", "/volume/", None, None).await;
    assert_eq!(r.code(), 300);
    let r = app.call_mv(ALICE, "GET", "/volumes", None, "3.68").await;
    assert_eq!(r.code(), 406, "{}", r.text());
    assert_eq!(r.json()["computeFault"]["code"], 406);
    let r = app.call_mv(ALICE, "GET", "/volumes", None, "3.x").await;
    assert_eq!(r.code(), 400);
    let r = app.call_mv(ALICE, "GET", "/volumes", None, "3.27").await;
    assert_eq!(r.code(), 200);
    assert_eq!(
        r.header("openstack-api-version").as_deref(),
        Some("volume 3.27")
    );
    let r = app
        .client
        .call("GET", "/volume/v3/volumes", None, None)
        .await;
    assert_eq!(r.code(), 401);
    let r = app
        .call(ALICE, "GET", "/volume/v3/nothing/here/at/all", None)
        .await;
    assert_eq!(r.code(), 404);
    assert_eq!(r.json()["itemNotFound"]["code"], 404);
}

#[tokio::test]
async fn volume_lifecycle_in_both_url_forms() {
    let app = App::new().await;
    let id = app
        .create_volume(
            ALICE,
            json!({"name": "vol1", "size": 1, "description": null,
            "volume_type": null, "availability_zone": null, "snapshot_id": null,
            "source_volid": null, "consistencygroup_id": null, "backup_id": null,
            "imageRef": null, "metadata": null}),
        )
        .await;
    app.settle().await;
    let v = app.volume(&id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["size"], 1);
    assert_eq!(v["volume_type"], "standard");
    assert_eq!(v["bootable"], "false");
    assert_eq!(v["encrypted"], false);
    assert_eq!(v["availability_zone"], "nova");
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(v["os-vol-tenant-attr:tenant_id"], PROJECT_A);
    assert_eq!(v["user_id"], "alice");

    let with_project = format!("/volume/v3/{PROJECT_A}/volumes/{id}");
    let r = app.call(ALICE, "GET", &with_project, None).await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json()["volume"]["name"], "vol1");
    let r = app
        .call(
            ALICE,
            "GET",
            &format!("/volume/v3/{PROJECT_B}/volumes/{id}"),
            None,
        )
        .await;
    assert_eq!(r.code(), 400, "the URL names another project");
    assert_eq!(r.json()["badRequest"]["message"], "Malformed request url");
    let r = app.client.call("GET", &with_project, None, None).await;
    assert_eq!(r.code(), 401);
    assert!(r.json()["volume"].get("os-vol-host-attr:host").is_none());

    let r = app.call(ALICE, "GET", "/volumes", None).await;
    assert_eq!(
        r.json()["volumes"][0],
        json!({"id": id, "name": "vol1",
        "links": r.json()["volumes"][0]["links"]})
    );
    let r = app
        .call(
            ALICE,
            "GET",
            &format!("/volume/v3/{PROJECT_A}/volumes/detail?name=vol1"),
            None,
        )
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 1);

    let r = app
        .call(
            ALICE,
            "PUT",
            &format!("/volumes/{id}"),
            Some(
                json!({"volume": {"name": "renamed", "description": "d", "metadata": {"a": "1"}}}),
            ),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json()["volume"]["name"], "renamed");
    assert_eq!(r.json()["volume"]["metadata"], json!({"a": "1"}));

    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/volumes/{id}/action"),
            Some(json!({"os-set_bootable": {"bootable": true}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(app.volume(&id).await["bootable"], "true");

    let r = app
        .call(
            ALICE,
            "DELETE",
            &format!("/volumes/{id}?cascade=False&force=False"),
            None,
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(app.volume(&id).await["status"], "deleting");
    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{id}"), None)
        .await;
    assert_eq!(r.code(), 400, "a deleting volume cannot be deleted again");
    app.settle().await;
    let r = app
        .call(ALICE, "GET", &format!("/volumes/{id}"), None)
        .await;
    assert_eq!(r.code(), 404);
    assert_eq!(
        r.json()["itemNotFound"]["message"],
        format!("Volume {id} could not be found.")
    );
}

#[tokio::test]
async fn list_filters_sorting_and_pages() {
    let app = App::new().await;
    let mut ids = Vec::new();
    for (i, name) in ["b", "a", "c", "a"].iter().enumerate() {
        let id = app
            .create_volume(
                ALICE,
                json!({"name": name, "size": i + 1, "metadata": {"n": i.to_string()}}),
            )
            .await;
        ids.push(id);
    }
    app.settle().await;
    let names = |r: &Value| -> Vec<String> {
        r["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.call(ALICE, "GET", "/volumes/detail?name=a", None).await;
    assert_eq!(names(&r.json()), ["a", "a"]);
    let r = app
        .call(
            ALICE,
            "GET",
            "/volumes/detail?sort=name:asc,size:desc",
            None,
        )
        .await;
    assert_eq!(names(&r.json()), ["a", "a", "b", "c"]);
    assert_eq!(r.json()["volumes"][0]["size"], 4);
    let r = app
        .call(
            ALICE,
            "GET",
            "/volumes/detail?sort_key=size&sort_dir=asc",
            None,
        )
        .await;
    assert_eq!(names(&r.json()), ["b", "a", "c", "a"]);
    let r = app
        .call(
            ALICE,
            "GET",
            "/volumes/detail?metadata=%7B%27n%27%3A+%272%27%7D",
            None,
        )
        .await;
    assert_eq!(names(&r.json()), ["c"]);
    let r = app
        .call(
            ALICE,
            "GET",
            "/volumes/detail?status=available&bootable=false",
            None,
        )
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 4);
    let r = app
        .call(ALICE, "GET", "/volumes/detail?status=error", None)
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 0);
    let r = app.call(ALICE, "GET", "/volumes?name~=A", None).await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 2);
    let r = app
        .call(ALICE, "GET", "/volumes?with_count=true&limit=1", None)
        .await;
    assert_eq!(r.json()["count"], 4);
    let r = app.call(ALICE, "GET", "/volumes?color=red", None).await;
    assert_eq!(r.code(), 400, "unknown filters are refused from 3.31 on");
    let r = app
        .call_mv(ALICE, "GET", "/volumes?color=red", None, "3.0")
        .await;
    assert_eq!(r.code(), 200, "and ignored before");
    let r = app
        .call(ALICE, "GET", "/volumes?sort=colour:asc", None)
        .await;
    assert_eq!(r.code(), 400);

    // Pages of 3 then 1, following the next link.
    let r = app
        .call(ALICE, "GET", "/volumes/detail?sort=size:asc&limit=3", None)
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 3);
    let next = r.json()["volumes_links"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.json()["volumes_links"][0]["rel"], "next");
    let path = next.split_once("127.0.0.1:1").unwrap().1.to_string();
    let r = app.call(ALICE, "GET", &path, None).await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["volumes"][0]["size"], 4);
    assert!(r.json().get("volumes_links").is_none());
    let r = app.call(ALICE, "GET", "/volumes?marker=nope", None).await;
    assert_eq!(r.code(), 400);
}

#[tokio::test]
async fn projects_see_only_their_volumes_and_readers_only_read() {
    let app = App::new().await;
    let a = app
        .create_volume(ALICE, json!({"name": "mine", "size": 1}))
        .await;
    let b = app
        .create_volume(BOB, json!({"name": "bobs", "size": 1}))
        .await;
    app.settle().await;
    for (method, path) in [
        ("GET", format!("/volumes/{a}")),
        ("DELETE", format!("/volumes/{a}")),
        ("GET", format!("/volumes/{a}/metadata")),
    ] {
        let r = app.call(BOB, method, &path, None).await;
        assert_eq!(r.code(), 404, "{method} {path}: {}", r.text());
    }
    let r = app
        .call(
            BOB,
            "PUT",
            &format!("/volumes/{a}"),
            Some(json!({"volume": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(BOB, "GET", "/volumes/detail?all_tenants=1", None)
        .await;
    let doc = r.json();
    let seen: Vec<&str> = doc["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["bobs"]);
    let r = app
        .call(ADMIN, "GET", "/volumes/detail?all_tenants=True", None)
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 2);
    assert!(r.json()["volumes"][0]
        .get("os-vol-host-attr:host")
        .is_some());
    let r = app
        .call(AUDITOR, "GET", "/volumes/detail?all_tenants=1", None)
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 2);

    // carol reads project A but may not write.
    let r = app.call(CAROL, "GET", &format!("/volumes/{a}"), None).await;
    assert_eq!(r.code(), 200);
    let r = app
        .call(
            CAROL,
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    assert_eq!(r.code(), 403, "{}", r.text());
    assert!(r.json()["forbidden"]["message"]
        .as_str()
        .unwrap()
        .contains("volume:create"));
    let r = app
        .call(CAROL, "DELETE", &format!("/volumes/{a}"), None)
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            CAROL,
            "POST",
            &format!("/volumes/{a}/action"),
            Some(json!({"os-extend": {"new_size": 2}})),
        )
        .await;
    assert_eq!(r.code(), 403);
    // Only admins force-delete or reset a status.
    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{a}?force=true"), None)
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/volumes/{a}/action"),
            Some(json!({"os-reset_status": {"status": "error"}})),
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            ADMIN,
            "POST",
            &format!("/volumes/{b}/action"),
            Some(json!({"os-reset_status": {"status": "error"}})),
        )
        .await;
    assert_eq!(r.code(), 202);
    assert_eq!(app.volume(&b).await["status"], "error");
}

#[tokio::test]
async fn metadata_endpoints() {
    let app = App::new().await;
    let id = app
        .create_volume(ALICE, json!({"size": 1, "metadata": {"a": "1"}}))
        .await;
    let m = |p: &str| format!("/volumes/{id}/metadata{p}");
    let r = app
        .call(ALICE, "POST", &m(""), Some(json!({"metadata": {"b": "2"}})))
        .await;
    assert_eq!(r.json()["metadata"], json!({"a": "1", "b": "2"}));
    let r = app
        .call(ALICE, "PUT", &m(""), Some(json!({"metadata": {"c": "3"}})))
        .await;
    assert_eq!(r.json()["metadata"], json!({"c": "3"}));
    let r = app
        .call(ALICE, "PUT", &m("/d"), Some(json!({"meta": {"d": "4"}})))
        .await;
    assert_eq!(r.code(), 200);
    let r = app.call(ALICE, "GET", &m("/d"), None).await;
    assert_eq!(r.json()["meta"], json!({"d": "4"}));
    let r = app
        .call(ALICE, "PUT", &m("/d"), Some(json!({"meta": {"e": "4"}})))
        .await;
    assert_eq!(r.code(), 400);
    let r = app.call(ALICE, "DELETE", &m("/c"), None).await;
    assert_eq!(r.code(), 200);
    let r = app.call(ALICE, "DELETE", &m("/c"), None).await;
    assert_eq!(r.code(), 404);
    let r = app.call(ALICE, "GET", &m(""), None).await;
    assert_eq!(r.json()["metadata"], json!({"d": "4"}));
    let r = app
        .call(CAROL, "POST", &m(""), Some(json!({"metadata": {"x": "y"}})))
        .await;
    assert_eq!(r.code(), 403);
}

#[tokio::test]
async fn extend_rules() {
    let app = App::new().await;
    let id = app.create_volume(ALICE, json!({"size": 2})).await;
    let act = format!("/volumes/{id}/action");
    let r = app
        .call(
            ALICE,
            "POST",
            &act,
            Some(json!({"os-extend": {"new_size": 3}})),
        )
        .await;
    assert_eq!(r.code(), 400, "not while creating: {}", r.text());
    app.settle().await;
    for bad in [
        json!({"os-extend": {"new_size": 2}}),
        json!({"os-extend": {"new_size": 1}}),
        json!({"os-extend": {}}),
        json!({"os-extend": {"new_size": "x"}}),
        json!({"os-extend": 3}),
        json!({"os-frobnicate": {}}),
        json!({}),
        json!({"os-extend": {"new_size": 3}, "os-set_bootable": {}}),
    ] {
        let r = app.call(ALICE, "POST", &act, Some(bad.clone())).await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    let r = app
        .call(
            ALICE,
            "POST",
            &act,
            Some(json!({"os-extend": {"new_size": "3"}})),
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(app.volume(&id).await["status"], "extending");
    app.settle().await;
    let v = app.volume(&id).await;
    assert_eq!(
        (v["status"].as_str(), v["size"].as_u64()),
        (Some("available"), Some(3))
    );
    assert_eq!(app.top_info(&id).await["virtual-size"], 3u64 << 30);
}

#[tokio::test]
async fn types_and_encryption() {
    let app = App::new().await;
    let r = app.call(ALICE, "GET", "/types", None).await;
    let doc = r.json();
    let names: Vec<&str> = doc["volume_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"standard") && names.contains(&"encrypted"),
        "{names:?}"
    );
    let r = app.call(ALICE, "GET", "/types/default", None).await;
    assert_eq!(r.json()["volume_type"]["name"], "standard");
    let r = app.call(ADMIN, "GET", "/types/encrypted", None).await;
    let enc_id = r.json()["volume_type"]["id"].as_str().unwrap().to_string();
    let r = app
        .call(ADMIN, "GET", &format!("/types/{enc_id}/encryption"), None)
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.json()["provider"], "luks");
    assert_eq!(r.json()["cipher"], "aes-xts-plain64");
    assert_eq!(r.json()["key_size"], 256);
    assert_eq!(r.json()["control_location"], "front-end");
    let r = app
        .call(ADMIN, "GET", "/types/standard/encryption", None)
        .await;
    assert_eq!(r.json(), json!({}));
    let r = app
        .call(ALICE, "GET", &format!("/types/{enc_id}/encryption"), None)
        .await;
    assert_eq!(r.code(), 403);

    let body = json!({"volume_type": {"name": "gold", "extra_specs": {"tier": "1"},
        "os-volume-type-access:is_public": false}});
    let r = app.call(ALICE, "POST", "/types", Some(body.clone())).await;
    assert_eq!(r.code(), 403);
    let r = app.call(ADMIN, "POST", "/types", Some(body.clone())).await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let gold = r.json()["volume_type"]["id"].as_str().unwrap().to_string();
    let r = app.call(ADMIN, "POST", "/types", Some(body)).await;
    assert_eq!(r.code(), 409);
    let r = app
        .call(ALICE, "GET", &format!("/types/{gold}"), None)
        .await;
    assert_eq!(r.code(), 404, "private types are hidden from users");
    let r = app
        .call(
            ALICE,
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 1, "volume_type": "gold"}})),
        )
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(
            ADMIN,
            "POST",
            &format!("/types/{gold}/extra_specs"),
            Some(json!({"extra_specs": {"b": "2"}})),
        )
        .await;
    assert_eq!(r.code(), 200);
    let r = app
        .call(ADMIN, "GET", &format!("/types/{gold}/extra_specs"), None)
        .await;
    assert_eq!(r.json()["extra_specs"], json!({"tier": "1", "b": "2"}));
    let r = app
        .call(
            ADMIN,
            "DELETE",
            &format!("/types/{gold}/extra_specs/tier"),
            None,
        )
        .await;
    assert_eq!(r.code(), 202);
    let r = app
        .call(
            ADMIN,
            "PUT",
            &format!("/types/{gold}"),
            Some(json!({"volume_type": {"is_public": true, "description": "shiny"}})),
        )
        .await;
    assert_eq!(r.code(), 200);
    let id = app
        .create_volume(ALICE, json!({"size": 1, "volume_type": "gold"}))
        .await;
    let r = app
        .call(ADMIN, "DELETE", &format!("/types/{gold}"), None)
        .await;
    assert_eq!(r.code(), 400, "in use: {}", r.text());
    let r = app.call(ADMIN, "DELETE", "/types/standard", None).await;
    assert_eq!(r.code(), 404, "names are not ids for delete");
    let std_id = app.call(ADMIN, "GET", "/types/standard", None).await.json()["volume_type"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .call(ADMIN, "DELETE", &format!("/types/{std_id}"), None)
        .await;
    assert_eq!(r.code(), 400, "the default type stays");
    app.settle().await;
    app.call(ALICE, "DELETE", &format!("/volumes/{id}"), None)
        .await;
    app.settle().await;
    let r = app
        .call(ADMIN, "DELETE", &format!("/types/{gold}"), None)
        .await;
    assert_eq!(r.code(), 202);
}

#[tokio::test]
async fn quotas_and_limits() {
    let app = App::new().await;
    let r = app
        .call(ALICE, "GET", &format!("/os-quota-sets/{PROJECT_A}"), None)
        .await;
    assert_eq!(r.code(), 200);
    let q = r.json()["quota_set"].clone();
    assert_eq!(
        (
            q["volumes"].as_i64(),
            q["gigabytes"].as_i64(),
            q["snapshots"].as_i64(),
            q["backups"].as_i64()
        ),
        (Some(10), Some(1000), Some(10), Some(10))
    );
    assert_eq!(q["volumes_encrypted"], -1);
    let r = app
        .call(BOB, "GET", &format!("/os-quota-sets/{PROJECT_A}"), None)
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(
            ALICE,
            "PUT",
            &format!("/os-quota-sets/{PROJECT_A}"),
            Some(json!({"quota_set": {"volumes": 2}})),
        )
        .await;
    assert_eq!(r.code(), 403);
    for bad in [
        json!({"quota_set": {"volumes": -2}}),
        json!({"quota_set": {"bogus": 1}}),
        json!({"quota_set": {"volumes": "many"}}),
        json!({"quota_set": 3}),
    ] {
        let r = app
            .call(
                ADMIN,
                "PUT",
                &format!("/os-quota-sets/{PROJECT_A}"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.code(), 400, "{bad}");
    }
    let r = app
        .call(
            ADMIN,
            "PUT",
            &format!("/os-quota-sets/{PROJECT_A}"),
            Some(json!({"quota_set": {"volumes": 2, "gigabytes": 5, "snapshots": 1}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let a = app.create_volume(ALICE, json!({"size": 3})).await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 3}})),
        )
        .await;
    assert_eq!(r.code(), 413, "{}", r.text());
    assert!(r.json()["overLimit"]["message"]
        .as_str()
        .unwrap()
        .contains("gigabytes"));
    app.create_volume(ALICE, json!({"size": 1})).await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    assert_eq!(r.code(), 413);
    assert!(r.json()["overLimit"]["message"]
        .as_str()
        .unwrap()
        .contains("VolumeLimitExceeded"));
    app.settle().await;
    let r = app
        .call(
            ALICE,
            "POST",
            &format!("/volumes/{a}/action"),
            Some(json!({"os-extend": {"new_size": 5}})),
        )
        .await;
    assert_eq!(r.code(), 413, "extend counts too");
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": a}})),
        )
        .await;
    assert_eq!(r.code(), 413, "a snapshot's gigabytes count: {}", r.text());
    let r = app
        .call(
            ALICE,
            "GET",
            &format!("/os-quota-sets/{PROJECT_A}?usage=True"),
            None,
        )
        .await;
    assert_eq!(
        r.json()["quota_set"]["volumes"],
        json!({"limit": 2, "in_use": 2, "reserved": 0, "allocated": 0})
    );
    assert_eq!(r.json()["quota_set"]["gigabytes_standard"]["in_use"], 4);
    let r = app.call(ALICE, "GET", "/limits", None).await;
    let abs = r.json()["limits"]["absolute"].clone();
    assert_eq!(
        (
            abs["maxTotalVolumes"].as_i64(),
            abs["totalVolumesUsed"].as_i64(),
            abs["totalGigabytesUsed"].as_i64(),
            abs["maxTotalVolumeGigabytes"].as_i64()
        ),
        (Some(2), Some(2), Some(4), Some(5))
    );
    let r = app.call(BOB, "GET", "/limits", None).await;
    assert_eq!(r.json()["limits"]["absolute"]["totalVolumesUsed"], 0);
    let r = app
        .call(
            ADMIN,
            "DELETE",
            &format!("/os-quota-sets/{PROJECT_A}"),
            None,
        )
        .await;
    assert_eq!(r.code(), 200);
    let r = app
        .call(
            ALICE,
            "GET",
            &format!("/os-quota-sets/{PROJECT_A}/defaults"),
            None,
        )
        .await;
    assert_eq!(r.json()["quota_set"]["volumes"], 10);
    app.create_volume(ALICE, json!({"size": 1})).await;
}

#[tokio::test]
async fn snapshots_api_and_delete_rules() {
    let app = App::new().await;
    let vol = app
        .create_volume(ALICE, json!({"name": "v", "size": 1}))
        .await;
    let r = app
        .call(
            ALICE,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 400, "not while the volume is creating");
    app.settle().await;
    // As the SDK sends it (snapshots at 3.65, where `force: false` is valid).
    let r = app.call_mv(ALICE, "POST", "/snapshots",
        Some(json!({"snapshot": {"volume_id": vol, "name": "s1", "description": null, "force": false, "metadata": {}}})), "3.65").await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["snapshot"]["status"], "creating");
    app.settle().await;
    let r = app
        .call(ALICE, "GET", &format!("/snapshots/{snap}"), None)
        .await;
    assert_eq!(r.json()["snapshot"]["status"], "available");
    assert_eq!(r.json()["snapshot"]["size"], 1);
    assert_eq!(r.json()["snapshot"]["user_id"], "alice");
    let r = app
        .call(BOB, "GET", &format!("/snapshots/{snap}"), None)
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(
            BOB,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(
            CAROL,
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vol}})),
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(ALICE, "GET", "/snapshots/detail?name=s1", None)
        .await;
    assert_eq!(r.json()["snapshots"].as_array().unwrap().len(), 1);
    let r = app.call(BOB, "GET", "/snapshots", None).await;
    assert_eq!(r.json()["snapshots"].as_array().unwrap().len(), 0);
    let r = app
        .call(
            ALICE,
            "PUT",
            &format!("/snapshots/{snap}"),
            Some(json!({"snapshot": {"name": "s2"}})),
        )
        .await;
    assert_eq!(r.json()["snapshot"]["name"], "s2");

    let r = app
        .call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
        .await;
    assert_eq!(r.code(), 400);
    assert!(r.json()["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("snapshots"));
    let r = app
        .call(
            ALICE,
            "DELETE",
            &format!("/volumes/{vol}?cascade=true"),
            None,
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    let r = app
        .call(ALICE, "GET", &format!("/snapshots/{snap}"), None)
        .await;
    assert_eq!(r.json()["snapshot"]["status"], "deleting");
    app.settle().await;
    assert_eq!(
        app.call(ALICE, "GET", &format!("/snapshots/{snap}"), None)
            .await
            .code(),
        404
    );
    assert_eq!(
        app.call(ALICE, "GET", &format!("/volumes/{vol}"), None)
            .await
            .code(),
        404
    );
}

#[tokio::test]
async fn create_refuses_bad_sources_and_sizes() {
    let app = App::new().await;
    let img = app.image(PROJECT_A, 2, false).await;
    let bad = [
        json!({"volume": {"size": 0}}),
        json!({"volume": {"size": -1}}),
        json!({"volume": {"size": 1.5}}),
        json!({"volume": {"size": "1G"}}),
        json!({"volume": {}}),
        json!({"volume": {"size": 1, "name": 5}}),
        json!({"volume": {"size": 1, "name": "x".repeat(256)}}),
        json!({"volume": {"size": 1, "metadata": {"a": 1}}}),
        json!({"volume": {"size": 1, "metadata": "a"}}),
        json!({"volume": {"size": 1, "availability_zone": "mars"}}),
        json!({"volume": {"size": 1, "multiattach": true}}),
        json!({"volume": {"size": 1, "imageRef": img}}),
        json!({"volume": {"size": 3, "imageRef": img, "snapshot_id": "x"}}),
        json!({"volume": {"size": 1, "imageRef": "no-such-image"}}),
        json!({"volume": 7}),
        json!({"size": 1}),
        json!([1]),
    ];
    for b in bad {
        let r = app.call(ALICE, "POST", "/volumes", Some(b.clone())).await;
        assert_eq!(r.code(), 400, "{b}: {}", r.text());
        assert_eq!(r.json()["badRequest"]["code"], 400);
    }
    for (b, code) in [
        (
            json!({"volume": {"size": 1, "volume_type": "platinum"}}),
            404,
        ),
        (json!({"volume": {"snapshot_id": "nope"}}), 404),
        (json!({"volume": {"source_volid": "nope"}}), 404),
        (json!({"volume": {"size": 1, "backup_id": "nope"}}), 404),
    ] {
        let r = app.call(ALICE, "POST", "/volumes", Some(b.clone())).await;
        assert_eq!(r.code(), code, "{b}: {}", r.text());
    }
    // bob cannot use alice's private image.
    let r = app
        .call(
            BOB,
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 2, "imageRef": img}})),
        )
        .await;
    assert_eq!(r.code(), 400, "{}", r.text());
    let r = app
        .call(
            ALICE,
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 2, "imageRef": img}})),
        )
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    assert_eq!(r.json()["volume"]["bootable"], "true");
    assert_eq!(r.json()["volume"]["volume_image_metadata"]["image_id"], img);
    assert_eq!(
        r.json()["volume"]["volume_image_metadata"]["os_distro"],
        "nimbus"
    );
}

#[tokio::test]
async fn pools_report_capacity_per_type() {
    let app = App::new().await;
    app.create_volume(ALICE, json!({"size": 3})).await;
    app.create_volume(BOB, json!({"size": 2, "volume_type": "encrypted"}))
        .await;
    app.settle().await;
    let r = app
        .call(ALICE, "GET", "/scheduler-stats/get_pools", None)
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(ADMIN, "GET", "/scheduler-stats/get_pools?detail=True", None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let pools = r.json()["pools"].as_array().unwrap().clone();
    let by_type = |t: &str| {
        pools
            .iter()
            .find(|p| p["capabilities"]["pool_name"] == t)
            .unwrap()["capabilities"]
            .clone()
    };
    let std = by_type("standard");
    assert_eq!(std["allocated_capacity_gb"], 3);
    assert_eq!(std["encrypted"], false);
    let names: Vec<&str> = pools.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"nimbus@qcow2#standard"), "{names:?}");
    assert!(std["total_capacity_gb"].as_f64().unwrap() > 0.0);
    assert!(
        std["free_capacity_gb"].as_f64().unwrap() <= std["total_capacity_gb"].as_f64().unwrap()
    );
    let enc = by_type("encrypted");
    assert_eq!(
        (
            enc["allocated_capacity_gb"].as_u64(),
            enc["encrypted"].as_bool()
        ),
        (Some(2), Some(true))
    );
    let r = app
        .call(
            ADMIN,
            "GET",
            "/scheduler-stats/get_pools?volume_type=encrypted",
            None,
        )
        .await;
    assert_eq!(r.json()["pools"].as_array().unwrap().len(), 1);
    assert!(r.json()["pools"][0].get("capabilities").is_none());
    let r = app
        .call(ADMIN, "GET", "/scheduler-stats/get_pools?colour=red", None)
        .await;
    assert_eq!(r.code(), 400);
}

#[tokio::test]
async fn fields_and_filters_follow_the_microversion() {
    let app = App::new().await;
    let plain = app
        .create_volume(ALICE, json!({"name": "p", "size": 1}))
        .await;
    let enc = app
        .create_volume(
            ALICE,
            json!({"name": "e", "size": 1, "volume_type": "encrypted"}),
        )
        .await;
    app.settle().await;
    let show = |mv: &'static str, id: String| {
        let app = &app;
        async move {
            let r = app
                .call_mv(ADMIN, "GET", &format!("/volumes/{id}"), None, mv)
                .await;
            assert_eq!(r.code(), 200, "{}", r.text());
            r.json()["volume"].clone()
        }
    };
    let old = show("3.0", enc.clone()).await;
    for k in [
        "group_id",
        "shared_targets",
        "volume_type_id",
        "encryption_key_id",
        "consumes_quota",
        "cluster_name",
    ] {
        assert!(old.get(k).is_none(), "{k} at 3.0");
    }
    let new = show("3.67", enc.clone()).await;
    assert_eq!(new["volume_type"], "encrypted");
    assert!(new["volume_type_id"].as_str().unwrap().len() == 36);
    assert!(new["encryption_key_id"].as_str().is_some());
    assert_eq!(new["consumes_quota"], true);
    assert_eq!(new["shared_targets"], false);
    assert!(new.get("cluster_name").is_some(), "admins see cluster_name");
    assert!(show("3.67", plain.clone())
        .await
        .get("encryption_key_id")
        .is_none());

    // Time comparisons from 3.60; ignored before.
    let created = new["created_at"].as_str().unwrap().to_string();
    let q = |f: &str| format!("/volumes/detail?created_at={}", f.replace(':', "%3A"));
    let r = app
        .call_mv(ALICE, "GET", &q("gt:2000-01-01T00:00:00"), None, "3.60")
        .await;
    assert_eq!(
        r.json()["volumes"].as_array().unwrap().len(),
        2,
        "{}",
        r.text()
    );
    let r = app
        .call_mv(ALICE, "GET", &q("lt:2000-01-01T00:00:00Z"), None, "3.60")
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 0);
    let r = app
        .call_mv(
            ALICE,
            "GET",
            &q(&format!("gte:{created},lte:{created}")),
            None,
            "3.67",
        )
        .await;
    assert_eq!(r.json()["volumes"][0]["id"], enc.as_str(), "{}", r.text());
    let r = app
        .call_mv(ALICE, "GET", &q("lt:2000-01-01T00:00:00"), None, "3.59")
        .await;
    assert_eq!(
        r.json()["volumes"].as_array().unwrap().len(),
        2,
        "ignored below 3.60"
    );
    for bad in ["soon:2000-01-01", "gt:yesterday", "2000"] {
        let r = app.call_mv(ALICE, "GET", &q(bad), None, "3.60").await;
        assert_eq!(r.code(), 400, "{bad}");
    }
    let r = app
        .call(ALICE, "GET", "/volumes/detail?consumes_quota=true", None)
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 2);
    let r = app
        .call(ALICE, "GET", "/volumes/detail?consumes_quota=false", None)
        .await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn default_types_per_project() {
    let app = App::new().await;
    let path = format!("/default-types/{PROJECT_A}");
    let r = app
        .call_mv(ADMIN, "GET", "/default-types", None, "3.61")
        .await;
    assert_eq!(r.code(), 404, "not before 3.62");
    let r = app.call(ADMIN, "GET", &path, None).await;
    assert_eq!(r.code(), 404);
    let body = json!({"default_type": {"volume_type": "encrypted"}});
    let r = app.call(ALICE, "PUT", &path, Some(body.clone())).await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            ADMIN,
            "PUT",
            &path,
            Some(json!({"default_type": {"volume_type": "nope"}})),
        )
        .await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(ADMIN, "PUT", &path, Some(json!({"default_type": {}})))
        .await;
    assert_eq!(r.code(), 400);
    let r = app.call(ADMIN, "PUT", &path, Some(body)).await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let enc_id = r.json()["default_type"]["volume_type_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.json()["default_type"]["project_id"], PROJECT_A);
    let r = app.call(CAROL, "GET", &path, None).await;
    assert_eq!(r.json()["default_type"]["volume_type_id"], enc_id.as_str());
    let r = app.call(BOB, "GET", &path, None).await;
    assert_eq!(r.code(), 404);
    let r = app.call(ADMIN, "GET", "/default-types", None).await;
    assert_eq!(r.json()["default_types"].as_array().unwrap().len(), 1);

    // Alice's creates without a type get it; bob's do not.
    let a = app.create_volume(ALICE, json!({"size": 1})).await;
    let b = app.create_volume(BOB, json!({"size": 1})).await;
    assert_eq!(app.volume(&a).await["volume_type"], "encrypted");
    assert_eq!(app.volume(&b).await["volume_type"], "standard");
    let r = app.call(ALICE, "GET", "/types/default", None).await;
    assert_eq!(r.json()["volume_type"]["name"], "encrypted");
    let r = app
        .call(ADMIN, "DELETE", &format!("/types/{enc_id}"), None)
        .await;
    assert_eq!(r.code(), 400);

    let r = app.call(ADMIN, "DELETE", &path, None).await;
    assert_eq!(r.code(), 204);
    let r = app.call(ADMIN, "DELETE", &path, None).await;
    assert_eq!(r.code(), 404);
    let c = app.create_volume(ALICE, json!({"size": 1})).await;
    assert_eq!(app.volume(&c).await["volume_type"], "standard");
}

#[tokio::test]
async fn encryption_specs_of_types() {
    let app = App::new().await;
    let r = app
        .call(
            ADMIN,
            "POST",
            "/types",
            Some(json!({"volume_type": {"name": "vault"}})),
        )
        .await;
    let t = r.json()["volume_type"]["id"].as_str().unwrap().to_string();
    let enc = format!("/types/{t}/encryption");
    let good = json!({"encryption": {"provider": "luks", "cipher": "aes-xts-plain64",
        "key_size": 512, "control_location": "front-end"}});
    let r = app.call(ALICE, "POST", &enc, Some(good.clone())).await;
    assert_eq!(r.code(), 403);
    for bad in [
        json!({"encryption": {"provider": "plain", "control_location": "front-end"}}),
        json!({"encryption": {"provider": "luks", "control_location": "back-end"}}),
        json!({"encryption": {"provider": "luks", "control_location": "front-end", "cipher": "des"}}),
        json!({"encryption": {"provider": "luks", "control_location": "front-end", "key_size": 128}}),
        json!({"encryption": {"provider": "luks"}}),
        json!({"encryption": {"provider": "luks", "control_location": "front-end", "colour": 1}}),
    ] {
        let r = app.call(ADMIN, "POST", &enc, Some(bad.clone())).await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    let r = app.call(ADMIN, "POST", &enc, Some(good.clone())).await;
    assert_eq!(r.code(), 200, "{}", r.text());
    let enc_id = r.json()["encryption"]["encryption_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.call(ADMIN, "POST", &enc, Some(good)).await;
    assert_eq!(r.code(), 400, "exists already");
    let r = app.call(ADMIN, "GET", &enc, None).await;
    assert_eq!(
        (r.json()["key_size"].as_u64(), r.json()["provider"].as_str()),
        (Some(512), Some("luks"))
    );

    // A volume of the type is LUKS with AES-256-XTS; now the spec is frozen.
    let vol = app
        .create_volume(ALICE, json!({"size": 1, "volume_type": "vault"}))
        .await;
    app.settle().await;
    let info = app.top_info(&vol).await;
    assert_eq!(
        info["format-specific"]["data"]["encrypt"]["cipher-alg"], "aes-256",
        "{info}"
    );
    assert_eq!(app.volume(&vol).await["encrypted"], true);
    let r = app
        .call(
            ADMIN,
            "PUT",
            &format!("{enc}/{enc_id}"),
            Some(json!({"encryption": {"key_size": 256}})),
        )
        .await;
    assert_eq!(r.code(), 400, "in use: {}", r.text());
    app.call(ALICE, "DELETE", &format!("/volumes/{vol}"), None)
        .await;
    app.settle().await;
    let r = app
        .call(
            ADMIN,
            "PUT",
            &format!("{enc}/{enc_id}"),
            Some(json!({"encryption": {"key_size": 256}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.text());
    assert_eq!(r.json()["encryption"], json!({"key_size": 256}));
    let r = app
        .call(ADMIN, "DELETE", &format!("{enc}/{enc_id}"), None)
        .await;
    assert_eq!(r.code(), 202);
    let r = app.call(ADMIN, "GET", &enc, None).await;
    assert_eq!(r.json(), json!({}));
    let r = app
        .call(ADMIN, "DELETE", &format!("{enc}/{enc_id}"), None)
        .await;
    assert_eq!(r.code(), 404);
}
