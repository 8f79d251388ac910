//! Bad server requests: every bad reference (image, flavor, network, port, key,
//! security group, server group) and malformed field is a 4xx in Nova's format
//! before anything is stored; random create and action bodies (proptest) never
//! give a 5xx and never leave a server or port behind on a 4xx.

mod support;

use nimbus_image::types::Visibility;
use nimbus_network::types::Port;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::cloud::*;
use support::*;

const MV: Option<&str> = Some("2.79");

struct Fixture {
    app: App,
    image: String,
    net: String,
}

async fn fixture() -> Fixture {
    let app = App::new().await;
    let image = app.image(PROJECT_A, Visibility::Public).await;
    let net = app.network(PROJECT_A, "net1", 1).await;
    Fixture { app, image, net }
}

async fn ports(app: &App) -> usize {
    app.store
        .store
        .list::<Port>(None)
        .await
        .unwrap()
        .iter()
        .filter(|p| p.value.device_owner == "compute:nova" || !p.value.device_id.is_empty())
        .count()
}

/// POSTs `body`; asserts `status` (Nova's error format) and that nothing was stored.
async fn refused(f: &Fixture, mv: Option<&str>, body: &Value, status: u16) -> String {
    let r = f.app.at(mv, "POST", "/servers", ALICE, Some(body)).await;
    assert_eq!(r.code(), status, "{body}: {}", r.text());
    assert_nova_error(&r);
    assert_eq!(f.app.server_count().await, 0, "{body}");
    assert_eq!(ports(&f.app).await, 0, "{body}");
    let v = r.json();
    v.as_object().unwrap().values().next().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn bad_references_are_refused_before_anything_is_stored() {
    let f = fixture().await;
    let ok = create_body("vm", &f.image, &f.net);
    let with = |path: &[&str], v: Value| {
        let mut b = ok.clone();
        let mut cur = &mut b["server"];
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = v;
        b
    };
    let unknown = "0b4f4a8c-7f7e-4a56-9d6a-8e8c3f0e0a11";

    let mut b = with(&["imageRef"], json!(unknown));
    b["server"]
        .as_object_mut()
        .unwrap()
        .remove("block_device_mapping_v2");
    let m = refused(&f, MV, &b, 400).await;
    assert_eq!(m, format!("Image {unknown} could not be found."));
    let m = refused(&f, MV, &with(&["imageRef"], json!("not-a-uuid")), 400).await;
    assert_eq!(m, "Invalid imageRef provided.");
    // An image of another project, private: invisible, so "not found".
    let private = f.app.image(PROJECT_B, Visibility::Private).await;
    let mut b = with(&["imageRef"], json!(private));
    b["server"]
        .as_object_mut()
        .unwrap()
        .remove("block_device_mapping_v2");
    refused(&f, MV, &b, 400).await;

    let m = refused(&f, MV, &with(&["flavorRef"], json!("nope")), 400).await;
    assert_eq!(m, "Flavor nope could not be found.");
    // A flavor link URL works (its last segment is the id), so that one is no error.
    let m = refused(
        &f,
        MV,
        &with(&["networks"], json!([{"uuid": unknown}])),
        400,
    )
    .await;
    assert_eq!(m, format!("Network {unknown} could not be found."));
    refused(&f, MV, &with(&["networks"], json!([{"uuid": "nope"}])), 400).await;
    let m = refused(
        &f,
        MV,
        &with(&["networks"], json!([{"port": unknown}])),
        400,
    )
    .await;
    assert_eq!(m, format!("Port id {unknown} could not be found."));
    // Bob's network is not usable by alice.
    let net_b = f.app.network(PROJECT_B, "netb", 2).await;
    refused(&f, MV, &with(&["networks"], json!([{"uuid": net_b}])), 400).await;
    // At 2.37+ networks is required; "auto" / "none" are accepted values.
    let mut b = ok.clone();
    b["server"].as_object_mut().unwrap().remove("networks");
    refused(&f, MV, &b, 400).await;
    refused(&f, MV, &with(&["networks"], json!("sideways")), 400).await;
    refused(&f, Some("2.36"), &with(&["networks"], json!("auto")), 400).await;
    refused(
        &f,
        MV,
        &with(
            &["networks"],
            json!([{"uuid": f.net, "fixed_ip": "10.9.9.9"}]),
        ),
        400,
    )
    .await;
    refused(
        &f,
        MV,
        &with(
            &["networks"],
            json!([{"uuid": f.net, "fixed_ip": "banana"}]),
        ),
        400,
    )
    .await;

    let m = refused(&f, MV, &with(&["key_name"], json!("nokey")), 400).await;
    assert_eq!(m, "Invalid key_name provided.");
    let m = refused(
        &f,
        MV,
        &with(&["security_groups"], json!([{"name": "nosuch"}])),
        400,
    )
    .await;
    assert_eq!(m, "Security group nosuch not found.");
    let mut b = ok.clone();
    b["OS-SCH-HNT:scheduler_hints"] = json!({"group": unknown});
    refused(&f, MV, &b, 400).await;

    refused(&f, MV, &with(&["user_data"], json!("not base64!")), 400).await;
    refused(
        &f,
        MV,
        &with(&["user_data"], json!("QUJD".repeat(20000))),
        400,
    )
    .await;
    refused(
        &f,
        MV,
        &with(&["availability_zone"], json!("elsewhere")),
        400,
    )
    .await;
    refused(&f, MV, &with(&["min_count"], json!(3)), 400).await;
    refused(&f, MV, &with(&["max_count"], json!(0)), 400).await;
    refused(&f, MV, &with(&["name"], json!(" padded ")), 400).await;
    refused(&f, MV, &with(&["metadata"], json!({"k": 5})), 400).await;
    refused(&f, MV, &with(&["tags"], json!(["a,b"])), 400).await;
    refused(&f, Some("2.51"), &with(&["tags"], json!(["a"])), 400).await;
    refused(&f, Some("2.18"), &with(&["description"], json!("d")), 400).await;
    refused(&f, MV, &with(&["accessIPv4"], json!("::1")), 400).await;
    refused(&f, MV, &with(&["bogus"], json!(1)), 400).await;
    let vol = json!([{"uuid": unknown, "boot_index": 0, "source_type": "volume", "destination_type": "volume"}]);
    refused(&f, MV, &with(&["block_device_mapping_v2"], vol), 400).await;
    let mut b = ok.clone();
    b["server"]["max_count"] = json!(2);
    b["server"]["networks"] = json!([{"port": unknown}]);
    refused(&f, MV, &b, 400).await;

    // The same body with everything right is accepted, also with a flavor link.
    let good = with(
        &["flavorRef"],
        json!("http://nimbus/compute/v2.1/flavors/SCS-1V-4"),
    );
    f.app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&good))
        .await;
    assert_eq!(f.app.server_count().await, 1);
}

#[tokio::test]
async fn a_users_own_port_is_bound_and_released_not_deleted() {
    let f = fixture().await;
    // A port alice made in Neutron before: created through the network code.
    let mut tx = f.app.store.store.begin().await.unwrap();
    let port = f
        .app
        .compute
        .networking
        .create_port_in(
            &mut tx,
            nimbus_network::PortRequest {
                project_id: PROJECT_A.into(),
                network_id: f.net.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut body = create_body("vm", &f.image, &f.net);
    body["server"]["networks"] = json!([{"port": port.id}]);
    let r = f
        .app
        .expect(202, MV, "POST", "/servers", ALICE, Some(&body))
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let bound = f
        .app
        .store
        .store
        .get::<Port>(&port.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bound.value.device_id, id);
    // Used ports cannot be given again.
    let again = f.app.at(MV, "POST", "/servers", ALICE, Some(&body)).await;
    assert_eq!(again.code(), 409, "{}", again.text());
    // Never scheduled: deleted at once; the port stays, unbound.
    f.app
        .expect(204, MV, "DELETE", &format!("/servers/{id}"), ALICE, None)
        .await;
    let after = f
        .app
        .store
        .store
        .get::<Port>(&port.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.value.device_id, "");
    assert_eq!(f.app.server_count().await, 0);
}

#[tokio::test]
async fn server_routes_answer_odd_ids_and_bodies_without_5xx() {
    let f = fixture().await;
    let r = f
        .app
        .expect(
            202,
            MV,
            "POST",
            "/servers",
            ALICE,
            Some(&create_body("vm", &f.image, &f.net)),
        )
        .await;
    let id = r["server"]["id"].as_str().unwrap().to_string();
    let ids = [
        id.as_str(),
        "nope",
        "%00",
        "%E2%98%83",
        "..",
        "detail",
        "x%20",
    ];
    let paths = [
        "/servers/{id}",
        "/servers/{id}/action",
        "/servers/{id}/metadata",
        "/servers/{id}/metadata/{id}",
        "/servers/{id}/tags",
        "/servers/{id}/tags/{id}",
        "/servers/{id}/ips",
        "/servers/{id}/ips/{id}",
        "/servers/{id}/os-interface",
        "/servers/{id}/os-interface/{id}",
        "/servers/{id}/os-security-groups",
        "/servers/{id}/os-instance-actions",
        "/servers/{id}/os-instance-actions/{id}",
        "/os-server-groups/{id}",
        "/os-quota-sets/{id}",
        "/os-quota-sets/{id}/detail",
        "/os-hypervisors/{id}",
    ];
    let bodies = [
        "",
        "null",
        "[]",
        "{}",
        "{\"server\": null}",
        "{\"os-stop\": 5}",
        "{\"reboot\": {}}",
        "{\"reboot\": {\"type\": \"\\u0000\"}}",
        "{\"os-getConsoleOutput\": {\"length\": -7}}",
        "{\"createImage\": {\"name\": 5}}",
        "{\"metadata\": {\"\\u0000\": \"x\"}}",
        "{\"meta\": {\"a\": \"b\", \"c\": \"d\"}}",
        "{\"tags\": [5]}",
        "{\"quota_set\": {\"cores\": -9}}",
        "{\"lock\": {\"locked_reason\": 5}}",
        "{\"unknownAction\": null}",
    ];
    for tpl in paths {
        for i in ids {
            let path = tpl.replace("{id}", i);
            for token in [ADMIN, ALICE, BOB] {
                for method in ["GET", "DELETE"] {
                    let r = f.app.at(MV, method, &path, token, None).await;
                    assert!(r.code() < 500, "{method} {path}: {}", r.text());
                }
                for method in ["POST", "PUT"] {
                    for body in bodies {
                        let r = f
                            .app
                            .client
                            .raw(
                                method,
                                &format!("{V}{path}"),
                                Some(token),
                                &[
                                    ("content-type", "application/json"),
                                    ("openstack-api-version", "compute 2.79"),
                                ],
                                body.to_string(),
                            )
                            .await;
                        assert!(r.code() < 500, "{method} {path} {body}: {}", r.text());
                        if r.code() >= 400 {
                            assert_nova_error(&r);
                        }
                    }
                }
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("auto")),
        Just(json!("none")),
        Just(json!("SCS-1V-4")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "name",
    "imageRef",
    "flavorRef",
    "key_name",
    "networks",
    "security_groups",
    "user_data",
    "metadata",
    "config_drive",
    "min_count",
    "max_count",
    "return_reservation_id",
    "block_device_mapping_v2",
    "availability_zone",
    "description",
    "tags",
    "accessIPv4",
    "OS-DCF:diskConfig",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn random_create_fields_never_5xx_and_4xx_store_nothing(
        field in prop::sample::select(FIELDS),
        value in arb_json(),
        mv in prop::sample::select(&["2.1", "2.36", "2.37", "2.52", "2.79"][..]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let f = fixture().await;
            let mut body = create_body("vm", &f.image, &f.net);
            body["server"][field] = value.clone();
            let r = f.app.at(Some(mv), "POST", "/servers", ALICE, Some(&body)).await;
            assert!(r.code() < 500, "{field}={value} at {mv}: {}", r.text());
            if r.code() >= 400 {
                assert_nova_error(&r);
                assert_eq!(f.app.server_count().await, 0, "{field}={value}");
                assert_eq!(ports(&f.app).await, 0, "{field}={value}");
            }
        });
    }

    #[test]
    fn random_actions_never_5xx(name in "[a-zA-Z-]{1,20}", arg in arb_json()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let f = fixture().await;
            let r = f.app
                .expect(202, MV, "POST", "/servers", ALICE, Some(&create_body("vm", &f.image, &f.net)))
                .await;
            let id = r["server"]["id"].as_str().unwrap();
            for n in [name.as_str(), "os-stop", "reboot", "createImage", "os-getConsoleOutput", "lock"] {
                let body = json!({ n: arg.clone() });
                let r = f.app.at(MV, "POST", &format!("/servers/{id}/action"), ALICE, Some(&body)).await;
                assert!(r.code() < 500, "{body}: {}", r.text());
            }
        });
    }
}
