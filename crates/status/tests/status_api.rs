//! The status page API driven in-process: public reads of the bootstrap defaults,
//! who may write, the life of components, incidents (impacts, phases, the `at`
//! and `start`/`end` time frames) and their updates, severities, and that refused
//! requests change nothing.

mod support;

use nimbus_api::audit::AuditRecord;
use serde_json::{json, Value};
use support::*;

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["displayName"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_defaults_are_readable_without_a_token() {
    let app = App::new().await;
    let comps = app.get("/components").await;
    let mut got = names(&comps);
    got.sort();
    assert_eq!(
        got,
        [
            "Block Storage",
            "Compute",
            "Console",
            "Identity",
            "Image",
            "Network"
        ]
    );
    for c in comps.as_array().unwrap() {
        assert_eq!(c["activelyAffectedBy"], json!([]));
        assert!(c["labels"]["service"].is_string(), "{c}");
        uuid::Uuid::parse_str(c["id"].as_str().unwrap()).expect("uuid id");
    }
    assert_eq!(
        app.get("/severities").await,
        json!([
            {"displayName": "operational", "value": 25},
            {"displayName": "maintenance", "value": 50},
            {"displayName": "limited", "value": 75},
            {"displayName": "broken", "value": 100},
        ])
    );
    let phases = app.get("/phases").await;
    assert_eq!(phases["generation"], 1);
    assert_eq!(phases["phases"][0], "Scheduled");
    assert_eq!(phases["phases"][4], "Done");
    assert_eq!(app.get("/impacttypes").await.as_array().unwrap().len(), 3);
    assert_eq!(
        app.get("/severities/limited").await,
        json!({"displayName": "limited", "value": 75})
    );
}

#[tokio::test]
async fn seeding_twice_adds_nothing() {
    let app = App::new().await;
    let before = app.revision();
    let created = nimbus_status::bootstrap::seed(&app.store.store)
        .await
        .unwrap();
    assert_eq!(created, 0);
    assert_eq!(app.revision(), before);
}

#[tokio::test]
async fn only_cloud_admins_write() {
    let app = App::new().await;
    let comp = app.component_id("Compute").await;
    let itype = app.impact_type_id().await;
    let writes = [
        (
            "POST",
            "/components".to_string(),
            json!({"displayName": "X"}),
        ),
        (
            "PATCH",
            format!("/components/{comp}"),
            json!({"displayName": "X"}),
        ),
        ("DELETE", format!("/components/{comp}"), Value::Null),
        ("POST", "/phases".to_string(), json!({"phases": ["a"]})),
        (
            "POST",
            "/impacttypes".to_string(),
            json!({"displayName": "X"}),
        ),
        (
            "PATCH",
            format!("/impacttypes/{itype}"),
            json!({"displayName": "X"}),
        ),
        ("DELETE", format!("/impacttypes/{itype}"), Value::Null),
        (
            "POST",
            "/severities".to_string(),
            json!({"displayName": "x", "value": 60}),
        ),
        (
            "PATCH",
            "/severities/limited".to_string(),
            json!({"value": 70}),
        ),
        ("DELETE", "/severities/limited".to_string(), Value::Null),
        (
            "POST",
            "/incidents".to_string(),
            json!({"displayName": "X"}),
        ),
    ];
    let before = app.revision();
    for (method, path, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        let r = app.call(None, method, path, body.clone()).await;
        assert_eq!(r.code(), 401, "{method} {path} anonymous: {}", r.text());
        assert!(r.json()["message"].is_string(), "{}", r.text());
        for who in [ALICE, CAROL, AUDITOR] {
            let r = app.call(Some(who), method, path, body.clone()).await;
            assert_eq!(r.code(), 403, "{method} {path} as {who}: {}", r.text());
            assert!(r.json()["message"].is_string(), "{}", r.text());
        }
    }
    assert_eq!(app.revision(), before, "a refused write changed the store");
    // The same writes by the admin succeed (in an order where each still applies).
    let id = app.create("/components", json!({"displayName": "X"})).await["id"].clone();
    assert!(id.is_string());
    let r = app
        .call(
            Some(ADMIN),
            "DELETE",
            &format!("/components/{}", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    // Bearer tokens (what SCS clients send) work as well as X-Auth-Token.
    let r = app
        .client
        .raw(
            "POST",
            "/status-api/components",
            None,
            &[
                ("authorization", "Bearer admin-token"),
                ("content-type", "application/json"),
            ],
            r#"{"displayName": "Y"}"#,
        )
        .await;
    assert_eq!(r.code(), 201, "{}", r.text());
}

#[tokio::test]
async fn writes_are_audited() {
    let app = App::new().await;
    let id = app
        .create("/components", json!({"displayName": "Audited"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let records = app.store.store.list::<AuditRecord>(None).await.unwrap();
    assert!(records
        .iter()
        .any(|r| r.value.action == "status.component.create"
            && r.value.target_id == id
            && r.value.user_id.as_deref() == Some("admin")));
}

#[tokio::test]
async fn component_life() {
    let app = App::new().await;
    let id = app
        .create(
            "/components",
            json!({"displayName": "Object Storage", "labels": {"region": "west", "az": "1"}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.get(&format!("/components/{id}")).await;
    assert_eq!(c["displayName"], "Object Storage");
    assert_eq!(c["labels"], json!({"region": "west", "az": "1"}));
    assert_eq!(c["activelyAffectedBy"], json!([]));
    // Uppercase ids name the same component.
    app.get(&format!("/components/{}", id.to_uppercase())).await;

    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            &format!("/components/{id}"),
            Some(json!({"labels": {"region": "east"}})),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    assert!(r.body.is_empty());
    let c = app.get(&format!("/components/{id}")).await;
    assert_eq!(c["displayName"], "Object Storage", "untouched field kept");
    assert_eq!(c["labels"], json!({"region": "east"}), "labels replaced");

    let r = app
        .call(Some(ADMIN), "DELETE", &format!("/components/{id}"), None)
        .await;
    assert_eq!(r.code(), 204);
    let r = app
        .call(None, "GET", &format!("/components/{id}"), None)
        .await;
    assert_eq!(r.code(), 404);
    assert!(r.json()["message"].as_str().unwrap().contains(&id));
    for bad in [
        json!({"labels": null}),
        json!({"displayName": null}),
        json!({"labels": {"a": 1}}),
        json!([]),
        json!("x"),
    ] {
        let r = app
            .call(
                Some(ADMIN),
                "PATCH",
                &format!("/components/{id}"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    let r = app.call(None, "GET", "/components/not-a-uuid", None).await;
    assert_eq!(r.code(), 400, "{}", r.text());
}

#[tokio::test]
async fn incidents_affect_components_while_they_last() {
    let app = App::new().await;
    let compute = app.component_id("Compute").await;
    let network = app.component_id("Network").await;
    let itype = app.impact_type_id().await;
    let inc = app
        .create(
            "/incidents",
            json!({
                "displayName": "Slow boots",
                "description": "Guests take long to boot.",
                "beganAt": "2026-01-10T10:00:00Z",
                "endedAt": "2026-01-10T12:00:00+01:00",
                "affects": [
                    {"reference": compute, "type": itype, "severity": 60},
                    {"reference": network, "type": itype}
                ],
                "phase": {"generation": 1, "order": 2}
            }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let i = app.get(&format!("/incidents/{inc}")).await;
    assert_eq!(i["displayName"], "Slow boots");
    assert_eq!(i["beganAt"], "2026-01-10T10:00:00Z");
    assert_eq!(i["endedAt"], "2026-01-10T11:00:00Z", "normalised to UTC");
    assert_eq!(i["phase"], json!({"generation": 1, "order": 2}));
    assert_eq!(i["updates"], json!([]));
    assert_eq!(
        i["affects"][0],
        json!({"reference": compute, "type": itype, "severity": 60})
    );
    assert!(i["affects"][1].get("severity").is_none());

    // During the incident the components name it; before and after they do not.
    let during = app
        .get(&format!("/components/{compute}?at=2026-01-10T10:30:00Z"))
        .await;
    assert_eq!(
        during["activelyAffectedBy"],
        json!([{"reference": inc, "type": itype, "severity": 60}])
    );
    let all = app.get("/components?at=2026-01-10T10:30:00.000Z").await;
    let affected: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["activelyAffectedBy"].as_array().unwrap().is_empty())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(affected.len(), 2);
    for at in ["2026-01-10T09:59:59Z", "2026-01-10T11:00:00Z"] {
        let c = app.get(&format!("/components/{compute}?at={at}")).await;
        assert_eq!(c["activelyAffectedBy"], json!([]), "at {at}");
    }
    // Without `at`, now: the incident is over.
    assert_eq!(
        app.get(&format!("/components/{compute}")).await["activelyAffectedBy"],
        json!([])
    );

    // The list holds incidents overlapping the frame.
    let hit = app
        .get("/incidents?start=2026-01-10T10:59:00Z&end=2026-01-11T00:00:00Z")
        .await;
    assert_eq!(hit.as_array().unwrap().len(), 1);
    let miss = app
        .get("/incidents?start=2026-01-10T11:00:01Z&end=2026-01-11T00:00:00Z")
        .await;
    assert_eq!(miss, json!([]));

    // Reopening (endedAt null) makes it active now.
    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            &format!("/incidents/{inc}"),
            Some(json!({"endedAt": null, "phase": {"order": 3}})),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    let i = app.get(&format!("/incidents/{inc}")).await;
    assert_eq!(i["endedAt"], Value::Null);
    assert_eq!(i["phase"], json!({"generation": 1, "order": 3}));
    assert_eq!(i["displayName"], "Slow boots");
    assert_eq!(
        app.get(&format!("/components/{compute}")).await["activelyAffectedBy"][0]["reference"],
        inc
    );
    // An open incident overlaps every later frame.
    let later = app
        .get("/incidents?start=2030-01-01T00:00:00Z&end=2030-01-02T00:00:00Z")
        .await;
    assert_eq!(later.as_array().unwrap().len(), 1);

    // While it names them, the component and the type cannot be deleted.
    for path in [
        format!("/components/{compute}"),
        format!("/impacttypes/{itype}"),
    ] {
        let r = app.call(Some(ADMIN), "DELETE", &path, None).await;
        assert_eq!(r.code(), 409, "{path}: {}", r.text());
    }
    let r = app
        .call(Some(ADMIN), "DELETE", &format!("/incidents/{inc}"), None)
        .await;
    assert_eq!(r.code(), 204);
    let r = app
        .call(
            Some(ADMIN),
            "DELETE",
            &format!("/components/{compute}"),
            None,
        )
        .await;
    assert_eq!(r.code(), 204);
}

#[tokio::test]
async fn incident_defaults_and_checks() {
    let app = App::new().await;
    let compute = app.component_id("Compute").await;
    let itype = app.impact_type_id().await;
    // No beganAt: now; no phase: the newest generation, order 0.
    let inc = app
        .create("/incidents", json!({"displayName": "Now", "phase": {}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let i = app.get(&format!("/incidents/{inc}")).await;
    assert_eq!(i["phase"], json!({"generation": 1, "order": 0}));
    let began_text = i["beganAt"].as_str().unwrap();
    let fraction = began_text.split('.').nth(1).unwrap_or("Z");
    assert!(fraction.len() <= 4, "milliseconds at most: {began_text}");
    let began = chrono::DateTime::parse_from_rfc3339(began_text).unwrap();
    assert!((chrono::Utc::now() - began.with_timezone(&chrono::Utc)).num_seconds() < 60);

    let before = app.revision();
    let ghost = uuid::Uuid::new_v4().to_string();
    for bad in [
        json!({}),
        json!({"displayName": ""}),
        json!({"displayName": "x", "beganAt": "yesterday"}),
        json!({"displayName": "x", "beganAt": "2026-01-02T00:00:00Z", "endedAt": "2026-01-01T00:00:00Z"}),
        json!({"displayName": "x", "affects": [{"reference": ghost, "type": itype}]}),
        json!({"displayName": "x", "affects": [{"reference": compute, "type": ghost}]}),
        json!({"displayName": "x", "affects": [{"reference": compute}]}),
        json!({"displayName": "x", "affects": [{"reference": "nope", "type": itype}]}),
        json!({"displayName": "x", "affects": [{"reference": compute, "type": itype, "severity": 101}]}),
        json!({"displayName": "x", "affects": [{"reference": compute, "type": itype, "severity": -1}]}),
        json!({"displayName": "x", "affects": [
            {"reference": compute, "type": itype}, {"reference": compute, "type": itype}]}),
        json!({"displayName": "x", "phase": {"generation": 7, "order": 0}}),
        json!({"displayName": "x", "phase": {"generation": 1, "order": 5}}),
        json!({"displayName": "x", "phase": {"generation": -1}}),
        json!({"displayName": 5}),
        json!([]),
    ] {
        let r = app
            .call(Some(ADMIN), "POST", "/incidents", Some(bad.clone()))
            .await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
        assert!(r.json()["message"].is_string());
    }
    for bad in [
        json!({"beganAt": null}),
        json!({"displayName": null}),
        json!({"affects": null}),
        json!({"phase": null}),
        json!({"endedAt": "1999-01-01T00:00:00Z"}),
        json!({"phase": {"order": 99}}),
        json!({"affects": [{"reference": ghost, "type": itype}]}),
    ] {
        let r = app
            .call(
                Some(ADMIN),
                "PATCH",
                &format!("/incidents/{inc}"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
    assert_eq!(app.revision(), before, "a 400 changed the store");

    for q in [
        "",
        "?start=2026-01-01T00:00:00Z",
        "?end=2026-01-01T00:00:00Z",
        "?start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z",
        "?start=soon&end=2026-01-01T00:00:00Z",
        "?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z&limit=3",
    ] {
        let r = app.call(None, "GET", &format!("/incidents{q}"), None).await;
        assert_eq!(r.code(), 400, "{q}: {}", r.text());
    }
    let r = app.call(None, "GET", "/components?at=noon", None).await;
    assert_eq!(r.code(), 400);
}

#[tokio::test]
async fn phase_generations() {
    let app = App::new().await;
    let r = app
        .create("/phases", json!({"phases": ["Planned", "Ongoing", "Over"]}))
        .await;
    assert_eq!(r, json!({"generation": 2}));
    assert_eq!(
        app.get("/phases").await,
        json!({"generation": 2, "phases": ["Planned", "Ongoing", "Over"]})
    );
    assert_eq!(
        app.get("/phases?generation=1").await["phases"][1],
        "Investigation ongoing"
    );
    let r = app.call(None, "GET", "/phases?generation=9", None).await;
    assert_eq!(r.code(), 404);
    let r = app.call(None, "GET", "/phases?generation=-1", None).await;
    assert_eq!(r.code(), 400);
    // A new incident gets the newest generation; generation 1 stays referable.
    let inc = app.create("/incidents", json!({"displayName": "x"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.get(&format!("/incidents/{inc}")).await["phase"],
        json!({"generation": 2, "order": 0})
    );
    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            &format!("/incidents/{inc}"),
            Some(json!({"phase": {"generation": 1, "order": 4}})),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    for bad in [
        json!({}),
        json!({"phases": []}),
        json!({"phases": [""]}),
        json!({"phases": "a"}),
    ] {
        let r = app
            .call(Some(ADMIN), "POST", "/phases", Some(bad.clone()))
            .await;
        assert_eq!(r.code(), 400, "{bad}: {}", r.text());
    }
}

#[tokio::test]
async fn incident_updates_are_ordered() {
    let app = App::new().await;
    let inc = app.create("/incidents", json!({"displayName": "x"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/incidents/{inc}/updates");
    let first = app
        .create(
            &base,
            json!({"displayName": "Investigating", "description": "Looking.",
                   "createdAt": "2026-01-10T10:15:00Z"}),
        )
        .await;
    assert_eq!(first, json!({"order": 0}));
    assert_eq!(
        app.create(&base, json!({"displayName": "Fixed"})).await,
        json!({"order": 1})
    );
    let list = app.get(&base).await;
    assert_eq!(names(&list), ["Investigating", "Fixed"]);
    assert_eq!(
        list[0],
        json!({"order": 0, "displayName": "Investigating", "description": "Looking.",
               "createdAt": "2026-01-10T10:15:00Z"})
    );
    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            &format!("{base}/1"),
            Some(json!({"description": "Done."})),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    let u = app.get(&format!("{base}/1")).await;
    assert_eq!(u["description"], "Done.");
    assert_eq!(u["displayName"], "Fixed");

    let r = app
        .call(Some(ADMIN), "DELETE", &format!("{base}/0"), None)
        .await;
    assert_eq!(r.code(), 204);
    // Orders are not reused.
    assert_eq!(
        app.create(&base, json!({"displayName": "Again"})).await,
        json!({"order": 2})
    );
    assert_eq!(
        app.get(&format!("/incidents/{inc}")).await["updates"],
        json!([1, 2])
    );
    for (method, path) in [
        ("GET", format!("{base}/0")),
        ("DELETE", format!("{base}/0")),
        (
            "GET",
            format!("/incidents/{}/updates", uuid::Uuid::new_v4()),
        ),
    ] {
        let r = app.call(Some(ADMIN), method, &path, None).await;
        assert_eq!(r.code(), 404, "{method} {path}: {}", r.text());
    }
    for path in [
        format!("{base}/-1"),
        format!("{base}/x"),
        "/incidents/x/updates".to_string(),
    ] {
        let r = app.call(None, "GET", &path, None).await;
        assert_eq!(r.code(), 400, "{path}: {}", r.text());
    }
    let r = app
        .call(
            Some(ALICE),
            "POST",
            &base,
            Some(json!({"displayName": "no"})),
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = app
        .call(
            Some(ADMIN),
            "POST",
            &base,
            Some(json!({"description": "no name"})),
        )
        .await;
    assert_eq!(r.code(), 400);
}

#[tokio::test]
async fn severities_by_name() {
    let app = App::new().await;
    let r = app
        .call(
            Some(ADMIN),
            "POST",
            "/severities",
            Some(json!({"displayName": "degraded", "value": 60})),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    assert_eq!(app.get("/severities/degraded").await["value"], 60);
    let before = app.revision();
    for (body, code) in [
        (json!({"displayName": "degraded", "value": 61}), 409),
        (json!({"displayName": "other", "value": 60}), 409),
        (json!({"displayName": "other", "value": 101}), 400),
        (json!({"displayName": "other", "value": 1.5}), 400),
        (json!({"displayName": "other"}), 400),
        (json!({"value": 3}), 400),
        (json!({"displayName": "a\u{0}b", "value": 3}), 400),
    ] {
        let r = app
            .call(Some(ADMIN), "POST", "/severities", Some(body.clone()))
            .await;
        assert_eq!(r.code(), code, "{body}: {}", r.text());
    }
    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            "/severities/degraded",
            Some(json!({"value": 75})),
        )
        .await;
    assert_eq!(r.code(), 409, "value of limited: {}", r.text());
    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            "/severities/degraded",
            Some(json!({"displayName": "broken"})),
        )
        .await;
    assert_eq!(r.code(), 409);
    assert_eq!(app.revision(), before);

    let r = app
        .call(
            Some(ADMIN),
            "PATCH",
            "/severities/degraded",
            Some(json!({"displayName": "slow", "value": 55})),
        )
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    assert_eq!(
        app.get("/severities/slow").await,
        json!({"displayName": "slow", "value": 55})
    );
    let r = app.call(None, "GET", "/severities/degraded", None).await;
    assert_eq!(r.code(), 404);
    let r = app
        .call(Some(ADMIN), "DELETE", "/severities/slow", None)
        .await;
    assert_eq!(r.code(), 204);
    assert_eq!(app.get("/severities").await.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn errors_are_message_bodies() {
    let app = App::new().await;
    for (method, path, code) in [
        ("GET", "/status-api/nothing", 404),
        ("GET", "/status-api", 404),
        ("GET", "/status-api/", 404),
        ("GET", "/status-api/components/", 404),
        ("PUT", "/status-api/components", 405),
        (
            "GET",
            "/status-api/impacttypes/4b8c0a3e-0000-4000-8000-000000000000",
            404,
        ),
    ] {
        let r = app.call(None, method, path, None).await;
        assert_eq!(r.code(), code, "{method} {path}: {}", r.text());
        assert!(
            r.json()["message"].is_string(),
            "{method} {path}: {}",
            r.text()
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    let r = app
        .client
        .raw(
            "POST",
            "/status-api/components",
            Some(ADMIN),
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(r.code(), 400);
    assert!(r.json()["message"].is_string());
}
