"""Servers through the real `openstack` CLI, API side: create with a port and an
address from the first moment, list/show as OSC reads them, Nova's 400s for bad
references with nothing left behind, other projects kept out, delete until 404;
plus hypervisors, availability zones, server groups and limits. (Whether the
guest boots is the agent's part and is tested with it.)"""

from nimbus_e2e import unique


def _image(cli, tmp_path) -> str:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    return cli.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                    "--public", "--file", str(disk), unique("img"))["id"]


def test_server_create_list_show_delete(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _image(admin, tmp_path)
    name = unique("vm")
    created = admin.json("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                         "--network", "private", "--security-group", "default", name)
    assert created["name"] == name
    assert created["status"] in ("BUILD", "ACTIVE"), created
    assert created["addresses"]["private"], created
    sid = created["id"]

    listed = {s["Name"]: s for s in admin.json("server", "list")}
    assert listed[name]["Networks"]["private"], listed[name]
    shown = admin.json("server", "show", name)
    assert shown["id"] == sid and shown["flavor"]["original_name"] == "SCS-1V-4"
    assert shown["security_groups"] == [{"name": "default"}]
    ports = admin.json("port", "list", "--device-id", sid)
    assert len(ports) == 1

    # Another project does not see it.
    ks = nimbus.keystone()
    user, password = unique("u"), "Pw-" + unique("p")
    project = ks.create_project(unique("p"))
    uid = ks.create_user(user, password)["id"]
    ks.grant("member", user_id=uid, project_id=project["id"])
    other = nimbus.user_cli(user, password, project=project["name"])
    other.fails("server", "show", sid)
    assert name not in {s["Name"] for s in other.json("server", "list")}

    admin.run("server", "delete", "--wait", name)
    admin.fails("server", "show", sid)
    assert admin.json("port", "list", "--device-id", sid) == []


def test_bad_input_is_400_and_leaves_nothing(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _image(admin, tmp_path)
    before = len(admin.json("server", "list"))
    # OSC resolves images, flavors and networks itself; a key name it passes on.
    admin.fails("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                "--network", "private", "--key-name", unique("nokey"), unique("bad"), status=400)
    admin.fails("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                "--network", "private", "--availability-zone", "elsewhere", unique("bad"),
                status=400)
    assert len(admin.json("server", "list")) == before


def test_hypervisors_zones_groups_and_limits(nimbus):
    admin = nimbus.admin_cli()
    admin.json("hypervisor", "list")
    admin.json("compute", "service", "list")
    zones = admin.json("availability", "zone", "list", "--compute")
    assert [z["Zone Name"] for z in zones] == ["nova"]
    group = admin.json("server", "group", "create", "--policy", "anti-affinity", unique("grp"))
    assert group["policy"] == "anti-affinity"
    assert group["id"] in {g["ID"] for g in admin.json("server", "group", "list")}
    admin.run("server", "group", "delete", group["id"])
    limits = {row["Name"]: row["Value"] for row in admin.json("limits", "show", "--absolute")}
    # OSC renames maxTotalInstances and totalInstancesUsed.
    assert limits["instances"] == 10 and "instances_used" in limits
