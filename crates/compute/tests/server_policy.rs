//! Who may do what to a server of project A: the cloud admin everything; alice
//! (member of A) everything of her project; carol (reader of A) reads only; bob
//! (member of B) gets 404 for all of it; a system reader reads. Each row is one
//! request; the expected codes come from the policy table's rules.

mod support;

use nimbus_image::types::Visibility;
use serde_json::json;
use support::cloud::*;
use support::*;

const MV: Option<&str> = Some("2.79");
/// A volume id nothing has.
const NO_VOLUME: &str = "5e0f2b8e-8a4b-4f7a-9d0e-000000000000";

#[tokio::test]
async fn persona_matrix_for_one_server() {
    let app = App::new().await;
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    let r = app
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body("vm", &image, &net)),
        )
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let s = format!("/servers/{id}");
    // (method, path, body, [admin, alice, carol, bob, auditor])
    let rows: Vec<(&str, String, Option<serde_json::Value>, [u16; 5])> = vec![
        ("GET", s.clone(), None, [200, 200, 200, 404, 200]),
        (
            "GET",
            format!("{s}/metadata"),
            None,
            [200, 200, 200, 404, 200],
        ),
        ("GET", format!("{s}/ips"), None, [200, 200, 200, 404, 200]),
        (
            "GET",
            format!("{s}/os-interface"),
            None,
            [200, 200, 200, 404, 200],
        ),
        (
            "GET",
            format!("{s}/os-security-groups"),
            None,
            [200, 200, 200, 404, 200],
        ),
        (
            "GET",
            format!("{s}/os-instance-actions"),
            None,
            [200, 200, 200, 404, 200],
        ),
        ("GET", format!("{s}/tags"), None, [200, 200, 200, 404, 200]),
        (
            "PUT",
            s.clone(),
            Some(json!({"server": {"name": "vm"}})),
            [200, 200, 403, 404, 403],
        ),
        (
            "POST",
            format!("{s}/metadata"),
            Some(json!({"metadata": {"k": "v"}})),
            [200, 200, 403, 404, 403],
        ),
        // The first PUT adds the tag (201), the next find it there (204).
        (
            "PUT",
            format!("{s}/tags/t"),
            None,
            [201, 204, 403, 404, 403],
        ),
        (
            "GET",
            format!("{s}/os-volume_attachments"),
            None,
            [200, 200, 200, 404, 200],
        ),
        // A volume nobody has: the policy answers first, then Nova's 404.
        (
            "POST",
            format!("{s}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": NO_VOLUME}})),
            [404, 404, 403, 404, 403],
        ),
        (
            "DELETE",
            format!("{s}/os-volume_attachments/{NO_VOLUME}"),
            None,
            [404, 404, 403, 404, 403],
        ),
        // A swap (any PUT before 2.85) is for admins only.
        (
            "PUT",
            format!("{s}/os-volume_attachments/{NO_VOLUME}"),
            Some(json!({"volumeAttachment": {"volumeId": NO_VOLUME}})),
            [404, 403, 403, 404, 403],
        ),
        // BUILD: the state check answers after the policy check.
        (
            "POST",
            format!("{s}/action"),
            Some(json!({"os-stop": null})),
            [409, 409, 403, 404, 403],
        ),
        (
            "POST",
            format!("{s}/action"),
            Some(json!({"os-getConsoleOutput": {}})),
            [409, 409, 403, 404, 403],
        ),
        (
            "GET",
            format!("/os-quota-sets/{PROJECT_A}"),
            None,
            [200, 200, 200, 404, 200],
        ),
        (
            "GET",
            "/os-hypervisors".into(),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            "/servers?all_tenants=1".into(),
            None,
            [200, 403, 403, 403, 403],
        ),
    ];
    let tokens = [ADMIN, ALICE, CAROL, BOB, AUDITOR];
    for (method, path, body, codes) in &rows {
        for (token, want) in tokens.iter().zip(codes) {
            let r = app.at(MV, method, path, token, body.as_ref()).await;
            assert_eq!(r.code(), *want, "{method} {path} as {token}: {}", r.text());
            if r.code() >= 400 {
                assert_nova_error(&r);
            }
        }
    }
    // Delete last: bob and carol cannot, alice can (no host: gone at once).
    for (token, want) in [(BOB, 404), (CAROL, 403), (AUDITOR, 403), (ALICE, 204)] {
        let r = app.at(MV, "DELETE", &s, token, None).await;
        assert_eq!(r.code(), want, "DELETE as {token}: {}", r.text());
    }
    app.expect(404, MV, "GET", &s, ADMIN, None).await;
}
