"""Network (Neutron v2.0) basics with the real clients: the catalog entry and
discovery, the bootstrap `private` network, networks, subnets, ports, security
groups and rules through the `openstack` CLI, tags, Neutron's error format, a
member's view (own objects plus shared networks, others' hidden), and
openstacksdk's network proxy."""

import openstack
import requests

from nimbus_e2e import ADMIN_PASSWORD, unique


def _member(nimbus, prefix: str):
    """A new project with a new member user; returns (cli, user, project)."""
    ks = nimbus.keystone()
    name, password = unique(prefix), "Member-" + unique("pw")
    project = ks.create_project(unique(prefix + "proj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    return nimbus.user_cli(name, password, project=project["name"]), user, project


def test_discovery_catalog_and_errors(nimbus):
    for path in ("/network", "/network/"):
        versions = requests.get(nimbus.url + path, timeout=10).json()["versions"]
        assert versions[0]["id"] == "v2.0" and versions[0]["status"] == "CURRENT"
    catalog = nimbus.admin_cli().json("catalog", "show", "network")
    assert "/network" in str(catalog["endpoints"]), catalog
    token = nimbus.keystone().admin_token()
    headers = {"X-Auth-Token": token}
    resp = requests.get(nimbus.url + "/network/v2.0/extensions", headers=headers, timeout=10)
    aliases = {e["alias"] for e in resp.json()["extensions"]}
    assert {"security-group", "standard-attr-tag", "port-security"} <= aliases
    resp = requests.get(nimbus.url + "/network/v2.0/networks/nope", headers=headers, timeout=10)
    assert resp.status_code == 404
    assert resp.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_bootstrap_private_network(nimbus):
    admin = nimbus.admin_cli()
    networks = {n["Name"]: n for n in admin.json("network", "list")}
    assert "private" in networks, networks
    subnet = admin.json("subnet", "show", "private-subnet")
    assert subnet["cidr"] == "10.0.0.0/24" and subnet["gateway_ip"] == "10.0.0.1"
    assert subnet["enable_dhcp"] is True


def test_network_subnet_port_lifecycle(nimbus):
    admin = nimbus.admin_cli()
    net_name, sub_name, port_name = unique("net"), unique("sub"), unique("port")
    net = admin.json("network", "create", net_name)
    assert net["name"] == net_name and net["status"] == "ACTIVE" and net["mtu"] == 1450
    assert net_name in [n["Name"] for n in admin.json("network", "list")]
    assert admin.json("network", "show", net_name)["id"] == net["id"]

    subnet = admin.json("subnet", "create", "--network", net_name, "--subnet-range", "192.168.77.0/24",
                        sub_name)
    assert subnet["gateway_ip"] == "192.168.77.1"
    assert subnet["allocation_pools"] in ([{"start": "192.168.77.2", "end": "192.168.77.254"}],
                                          "192.168.77.2-192.168.77.254")

    port = admin.json("port", "create", "--network", net_name, port_name)
    ips = str(port["fixed_ips"])
    assert "192.168.77.3" in ips, ips  # .2 is the DHCP port's
    assert port["mac_address"].startswith("fa:16:3e:")
    assert port["status"] == "DOWN"
    ports = admin.json("port", "list", "--network", net_name)
    assert len(ports) == 2, ports

    admin.run("network", "set", "--tag", "blue", net_name)
    assert "blue" in str(admin.json("network", "show", net_name)["tags"])
    assert net_name in [n["Name"] for n in admin.json("network", "list", "--tags", "blue")]

    # In use: the port keeps the network; deleted, the network goes with its subnet.
    admin.fails("network", "delete", net_name)
    admin.run("port", "delete", port_name)
    admin.run("network", "delete", net_name)
    assert net_name not in [n["Name"] for n in admin.json("network", "list")]
    admin.fails("subnet", "show", sub_name)


def test_security_groups_and_rules(nimbus):
    admin = nimbus.admin_cli()
    name = unique("sg")
    group = admin.json("security", "group", "create", name)
    rules = group["rules"] if "rules" in group else group["security_group_rules"]
    assert "egress" in str(rules)
    rule = admin.json("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", name)
    assert rule["port_range_min"] == 22 and rule["port_range_max"] == 22
    assert rule["protocol"] == "tcp" and rule["direction"] == "ingress"
    listed = admin.json("security", "group", "rule", "list", name)
    assert len(listed) == 3, listed
    # the same rule again is a conflict
    admin.fails("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", name,
                status=409)
    default = [g for g in admin.json("security", "group", "list") if g["Name"] == "default"]
    assert len(default) == 1, default
    admin.run("security", "group", "rule", "delete", rule["id"])
    admin.run("security", "group", "delete", name)


def test_member_sees_own_and_shared_only(nimbus):
    admin = nimbus.admin_cli()
    shared = unique("shared")
    admin.run("network", "create", "--share", shared)
    admin_private = unique("adminpriv")
    admin.run("network", "create", admin_private)
    member, _, _ = _member(nimbus, "netm")
    own = unique("own")
    member.run("network", "create", own)
    names = {n["Name"] for n in member.json("network", "list")}
    assert {own, shared} <= names
    assert admin_private not in names and "private" not in names
    member.fails("network", "show", admin_private)
    member.fails("network", "create", "--share", unique("nope"), status=403)
    member.run("network", "delete", own)
    admin.run("network", "delete", shared)
    admin.run("network", "delete", admin_private)


def test_openstacksdk_network_proxy(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    try:
        assert "private" in [n.name for n in conn.network.networks()]
        name = unique("sdknet")
        net = conn.network.create_network(name=name)
        subnet = conn.network.create_subnet(network_id=net.id, cidr="172.31.5.0/24", ip_version=4,
                                            name=unique("sdksub"))
        assert subnet.gateway_ip == "172.31.5.1"
        port = conn.network.create_port(network_id=net.id)
        assert port.fixed_ips[0]["subnet_id"] == subnet.id
        assert conn.network.find_network(name).id == net.id
        ports = [p.id for p in conn.network.ports(network_id=net.id) if p.device_owner != "network:dhcp"]
        assert ports == [port.id]
        conn.network.delete_port(port)
        conn.network.delete_network(net)
        assert conn.network.find_network(name) is None
    finally:
        conn.close()


def test_network_quotas_with_openstacksdk(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    try:
        project = nimbus.keystone().create_project(unique("quotaproj"))
        quota = conn.network.get_quota(project["id"])
        assert (quota.networks, quota.ports, quota.security_groups) == (100, 500, 10)
        conn.network.update_quota(quota, networks=7)
        assert conn.network.get_quota(project["id"]).networks == 7
        details = conn.network.get_quota(conn.current_project_id, details=True)
        assert details.networks["used"] >= 1  # the bootstrap network `private`
        conn.network.delete_quota(project["id"])
        assert conn.network.get_quota(project["id"]).networks == 100
    finally:
        conn.close()
