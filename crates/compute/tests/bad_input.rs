//! Bad input never gets a 5xx: every route, called by an admin and a member with
//! malformed bodies, odd ids (NUL, Unicode, very long, URL-encoded slashes), odd
//! query strings and microversion headers, answers a 4xx in Nova's format (or a
//! 2xx where the input happens to be acceptable).

mod support;

use support::*;

const PATHS: &[&str] = &[
    "/flavors",
    "/flavors/detail",
    "/flavors/{id}",
    "/flavors/{id}/action",
    "/flavors/{id}/os-flavor-access",
    "/flavors/{id}/os-extra_specs",
    "/flavors/{id}/os-extra_specs/{id}",
    "/os-keypairs",
    "/os-keypairs/{id}",
];

const IDS: &[&str] = &[
    "SCS-1V-4",
    "nope",
    "%00",
    "a%00b",
    "%2F%2F",
    "%E2%98%83",
    "%FF%FE",
    "..",
    "detail",
    "x%20",
];

const BODIES: &[&str] = &[
    "",
    "null",
    "[]",
    "42",
    "\"text\"",
    "{",
    "{}",
    "{\"flavor\": null}",
    "{\"flavor\": {\"name\": \"\\u0000\", \"ram\": 1, \"vcpus\": 1, \"disk\": 0}}",
    "{\"flavor\": {\"name\": \"n\", \"ram\": 1e99, \"vcpus\": 1, \"disk\": 0}}",
    "{\"flavor\": {\"name\": \"n\", \"ram\": 1, \"vcpus\": 1, \"disk\": 0, \"id\": \"\\u0000\"}}",
    "{\"flavor\": {\"description\": 5}}",
    "{\"extra_specs\": {\"\\u0000\": \"v\"}}",
    "{\"extra_specs\": {\"k\": {\"nested\": 1}}}",
    "{\"k\": null}",
    "{\"addTenantAccess\": {\"tenant\": \"\\u0000\"}}",
    "{\"addTenantAccess\": null}",
    "{\"removeTenantAccess\": {\"tenant\": 5}}",
    "{\"keypair\": {\"name\": \"\\u0000\"}}",
    "{\"keypair\": {\"name\": \"k\", \"public_key\": \"ssh-ed25519 \\u0000\"}}",
    "{\"keypair\": {\"name\": \"k\", \"type\": \"x509\", \"public_key\": \"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\"}}",
    "{\"keypair\": {\"name\": \"k\", \"user_id\": \"\\u0000\", \"public_key\": \"x\"}}",
];

const QUERIES: &[&str] = &[
    "",
    "?limit=0",
    "?limit=99999999999999999999",
    "?marker=%00",
    "?is_public=%00",
    "?minRam=-5",
    "?minDisk=99999999999999999999",
    "?sort_key=name&sort_dir=desc",
    "?user_id=%00",
    "?user_id=",
    "?%zz",
];

async fn check(app: &App, mv: Option<&str>, method: &str, path: &str, token: &str, body: &str) {
    let mut headers = vec![("content-type", "application/json")];
    let h;
    if let Some(v) = mv {
        h = format!("compute {v}");
        headers.push(("openstack-api-version", h.as_str()));
    }
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
        "{method} {path} {body:?} at {mv:?}: {} {}",
        r.code(),
        r.text()
    );
    if r.code() >= 400 {
        assert_nova_error(&r);
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
                    check(&app, Some("2.79"), method, &path, token, "").await;
                }
                for method in ["POST", "PUT"] {
                    for body in BODIES {
                        check(&app, Some("2.79"), method, &path, token, body).await;
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn odd_queries_and_versions_are_4xx_at_worst() {
    let app = App::new().await;
    for template in PATHS {
        let path = template.replace("{id}", "SCS-1V-4");
        for q in QUERIES {
            for mv in [
                None,
                Some("2.1"),
                Some("2.35"),
                Some("2.75"),
                Some("latest"),
                Some("9.9"),
                Some("x"),
            ] {
                for token in [ADMIN, ALICE] {
                    check(&app, mv, "GET", &format!("{path}{q}"), token, "").await;
                }
            }
        }
    }
}
