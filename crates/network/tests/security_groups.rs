//! Security groups and rules over HTTP: the `default` group and its upstream
//! rules, new groups with the two egress rules, rule validation as Neutron does
//! it, duplicates (`SecurityGroupRuleExists`), the default group's protection,
//! cascade of remote-group rules, and visibility.

mod support;

use serde_json::{json, Value};
use support::*;

fn rule_summary(rules: &Value) -> Vec<(String, String, bool)> {
    let mut v: Vec<(String, String, bool)> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(&r["direction"]).to_string(),
                s(&r["ethertype"]).to_string(),
                r["remote_group_id"].is_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn default_group_has_upstream_rules_and_is_protected() {
    let app = App::new().await;
    let v = app
        .expect(200, "GET", "/security-groups", ALICE, None)
        .await;
    let groups = v["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g["name"], "default");
    assert_eq!(g["project_id"], PROJECT_A);
    assert_eq!(g["stateful"], true);
    assert_eq!(
        rule_summary(&g["security_group_rules"]),
        vec![
            ("egress".into(), "IPv4".into(), false),
            ("egress".into(), "IPv6".into(), false),
            ("ingress".into(), "IPv4".into(), true),
            ("ingress".into(), "IPv6".into(), true),
        ]
    );
    for r in g["security_group_rules"].as_array().unwrap() {
        assert_eq!(r["belongs_to_default_sg"], true);
        if r["direction"] == "ingress" {
            assert_eq!(r["remote_group_id"], g["id"]);
        }
        assert!(r["protocol"].is_null() && r["port_range_min"].is_null());
    }
    // Listing again creates nothing more.
    let v = app
        .expect(200, "GET", "/security-groups", ALICE, None)
        .await;
    assert_eq!(v["security_groups"].as_array().unwrap().len(), 1);
    let gid = s(&g["id"]).to_string();
    // Members may not delete or rename it, nor create another `default`.
    assert_eq!(
        app.error_type(
            409,
            "DELETE",
            &format!("/security-groups/{gid}"),
            ALICE,
            None
        )
        .await,
        "SecurityGroupCannotRemoveDefault"
    );
    let b = json!({"security_group": {"name": "other"}});
    app.expect(
        409,
        "PUT",
        &format!("/security-groups/{gid}"),
        ALICE,
        Some(&b),
    )
    .await;
    let b = json!({"security_group": {"name": "default"}});
    app.expect(409, "POST", "/security-groups", ALICE, Some(&b))
        .await;
    // Bob has his own default group and does not see Alice's.
    let bob = app.ids("/security-groups", BOB, "security_groups").await;
    assert_eq!(bob.len(), 1);
    assert_ne!(bob[0], gid);
    app.expect(404, "GET", &format!("/security-groups/{gid}"), BOB, None)
        .await;
    // A cloud admin may delete it.
    app.expect(
        204,
        "DELETE",
        &format!("/security-groups/{gid}"),
        ADMIN,
        None,
    )
    .await;
}

#[tokio::test]
async fn group_crud_and_rules() {
    let app = App::new().await;
    let g = app
        .expect(
            201,
            "POST",
            "/security-groups",
            ALICE,
            Some(&json!({"security_group": {"name": "sg1", "description": "sg1"}})),
        )
        .await["security_group"]
        .clone();
    assert_eq!(
        rule_summary(&g["security_group_rules"]),
        vec![
            ("egress".into(), "IPv4".into(), false),
            ("egress".into(), "IPv6".into(), false)
        ]
    );
    let gid = s(&g["id"]).to_string();
    // What `openstack security group rule create --protocol tcp --dst-port 22 sg1` sends.
    let b = json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}});
    let r = app
        .expect(201, "POST", "/security-group-rules", ALICE, Some(&b))
        .await["security_group_rule"]
        .clone();
    for (k, v) in [
        ("protocol", json!("tcp")),
        ("port_range_min", json!(22)),
        ("port_range_max", json!(22)),
        ("remote_ip_prefix", json!("0.0.0.0/0")),
        ("normalized_cidr", json!("0.0.0.0/0")),
        ("belongs_to_default_sg", json!(false)),
        ("project_id", json!(PROJECT_A)),
        ("security_group_id", json!(gid)),
    ] {
        assert_eq!(r[k], v, "{k}");
    }
    let rid = s(&r["id"]).to_string();
    // The same rule again (protocol by number this time) is a duplicate.
    let mut dup = b.clone();
    dup["security_group_rule"]["protocol"] = json!("6");
    assert_eq!(
        app.error_type(409, "POST", "/security-group-rules", ALICE, Some(&dup))
            .await,
        "SecurityGroupRuleExists"
    );
    let shown = app
        .expect(200, "GET", &format!("/security-groups/{gid}"), ALICE, None)
        .await;
    assert_eq!(
        shown["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    app.expect(
        200,
        "GET",
        &format!("/security-group-rules/{rid}"),
        CAROL,
        None,
    )
    .await;
    app.expect(
        404,
        "GET",
        &format!("/security-group-rules/{rid}"),
        BOB,
        None,
    )
    .await;
    let listed = app
        .ids(
            &format!("/security-group-rules?security_group_id={gid}&direction=ingress"),
            ALICE,
            "security_group_rules",
        )
        .await;
    assert_eq!(listed, vec![rid.clone()]);
    app.expect(
        204,
        "DELETE",
        &format!("/security-group-rules/{rid}"),
        ALICE,
        None,
    )
    .await;
    app.expect(
        404,
        "DELETE",
        &format!("/security-group-rules/{rid}"),
        ALICE,
        None,
    )
    .await;

    let u = app
        .expect(
            200,
            "PUT",
            &format!("/security-groups/{gid}"),
            ALICE,
            Some(&json!({"security_group": {"name": "sg2"}})),
        )
        .await;
    assert_eq!(u["security_group"]["name"], "sg2");
    app.expect(
        403,
        "DELETE",
        &format!("/security-groups/{gid}"),
        CAROL,
        None,
    )
    .await;
    app.expect(404, "DELETE", &format!("/security-groups/{gid}"), BOB, None)
        .await;
    app.expect(
        204,
        "DELETE",
        &format!("/security-groups/{gid}"),
        ALICE,
        None,
    )
    .await;
    assert!(app
        .ids(
            &format!("/security-group-rules?security_group_id={gid}"),
            ALICE,
            "security_group_rules"
        )
        .await
        .is_empty());
}

#[tokio::test]
async fn rule_validation_like_neutron() {
    let app = App::new().await;
    let gid = s(&app
        .expect(
            201,
            "POST",
            "/security-groups",
            ALICE,
            Some(&json!({"security_group": {"name": "v"}})),
        )
        .await["security_group"]["id"])
    .to_string();
    let bob_group = s(&app
        .expect(
            201,
            "POST",
            "/security-groups",
            BOB,
            Some(&json!({"security_group": {"name": "b"}})),
        )
        .await["security_group"]["id"])
    .to_string();
    let cases = [
        (json!({"direction": "sideways"}), 400, "InvalidInput"),
        (
            json!({"direction": "ingress", "ethertype": "IPv5"}),
            400,
            "SecurityGroupRuleInvalidEtherType",
        ),
        (
            json!({"direction": "ingress", "protocol": "bogus"}),
            400,
            "SecurityGroupRuleInvalidProtocol",
        ),
        (
            json!({"direction": "ingress", "protocol": "300"}),
            400,
            "SecurityGroupRuleInvalidProtocol",
        ),
        (
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20}),
            400,
            "SecurityGroupInvalidPortRange",
        ),
        (
            json!({"direction": "ingress", "protocol": "udp", "port_range_min": 70000, "port_range_max": 70000}),
            400,
            "SecurityGroupInvalidPortValue",
        ),
        (
            json!({"direction": "ingress", "port_range_min": 22, "port_range_max": 22}),
            400,
            "SecurityGroupProtocolRequiredWithPorts",
        ),
        (
            json!({"direction": "ingress", "protocol": "gre", "port_range_min": 22}),
            400,
            "SecurityGroupInvalidProtocolForPort",
        ),
        (
            json!({"direction": "ingress", "protocol": "icmp", "port_range_max": 0}),
            400,
            "SecurityGroupMissingIcmpType",
        ),
        (
            json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 300}),
            400,
            "SecurityGroupInvalidIcmpValue",
        ),
        (
            json!({"direction": "ingress", "remote_ip_prefix": "fd00::/64"}),
            400,
            "SecurityGroupRuleParameterConflict",
        ),
        (
            json!({"direction": "ingress", "remote_ip_prefix": "not-a-net"}),
            400,
            "InvalidInput",
        ),
        (
            json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": gid}),
            400,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
        (
            json!({"direction": "ingress", "remote_group_id": "nope"}),
            404,
            "SecurityGroupNotFound",
        ),
        (
            json!({"direction": "ingress", "remote_group_id": bob_group}),
            404,
            "SecurityGroupNotFound",
        ),
        (
            json!({"direction": "ingress", "frob": 1}),
            400,
            "HTTPBadRequest",
        ),
    ];
    for (extra, status, kind) in cases {
        let mut body = json!({"security_group_id": gid});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let t = app
            .error_type(
                status,
                "POST",
                "/security-group-rules",
                ALICE,
                Some(&json!({"security_group_rule": body})),
            )
            .await;
        assert_eq!(t, kind, "{body}");
    }
    // Nothing was stored; valid variants are.
    let rules = app
        .ids(
            &format!("/security-group-rules?security_group_id={gid}"),
            ALICE,
            "security_group_rules",
        )
        .await;
    assert_eq!(rules.len(), 2);
    for ok in [
        json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0}),
        json!({"direction": "ingress", "protocol": 17, "port_range_min": "53", "port_range_max": "53"}),
        json!({"direction": "ingress", "ethertype": "IPv6", "protocol": "tcp", "remote_ip_prefix": "fd00::1/64"}),
        json!({"direction": "egress", "protocol": "any", "remote_group_id": gid}),
    ] {
        let mut body = ok.clone();
        body["security_group_id"] = json!(gid);
        app.expect(
            201,
            "POST",
            "/security-group-rules",
            ALICE,
            Some(&json!({"security_group_rule": body})),
        )
        .await;
    }
    // Other projects' groups cannot get rules.
    let b = json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress"}});
    app.expect(404, "POST", "/security-group-rules", BOB, Some(&b))
        .await;
    app.expect(403, "POST", "/security-group-rules", CAROL, Some(&b))
        .await;
}

#[tokio::test]
async fn deleting_a_group_removes_rules_naming_it() {
    let app = App::new().await;
    let new = |name: &str| json!({"security_group": {"name": name}});
    let a = s(&app
        .expect(201, "POST", "/security-groups", ALICE, Some(&new("a")))
        .await["security_group"]["id"])
    .to_string();
    let b = s(&app
        .expect(201, "POST", "/security-groups", ALICE, Some(&new("b")))
        .await["security_group"]["id"])
    .to_string();
    let r = json!({"security_group_rule": {"security_group_id": a, "direction": "ingress", "remote_group_id": b}});
    app.expect(201, "POST", "/security-group-rules", ALICE, Some(&r))
        .await;
    app.expect(204, "DELETE", &format!("/security-groups/{b}"), ALICE, None)
        .await;
    let g = app
        .expect(200, "GET", &format!("/security-groups/{a}"), ALICE, None)
        .await;
    assert_eq!(
        g["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
