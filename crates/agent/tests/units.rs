//! Unit tests of what the agent derives without touching the host: names, the
//! QEMU command line, config drive contents, network_data.json, DHCP settings.

mod common;

use common::*;
use nimbus_agent::configdrive;
use nimbus_agent::dataplane::{dhcp, names};
use nimbus_agent::disks;
use nimbus_agent::qemu::{command_line, DirectBoot, LaunchSpec, Nic};
use nimbus_network::types::{OWNER_COMPUTE, OWNER_DHCP};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const NET: &str = "3f2b9c1e-aaaa-4bbb-8ccc-0123456789ab";
const PORT: &str = "9d8e7f6a-1111-4222-8333-444455556666";

#[test]
fn names_fit_linux_limits_and_depend_on_the_data_dir() {
    let a = names::dataplane_netns(Path::new("/var/lib/nimbus-a"));
    let b = names::dataplane_netns(Path::new("/var/lib/nimbus-b"));
    assert!(
        a.starts_with("nimbus-dp-") && a.len() == "nimbus-dp-".len() + 8,
        "{a}"
    );
    assert_ne!(a, b);
    assert_eq!(a, names::dataplane_netns(Path::new("/var/lib/nimbus-a")));
    let tag = names::tag(Path::new("/var/lib/nimbus-a"));
    assert_eq!(
        names::dhcp_netns(Path::new("/var/lib/nimbus-a"), NET),
        format!("nimbus-dhcp-{tag}-3f2b9c1e")
    );
    assert_eq!(names::bridge(NET), "nbr-3f2b9c1eaaa");
    assert_eq!(names::tap(PORT), "ntap9d8e7f6a111");
    assert_eq!(names::veth_outer(NET), "nvd3f2b9c1eaaa");
    assert_eq!(names::veth_inner(NET), "nvi3f2b9c1eaaa");
    for n in [
        names::bridge(NET),
        names::tap(PORT),
        names::veth_outer(NET),
        names::veth_inner(NET),
    ] {
        assert!(n.len() <= 15, "{n} is too long for an interface name");
    }
}

#[test]
fn the_tag_is_the_sha256_of_the_canonical_path() {
    let dir = tempfile::tempdir().unwrap();
    let via_dots = dir.path().join("x").join("..");
    std::fs::create_dir_all(dir.path().join("x")).unwrap();
    assert_eq!(names::tag(dir.path()), names::tag(&via_dots));
    // sha256("/") = 8a5edab2...
    assert_eq!(names::tag(Path::new("/")), "8a5edab2");
}

fn spec(direct: Option<DirectBoot>) -> LaunchSpec {
    LaunchSpec {
        qemu: "qemu-system-x86_64".into(),
        netns: "nimbus-dp-12345678".into(),
        server_id: "srv-1".into(),
        instance_dir: PathBuf::from("/data/instances/srv-1"),
        accel: "tcg".into(),
        ram_mb: 256,
        vcpus: 2,
        direct,
        root_overlay: true,
        config_drive: true,
        volumes: Vec::new(),
        nics: vec![
            Nic {
                tap: "ntapaaaaaaaaaaa".into(),
                mac: "fa:16:3e:00:00:01".into(),
            },
            Nic {
                tap: "ntapbbbbbbbbbbb".into(),
                mac: "fa:16:3e:00:00:02".into(),
            },
        ],
    }
}

fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn qemu_runs_inside_the_dataplane_namespace_with_the_contracted_options() {
    let args = command_line(&spec(None));
    assert_eq!(
        &args[..5],
        [
            "ip",
            "netns",
            "exec",
            "nimbus-dp-12345678",
            "qemu-system-x86_64"
        ]
    );
    assert_eq!(after(&args, "-name"), ["guest=srv-1,debug-threads=on"]);
    assert_eq!(after(&args, "-machine"), ["q35"]);
    assert_eq!(after(&args, "-accel"), ["tcg"]);
    assert_eq!(after(&args, "-m"), ["256"]);
    assert_eq!(after(&args, "-smp"), ["2"]);
    assert!(args.contains(&"-nodefaults".to_string()));
    assert!(args.contains(&"-daemonize".to_string()));
    assert_eq!(after(&args, "-pidfile"), ["/data/instances/srv-1/qemu.pid"]);
    assert_eq!(
        after(&args, "-chardev"),
        ["file,id=serial0,path=/data/instances/srv-1/console.log,append=on"]
    );
    assert_eq!(after(&args, "-serial"), ["chardev:serial0"]);
    let qmp = nimbus_agent::qemu::qmp_socket(std::path::Path::new("/data/instances/srv-1"));
    assert!(qmp.starts_with(nimbus_agent::qemu::QMP_DIR));
    assert!(qmp.as_os_str().len() < 108, "{}", qmp.display());
    assert_eq!(
        after(&args, "-qmp"),
        [format!("unix:{},server=on,wait=off", qmp.display())]
    );
    let drives = after(&args, "-drive");
    assert_eq!(drives.len(), 2);
    assert!(
        drives[0].starts_with("file=/data/instances/srv-1/disk.qcow2,")
            && drives[0].contains("format=qcow2")
    );
    assert!(
        drives[1].starts_with("file=/data/instances/srv-1/disk.config,")
            && drives[1].contains("readonly=on")
    );
    let netdevs = after(&args, "-netdev");
    assert_eq!(
        netdevs,
        [
            "tap,id=n0,ifname=ntapaaaaaaaaaaa,script=no,downscript=no",
            "tap,id=n1,ifname=ntapbbbbbbbbbbb,script=no,downscript=no"
        ]
    );
    let devices = after(&args, "-device");
    assert_eq!(devices[0], "virtio-blk-pci,drive=vda,bootindex=1");
    assert!(devices.contains(&"virtio-net-pci,netdev=n0,mac=fa:16:3e:00:00:01"));
    assert!(devices.contains(&"virtio-net-pci,netdev=n1,mac=fa:16:3e:00:00:02"));
    assert_eq!(devices.last(), Some(&"virtio-rng-pci"));
    // BIOS boot: no kernel.
    assert!(after(&args, "-kernel").is_empty());
    // The pid-reuse guard looks for the server id in the command line.
    assert!(args.join(" ").contains("srv-1"));
}

#[test]
fn without_a_config_drive_only_the_root_disk() {
    let mut spec = spec(None);
    spec.config_drive = false;
    let args = command_line(&spec);
    let drives = after(&args, "-drive");
    assert_eq!(drives.len(), 1);
    assert!(drives[0].starts_with("file=/data/instances/srv-1/disk.qcow2,"));
    assert!(!args.join(" ").contains("disk.config"));
}

fn volume_disk(id: &str, slot: Option<u32>) -> nimbus_agent::volumes::VolumeDisk {
    nimbus_agent::volumes::VolumeDisk {
        volume_id: id.into(),
        slot,
        secret: None,
        blockdev: serde_json::json!({"driver": "qcow2", "node-name": format!("n{id}")}),
        device: serde_json::json!({"driver": "virtio-blk-pci", "id": format!("d{id}")}),
    }
}

#[test]
fn a_boot_volume_replaces_the_overlay_and_comes_before_the_config_drive() {
    let mut spec = spec(None);
    spec.root_overlay = false;
    spec.volumes = vec![volume_disk("boot", None), volume_disk("data", Some(0))];
    let args = command_line(&spec);
    assert!(!args.join(" ").contains("disk.qcow2"));
    let devices = after(&args, "-device");
    assert!(devices[0].contains("dboot"), "{devices:?}");
    assert!(devices[1].contains("drive=config"), "{devices:?}");
    let ports: Vec<_> = devices
        .iter()
        .filter(|d| d.contains("pcie-root-port"))
        .collect();
    assert_eq!(ports.len() as u32, nimbus_agent::volumes::HOTPLUG_PORTS);
    // A plugged volume sits behind the ports it needs.
    let last_port = devices
        .iter()
        .rposition(|d| d.contains("pcie-root-port"))
        .unwrap();
    let data = devices.iter().position(|d| d.contains("ddata")).unwrap();
    assert!(data > last_port);
    assert_eq!(after(&args, "-blockdev").len(), 2);
}

#[test]
fn direct_kernel_boot_adds_kernel_initrd_and_append() {
    let args = command_line(&spec(Some(DirectBoot {
        kernel: "/c/k".into(),
        initrd: Some("/c/r".into()),
        append: "console=ttyS0 quiet".into(),
    })));
    assert_eq!(after(&args, "-kernel"), ["/c/k"]);
    assert_eq!(after(&args, "-initrd"), ["/c/r"]);
    assert_eq!(after(&args, "-append"), ["console=ttyS0 quiet"]);
}

#[test]
fn overlay_size_and_backing_format() {
    assert_eq!(disks::overlay_size(0, 1 << 30), 1 << 30);
    assert_eq!(disks::overlay_size(5, 1 << 30), 5 << 30);
    assert_eq!(disks::overlay_size(1, 3 << 30), 3 << 30);
    assert_eq!(disks::backing_format(Some("qcow2")).unwrap(), "qcow2");
    assert_eq!(disks::backing_format(Some("raw")).unwrap(), "raw");
    assert!(disks::backing_format(Some("vmdk")).is_err());
}

fn fixture() -> (
    nimbus_compute::server::Server,
    Vec<nimbus_network::types::Port>,
    Vec<nimbus_network::types::Subnet>,
) {
    let mut s = server("srv-1", "vm1", "img", vec![PORT.into()]);
    s.key_name = Some("mykey".into());
    s.key_data = Some("ssh-ed25519 AAAAC3Nza test".into());
    s.user_data = Some("IyEvYmluL3NoCmVjaG8gaGk=".into()); // "#!/bin/sh\necho hi"
    s.metadata.insert("role".into(), "web".into());
    s.launch_index = 1;
    let sub = subnet("sub-1", NET, "10.77.0.0/24", Some("10.77.0.1"));
    let p = port(
        PORT,
        NET,
        "sub-1",
        "fa:16:3e:aa:bb:cc",
        "10.77.0.10",
        "srv-1",
        OWNER_COMPUTE,
    );
    (s, vec![p], vec![sub])
}

#[test]
fn config_drive_files() {
    let (s, ports, subnets) = fixture();
    let nd = configdrive::network_data(&ports, &subnets, &[1450]);
    let dir = tempfile::tempdir().unwrap();
    configdrive::write_tree(dir.path(), &s, &nd).unwrap();
    let latest = dir.path().join("openstack/latest");
    let md: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("meta_data.json")).unwrap()).unwrap();
    assert_eq!(md["uuid"], "srv-1");
    assert_eq!(md["name"], "vm1");
    assert_eq!(md["hostname"], "vm1");
    assert_eq!(md["launch_index"], 1);
    assert_eq!(md["availability_zone"], "nova");
    assert_eq!(md["project_id"], PROJECT);
    assert_eq!(md["meta"]["role"], "web");
    assert_eq!(md["public_keys"]["mykey"], "ssh-ed25519 AAAAC3Nza test");
    assert_eq!(md["keys"][0]["name"], "mykey");
    assert_eq!(md["keys"][0]["type"], "ssh");
    assert_eq!(md["keys"][0]["data"], "ssh-ed25519 AAAAC3Nza test");
    assert_eq!(md["devices"], serde_json::json!([]));
    assert_eq!(
        std::fs::read(latest.join("user_data")).unwrap(),
        b"#!/bin/sh\necho hi"
    );
    assert_eq!(
        std::fs::read(latest.join("vendor_data.json")).unwrap(),
        b"{}"
    );
    let nd2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("network_data.json")).unwrap()).unwrap();
    assert_eq!(nd, nd2);
    let old = dir.path().join("openstack/2012-08-10");
    for f in [
        "meta_data.json",
        "network_data.json",
        "vendor_data.json",
        "user_data",
    ] {
        assert_eq!(
            std::fs::read(old.join(f)).unwrap(),
            std::fs::read(latest.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn no_user_data_file_without_user_data_and_bad_base64_is_an_error() {
    let (mut s, ports, subnets) = fixture();
    let nd = configdrive::network_data(&ports, &subnets, &[1500]);
    s.user_data = None;
    let dir = tempfile::tempdir().unwrap();
    configdrive::write_tree(dir.path(), &s, &nd).unwrap();
    assert!(!dir.path().join("openstack/latest/user_data").exists());
    s.user_data = Some("not base64 !!".into());
    let dir = tempfile::tempdir().unwrap();
    assert!(configdrive::write_tree(dir.path(), &s, &nd).is_err());
}

#[test]
fn network_data_links_networks_services() {
    let (_, ports, subnets) = fixture();
    let nd = configdrive::network_data(&ports, &subnets, &[1450]);
    let link = &nd["links"][0];
    assert_eq!(link["id"], names::tap(PORT));
    assert_eq!(link["type"], "phy");
    assert_eq!(link["ethernet_mac_address"], "fa:16:3e:aa:bb:cc");
    assert_eq!(link["mtu"], 1450);
    assert_eq!(link["vif_id"], PORT);
    let net = &nd["networks"][0];
    assert_eq!(net["type"], "ipv4_dhcp");
    assert_eq!(net["link"], names::tap(PORT));
    assert_eq!(net["network_id"], NET);
    assert_eq!(nd["networks"].as_array().unwrap().len(), 1);
    assert_eq!(
        nd["services"],
        serde_json::json!([{ "type": "dns", "address": "10.77.0.53" }])
    );
}

#[test]
fn config_drive_iso_has_the_label_and_files() {
    if nimbus_agent::cmd::find_program("genisoimage").is_none()
        || nimbus_agent::cmd::find_program("isoinfo").is_none()
    {
        eprintln!("skipped: genisoimage or isoinfo not installed");
        return;
    }
    let (s, ports, subnets) = fixture();
    let nd = configdrive::network_data(&ports, &subnets, &[1450]);
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("disk.config");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(configdrive::ensure_iso(&iso, &s, &nd)).unwrap();
    let pvd = std::process::Command::new("isoinfo")
        .args(["-d", "-i"])
        .arg(&iso)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pvd.stdout).contains("Volume id: config-2"));
    let md = std::process::Command::new("isoinfo")
        .args(["-R", "-x", "/openstack/latest/meta_data.json", "-i"])
        .arg(&iso)
        .output()
        .unwrap();
    let md: serde_json::Value = serde_json::from_slice(&md.stdout).unwrap();
    assert_eq!(md["uuid"], "srv-1");
    // The temporary tree is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn dhcp_spec_and_dnsmasq_arguments() {
    let (s, mut ports, subnets) = fixture();
    ports.push(port(
        "dhcp-1",
        NET,
        "sub-1",
        "fa:16:3e:00:00:99",
        "10.77.0.2",
        NET,
        OWNER_DHCP,
    ));
    let net = network(NET, 1450);
    let hostnames: BTreeMap<String, String> = [(s.id.clone(), s.hostname.clone())].into();
    let data = Path::new("/data");
    let spec = dhcp::spec(data, &net, &subnets, &ports, &hostnames).unwrap();
    assert_eq!(spec.addresses, ["10.77.0.2/24"]);
    assert_eq!(spec.mac, "fa:16:3e:00:00:99");
    assert_eq!(
        spec.ranges,
        [("10.77.0.0".to_string(), "255.255.255.0".to_string())]
    );
    assert_eq!(spec.router.as_deref(), Some("10.77.0.1"));
    assert_eq!(spec.hosts, "fa:16:3e:aa:bb:cc,10.77.0.10,vm1\n");
    assert_eq!(spec.netns, names::dhcp_netns(data, NET));
    let args = dhcp::dnsmasq_args(&spec, Path::new("/data/dhcp/n"));
    for want in [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--port=0",
        "--bind-interfaces",
        "--interface=nvi3f2b9c1eaaa",
        "--dhcp-range=10.77.0.0,static,255.255.255.0,12h",
        "--dhcp-hostsfile=/data/dhcp/n/hosts",
        "--dhcp-option=option:router,10.77.0.1",
        "--dhcp-option=option:dns-server,10.77.0.53",
        "--dhcp-option=option:mtu,1450",
        "--dhcp-leasefile=/data/dhcp/n/leases",
        "--no-ping",
        "--pid-file=/data/dhcp/n/dnsmasq.pid",
    ] {
        assert!(args.iter().any(|a| a == want), "missing {want} in {args:?}");
    }
    // Without a DHCP port there is no DHCP.
    ports.pop();
    assert!(dhcp::spec(data, &net, &subnets, &ports, &hostnames).is_none());
}

#[test]
fn cidr_parsing() {
    assert_eq!(
        dhcp::parse_cidr4("10.1.2.3/16").map(|(a, p)| (a.to_string(), p)),
        Some(("10.1.0.0".to_string(), 16))
    );
    assert_eq!(dhcp::netmask(20), "255.255.240.0");
    assert!(dhcp::parse_cidr4("10.0.0.0/33").is_none());
    assert!(dhcp::parse_cidr4("fd00::/64").is_none());
}
