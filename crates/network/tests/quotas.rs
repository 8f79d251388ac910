//! Network quotas: defaults, usage, limits set by cloud admins and enforced on
//! creation (409 `OverQuota`, nothing stored; 403 for server ports as Nova says),
//! reset, and who may read or change them.

mod support;

use nimbus_network::types::OWNER_COMPUTE;
use nimbus_network::PortRequest;
use serde_json::json;
use support::*;

#[tokio::test]
async fn defaults_usage_limits_and_reset() {
    let app = App::new().await;
    let q = app
        .expect(200, "GET", &format!("/quotas/{PROJECT_A}"), ALICE, None)
        .await;
    assert_eq!(
        q["quota"],
        json!({"network": 100, "subnet": 100, "port": 500, "security_group": 10, "security_group_rule": 100})
    );
    app.expect(
        200,
        "GET",
        &format!("/quotas/{PROJECT_A}/default"),
        CAROL,
        None,
    )
    .await;
    app.expect(404, "GET", &format!("/quotas/{PROJECT_A}"), BOB, None)
        .await;
    app.expect(200, "GET", &format!("/quotas/{PROJECT_A}"), AUDITOR, None)
        .await;

    let nid = s(&app.network(ALICE, "n1").await["id"]).to_string();
    app.subnet(ALICE, &nid, "10.0.0.0/24").await;
    app.port(ALICE, &nid).await;
    let d = app
        .expect(
            200,
            "GET",
            &format!("/quotas/{PROJECT_A}/details"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(
        d["quota"]["network"],
        json!({"limit": 100, "used": 1, "reserved": 0})
    );
    // The user's port, the DHCP port (the network's project) and the default group.
    assert_eq!(d["quota"]["port"]["used"], 2);
    assert_eq!(d["quota"]["security_group"]["used"], 1);
    assert_eq!(d["quota"]["security_group_rule"]["used"], 4);

    let body = json!({"quota": {"network": 2, "port": 3}});
    app.expect(
        403,
        "PUT",
        &format!("/quotas/{PROJECT_A}"),
        ALICE,
        Some(&body),
    )
    .await;
    let q = app
        .expect(
            200,
            "PUT",
            &format!("/quotas/{PROJECT_A}"),
            ADMIN,
            Some(&body),
        )
        .await;
    assert_eq!(
        (q["quota"]["network"].clone(), q["quota"]["port"].clone()),
        (json!(2), json!(3))
    );
    let listed = app.expect(200, "GET", "/quotas", ADMIN, None).await;
    assert_eq!(listed["quotas"][0]["project_id"], PROJECT_A);
    app.expect(403, "GET", "/quotas", ALICE, None).await;

    app.network(ALICE, "n2").await;
    let before = app.store.store.revision();
    let t = app
        .error_type(
            409,
            "POST",
            "/networks",
            ALICE,
            Some(&json!({"network": {"name": "n3"}})),
        )
        .await;
    assert_eq!(t, "OverQuota");
    app.port(ALICE, &nid).await;
    let t = app
        .error_type(
            409,
            "POST",
            "/ports",
            ALICE,
            Some(&json!({"port": {"network_id": nid}})),
        )
        .await;
    assert_eq!(t, "OverQuota");
    assert_eq!(app.store.store.revision(), before + 1);
    // Bob's project is not limited by Alice's quota.
    app.network(BOB, "b1").await;
    app.network(BOB, "b2").await;
    app.network(BOB, "b3").await;

    // Server ports: Nova's 403.
    let mut tx = app.store.store.begin().await.unwrap();
    let req = PortRequest {
        project_id: PROJECT_A.into(),
        network_id: nid.clone(),
        device_id: "vm".into(),
        device_owner: OWNER_COMPUTE.into(),
        ..Default::default()
    };
    let e = app.net.create_port_in(&mut tx, req).await.unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.message.as_str()),
        (403, "Maximum number of ports exceeded")
    );
    drop(tx);

    for bad in [
        json!({"quota": {"network": -2}}),
        json!({"quota": {"router": 1}}),
        json!({"quota": {"port": "x"}}),
    ] {
        app.expect(
            400,
            "PUT",
            &format!("/quotas/{PROJECT_A}"),
            ADMIN,
            Some(&bad),
        )
        .await;
    }
    app.expect(204, "DELETE", &format!("/quotas/{PROJECT_A}"), ADMIN, None)
        .await;
    app.network(ALICE, "n3").await;
    let q = app
        .expect(200, "GET", &format!("/quotas/{PROJECT_A}"), ALICE, None)
        .await;
    assert_eq!(q["quota"]["network"], 100);
    // Unlimited.
    let body = json!({"quota": {"security_group": -1}});
    app.expect(
        200,
        "PUT",
        &format!("/quotas/{PROJECT_A}"),
        ADMIN,
        Some(&body),
    )
    .await;
    for i in 0..12 {
        let b = json!({"security_group": {"name": format!("g{i}")}});
        app.expect(201, "POST", "/security-groups", ALICE, Some(&b))
            .await;
    }
}
