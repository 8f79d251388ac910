//! Bad input never makes the status page API answer 5xx, and a refused write
//! stores nothing: random JSON bodies on every write route (as the admin, so the
//! body is really looked at) get a 4xx with a `{"message"}` body or a success,
//! and odd ids and query strings on the reads get a 4xx.

mod support;

use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;

fn arb_json(ids: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0i64..120).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2026-01-10T10:00:00Z".to_string()),
            Just("2026-13-40T99:00:00Z".to_string()),
            Just("".to_string()),
            Just("\u{0}".to_string()),
        ]
        .prop_map(Value::String),
        prop::sample::select(ids).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("displayName".to_string()),
                    Just("description".to_string()),
                    Just("labels".to_string()),
                    Just("affects".to_string()),
                    Just("reference".to_string()),
                    Just("type".to_string()),
                    Just("severity".to_string()),
                    Just("beganAt".to_string()),
                    Just("endedAt".to_string()),
                    Just("createdAt".to_string()),
                    Just("phase".to_string()),
                    Just("phases".to_string()),
                    Just("generation".to_string()),
                    Just("order".to_string()),
                    Just("value".to_string()),
                    ".{0,8}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_bodies_never_fail_the_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, comp, itype, inc) = rt.block_on(async {
        let app = App::new().await;
        let comp = app.component_id("Compute").await;
        let itype = app.impact_type_id().await;
        let inc = app
            .create("/incidents", json!({"displayName": "target"}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.create(
            &format!("/incidents/{inc}/updates"),
            json!({"displayName": "u"}),
        )
        .await;
        (app, comp, itype, inc)
    });
    let routes = [
        ("POST", "/phases".to_string()),
        ("POST", "/impacttypes".to_string()),
        ("PATCH", format!("/impacttypes/{itype}")),
        ("POST", "/severities".to_string()),
        ("PATCH", "/severities/limited".to_string()),
        ("POST", "/components".to_string()),
        ("PATCH", format!("/components/{comp}")),
        ("POST", "/incidents".to_string()),
        ("PATCH", format!("/incidents/{inc}")),
        ("POST", format!("/incidents/{inc}/updates")),
        ("PATCH", format!("/incidents/{inc}/updates/0")),
    ];
    let ids = vec![comp.clone(), itype.clone(), inc.clone()];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&(0..routes.len(), arb_json(ids)), |(i, body)| {
            let (method, path) = &routes[i];
            let before = app.revision();
            let r = rt.block_on(app.call(Some(ADMIN), method, path, Some(body.clone())));
            prop_assert!(
                r.code() < 500,
                "{method} {path} {body}: {} {}",
                r.code(),
                r.text()
            );
            if r.code() >= 400 {
                prop_assert!(r.json()["message"].is_string(), "{}", r.text());
                prop_assert_eq!(app.revision(), before, "a {} stored something", r.code());
            }
            Ok(())
        })
        .unwrap();
    // Whatever was accepted still reads back.
    rt.block_on(async {
        app.get("/components").await;
        app.get("/incidents?start=1970-01-01T00:00:00Z&end=2100-01-01T00:00:00Z")
            .await;
        app.get(&format!("/incidents/{inc}/updates")).await;
        app.get("/phases").await;
        app.get("/severities").await;
    });
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
        "%FF",
    ] {
        for path in [
            format!("/components/{id}"),
            format!("/impacttypes/{id}"),
            format!("/severities/{id}"),
            format!("/incidents/{id}"),
            format!("/incidents/{id}/updates"),
            format!("/incidents/{id}/updates/{id}"),
        ] {
            let r = app.call(None, "GET", &path, None).await;
            assert!(
                matches!(r.code(), 400 | 404),
                "{path}: {} {}",
                r.code(),
                r.text()
            );
            let r = app.call(Some(ADMIN), "DELETE", &path, None).await;
            assert!(
                matches!(r.code(), 400 | 404 | 405),
                "DELETE {path}: {} {}",
                r.code(),
                r.text()
            );
        }
    }
    for q in [
        "/components?at=x",
        "/components?at=",
        "/phases?generation=",
        "/incidents?start=&end=2026-01-01T00:00:00Z",
        "/components?at=%00",
        "/components?limit=1",
        "/phases?generation=x",
        "/phases?generation=99999999999999999999999",
        "/incidents?start=x&end=y",
        "/incidents?start=2026-01-01T00:00:00Z",
        "/impacttypes?x=1",
        "/severities?%=%",
    ] {
        let r = app.call(None, "GET", q, None).await;
        assert_eq!(r.code(), 400, "{q}: {}", r.text());
        assert!(r.json()["message"].is_string());
    }
    let r = app
        .client
        .raw(
            "POST",
            "/status-api/incidents",
            Some(ADMIN),
            &[("content-type", "application/xml")],
            "<incident/>",
        )
        .await;
    assert_eq!(r.code(), 415);
    let r = app
        .client
        .raw(
            "POST",
            "/status-api/components",
            Some(ADMIN),
            &[("content-type", "application/json")],
            "x".repeat(2 * 1024 * 1024),
        )
        .await;
    assert_eq!(r.code(), 413);
}
