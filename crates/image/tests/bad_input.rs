//! Bad input never breaks the image API: random bytes, random JSON and mangled
//! valid bodies, sent with random content types to every endpoint that reads a body
//! and with random query strings to the list, never get a 5xx; every 4xx is a
//! Glance error page. Then the classic cases one by one.

mod support;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use support::*;

const CASES: u32 = 48;

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
    "application/octet-stream",
    "text/plain",
    "multipart/form-data",
    "",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("/name")),
        Just(json!("replace")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("op".to_string()),
                    Just("path".to_string()),
                    Just("value".to_string()),
                    Just("name".to_string()),
                    Just("member".to_string()),
                    Just("status".to_string()),
                    Just("visibility".to_string()),
                    "[a-z_]{1,8}".prop_map(String::from),
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        any_json().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// `CASES` values drawn from a strategy (deterministic, so failures reproduce).
fn draw<S: Strategy>(runner: &mut TestRunner, strategy: S) -> Vec<S::Value> {
    (0..CASES)
        .map(|_| strategy.new_tree(runner).expect("value").current())
        .collect()
}

#[tokio::test]
async fn random_input_never_gets_a_5xx() {
    let app = App::new().await;
    let id = app.create_raw("alice", "fuzz", json!({})).await;
    let endpoints = [
        ("POST", "/images".to_string()),
        ("PATCH", format!("/images/{id}")),
        ("POST", format!("/images/{id}/members")),
        ("PUT", format!("/images/{id}/members/pb")),
        ("PUT", format!("/images/{id}/file")),
    ];
    let mut runner = TestRunner::deterministic();
    for (method, path) in endpoints {
        let cases = draw(&mut runner, (body(), prop::sample::select(CONTENT_TYPES)));
        for (bytes, ct) in cases {
            let headers: Vec<(&str, &str)> = if ct.is_empty() {
                vec![]
            } else {
                vec![("content-type", ct)]
            };
            let r = app
                .raw("alice", method, &path, &headers, bytes.clone())
                .await;
            assert!(
                r.code() < 500,
                "{method} {path} {ct} {:?}: {} {}",
                String::from_utf8_lossy(&bytes),
                r.code(),
                r.text()
            );
            if r.code() >= 400 {
                assert_eq!(glance_error_problem(&r), None);
            }
        }
    }
    let queries = prop::collection::vec("[a-z_]{1,10}=[a-z0-9:,%-]{0,12}", 1..4);
    for params in draw(&mut runner, queries) {
        let path = format!("/images?{}", params.join("&"));
        let r = app.call("alice", "GET", &path, None).await;
        assert!(
            r.code() == 200 || r.code() == 400,
            "{path}: {} {}",
            r.code(),
            r.text()
        );
    }
}

#[tokio::test]
async fn classic_bad_requests() {
    let app = App::new().await;
    let id = app.create_raw("alice", "classic", json!({})).await;
    let json_ct = [("content-type", "application/json")];
    for (method, path, headers, body, code) in [
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            "{not json",
            400,
        ),
        ("POST", "/images".to_string(), &json_ct[..], "", 400),
        ("POST", "/images".to_string(), &json_ct[..], "[1, 2]", 400),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"name": 5}"#,
            400,
        ),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"id": "nope"}"#,
            400,
        ),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"size": 5}"#,
            403,
        ),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"status": "active"}"#,
            403,
        ),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"disk_format": "exe"}"#,
            400,
        ),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"min_disk": -1}"#,
            400,
        ),
        (
            "POST",
            "/images".to_string(),
            &json_ct[..],
            r#"{"protected": "yes"}"#,
            400,
        ),
        (
            "POST",
            "/images".to_string(),
            &[("content-type", "application/xml")][..],
            "<x/>",
            415,
        ),
        ("PATCH", format!("/images/{id}"), &json_ct[..], "[]", 415),
        (
            "PATCH",
            format!("/images/{id}"),
            &[("content-type", PATCH)][..],
            "{bad",
            400,
        ),
        (
            "PATCH",
            format!("/images/{id}"),
            &[("content-type", PATCH)][..],
            r#"[{"op": 1}]"#,
            400,
        ),
        (
            "PATCH",
            format!("/images/{id}"),
            &[("content-type", PATCH)][..],
            r#"[{"path": "/name"}]"#,
            400,
        ),
        (
            "POST",
            format!("/images/{id}/members"),
            &json_ct[..],
            r#"{"member": ["a"]}"#,
            400,
        ),
        (
            "PUT",
            format!("/images/{id}/file"),
            &[("content-type", "text/plain")][..],
            "abc",
            415,
        ),
    ] {
        let r = app.raw("alice", method, &path, headers, body).await;
        assert_eq!(r.code(), code, "{method} {path} {body}: {}", r.text());
        assert_eq!(glance_error_problem(&r), None, "{method} {path} {body}");
    }
    // too many properties
    let mut many = serde_json::Map::new();
    for n in 0..129 {
        many.insert(format!("p{n}"), json!("v"));
    }
    let r = app
        .call("alice", "POST", "/images", Some(Value::Object(many)))
        .await;
    assert_eq!(r.code(), 413);
    // oversized JSON bodies are refused before decoding
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 << 20));
    let r = app.raw("alice", "POST", "/images", &json_ct, big).await;
    assert_eq!(r.code(), 413);
    // nothing was created by any of this
    assert_eq!(app.list_ids("alice", "").await, [id]);
}
