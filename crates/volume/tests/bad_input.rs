//! Bad input never makes the volume API answer 5xx: random JSON bodies and odd ids
//! and query strings on every route get a 4xx in Cinder's format (or a success).

mod support;

use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("size"),
            Just("volume"),
            Just("new_size"),
            Just("1"),
            Just("metadata")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("volume".to_string()),
                    Just("snapshot".to_string()),
                    Just("size".to_string()),
                    Just("name".to_string()),
                    Just("metadata".to_string()),
                    Just("os-extend".to_string()),
                    Just("new_size".to_string()),
                    Just("volume_id".to_string()),
                    Just("imageRef".to_string()),
                    Just("quota_set".to_string()),
                    Just("volume_type".to_string()),
                    Just("meta".to_string()),
                    Just("extra_specs".to_string()),
                    Just("os-set_bootable".to_string()),
                    ".{0,8}",
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_bodies_never_fail_the_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, vol, snap) = rt.block_on(async {
        let app = App::new().await;
        let vol = app.create_volume(ALICE, json!({"size": 1})).await;
        app.settle().await;
        let r = app
            .call(
                ALICE,
                "POST",
                "/snapshots",
                Some(json!({"snapshot": {"volume_id": vol}})),
            )
            .await;
        let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
        app.settle().await;
        (app, vol, snap)
    });
    let routes = [
        ("POST", "/volumes".to_string()),
        ("PUT", format!("/volumes/{vol}")),
        ("POST", format!("/volumes/{vol}/action")),
        ("POST", format!("/volumes/{vol}/metadata")),
        ("PUT", format!("/volumes/{vol}/metadata")),
        ("PUT", format!("/volumes/{vol}/metadata/k")),
        ("POST", "/snapshots".to_string()),
        ("POST", "/types".to_string()),
        ("PUT", format!("/os-quota-sets/{PROJECT_A}")),
        ("PUT", format!("/default-types/{PROJECT_A}")),
        ("PUT", format!("/snapshots/{snap}/metadata/k")),
        ("PUT", format!("/snapshots/{snap}")),
        ("POST", format!("/types/{}/extra_specs", "standard")),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(&(0..routes.len(), arb_json()), |(i, body)| {
            let (method, path) = &routes[i];
            for who in [ALICE, ADMIN] {
                let r = rt.block_on(app.call(who, method, path, Some(body.clone())));
                prop_assert!(
                    r.code() < 500,
                    "{method} {path} {body}: {} {}",
                    r.code(),
                    r.text()
                );
            }
            Ok(())
        })
        .unwrap();
    // Whatever was created settles without failing the controller.
    rt.block_on(app.settle());
}

#[tokio::test]
async fn odd_ids_and_queries_are_client_errors() {
    let app = App::new().await;
    for id in [
        "x",
        "%00",
        "..",
        "%2e%2e%2f",
        "a%20b",
        &"9".repeat(300),
        "%F0%9F%92%A5",
    ] {
        for path in [
            format!("/volumes/{id}"),
            format!("/volumes/{id}/metadata"),
            format!("/snapshots/{id}"),
            format!("/types/{id}"),
            format!("/types/{id}/encryption"),
        ] {
            let r = app.call(ALICE, "GET", &path, None).await;
            assert!(
                matches!(r.code(), 400 | 403 | 404),
                "{path}: {} {}",
                r.code(),
                r.text()
            );
        }
        let r = app
            .call(ALICE, "DELETE", &format!("/volumes/{id}"), None)
            .await;
        assert!(matches!(r.code(), 400 | 404), "{id}: {}", r.code());
    }
    for q in [
        "limit=-1",
        "limit=x",
        "sort=name:sideways",
        "all_tenants=maybe",
        "bootable=perhaps",
        "metadata=notadict",
        "with_count=2x",
        "marker=%00",
    ] {
        let r = app
            .call(ALICE, "GET", &format!("/volumes/detail?{q}"), None)
            .await;
        assert_eq!(r.code(), 400, "{q}: {}", r.text());
    }
    let r = app
        .client
        .raw(
            "POST",
            "/volume/v3/volumes",
            Some(ALICE),
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(r.code(), 400);
    let r = app
        .client
        .raw(
            "POST",
            "/volume/v3/volumes",
            Some(ALICE),
            &[("content-type", "application/xml")],
            "<volume/>",
        )
        .await;
    assert_eq!(r.code(), 415);
}
