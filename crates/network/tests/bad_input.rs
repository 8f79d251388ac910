//! Bad input never gets a 5xx, and a 4xx never stores anything: every route,
//! called by an admin and a member with odd ids, malformed bodies and odd query
//! strings, answers a 4xx in Neutron's format (or a 2xx where the input happens to
//! be acceptable); and property tests mangle valid bodies of every write route,
//! checking that each 4xx left the store's revision where it was.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use support::*;

const PATHS: &[&str] = &[
    "/networks",
    "/networks/{id}",
    "/networks/{id}/tags",
    "/networks/{id}/tags/{id}",
    "/subnets",
    "/subnets/{id}",
    "/ports",
    "/ports/{id}",
    "/ports/{id}/tags/{id}",
    "/security-groups",
    "/security-groups/{id}",
    "/security-group-rules",
    "/security-group-rules/{id}",
    "/extensions/{id}",
];

const IDS: &[&str] = &[
    "nope",
    "%00",
    "a%00b",
    "%2F%2F",
    "%E2%98%83",
    "%FF%FE",
    "..",
    "x%20",
    "%2C",
];

const BODIES: &[&str] = &[
    "",
    "null",
    "[]",
    "42",
    "{",
    "{}",
    "{\"network\": null}",
    "{\"network\": {\"name\": \"\\u0000\"}}",
    "{\"network\": {\"mtu\": 1e99}}",
    "{\"subnet\": {\"network_id\": \"\\u0000\", \"cidr\": \"10.0.0.0/24\"}}",
    "{\"subnet\": {\"network_id\": \"x\", \"cidr\": \"10.0.0.0/99999999999\"}}",
    "{\"port\": {\"network_id\": \"x\", \"fixed_ips\": [{\"ip_address\": \"::ffff:10.0.0.1\"}]}}",
    "{\"security_group\": {\"name\": []}}",
    "{\"security_group_rule\": {\"security_group_id\": null, \"direction\": \"ingress\"}}",
    "{\"tags\": [\"\\u0000\"]}",
];

const QUERIES: &[&str] = &[
    "?limit=-1",
    "?limit=99999999999999999999",
    "?marker=%00",
    "?shared=maybe",
    "?sort_key=%00&sort_dir=up",
    "?fields=%00",
    "?fixed_ips=%00",
    "?tags=,,,",
    "?page_reverse=x",
    "?%zz",
];

async fn check(app: &App, method: &str, path: &str, token: &str, body: &str) {
    let headers = [("content-type", "application/json")];
    let before = app.store.store.revision();
    let r = app
        .client
        .raw(
            method,
            &format!("{V}{path}"),
            Some(token),
            &headers,
            body.to_string(),
        )
        .await;
    assert!(
        r.code() < 500,
        "{method} {path} {body:?}: {} {}",
        r.code(),
        r.text()
    );
    if r.code() >= 400 {
        assert_neutron_error(&r);
        assert_eq!(
            app.store.store.revision(),
            before,
            "{method} {path} {body:?} stored on {}",
            r.code()
        );
    }
}

#[tokio::test]
async fn no_route_answers_bad_input_with_a_5xx() {
    let app = App::new().await;
    for template in PATHS {
        for id in IDS {
            let path = template.replace("{id}", id);
            for token in [ADMIN, ALICE] {
                for method in ["GET", "DELETE", "PATCH"] {
                    check(&app, method, &path, token, "").await;
                }
                for method in ["POST", "PUT"] {
                    for body in BODIES {
                        check(&app, method, &path, token, body).await;
                    }
                }
            }
        }
    }
    for collection in [
        "/networks",
        "/subnets",
        "/ports",
        "/security-groups",
        "/security-group-rules",
    ] {
        for q in QUERIES {
            check(&app, "GET", &format!("{collection}{q}"), ALICE, "").await;
        }
    }
}

// ---------------------------------------------------------------------------------
// Property tests: mangled valid bodies

struct Endpoint {
    method: &'static str,
    path: &'static str,
    valid: &'static str,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/networks",
        valid: r#"{"network": {"name": "n", "admin_state_up": true, "mtu": 1400, "port_security_enabled": true, "description": "d", "tags": ["a"]}}"#,
    },
    Endpoint {
        method: "PUT",
        path: "/networks/{net}",
        valid: r#"{"network": {"name": "m", "mtu": 1300}}"#,
    },
    Endpoint {
        method: "POST",
        path: "/subnets",
        valid: r#"{"subnet": {"network_id": "{net}", "cidr": "10.{n}.0.0/24", "ip_version": 4, "gateway_ip": "10.{n}.0.1", "allocation_pools": [{"start": "10.{n}.0.10", "end": "10.{n}.0.20"}], "dns_nameservers": ["1.1.1.1"], "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.{n}.0.254"}], "enable_dhcp": true}}"#,
    },
    Endpoint {
        method: "PUT",
        path: "/subnets/{subnet}",
        valid: r#"{"subnet": {"name": "x", "allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.120"}], "gateway_ip": "10.0.0.1", "enable_dhcp": true}}"#,
    },
    Endpoint {
        method: "POST",
        path: "/ports",
        valid: r#"{"port": {"network_id": "{net}", "name": "p", "fixed_ips": [{"subnet_id": "{subnet}"}], "security_groups": ["{sg}"], "allowed_address_pairs": [{"ip_address": "10.9.9.9"}], "device_id": "d", "device_owner": "compute:nova", "admin_state_up": true}}"#,
    },
    Endpoint {
        method: "PUT",
        path: "/ports/{port}",
        valid: r#"{"port": {"name": "q", "fixed_ips": [{"subnet_id": "{subnet}"}], "security_groups": ["{sg}"], "port_security_enabled": true}}"#,
    },
    Endpoint {
        method: "POST",
        path: "/security-groups",
        valid: r#"{"security_group": {"name": "g", "description": "d", "stateful": true}}"#,
    },
    Endpoint {
        method: "PUT",
        path: "/security-groups/{sg}",
        valid: r#"{"security_group": {"name": "h", "description": "e"}}"#,
    },
    Endpoint {
        method: "POST",
        path: "/security-group-rules",
        valid: r#"{"security_group_rule": {"security_group_id": "{sg}", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": {n}, "port_range_max": {n}, "remote_ip_prefix": "10.0.0.0/8"}}"#,
    },
    Endpoint {
        method: "PUT",
        path: "/networks/{net}/tags",
        valid: r#"{"tags": ["a", "b"]}"#,
    },
];

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        Just(json!("10.0.0.0/24")),
        Just(json!("10.0.0.1")),
        Just(json!("fd00::1")),
        Just(json!("\u{0}")),
        Just(json!("x".repeat(300))),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{"ip_address": "10.0.0.5"}])),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum Edit {
    Remove(usize),
    Replace(usize, Value),
    Add(String, Value),
}

fn mangle(doc: &Value, edits: &[Edit]) -> Value {
    let mut doc = doc.clone();
    let Some(inner) = doc.as_object_mut().and_then(|o| o.values_mut().next()) else {
        return doc;
    };
    let Value::Object(obj) = inner else {
        return doc;
    };
    for e in edits {
        let keys: Vec<String> = obj.keys().cloned().collect();
        match e {
            Edit::Remove(i) if !keys.is_empty() => {
                obj.remove(&keys[i % keys.len()]);
            }
            Edit::Replace(i, v) if !keys.is_empty() => {
                obj.insert(keys[i % keys.len()].clone(), v.clone());
            }
            Edit::Add(k, v) => {
                obj.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    doc
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        1 => any::<usize>().prop_map(Edit::Remove),
        3 => (any::<usize>(), leaf()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => ("[a-z_:]{1,10}", leaf()).prop_map(|(k, v)| Edit::Add(k, v)),
    ];
    vec(edit, 1..4)
}

async fn fixture(app: &App) -> Map<String, Value> {
    let net = app.network(ALICE, "fx").await;
    let nid = s(&net["id"]).to_string();
    let subnet = app.subnet(ALICE, &nid, "10.0.0.0/24").await;
    let port = app.port(ALICE, &nid).await;
    let sg = app
        .expect(
            201,
            "POST",
            "/security-groups",
            ALICE,
            Some(&json!({"security_group": {"name": "fx"}})),
        )
        .await["security_group"]
        .clone();
    let mut m = Map::new();
    m.insert("{net}".into(), json!(nid));
    m.insert("{subnet}".into(), subnet["id"].clone());
    m.insert("{port}".into(), port["id"].clone());
    m.insert("{sg}".into(), sg["id"].clone());
    m
}

#[test]
fn mangled_bodies_get_4xx_and_store_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = rt.block_on(App::new());
    let fx = rt.block_on(fixture(&app));
    let counter = std::cell::Cell::new(1u32);
    for ep in ENDPOINTS {
        let fill = |s: &str| {
            let n = counter.get();
            counter.set(n + 1);
            fx.iter()
                .fold(s.to_string(), |acc, (k, v)| {
                    acc.replace(k, v.as_str().unwrap())
                })
                .replace("{n}", &(n % 250 + 1).to_string())
        };
        let path = fill(ep.path);
        let mut runner = TestRunner::new(Config {
            cases: 48,
            failure_persistence: None,
            max_shrink_iters: 100,
            ..Config::default()
        });
        let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
        let result = runner.run(&edits(), |edits| {
            let valid: Value = serde_json::from_str(&fill(ep.valid)).expect("valid document");
            let body = mangle(&valid, &edits);
            rt.block_on(async {
                let before = app.store.store.revision();
                let r = app.call(ep.method, &path, ALICE, Some(&body)).await;
                *statuses.borrow_mut().entry(r.code()).or_default() += 1;
                if r.code() >= 500 {
                    return Err(TestCaseError::fail(format!(
                        "{body}: {} {}",
                        r.code(),
                        r.text()
                    )));
                }
                if r.code() >= 400 {
                    if r.json()["NeutronError"]["type"].as_str().is_none() {
                        return Err(TestCaseError::fail(format!(
                            "{body}: not a Neutron error: {}",
                            r.text()
                        )));
                    }
                    if app.store.store.revision() != before {
                        return Err(TestCaseError::fail(format!(
                            "{body}: {} but stored",
                            r.code()
                        )));
                    }
                }
                Ok(())
            })
        });
        // what the inputs provoked, for `--nocapture` readers
        eprintln!("{} {}: {:?}", ep.method, ep.path, statuses.borrow());
        if let Err(e) = result {
            panic!("{} {}: {e}", ep.method, ep.path);
        }
    }
}
