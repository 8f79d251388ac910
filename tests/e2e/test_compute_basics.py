"""Compute (Nova v2.1) basics with the real clients: version discovery and
microversions, the seeded SCS flavors, flavor management, private flavors and
properties, keypairs imported and generated, and openstacksdk's compute proxy."""

import os
import subprocess

import openstack
import requests

from nimbus_e2e import ADMIN_PASSWORD, unique


def _ssh_keygen(*args: str) -> str:
    proc = subprocess.run(["ssh-keygen", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=True)
    return proc.stdout


def _member(nimbus, prefix: str):
    """A new project with a new member user; returns (cli, user, project)."""
    ks = nimbus.keystone()
    name, password = unique(prefix), "Member-" + unique("pw")
    project = ks.create_project(unique(prefix + "proj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    return nimbus.user_cli(name, password, project=project["name"]), user, project


def test_discovery_and_microversions(nimbus):
    compute = nimbus.url + "/compute/v2.1"
    version = requests.get(compute, timeout=10).json()["version"]
    assert version["id"] == "v2.1" and version["min_version"] == "2.1"
    assert tuple(int(x) for x in version["version"].split(".")) >= (2, 79)
    token = nimbus.keystone().admin_token()
    resp = requests.get(compute + "/flavors", timeout=10,
                        headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.61"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["OpenStack-API-Version"] == "compute 2.61"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.61"
    resp = requests.get(compute + "/flavors", timeout=10,
                        headers={"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": "2.999"})
    assert resp.status_code == 406, resp.text
    assert resp.json()["computeFault"]["code"] == 406

    catalog = nimbus.admin_cli().json("catalog", "show", "compute")
    assert "/compute/v2.1" in str(catalog["endpoints"]), catalog


def test_flavor_list_shows_the_standard_flavors(nimbus):
    flavors = {f["Name"]: f for f in nimbus.admin_cli().json("flavor", "list")}
    for name in ("SCS-1V-4", "SCS-2V-8", "SCS-4V-16", "SCS-1L-1", "nimbus.tiny", "nimbus.small"):
        assert name in flavors, sorted(flavors)
    assert (flavors["SCS-1V-4"]["VCPUs"], flavors["SCS-1V-4"]["RAM"], flavors["SCS-1V-4"]["Disk"]) == (1, 4096, 0)
    assert (flavors["nimbus.tiny"]["VCPUs"], flavors["nimbus.tiny"]["RAM"]) == (1, 256)
    assert flavors["nimbus.tiny"]["Is Public"] is True

    # a member sees them too
    member, _, _ = _member(nimbus, "flv")
    names = {f["Name"] for f in member.json("flavor", "list")}
    assert {"SCS-1V-4", "nimbus.tiny"} <= names
    shown = member.json("flavor", "show", "SCS-2V-4-20s")
    assert shown["disk"] == 20 and shown["properties"]["scs:disk0-type"] == "ssd"


def test_flavor_create_show_set_delete(nimbus):
    admin = nimbus.admin_cli()
    name = unique("flavor")
    created = admin.json("flavor", "create", "--ram", "512", "--vcpus", "2", "--disk", "3",
                         "--ephemeral", "1", "--swap", "128", "--description", "e2e flavor", name)
    assert created["name"] == name and created["ram"] == 512 and created["vcpus"] == 2
    assert created["description"] == "e2e flavor"

    admin.run("flavor", "set", "--property", "hw:cpu_policy=shared", "--property", "quota:cpu_shares=512", name)
    shown = admin.json("flavor", "show", name)
    assert shown["properties"] == {"hw:cpu_policy": "shared", "quota:cpu_shares": "512"}
    assert shown["disk"] == 3 and shown["OS-FLV-EXT-DATA:ephemeral"] == 1 and shown["swap"] == 128
    admin.run("flavor", "unset", "--property", "quota:cpu_shares", name)
    assert admin.json("flavor", "show", name)["properties"] == {"hw:cpu_policy": "shared"}
    admin.run("flavor", "set", "--description", "changed", name)
    assert admin.json("flavor", "show", name)["description"] == "changed"

    # members may not manage flavors
    member, _, _ = _member(nimbus, "flvm")
    member.fails("flavor", "create", "--ram", "64", "--vcpus", "1", unique("evil"), status=403)
    member.fails("flavor", "set", "--property", "a=b", name, status=403)
    member.fails("flavor", "delete", name)

    admin.run("flavor", "delete", name)
    admin.fails("flavor", "show", name)
    assert name not in {f["Name"] for f in admin.json("flavor", "list", "--all")}


def test_private_flavor_with_project_access(nimbus):
    admin = nimbus.admin_cli()
    member, _, project = _member(nimbus, "prv")
    other, _, _ = _member(nimbus, "oth")
    name = unique("private")
    admin.run("flavor", "create", "--ram", "256", "--vcpus", "1", "--private", name)
    assert name in {f["Name"] for f in admin.json("flavor", "list", "--private")}
    assert name not in {f["Name"] for f in member.json("flavor", "list")}
    member.fails("flavor", "show", name)

    admin.run("flavor", "set", "--project", project["id"], name)
    assert name in {f["Name"] for f in member.json("flavor", "list")}
    assert member.json("flavor", "show", name)["os-flavor-access:is_public"] is False
    assert name not in {f["Name"] for f in other.json("flavor", "list")}
    access = admin.json("flavor", "show", name)["access_project_ids"]
    assert access == [project["id"]], access

    admin.run("flavor", "unset", "--project", project["id"], name)
    member.fails("flavor", "show", name)
    admin.run("flavor", "delete", name)


def test_keypair_import_matches_ssh_keygen(nimbus, tmp_path):
    key = tmp_path / "id_ed25519"
    _ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", "e2e@nimbus", "-f", str(key))
    pub = tmp_path / "id_ed25519.pub"
    expected = _ssh_keygen("-l", "-E", "md5", "-f", str(pub)).split()[1].removeprefix("MD5:")

    admin = nimbus.admin_cli()
    name = unique("k1")
    created = admin.json("keypair", "create", "--public-key", str(pub), name)
    assert created["fingerprint"] == expected
    assert created["type"] == "ssh" and created["name"] == name
    shown = admin.json("keypair", "show", name)
    assert shown["fingerprint"] == expected
    public = admin.run("keypair", "show", "--public-key", name).stdout.strip()
    assert public == pub.read_text().strip()
    assert name in {k["Name"] for k in admin.json("keypair", "list")}

    admin.fails("keypair", "create", "--public-key", str(pub), name, status=409)
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("ssh-ed25519 this-is-not-a-key\n")
    admin.fails("keypair", "create", "--public-key", str(garbage), unique("bad"), status=400)

    admin.run("keypair", "delete", name)
    assert name not in {k["Name"] for k in admin.json("keypair", "list")}
    admin.fails("keypair", "show", name)


def test_generated_keypair_is_usable_and_private_to_its_user(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    name = unique("k2")
    private = admin.run("keypair", "create", name).stdout
    assert "PRIVATE KEY-----" in private
    key = tmp_path / "k2"
    key.write_text(private)
    os.chmod(key, 0o600)
    derived = _ssh_keygen("-y", "-f", str(key)).split()[:2]
    public = admin.run("keypair", "show", "--public-key", name).stdout.split()[:2]
    assert derived == public

    # another user sees neither the keypair nor its name
    member, _, _ = _member(nimbus, "kpm")
    assert name not in {k["Name"] for k in member.json("keypair", "list")}
    member.fails("keypair", "show", name)
    member.fails("keypair", "delete", name)
    own = unique("own")
    member.run("keypair", "create", own)
    assert [k["Name"] for k in member.json("keypair", "list")] == [own]
    assert own not in {k["Name"] for k in admin.json("keypair", "list")}
    admin.run("keypair", "delete", name)


def test_openstacksdk_compute_proxy(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    try:
        flavors = {f.name: f for f in conn.compute.flavors()}
        assert "SCS-1V-4" in flavors and "nimbus.tiny" in flavors
        tiny = conn.compute.find_flavor("nimbus.tiny")
        assert (tiny.vcpus, tiny.ram, tiny.disk) == (1, 256, 1)
        assert conn.compute.get_flavor("SCS-2V-8").extra_specs["scs:name-v2"] == "SCS-2V-8"

        name = unique("sdkkey")
        keypair = conn.compute.create_keypair(name=name)
        assert keypair.private_key and keypair.fingerprint
        assert name in [k.name for k in conn.compute.keypairs()]
        assert conn.compute.get_keypair(name).fingerprint == keypair.fingerprint
        conn.compute.delete_keypair(name)
        assert name not in [k.name for k in conn.compute.keypairs()]
    finally:
        conn.close()
