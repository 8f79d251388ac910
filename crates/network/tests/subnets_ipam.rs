//! Subnets and IPAM over HTTP: Neutron's defaults (gateway, pools), CIDR and pool
//! checks, overlap, the one DHCP port, exhaustion (`IpAddressGenerationFailure`),
//! no duplicate address under concurrent port creation, and `SubnetInUse`.

mod support;

use serde_json::json;
use std::collections::HashSet;
use support::*;

#[tokio::test]
async fn defaults_follow_neutron() {
    let app = App::new().await;
    let n = app.network(ALICE, "n").await;
    let nid = s(&n["id"]).to_string();
    let sub = app.subnet(ALICE, &nid, "10.0.0.0/24").await;
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(
        sub["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    assert_eq!(sub["enable_dhcp"], true);
    assert_eq!(sub["ip_version"], 4);
    for k in ["dns_nameservers", "host_routes", "service_types", "tags"] {
        assert_eq!(sub[k], json!([]), "{k}");
    }
    assert_eq!(sub["project_id"], PROJECT_A);
    assert!(sub["ipv6_address_mode"].is_null() && sub["subnetpool_id"].is_null());
    let shown = app
        .expect(200, "GET", &format!("/networks/{nid}"), ALICE, None)
        .await;
    assert_eq!(shown["network"]["subnets"], json!([sub["id"]]));

    // The network's one DHCP port holds the first free address of the pool.
    let dhcp = app
        .expect(
            200,
            "GET",
            &format!("/ports?network_id={nid}&device_owner=network:dhcp"),
            ALICE,
            None,
        )
        .await;
    let dhcp = dhcp["ports"].as_array().unwrap();
    assert_eq!(dhcp.len(), 1);
    assert_eq!(dhcp[0]["device_id"], format!("dhcp{nid}"));
    assert_eq!(
        dhcp[0]["fixed_ips"],
        json!([{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}])
    );
    // A user port gets the next one.
    let p = app.port(ALICE, &nid).await;
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.0.0.3");
    assert!(s(&p["mac_address"]).starts_with("fa:16:3e:"));

    // A second subnet with DHCP: the same DHCP port gets an address on it too.
    let sub2 = app.subnet(ALICE, &nid, "10.0.1.0/24").await;
    let dhcp = app
        .expect(
            200,
            "GET",
            &format!("/ports?device_owner=network:dhcp&network_id={nid}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(dhcp["ports"].as_array().unwrap().len(), 1);
    assert_eq!(
        dhcp["ports"][0]["fixed_ips"][1],
        json!({"subnet_id": sub2["id"], "ip_address": "10.0.1.2"})
    );
    // A deleted DHCP port comes back at once, on the same addresses.
    let old = s(&dhcp["ports"][0]["id"]).to_string();
    app.expect(204, "DELETE", &format!("/ports/{old}"), ALICE, None)
        .await;
    let again = app
        .expect(
            200,
            "GET",
            &format!("/ports?device_owner=network:dhcp&network_id={nid}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(again["ports"].as_array().unwrap().len(), 1);
    assert_ne!(again["ports"][0]["id"], old.as_str());
    assert_eq!(
        again["ports"][0]["fixed_ips"],
        dhcp["ports"][0]["fixed_ips"]
    );
    // Turning DHCP off on both removes the DHCP port.
    for id in [&sub["id"], &sub2["id"]] {
        let body = json!({"subnet": {"enable_dhcp": false}});
        app.expect(
            200,
            "PUT",
            &format!("/subnets/{}", s(id)),
            ALICE,
            Some(&body),
        )
        .await;
    }
    let dhcp = app
        .ids(
            &format!("/ports?device_owner=network:dhcp&network_id={nid}"),
            ALICE,
            "ports",
        )
        .await;
    assert!(dhcp.is_empty());
}

#[tokio::test]
async fn gateway_and_pool_choices() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    let post = |body: serde_json::Value| json!({"subnet": body});
    // No gateway: the pool covers every host.
    let b = post(
        json!({"network_id": nid, "cidr": "10.2.0.0/28", "ip_version": 4, "gateway_ip": null, "enable_dhcp": false}),
    );
    let v = app.expect(201, "POST", "/subnets", ALICE, Some(&b)).await;
    assert!(v["subnet"]["gateway_ip"].is_null());
    assert_eq!(
        v["subnet"]["allocation_pools"],
        json!([{"start": "10.2.0.1", "end": "10.2.0.14"}])
    );
    // A gateway in the middle splits the pool.
    let b = post(
        json!({"network_id": nid, "cidr": "10.3.0.0/28", "ip_version": 4, "gateway_ip": "10.3.0.5"}),
    );
    let v = app.expect(201, "POST", "/subnets", ALICE, Some(&b)).await;
    assert_eq!(
        v["subnet"]["allocation_pools"],
        json!([{"start": "10.3.0.1", "end": "10.3.0.4"}, {"start": "10.3.0.6", "end": "10.3.0.14"}])
    );
    // Explicit pools, DNS and routes.
    let b = post(
        json!({"network_id": nid, "cidr": "10.4.0.0/24", "ip_version": 4,
        "allocation_pools": [{"start": "10.4.0.100", "end": "10.4.0.110"}],
        "dns_nameservers": ["8.8.8.8"], "host_routes": [{"destination": "10.99.0.0/16", "nexthop": "10.4.0.254"}]}),
    );
    let v = app.expect(201, "POST", "/subnets", ALICE, Some(&b)).await;
    assert_eq!(v["subnet"]["dns_nameservers"], json!(["8.8.8.8"]));
    assert_eq!(v["subnet"]["host_routes"][0]["destination"], "10.99.0.0/16");
    let sid = s(&v["subnet"]["id"]).to_string();
    let p = app
        .expect(
            201,
            "POST",
            "/ports",
            ALICE,
            Some(&json!({"port": {"network_id": nid, "fixed_ips": [{"subnet_id": sid}]}})),
        )
        .await;
    // .100 went to the DHCP port.
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "10.4.0.101");

    // IPv6.
    let b = post(json!({"network_id": nid, "cidr": "fd00:1::/64", "ip_version": 6}));
    let v = app.expect(201, "POST", "/subnets", ALICE, Some(&b)).await;
    assert_eq!(v["subnet"]["gateway_ip"], "fd00:1::1");
    assert_eq!(v["subnet"]["allocation_pools"][0]["start"], "fd00:1::2");
    assert_eq!(
        v["subnet"]["allocation_pools"][0]["end"],
        "fd00:1::ffff:ffff:ffff:ffff"
    );
}

#[tokio::test]
async fn invalid_subnets_are_refused() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    app.subnet(ALICE, &nid, "10.0.0.0/24").await;
    let cases = [
        (json!({"cidr": "10.5.0.1/24"}), 400, "InvalidInput"),
        (json!({"cidr": "10.5.0.0/33"}), 400, "InvalidInput"),
        (json!({"cidr": "nonsense"}), 400, "InvalidInput"),
        (json!({"cidr": "10.0.0.128/25"}), 400, "InvalidInput"),
        (
            json!({"cidr": "10.5.0.0/24", "ip_version": 6}),
            400,
            "InvalidInput",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "gateway_ip": "10.6.0.1"}),
            400,
            "InvalidInput",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "gateway_ip": "10.5.0.255"}),
            400,
            "InvalidInput",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "allocation_pools": [{"start": "10.5.0.0", "end": "10.5.0.9"}]}),
            400,
            "OutOfBoundsAllocationPool",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "allocation_pools": [{"start": "10.5.1.1", "end": "10.5.1.9"}]}),
            400,
            "OutOfBoundsAllocationPool",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "allocation_pools": [{"start": "10.5.0.9", "end": "10.5.0.2"}]}),
            400,
            "InvalidAllocationPool",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "allocation_pools": [{"start": "10.5.0.2", "end": "10.5.0.9"}, {"start": "10.5.0.5", "end": "10.5.0.20"}]}),
            400,
            "OverlappingAllocationPools",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "allocation_pools": [{"start": "10.5.0.1", "end": "10.5.0.9"}]}),
            409,
            "GatewayConflictWithAllocationPools",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "dns_nameservers": ["x"]}),
            400,
            "InvalidInput",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "host_routes": [{"destination": "fd00::/64", "nexthop": "10.5.0.1"}]}),
            400,
            "InvalidInput",
        ),
        (
            json!({"cidr": "10.5.0.0/24", "bogus": true}),
            400,
            "HTTPBadRequest",
        ),
        (json!({"ip_version": 4}), 400, "BadRequest"),
    ];
    for (extra, status, kind) in cases {
        let mut body = json!({"network_id": nid, "ip_version": 4});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let t = app
            .error_type(
                status,
                "POST",
                "/subnets",
                ALICE,
                Some(&json!({"subnet": body})),
            )
            .await;
        assert_eq!(t, kind, "{body}");
    }
    // Nothing was stored by any of them.
    assert_eq!(app.ids("/subnets", ALICE, "subnets").await.len(), 1);
    // Another project's network is invisible; a shared one is not the caller's to subnet.
    let b = json!({"subnet": {"network_id": nid, "cidr": "10.7.0.0/24", "ip_version": 4}});
    app.expect(404, "POST", "/subnets", BOB, Some(&b)).await;
    let read_only = json!({"subnet": {"cidr": "10.8.0.0/24"}});
    let sid = app.ids("/subnets", ALICE, "subnets").await.remove(0);
    app.expect(
        400,
        "PUT",
        &format!("/subnets/{sid}"),
        ALICE,
        Some(&read_only),
    )
    .await;
}

#[tokio::test]
async fn exhaustion_and_subnet_in_use() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    // /29: hosts .1-.6, gateway .1, DHCP .2: four addresses for ports.
    let sub = app.subnet(ALICE, &nid, "10.0.0.0/29").await;
    let sid = s(&sub["id"]).to_string();
    let mut ips = Vec::new();
    for _ in 0..4 {
        ips.push(s(&app.port(ALICE, &nid).await["fixed_ips"][0]["ip_address"]).to_string());
    }
    assert_eq!(ips, vec!["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    let t = app
        .error_type(
            409,
            "POST",
            "/ports",
            ALICE,
            Some(&json!({"port": {"network_id": nid}})),
        )
        .await;
    assert_eq!(t, "IpAddressGenerationFailure");
    let t = app
        .error_type(409, "DELETE", &format!("/subnets/{sid}"), ALICE, None)
        .await;
    assert_eq!(t, "SubnetInUse");
    // Asking for a taken or foreign address.
    let b = json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.4"}]}});
    assert_eq!(
        app.error_type(409, "POST", "/ports", ALICE, Some(&b)).await,
        "IpAddressAlreadyAllocated"
    );
    let b = json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "192.168.0.4"}]}});
    app.expect(400, "POST", "/ports", ALICE, Some(&b)).await;
    // With the ports gone the subnet can go, taking its DHCP address along.
    for p in app
        .ids(
            &format!("/ports?network_id={nid}&device_owner="),
            ALICE,
            "ports",
        )
        .await
    {
        app.expect(204, "DELETE", &format!("/ports/{p}"), ALICE, None)
            .await;
    }
    app.expect(204, "DELETE", &format!("/subnets/{sid}"), ALICE, None)
        .await;
    assert!(app
        .ids(&format!("/ports?network_id={nid}"), ALICE, "ports")
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_port_creation_never_duplicates_an_address() {
    let app = App::new().await;
    let nid = s(&app.network(ALICE, "n").await["id"]).to_string();
    app.subnet(ALICE, &nid, "10.0.0.0/27").await;
    let body = json!({"port": {"network_id": nid}});
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let client = app.client.clone();
            let body = body.clone();
            tokio::spawn(async move {
                client
                    .call("POST", "/network/v2.0/ports", Some(ALICE), Some(&body))
                    .await
            })
        })
        .collect();
    let mut ips = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.code() {
            201 => {
                created += 1;
                let ip = r.json()["port"]["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert!(ips.insert(ip.clone()), "{ip} handed out twice");
            }
            409 => assert_eq!(
                r.json()["NeutronError"]["type"],
                "IpAddressGenerationFailure"
            ),
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    // /27: 30 hosts, minus gateway and DHCP.
    assert_eq!(created, 28);
    assert_eq!(
        app.ids(&format!("/ports?network_id={nid}"), ADMIN, "ports")
            .await
            .len(),
        29
    );
}
