//! Every network route, called as every persona, against a table of expected
//! answers (the pattern of `crates/identity/tests/policy_matrix.rs`, small).
//!
//! Personas: `admin` (cloud admin), `member` (alice, member of project A),
//! `reader` (carol, reader of A), `other` (bob, member of project B), `auditor`
//! (system-scoped reader), `anon` (no token). Before every single call the admin
//! creates fresh objects of project A: `{net}` (with the subnet `{subnet}`), a port
//! `{port}`, a security group `{sg}` with a rule `{rule}`, and the shared network
//! `{shared}`; so updates and deletes never disturb other rows (project A's quotas
//! are lifted first: the table creates more objects than the defaults allow).
//!
//! Statuses: 2xx allowed; 403 refused; 404 the object belongs to another project
//! (hidden, never 403); 401 no token. Every 4xx carries a Neutron error body.

mod support;

use serde_json::{json, Value};
use support::*;

const PERSONAS: [&str; 6] = ["admin", "member", "reader", "other", "auditor", "anon"];

struct Row {
    req: &'static str,
    body: &'static str,
    expect: [u16; 6],
}

const fn row(req: &'static str, body: &'static str, expect: [u16; 6]) -> Row {
    Row { req, body, expect }
}

const ROWS: &[Row] = &[
    row("GET /networks", "", [200, 200, 200, 200, 200, 401]),
    row("GET /networks/{net}", "", [200, 200, 200, 404, 200, 401]),
    row("GET /networks/{shared}", "", [200, 200, 200, 200, 200, 401]),
    row(
        "POST /networks",
        r#"{"network": {"name": "x"}}"#,
        [201, 201, 403, 201, 403, 401],
    ),
    row(
        "POST /networks",
        r#"{"network": {"name": "x", "shared": true, "project_id": "projecta"}}"#,
        [201, 403, 403, 403, 403, 401],
    ),
    row(
        "POST /networks",
        r#"{"network": {"name": "x", "router:external": true, "project_id": "projecta"}}"#,
        [201, 403, 403, 403, 403, 401],
    ),
    row(
        "PUT /networks/{net}",
        r#"{"network": {"name": "y"}}"#,
        [200, 200, 403, 404, 403, 401],
    ),
    row(
        "PUT /networks/{shared}",
        r#"{"network": {"name": "y"}}"#,
        [200, 200, 403, 403, 403, 401],
    ),
    row(
        "PUT /networks/{net}",
        r#"{"network": {"shared": true}}"#,
        [200, 403, 403, 404, 403, 401],
    ),
    row(
        "DELETE /networks/{emptynet}",
        "",
        [204, 204, 403, 404, 403, 401],
    ),
    row(
        "PUT /networks/{net}/tags/t",
        "",
        [201, 201, 403, 404, 403, 401],
    ),
    row(
        "GET /networks/{net}/tags",
        "",
        [200, 200, 200, 404, 200, 401],
    ),
    row("GET /subnets", "", [200, 200, 200, 200, 200, 401]),
    row("GET /subnets/{subnet}", "", [200, 200, 200, 404, 200, 401]),
    row(
        "POST /subnets",
        r#"{"subnet": {"network_id": "{net}", "cidr": "10.50.0.0/24", "ip_version": 4}}"#,
        [201, 201, 403, 404, 403, 401],
    ),
    row(
        "POST /subnets",
        r#"{"subnet": {"network_id": "{shared}", "cidr": "10.50.0.0/24", "ip_version": 4}}"#,
        [201, 201, 403, 403, 403, 401],
    ),
    row(
        "PUT /subnets/{subnet}",
        r#"{"subnet": {"name": "y"}}"#,
        [200, 200, 403, 404, 403, 401],
    ),
    row(
        "DELETE /subnets/{freesubnet}",
        "",
        [204, 204, 403, 404, 403, 401],
    ),
    row("GET /ports", "", [200, 200, 200, 200, 200, 401]),
    row("GET /ports/{port}", "", [200, 200, 200, 404, 200, 401]),
    row(
        "POST /ports",
        r#"{"port": {"network_id": "{net}"}}"#,
        [201, 201, 403, 404, 403, 401],
    ),
    row(
        "POST /ports",
        r#"{"port": {"network_id": "{shared}"}}"#,
        [201, 201, 403, 201, 403, 401],
    ),
    row(
        "POST /ports",
        r#"{"port": {"network_id": "{net}", "binding:host_id": "h", "project_id": "projecta"}}"#,
        [201, 403, 403, 404, 403, 401],
    ),
    row(
        "PUT /ports/{port}",
        r#"{"port": {"name": "y"}}"#,
        [200, 200, 403, 404, 403, 401],
    ),
    row("DELETE /ports/{port}", "", [204, 204, 403, 404, 403, 401]),
    row("GET /security-groups", "", [200, 200, 200, 200, 200, 401]),
    row(
        "GET /security-groups/{sg}",
        "",
        [200, 200, 200, 404, 200, 401],
    ),
    row(
        "POST /security-groups",
        r#"{"security_group": {"name": "x"}}"#,
        [201, 201, 403, 201, 403, 401],
    ),
    row(
        "PUT /security-groups/{sg}",
        r#"{"security_group": {"name": "y"}}"#,
        [200, 200, 403, 404, 403, 401],
    ),
    row(
        "DELETE /security-groups/{sg}",
        "",
        [204, 204, 403, 404, 403, 401],
    ),
    row(
        "GET /security-group-rules",
        "",
        [200, 200, 200, 200, 200, 401],
    ),
    row(
        "GET /security-group-rules/{rule}",
        "",
        [200, 200, 200, 404, 200, 401],
    ),
    row(
        "POST /security-group-rules",
        r#"{"security_group_rule": {"security_group_id": "{sg}", "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}}"#,
        [201, 201, 403, 404, 403, 401],
    ),
    row(
        "DELETE /security-group-rules/{rule}",
        "",
        [204, 204, 403, 404, 403, 401],
    ),
    row("GET /quotas/projecta", "", [200, 200, 200, 404, 200, 401]),
    row(
        "GET /quotas/projecta/details",
        "",
        [200, 200, 200, 404, 200, 401],
    ),
    row(
        "PUT /quotas/projecta",
        r#"{"quota": {"network": 50}}"#,
        [200, 403, 403, 404, 403, 401],
    ),
    row(
        "DELETE /quotas/projecta",
        "",
        [204, 403, 403, 404, 403, 401],
    ),
    row("GET /quotas", "", [200, 403, 403, 403, 200, 401]),
    row("GET /extensions", "", [200, 200, 200, 200, 200, 200]),
    row("GET /network", "", [200, 200, 200, 200, 200, 200]),
];

fn token(persona: &str) -> Option<&'static str> {
    match persona {
        "admin" => Some(ADMIN),
        "member" => Some(ALICE),
        "reader" => Some(CAROL),
        "other" => Some(BOB),
        "auditor" => Some(AUDITOR),
        _ => None,
    }
}

/// Fresh objects of project A for one call, by placeholder.
async fn fixtures(app: &App, n: usize) -> Vec<(&'static str, String)> {
    let post = |path: &'static str, body: Value| async move {
        let v = app.expect(201, "POST", path, ADMIN, Some(&body)).await;
        v.as_object().unwrap().values().next().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // The table creates far more objects than the default quotas allow.
    let unlimited = json!({"quota": {"network": -1, "subnet": -1, "port": -1, "security_group": -1, "security_group_rule": -1}});
    app.expect(
        200,
        "PUT",
        &format!("/quotas/{PROJECT_A}"),
        ADMIN,
        Some(&unlimited),
    )
    .await;
    let net = post(
        "/networks",
        json!({"network": {"name": format!("n{n}"), "project_id": PROJECT_A}}),
    )
    .await;
    let empty = post(
        "/networks",
        json!({"network": {"name": "e", "project_id": PROJECT_A}}),
    )
    .await;
    let shared = post(
        "/networks",
        json!({"network": {"name": "s", "shared": true, "project_id": PROJECT_A}}),
    )
    .await;
    let subnet = post(
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4}}),
    )
    .await;
    let free = post("/subnets", json!({"subnet": {"network_id": net, "cidr": "10.1.0.0/24", "ip_version": 4, "enable_dhcp": false}})).await;
    let _ = post(
        "/subnets",
        json!({"subnet": {"network_id": shared, "cidr": "10.2.0.0/24", "ip_version": 4}}),
    )
    .await;
    let port = post("/ports", json!({"port": {"network_id": net, "project_id": PROJECT_A, "fixed_ips": [{"subnet_id": subnet}]}})).await;
    let sg = post(
        "/security-groups",
        json!({"security_group": {"name": "g", "project_id": PROJECT_A}}),
    )
    .await;
    let rule = post("/security-group-rules", json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "udp"}})).await;
    vec![
        ("{net}", net),
        ("{emptynet}", empty),
        ("{shared}", shared),
        ("{subnet}", subnet),
        ("{freesubnet}", free),
        ("{port}", port),
        ("{sg}", sg),
        ("{rule}", rule),
    ]
}

#[tokio::test]
async fn every_route_as_every_persona() {
    let app = App::new().await;
    let mut failures = Vec::new();
    let mut n = 0;
    for r in ROWS {
        for (i, persona) in PERSONAS.iter().enumerate() {
            n += 1;
            let fx = fixtures(&app, n).await;
            let fill = |s: &str| {
                fx.iter()
                    .fold(s.to_string(), |acc, (k, v)| acc.replace(k, v))
            };
            let (method, path) = r.req.split_once(' ').unwrap();
            let path = fill(path);
            let full = if path == "/network" {
                path.clone()
            } else {
                format!("{V}{path}")
            };
            let body: Option<Value> =
                (!r.body.is_empty()).then(|| serde_json::from_str(&fill(r.body)).unwrap());
            let resp = app
                .client
                .call(method, &full, token(persona), body.as_ref())
                .await;
            if resp.code() != r.expect[i] {
                failures.push(format!(
                    "{} as {persona}: {} (want {}) {}",
                    r.req,
                    resp.code(),
                    r.expect[i],
                    resp.text()
                ));
            }
            if resp.code() >= 400 {
                assert_neutron_error(&resp);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
