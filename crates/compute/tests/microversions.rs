//! Version discovery and microversion negotiation: defaults, `latest`, both
//! headers, 400/406 in Nova's error format, the version echoed on every answer.

mod support;

use support::*;

#[tokio::test]
async fn discovery_documents_advertise_the_range() {
    let app = App::new().await;
    let max = nimbus_compute::MAX_MICROVERSION.to_string();
    for path in ["/compute", "/compute/"] {
        let r = app.client.call("GET", path, None, None).await;
        assert_eq!(r.code(), 200, "{}", r.text());
        let v = &r.json()["versions"][0];
        assert_eq!(v["id"], "v2.1");
        assert_eq!(v["status"], "CURRENT");
        assert_eq!(v["version"], max.as_str());
        assert_eq!(v["min_version"], "2.1");
        assert_eq!(v["links"][0]["href"], "http://127.0.0.1:1/compute/v2.1/");
    }
    for path in ["/compute/v2.1", "/compute/v2.1/"] {
        let r = app.client.call("GET", path, None, None).await;
        assert_eq!(r.code(), 200, "{}", r.text());
        let v = &r.json()["version"];
        assert_eq!(v["version"], max.as_str());
        assert_eq!(v["min_version"], "2.1");
        assert_eq!(v["links"][0]["rel"], "self");
    }
    assert!(nimbus_compute::MAX_MICROVERSION >= nimbus_api::microversion::Version::new(2, 79));
}

#[tokio::test]
async fn versions_are_negotiated_and_echoed() {
    let app = App::new().await;
    let max = nimbus_compute::MAX_MICROVERSION.to_string();
    let cases: [(&[(&str, &str)], String); 5] = [
        (&[], "2.1".into()),
        (&[("openstack-api-version", "compute 2.61")], "2.61".into()),
        (&[("x-openstack-nova-api-version", "2.10")], "2.10".into()),
        (&[("openstack-api-version", "compute latest")], max.clone()),
        (
            &[
                ("openstack-api-version", "compute 2.55"),
                ("x-openstack-nova-api-version", "2.3"),
            ],
            "2.55".into(),
        ),
    ];
    for (headers, want) in cases {
        let r = app
            .client
            .raw("GET", "/compute/v2.1/flavors", Some(ALICE), headers, "")
            .await;
        assert_eq!(r.code(), 200, "{headers:?}: {}", r.text());
        assert_eq!(
            r.header("openstack-api-version").as_deref(),
            Some(format!("compute {want}").as_str())
        );
        assert_eq!(
            r.header("x-openstack-nova-api-version").as_deref(),
            Some(want.as_str())
        );
        let vary = r.header("vary").unwrap_or_default();
        assert!(vary.contains("OpenStack-API-Version"), "{vary}");
        assert!(vary.contains("X-OpenStack-Nova-API-Version"), "{vary}");
    }
}

#[tokio::test]
async fn unsupported_versions_are_406_and_malformed_ones_400() {
    let app = App::new().await;
    for (header, value, status) in [
        ("openstack-api-version", "compute 2.999", 406),
        ("openstack-api-version", "compute 3.0", 406),
        ("x-openstack-nova-api-version", "2.0", 406),
        ("x-openstack-nova-api-version", "1.1", 406),
        ("openstack-api-version", "compute 2.x", 400),
        ("x-openstack-nova-api-version", "two", 400),
        ("x-openstack-nova-api-version", "2.01", 400),
    ] {
        let r = app
            .client
            .raw(
                "GET",
                "/compute/v2.1/flavors",
                Some(ALICE),
                &[(header, value)],
                "",
            )
            .await;
        assert_eq!(r.code(), status, "{header}: {value}: {}", r.text());
        assert_nova_error(&r);
    }
    let r = app
        .client
        .raw(
            "GET",
            "/compute/v2.1/flavors",
            Some(ALICE),
            &[("openstack-api-version", "compute 2.80")],
            "",
        )
        .await;
    assert_eq!(r.code(), 406);
    assert!(r.json()["computeFault"]["message"]
        .as_str()
        .unwrap()
        .contains("Minimum is 2.1 and maximum is"));
}

#[tokio::test]
async fn errors_are_in_novas_format() {
    let app = App::new().await;
    // no token
    let r = app
        .client
        .call("GET", "/compute/v2.1/flavors", None, None)
        .await;
    assert_eq!(r.code(), 401);
    assert_nova_error(&r);
    // unknown path under /compute, wrong method
    app.expect(404, None, "GET", "/no-such-thing", ALICE, None)
        .await;
    let v = app
        .expect(404, None, "GET", "/flavors/nope", ALICE, None)
        .await;
    assert_eq!(
        v["itemNotFound"]["message"],
        "Flavor nope could not be found."
    );
    app.expect(405, None, "PATCH", "/flavors", ALICE, None)
        .await;
    // a route that exists only from 2.55 on
    let body = serde_json::json!({"flavor": {"description": "x"}});
    app.expect(
        404,
        Some("2.54"),
        "PUT",
        "/flavors/SCS-1V-4",
        ADMIN,
        Some(&body),
    )
    .await;
}
