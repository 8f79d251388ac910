//! Keypairs: import with Nova's MD5 fingerprint, generation (private key once),
//! names unique per user, garbage refused, other users' keypairs invisible, admins
//! acting for others from 2.10, status codes and fields per microversion.

mod support;

use serde_json::{json, Value};
use support::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIItk5LhQlvRGdQ+NfGc7cR2iIJrcko7azgQ+itu+Zo8m test@nimbus";
const KEY_MD5: &str = "99:94:d8:66:3a:4b:3b:f4:d6:f4:6e:d7:b5:3c:86:af";

fn import(name: &str) -> Value {
    json!({"keypair": {"name": name, "public_key": format!("{KEY}\n")}})
}

#[tokio::test]
async fn import_show_list_delete() {
    let app = App::new().await;
    let v = app
        .expect(
            201,
            Some("2.10"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&import("k1")),
        )
        .await;
    let k = &v["keypair"];
    assert_eq!(k["fingerprint"], KEY_MD5);
    assert_eq!(k["type"], "ssh");
    assert_eq!(k["user_id"], "alice");
    assert!(k.get("private_key").is_none());
    let v = app
        .expect(200, Some("2.10"), "GET", "/os-keypairs/k1", ALICE, None)
        .await;
    let k = &v["keypair"];
    for field in [
        "name",
        "public_key",
        "fingerprint",
        "user_id",
        "type",
        "created_at",
        "id",
        "deleted",
        "deleted_at",
        "updated_at",
    ] {
        assert!(k.get(field).is_some(), "{field} missing: {k}");
    }
    assert!(k["id"].is_i64());
    assert_eq!(k["deleted"], false);
    let v = app
        .expect(200, Some("2.10"), "GET", "/os-keypairs", ALICE, None)
        .await;
    assert_eq!(v["keypairs"][0]["keypair"]["name"], "k1");
    assert_eq!(v["keypairs"][0]["keypair"]["type"], "ssh");
    // the same name again is a conflict; for another user it is fine
    let v = app
        .expect(
            409,
            Some("2.10"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&import("k1")),
        )
        .await;
    assert_eq!(
        v["conflictingRequest"]["message"],
        "Key pair 'k1' already exists."
    );
    app.expect(
        201,
        Some("2.10"),
        "POST",
        "/os-keypairs",
        BOB,
        Some(&import("k1")),
    )
    .await;
    // delete: 204 from 2.2
    let r = app
        .at(Some("2.10"), "DELETE", "/os-keypairs/k1", ALICE, None)
        .await;
    assert_eq!(r.code(), 204, "{}", r.text());
    app.expect(404, Some("2.10"), "GET", "/os-keypairs/k1", ALICE, None)
        .await;
    app.expect(404, Some("2.10"), "DELETE", "/os-keypairs/k1", ALICE, None)
        .await;
    let audit = app
        .store
        .store
        .list::<nimbus_api::audit::AuditRecord>(None)
        .await
        .unwrap();
    let mine: Vec<&str> = audit
        .iter()
        .filter(|a| a.value.target_id == "alice/k1")
        .map(|a| a.value.action.as_str())
        .collect();
    assert_eq!(mine, ["compute.keypair.create", "compute.keypair.delete"]);
}

#[tokio::test]
async fn old_microversions_answer_as_nova_did() {
    let app = App::new().await;
    // 2.1: 200, no type; type and user_id are unknown properties
    let v = app
        .expect(
            200,
            None,
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&import("old")),
        )
        .await;
    assert!(v["keypair"].get("type").is_none());
    let typed = json!({"keypair": {"name": "t", "public_key": KEY, "type": "ssh"}});
    app.expect(400, None, "POST", "/os-keypairs", ALICE, Some(&typed))
        .await;
    let v = app
        .expect(200, None, "GET", "/os-keypairs", ALICE, None)
        .await;
    assert!(v["keypairs"][0]["keypair"].get("type").is_none());
    let r = app
        .at(None, "DELETE", "/os-keypairs/old", ALICE, None)
        .await;
    assert_eq!(r.code(), 202, "{}", r.text());
    // 2.2: type accepted, user_id not yet
    app.expect(
        201,
        Some("2.2"),
        "POST",
        "/os-keypairs",
        ALICE,
        Some(&typed),
    )
    .await;
    let for_bob = json!({"keypair": {"name": "b", "public_key": KEY, "user_id": "bob"}});
    app.expect(
        400,
        Some("2.2"),
        "POST",
        "/os-keypairs",
        ADMIN,
        Some(&for_bob),
    )
    .await;
}

#[tokio::test]
async fn generated_keys_return_the_private_half_once() {
    let app = App::new().await;
    let v = app
        .expect(
            201,
            Some("2.10"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&json!({"keypair": {"name": "gen"}})),
        )
        .await;
    let k = &v["keypair"];
    let private = k["private_key"].as_str().expect("private_key");
    assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let public = k["public_key"].as_str().unwrap();
    assert_eq!(
        nimbus_compute::keys::ssh_fingerprint(public).as_deref(),
        Ok(k["fingerprint"].as_str().unwrap())
    );
    let v = app
        .expect(200, Some("2.10"), "GET", "/os-keypairs/gen", ALICE, None)
        .await;
    assert!(v["keypair"].get("private_key").is_none());
    assert_eq!(v["keypair"]["public_key"], public);
    // the stored object holds no private key
    let stored = app.compute.keypair("alice", "gen").await.unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains("PRIVATE"));
    // x509: import works, generation is refused
    let cert = include_str!("../src/testdata/cert.pem");
    let body = json!({"keypair": {"name": "cert", "type": "x509", "public_key": cert}});
    let v = app
        .expect(
            201,
            Some("2.10"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&body),
        )
        .await;
    assert_eq!(
        v["keypair"]["fingerprint"],
        "cc:e2:bb:d4:29:91:b1:25:8a:45:ea:64:05:b3:02:23:2a:7c:94:f0"
    );
    let body = json!({"keypair": {"name": "cert2", "type": "x509"}});
    app.expect(
        400,
        Some("2.10"),
        "POST",
        "/os-keypairs",
        ALICE,
        Some(&body),
    )
    .await;
}

#[tokio::test]
async fn garbage_keys_and_names_are_400() {
    let app = App::new().await;
    for body in [
        json!({"keypair": {"name": "g", "public_key": "garbage"}}),
        json!({"keypair": {"name": "g", "public_key": ""}}),
        json!({"keypair": {"name": "g", "public_key": "ssh-rsa AAAA"}}),
        json!({"keypair": {"name": "g", "public_key": KEY.replace("AAAAC3", "AAAAB3")}}),
        json!({"keypair": {"name": "g", "public_key": 42}}),
        json!({"keypair": {"name": "g", "public_key": KEY, "type": "pgp"}}),
        json!({"keypair": {"name": "g", "type": "x509", "public_key": KEY}}),
        json!({"keypair": {"name": "bad/name", "public_key": KEY}}),
        json!({"keypair": {"name": "bad.name", "public_key": KEY}}),
        json!({"keypair": {"name": " padded", "public_key": KEY}}),
        json!({"keypair": {"name": "", "public_key": KEY}}),
        json!({"keypair": {"name": "x".repeat(256), "public_key": KEY}}),
        json!({"keypair": {"public_key": KEY}}),
        json!({"keypair": {"name": "g", "colour": "red"}}),
        json!({"keypair": "g"}),
        json!({"name": "g"}),
    ] {
        let v = app
            .expect(
                400,
                Some("2.10"),
                "POST",
                "/os-keypairs",
                ALICE,
                Some(&body),
            )
            .await;
        assert!(v["badRequest"]["message"].is_string());
    }
    let v = app
        .expect(
            400,
            Some("2.10"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&json!({"keypair": {"name": "g", "public_key": "garbage"}})),
        )
        .await;
    assert_eq!(
        v["badRequest"]["message"],
        "Keypair data is invalid: failed to generate fingerprint"
    );
    let v = app
        .expect(200, Some("2.10"), "GET", "/os-keypairs", ALICE, None)
        .await;
    assert_eq!(v, json!({"keypairs": []}));
}

#[tokio::test]
async fn keypairs_belong_to_their_user() {
    let app = App::new().await;
    app.expect(
        201,
        Some("2.10"),
        "POST",
        "/os-keypairs",
        ALICE,
        Some(&import("mine")),
    )
    .await;
    // bob sees nothing of alice's, and may not ask for her
    let v = app
        .expect(200, Some("2.10"), "GET", "/os-keypairs", BOB, None)
        .await;
    assert_eq!(v, json!({"keypairs": []}));
    app.expect(404, Some("2.10"), "GET", "/os-keypairs/mine", BOB, None)
        .await;
    app.expect(404, Some("2.10"), "DELETE", "/os-keypairs/mine", BOB, None)
        .await;
    app.expect(
        403,
        Some("2.10"),
        "GET",
        "/os-keypairs?user_id=alice",
        BOB,
        None,
    )
    .await;
    app.expect(
        403,
        Some("2.10"),
        "GET",
        "/os-keypairs/mine?user_id=alice",
        BOB,
        None,
    )
    .await;
    app.expect(
        403,
        Some("2.10"),
        "DELETE",
        "/os-keypairs/mine?user_id=alice",
        BOB,
        None,
    )
    .await;
    let for_alice = json!({"keypair": {"name": "planted", "public_key": KEY, "user_id": "alice"}});
    app.expect(
        403,
        Some("2.10"),
        "POST",
        "/os-keypairs",
        BOB,
        Some(&for_alice),
    )
    .await;
    // before 2.10 user_id is ignored: bob gets his own (empty) list
    let v = app
        .expect(
            200,
            Some("2.9"),
            "GET",
            "/os-keypairs?user_id=alice",
            BOB,
            None,
        )
        .await;
    assert_eq!(v, json!({"keypairs": []}));
    // admins act for anyone from 2.10; a system reader may look
    let v = app
        .expect(
            200,
            Some("2.10"),
            "GET",
            "/os-keypairs?user_id=alice",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(v["keypairs"][0]["keypair"]["name"], "mine");
    app.expect(
        200,
        Some("2.10"),
        "GET",
        "/os-keypairs/mine?user_id=alice",
        AUDITOR,
        None,
    )
    .await;
    app.expect(
        403,
        Some("2.10"),
        "DELETE",
        "/os-keypairs/mine?user_id=alice",
        AUDITOR,
        None,
    )
    .await;
    let v = app
        .expect(
            201,
            Some("2.10"),
            "POST",
            "/os-keypairs",
            ADMIN,
            Some(&for_alice),
        )
        .await;
    assert_eq!(v["keypair"]["user_id"], "alice");
    let r = app
        .at(
            Some("2.10"),
            "DELETE",
            "/os-keypairs/planted?user_id=alice",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(r.code(), 204);
    // the admin's own list does not show alice's keys
    let v = app
        .expect(200, Some("2.10"), "GET", "/os-keypairs", ADMIN, None)
        .await;
    assert_eq!(v, json!({"keypairs": []}));
}

#[tokio::test]
async fn pages_from_2_35_and_the_quota() {
    let app = App::new().await;
    for i in 0..5 {
        app.expect(
            201,
            Some("2.35"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&import(&format!("k{i}"))),
        )
        .await;
    }
    let v = app
        .expect(
            200,
            Some("2.35"),
            "GET",
            "/os-keypairs?limit=2",
            ALICE,
            None,
        )
        .await;
    assert_eq!(v["keypairs"].as_array().unwrap().len(), 2);
    let next = v["keypairs_links"][0]["href"].as_str().expect("next link");
    assert!(next.contains("marker=k1"), "{next}");
    let v = app
        .expect(
            200,
            Some("2.35"),
            "GET",
            "/os-keypairs?limit=2&marker=k3",
            ALICE,
            None,
        )
        .await;
    assert_eq!(v["keypairs"][0]["keypair"]["name"], "k4");
    assert!(v.get("keypairs_links").is_none());
    app.expect(
        400,
        Some("2.35"),
        "GET",
        "/os-keypairs?marker=nope",
        ALICE,
        None,
    )
    .await;
    // below 2.35 limit is ignored
    let v = app
        .expect(
            200,
            Some("2.34"),
            "GET",
            "/os-keypairs?limit=2",
            ALICE,
            None,
        )
        .await;
    assert_eq!(v["keypairs"].as_array().unwrap().len(), 5);
    app.expect(
        400,
        Some("2.75"),
        "GET",
        "/os-keypairs?colour=red",
        ALICE,
        None,
    )
    .await;
    // the quota: 100 per user
    for i in 5..nimbus_compute::api::keypairs::MAX_KEYPAIRS_PER_USER {
        app.expect(
            201,
            Some("2.35"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&import(&format!("k{i}"))),
        )
        .await;
    }
    let v = app
        .expect(
            403,
            Some("2.35"),
            "POST",
            "/os-keypairs",
            ALICE,
            Some(&import("one-too-many")),
        )
        .await;
    assert_eq!(
        v["forbidden"]["message"],
        "Quota exceeded, too many key pairs."
    );
}
