//! The metadata service without a guest: which instance a (network, source
//! address) names, from store objects; the OpenStack and EC2 bodies; option 121
//! in dnsmasq's arguments; the config drive only when asked for.

mod common;

use common::*;
use nimbus_agent::configdrive;
use nimbus_agent::dataplane::dhcp;
use nimbus_agent::metadata::instance::{lookup, Instance};
use nimbus_agent::metadata::routes::{respond, JSON, OPENSTACK_VERSIONS};
use nimbus_agent::metadata::{ec2, ADDRESS};
use nimbus_compute::server::Server;
use nimbus_network::types::{Network, Port, SecurityGroup, Subnet, OWNER_COMPUTE, OWNER_DHCP};
use nimbus_store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

const NET: &str = "3f2b9c1e-aaaa-4bbb-8ccc-000000000001";
const NET2: &str = "3f2b9c1e-aaaa-4bbb-8ccc-000000000002";
const SRV: &str = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";
const SRV2: &str = "1c2d3e4f-5061-4728-99aa-bbccddeeff00";

async fn create<T: nimbus_store::Resource>(store: &Store, obj: &T) {
    let mut tx = store.begin().await.unwrap();
    tx.create(obj).await.unwrap();
    tx.commit().await.unwrap();
}

/// Two servers on NET (10.77.0.10, .11); the second also on NET2 where it has
/// the same address as the first has on NET.
async fn objects(store: &Store) {
    create::<Network>(store, &network(NET, 1450)).await;
    create::<Network>(store, &network(NET2, 1500)).await;
    create::<Subnet>(
        store,
        &subnet("sub-1", NET, "10.77.0.0/24", Some("10.77.0.1")),
    )
    .await;
    create::<Subnet>(store, &subnet("sub-2", NET2, "10.77.0.0/24", None)).await;
    for (id, net, sub, mac, ip, dev, owner) in [
        (
            "p-dhcp",
            NET,
            "sub-1",
            "fa:16:3e:00:00:02",
            "10.77.0.2",
            NET,
            OWNER_DHCP,
        ),
        (
            "p-1",
            NET,
            "sub-1",
            "fa:16:3e:00:00:10",
            "10.77.0.10",
            SRV,
            OWNER_COMPUTE,
        ),
        (
            "p-2",
            NET,
            "sub-1",
            "fa:16:3e:00:00:11",
            "10.77.0.11",
            SRV2,
            OWNER_COMPUTE,
        ),
        (
            "p-3",
            NET2,
            "sub-2",
            "fa:16:3e:00:00:12",
            "10.77.0.10",
            SRV2,
            OWNER_COMPUTE,
        ),
    ] {
        create::<Port>(store, &port(id, net, sub, mac, ip, dev, owner)).await;
    }
    let now = chrono::Utc::now();
    create::<SecurityGroup>(
        store,
        &SecurityGroup {
            id: "sg-1".into(),
            project_id: PROJECT.into(),
            name: "default".into(),
            description: String::new(),
            stateful: true,
            tags: Default::default(),
            created_at: now,
            updated_at: now,
        },
    )
    .await;
    let mut s = server(SRV, "vm1", "img", vec!["p-1".into()]);
    s.key_name = Some("mykey".into());
    s.key_data = Some("ssh-ed25519 AAAAC3Nza test".into());
    s.user_data = Some("IyEvYmluL3NoCmVjaG8gaGk=".into()); // "#!/bin/sh\necho hi"
    s.security_groups = vec!["sg-1".into()];
    s.launch_index = 1;
    create::<Server>(store, &s).await;
    let s2 = server(SRV2, "vm2", "img", vec!["p-2".into(), "p-3".into()]);
    create::<Server>(store, &s2).await;
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn instance(store: &Store, net: &str, addr: &str) -> Option<Instance> {
    lookup(store, net, ip(addr)).await.unwrap()
}

#[tokio::test]
async fn the_instance_is_the_owner_of_the_source_address_on_that_network() {
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    objects(&store).await;

    assert_eq!(
        instance(&store, NET, "10.77.0.10").await.unwrap().server.id,
        SRV
    );
    assert_eq!(
        instance(&store, NET, "10.77.0.11").await.unwrap().server.id,
        SRV2
    );
    // The same address on another network is another server.
    assert_eq!(
        instance(&store, NET2, "10.77.0.10")
            .await
            .unwrap()
            .server
            .id,
        SRV2
    );
    // IPv4-mapped IPv6 peers are their IPv4 address.
    assert_eq!(
        lookup(&store, NET, ip("::ffff:10.77.0.10"))
            .await
            .unwrap()
            .unwrap()
            .server
            .id,
        SRV
    );
    // Unknown addresses, the DHCP port's address, unknown networks: nobody.
    assert!(instance(&store, NET, "10.77.0.99").await.is_none());
    assert!(instance(&store, NET, "10.77.0.2").await.is_none());
    assert!(instance(&store, NET2, "10.77.0.11").await.is_none());
    assert!(instance(&store, "no-such-net", "10.77.0.10")
        .await
        .is_none());

    // The instance carries its ports in NIC order, MTUs and subnets.
    let i2 = instance(&store, NET, "10.77.0.11").await.unwrap();
    let ids: Vec<&str> = i2.ports.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p-2", "p-3"]);
    assert_eq!(i2.mtus, [1450, 1500]);
    assert_eq!(i2.subnets.len(), 2);

    // A server being deleted, or that no longer lists the port, is not served.
    store
        .modify::<Server, _, _>(SRV2, |s| {
            s.port_ids = vec!["p-3".into()];
            Ok(nimbus_store::Change::Write(()))
        })
        .await
        .unwrap();
    assert!(instance(&store, NET, "10.77.0.11").await.is_none());
    store
        .modify::<Server, _, _>(SRV, |s| {
            s.deleting = true;
            Ok(nimbus_store::Change::Write(()))
        })
        .await
        .unwrap();
    assert!(instance(&store, NET, "10.77.0.10").await.is_none());
}

fn body(path: &str, inst: &Instance) -> String {
    let r = respond(path, inst).unwrap_or_else(|| panic!("{path}: 404"));
    String::from_utf8(r.body).unwrap()
}

fn json(path: &str, inst: &Instance) -> Value {
    let r = respond(path, inst).unwrap_or_else(|| panic!("{path}: 404"));
    assert_eq!(r.content_type, JSON, "{path}");
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn openstack_paths() {
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    objects(&store).await;
    let i = instance(&store, NET, "10.77.0.10").await.unwrap();

    let versions = body("/openstack", &i);
    assert!(versions.starts_with("2012-08-10\n"), "{versions}");
    assert!(versions.ends_with("\nlatest"), "{versions}");
    assert_eq!(body("/openstack/", &i), versions);
    assert_eq!(
        body("/openstack/latest/", &i),
        "meta_data.json\nuser_data\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
    );

    for version in OPENSTACK_VERSIONS.iter().chain(&["latest"]) {
        let md = json(&format!("/openstack/{version}/meta_data.json"), &i);
        assert_eq!(md["uuid"], SRV);
        assert_eq!(md["hostname"], "vm1");
        assert_eq!(md["name"], "vm1");
        assert_eq!(md["launch_index"], 1);
        assert_eq!(md["public_keys"]["mykey"], "ssh-ed25519 AAAAC3Nza test");
        assert_eq!(md["keys"][0]["data"], "ssh-ed25519 AAAAC3Nza test");
        assert_eq!(md["project_id"], PROJECT);
        assert!(md["random_seed"].as_str().unwrap().len() > 600);
        // The same as the config drive's, except the seed.
        let mut without_seed = md.clone();
        without_seed.as_object_mut().unwrap().remove("random_seed");
        assert_eq!(without_seed, configdrive::meta_data(&i.server));

        let ud = respond(&format!("/openstack/{version}/user_data"), &i).unwrap();
        assert_eq!(ud.body, b"#!/bin/sh\necho hi");
        let nd = json(&format!("/openstack/{version}/network_data.json"), &i);
        assert_eq!(nd, configdrive::network_data(&i.ports, &i.subnets, &i.mtus));
        assert_eq!(nd["links"][0]["ethernet_mac_address"], "fa:16:3e:00:00:10");
        assert_eq!(nd["links"][0]["mtu"], 1450);
        assert_eq!(nd["networks"][0]["type"], "ipv4_dhcp");
        assert_eq!(
            json(&format!("/openstack/{version}/vendor_data.json"), &i),
            serde_json::json!({})
        );
        assert_eq!(
            json(&format!("/openstack/{version}/vendor_data2.json"), &i),
            serde_json::json!({})
        );
    }
    for missing in [
        "/openstack/2011-01-01/meta_data.json",
        "/openstack/latest/nothing",
        "/openstack/latest/meta_data.json/x",
        "/openstack/latest/password",
    ] {
        assert!(respond(missing, &i).is_none(), "{missing}");
    }

    // Without user data: 404, and not listed.
    let i2 = instance(&store, NET, "10.77.0.11").await.unwrap();
    assert!(respond("/openstack/latest/user_data", &i2).is_none());
    assert!(!body("/openstack/latest", &i2).contains("user_data"));
    let md = json("/openstack/latest/meta_data.json", &i2);
    assert_eq!(md["uuid"], SRV2);
    assert_eq!(md["public_keys"], serde_json::json!({}));
}

#[tokio::test]
async fn ec2_paths() {
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    objects(&store).await;
    let i = instance(&store, NET, "10.77.0.10").await.unwrap();

    let versions = body("/", &i);
    assert!(versions.starts_with("1.0\n") && versions.contains("\n2009-04-04\n"));
    assert!(versions.ends_with("\nlatest"));
    assert_eq!(body("/latest", &i), "meta-data/\nuser-data");
    for version in ["latest", "2009-04-04"] {
        let listing = body(&format!("/{version}/meta-data/"), &i);
        let lines: Vec<&str> = listing.lines().collect();
        for want in [
            "ami-launch-index",
            "block-device-mapping/",
            "hostname",
            "instance-action",
            "instance-id",
            "instance-type",
            "local-hostname",
            "local-ipv4",
            "placement/",
            "public-keys/",
            "reservation-id",
            "security-groups",
        ] {
            assert!(lines.contains(&want), "{want} not in {lines:?}");
        }
        let p = |leaf: &str| body(&format!("/{version}/meta-data/{leaf}"), &i);
        assert_eq!(p("instance-id"), "i-0b1c2d3e4f5046178");
        assert_eq!(p("hostname"), "vm1");
        assert_eq!(p("local-hostname"), "vm1");
        assert_eq!(p("local-ipv4"), "10.77.0.10");
        assert_eq!(p("ami-launch-index"), "1");
        assert_eq!(p("instance-type"), "test.small");
        assert_eq!(p("placement/availability-zone"), "nova");
        assert_eq!(p("security-groups"), "default");
        assert_eq!(p("public-keys/"), "0=mykey");
        assert_eq!(p("public-keys/0/"), "openssh-key");
        assert_eq!(p("public-keys/0/openssh-key"), "ssh-ed25519 AAAAC3Nza test");
        assert_eq!(p("block-device-mapping/root"), "/dev/vda");
        assert_eq!(
            body(&format!("/{version}/user-data"), &i),
            "#!/bin/sh\necho hi"
        );
        assert_eq!(
            body(&format!("/ec2/{version}/meta-data/hostname"), &i),
            "vm1"
        );
    }
    // Older versions have fewer keys.
    let old = body("/1.0/meta-data/", &i);
    assert!(!old.lines().any(|l| l == "local-hostname"), "{old}");
    assert!(respond("/1.0/meta-data/placement/availability-zone", &i).is_none());
    for missing in [
        "/1999-01-01/meta-data/",
        "/latest/meta-data/nothing",
        "/latest/meta-data/hostname/x",
    ] {
        assert!(respond(missing, &i).is_none(), "{missing}");
    }

    // No key: no public-keys; no user data: 404; local-ipv4 is the first NIC's.
    let i2 = instance(&store, NET, "10.77.0.11").await.unwrap();
    assert!(!body("/latest/meta-data/", &i2).contains("public-keys"));
    assert!(respond("/latest/meta-data/public-keys/", &i2).is_none());
    assert!(respond("/latest/user-data", &i2).is_none());
    assert_eq!(body("/latest", &i2), "meta-data/");
    assert_eq!(body("/latest/meta-data/local-ipv4", &i2), "10.77.0.11");
    assert_eq!(ec2::instance_id(SRV2), "i-1c2d3e4f506147289");
}

#[test]
fn dhcp_routes_the_metadata_address_to_the_dhcp_port() {
    let net = network(NET, 1450);
    let subnets = vec![subnet("sub-1", NET, "10.77.0.0/24", Some("10.77.0.1"))];
    let ports = vec![port(
        "p-dhcp",
        NET,
        "sub-1",
        "fa:16:3e:00:00:02",
        "10.77.0.2",
        NET,
        OWNER_DHCP,
    )];
    let data = Path::new("/data");
    let spec = dhcp::spec(data, &net, &subnets, &ports, &BTreeMap::new()).unwrap();
    let args = dhcp::dnsmasq_args(&spec, Path::new("/data/dhcp/n"));
    let want = format!(
        "--dhcp-option=option:classless-static-route,{ADDRESS}/32,10.77.0.2,0.0.0.0/0,10.77.0.1"
    );
    assert!(args.contains(&want), "{args:?}");
    // The router option stays for clients without option 121.
    assert!(args.contains(&"--dhcp-option=option:router,10.77.0.1".to_string()));

    // Without a gateway: only the metadata route.
    let subnets = vec![subnet("sub-1", NET, "10.77.0.0/24", None)];
    let spec = dhcp::spec(data, &net, &subnets, &ports, &BTreeMap::new()).unwrap();
    assert_eq!(
        dhcp::classless_routes(&spec).as_deref(),
        Some("169.254.169.254/32,10.77.0.2")
    );
}

#[test]
fn a_config_drive_only_when_asked_for() {
    let mut s = server(SRV, "vm1", "img", vec![]);
    assert!(!configdrive::wanted(&s, None));
    assert!(!configdrive::wanted(&s, Some("optional")));
    assert!(configdrive::wanted(&s, Some("mandatory")));
    s.config_drive = true;
    assert!(configdrive::wanted(&s, None));
}
