"""Cinder v3 with the real clients: `openstack volume ...` (create blank, from an
image, of the encrypted type, from a snapshot; list, show, set, extend, delete),
`volume snapshot ...`, `volume type ...`, `quota show --volume`, and openstacksdk's
`create_volume(..., wait=True)`. No guests: the volumes are qcow2 files that
`nimbus serve` makes with qemu-img under its data directory, checked here with
`qemu-img info`."""

from __future__ import annotations

import json
import subprocess
import time

import openstack
import pytest

from nimbus_e2e import ADMIN_PASSWORD, unique

WAIT = 60


def wait_status(cli, kind: str, name: str, wanted: str) -> dict:
    """Polls `openstack <kind> show` until the status is `wanted` (fails on error)."""
    deadline = time.monotonic() + WAIT
    while True:
        shown = cli.json(*kind.split(), "show", name)
        if shown["status"] == wanted:
            return shown
        assert shown["status"] not in ("error", "error_deleting", "error_extending"), shown
        assert time.monotonic() < deadline, f"{kind} {name} stuck in {shown['status']}"
        time.sleep(0.3)


def wait_gone(cli, kind: str, name: str) -> None:
    deadline = time.monotonic() + WAIT
    while cli.run(*kind.split(), "show", name, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{kind} {name} was not deleted"
        time.sleep(0.3)


def layer_info(nimbus, volume_id: str) -> dict:
    """`qemu-img info` of the volume's current top layer (the highest generation)."""
    layers = sorted((nimbus.data_dir / "volumes").glob(f"{volume_id}.*.qcow2"),
                    key=lambda p: int(p.name.split(".")[1]))
    assert layers, f"no layer file for {volume_id}"
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(layers[-1])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_volume_lifecycle_with_the_cli(nimbus):
    admin = nimbus.admin_cli()
    types = {t["Name"] for t in admin.json("volume", "type", "list")}
    assert {"standard", "encrypted"} <= types
    enc = admin.json("volume", "type", "show", "--encryption-type", "encrypted")
    assert "luks" in json.dumps(enc["encryption"]) and "aes-xts-plain64" in json.dumps(enc["encryption"])

    name = unique("vol")
    created = admin.json("volume", "create", "--size", "1", "--property", "tier=1", name)
    assert created["status"] == "creating"
    vol = wait_status(admin, "volume", name, "available")
    assert vol["size"] == 1 and vol["type"] == "standard" and vol["bootable"] in (False, "false")
    info = layer_info(nimbus, vol["id"])
    assert info["virtual-size"] == 1 << 30 and "backing-filename" not in info

    listed = admin.json("volume", "list")
    assert any(v["ID"] == vol["id"] and v["Status"] == "available" for v in listed)
    assert [v["ID"] for v in admin.json("volume", "list", "--name", name)] == [vol["id"]]

    admin.run("volume", "set", "--name", name + "-b", "--description", "d", "--property", "a=b",
              "--bootable", vol["id"])
    shown = admin.json("volume", "show", vol["id"])
    assert shown["name"] == name + "-b" and shown["description"] == "d"
    assert shown["bootable"] in (True, "true")
    assert "a='b'" in str(shown["properties"]) or shown["properties"].get("a") == "b"

    admin.run("volume", "set", "--size", "2", vol["id"])
    extended = wait_status(admin, "volume", vol["id"], "available")
    assert extended["size"] == 2
    assert layer_info(nimbus, vol["id"])["virtual-size"] == 2 << 30

    admin.run("volume", "delete", vol["id"])
    wait_gone(admin, "volume", vol["id"])
    assert not list((nimbus.data_dir / "volumes").glob(f"{vol['id']}.*"))
    admin.fails("volume", "show", vol["id"])


def test_volume_from_image_and_encrypted(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    src = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "64M"], check=True)
    image = admin.json("image", "create", "--file", str(src), "--disk-format", "qcow2",
                       "--container-format", "bare", unique("volimg"))
    try:
        name = unique("fromimg")
        admin.run("volume", "create", "--image", image["id"], "--size", "10", name)
        vol = wait_status(admin, "volume", name, "available")
        assert vol["bootable"] in (True, "true") and vol["size"] == 10
        assert vol["volume_image_metadata"]["image_id"] == image["id"]
        info = layer_info(nimbus, vol["id"])
        assert info["virtual-size"] == 10 << 30
        assert info["backing-filename"].endswith(image["id"]), info
        assert info["actual-size"] < 1 << 20, "copy-on-write: nothing copied"

        enc_name = unique("enc")
        admin.run("volume", "create", "--type", "encrypted", "--size", "1", enc_name)
        enc = wait_status(admin, "volume", enc_name, "available")
        assert enc["encrypted"] is True and enc["type"] == "encrypted"
        assert layer_info(nimbus, enc["id"])["encrypted"] is True
        for v in (vol["id"], enc["id"]):
            admin.run("volume", "delete", v)
        for v in (vol["id"], enc["id"]):
            wait_gone(admin, "volume", v)
    finally:
        admin.run("image", "delete", image["id"], check=False)


def test_snapshots_and_volume_from_snapshot(nimbus):
    admin = nimbus.admin_cli()
    name = unique("src")
    admin.run("volume", "create", "--size", "1", name)
    vol = wait_status(admin, "volume", name, "available")
    snap_name = unique("snap")
    admin.run("volume", "snapshot", "create", "--volume", vol["id"], snap_name)
    snap = wait_status(admin, "volume snapshot", snap_name, "available")
    assert snap["volume_id"] == vol["id"] and snap["size"] == 1
    assert any(s["ID"] == snap["id"] for s in admin.json("volume", "snapshot", "list"))

    admin.fails("volume", "delete", vol["id"], status=400)

    copy_name = unique("copy")
    admin.run("volume", "create", "--snapshot", snap["id"], "--size", "2", copy_name)
    copy = wait_status(admin, "volume", copy_name, "available")
    assert copy["snapshot_id"] == snap["id"] and copy["size"] == 2
    assert layer_info(nimbus, copy["id"])["backing-filename"].endswith(f"{vol['id']}.0.qcow2")

    admin.run("volume", "snapshot", "delete", snap["id"])
    wait_gone(admin, "volume snapshot", snap["id"])
    admin.run("volume", "delete", vol["id"])
    wait_gone(admin, "volume", vol["id"])
    # The copy still reads its whole chain after its origin went away.
    chain = subprocess.run(["qemu-img", "info", "-U", "--backing-chain",
                            str(nimbus.data_dir / "volumes" / f"{copy['id']}.0.qcow2")],
                           capture_output=True, text=True)
    assert chain.returncode == 0, chain.stderr
    admin.run("volume", "delete", copy["id"])
    wait_gone(admin, "volume", copy["id"])


def quota_value(quota, key: str):
    """A limit from `quota show -f json` (a mapping, or rows of Resource/Limit)."""
    if isinstance(quota, dict):
        return quota[key]
    return next(row["Limit"] for row in quota if row["Resource"] == key)


def test_quota_show_and_limits(nimbus):
    admin = nimbus.admin_cli()
    quota = admin.json("quota", "show", "--volume")
    flat = json.dumps(quota)
    for key in ("volumes", "gigabytes", "snapshots", "backups"):
        assert key in flat, quota
    # OSC shows compute and volume limits together, named after the SDK fields.
    limits = {row["Name"]: row["Value"] for row in admin.json("limits", "show", "--absolute")}
    assert limits["max_total_volumes"] == quota_value(quota, "volumes")
    assert limits["max_total_volume_gigabytes"] == quota_value(quota, "gigabytes")
    assert limits["total_volumes_used"] >= 0


def test_openstacksdk_create_volume_wait(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    try:
        name = unique("sdkvol")
        vol = conn.create_volume(size=1, name=name, wait=True, timeout=WAIT)
        assert vol.status == "available" and vol.size == 1
        assert conn.get_volume(name).id == vol.id
        assert conn.delete_volume(vol.id, wait=True, timeout=WAIT)
        assert conn.get_volume(vol.id) is None
    finally:
        conn.close()


def qemu_io(path, command: str, read_only: bool = False) -> None:
    """Runs one qemu-io command on a (plain) volume layer, through its chain."""
    args = ["qemu-io", "-f", "qcow2", "-c", command, str(path)]
    if read_only:
        args.insert(1, "-r")
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0 and "Pattern verification failed" not in out.stdout, (
        f"{command}: {out.stdout}{out.stderr}")


def top_path(server, volume_id: str):
    layers = sorted((server.data_dir / "volumes").glob(f"{volume_id}.*.qcow2"),
                    key=lambda p: int(p.name.split(".")[1]))
    return layers[-1]


def test_snapshot_data_clone_and_restart_as_a_member(start_server):
    """A project member's volume: data written before a snapshot is what a volume
    from that snapshot reads, later writes are not; a clone sees the data too;
    everything is still there after `nimbus serve` restarts."""
    server = start_server("volumes")
    ks = server.keystone()
    project = ks.create_project(unique("volproj"))
    name, password = unique("voluser"), "Vol-pw-" + unique("x")
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    cli = server.user_cli(name, password, project=project["name"])

    cli.run("volume", "create", "--size", "1", "data")
    vol = wait_status(cli, "volume", "data", "available")
    qemu_io(top_path(server, vol["id"]), "write -P 0xab 0 1M")
    cli.run("volume", "snapshot", "create", "--volume", "data", "before")
    snap = wait_status(cli, "volume snapshot", "before", "available")
    qemu_io(top_path(server, vol["id"]), "write -P 0xcd 0 1M")

    cli.run("volume", "create", "--snapshot", snap["id"], "restored")
    cli.run("volume", "create", "--source", vol["id"], "cloned")
    restored = wait_status(cli, "volume", "restored", "available")
    cloned = wait_status(cli, "volume", "cloned", "available")
    assert cloned["source_volid"] == vol["id"]

    # Another project sees none of it.
    other = server.admin_cli()
    assert vol["id"] not in {v["ID"] for v in other.json("volume", "list")}

    assert server.stop() == 0
    server.start()
    cli = server.user_cli(name, password, project=project["name"])
    listed = {v["Name"]: v["Status"] for v in cli.json("volume", "list")}
    assert listed == {"data": "available", "restored": "available", "cloned": "available"}
    qemu_io(top_path(server, restored["id"]), "read -P 0xab 0 1M", read_only=True)
    qemu_io(top_path(server, cloned["id"]), "read -P 0xcd 0 1M", read_only=True)
    qemu_io(top_path(server, vol["id"]), "read -P 0xcd 0 1M", read_only=True)

    cli.fails("volume", "delete", "data")  # it has a snapshot
    for v in ("restored", "cloned"):
        cli.run("volume", "delete", v)
    cli.run("volume", "snapshot", "delete", "before")
    wait_gone(cli, "volume snapshot", "before")
    cli.run("volume", "delete", "data")
    for v in ("restored", "cloned", "data"):
        wait_gone(cli, "volume", v)
    assert not list((server.data_dir / "volumes").glob("*.qcow2"))


def test_encrypted_type_made_with_the_cli(nimbus):
    admin = nimbus.admin_cli()
    name = unique("vault")
    admin.run("volume", "type", "create", "--encryption-provider", "luks",
              "--encryption-cipher", "aes-xts-plain64", "--encryption-key-size", "512",
              "--encryption-control-location", "front-end", name)
    shown = admin.json("volume", "type", "show", "--encryption-type", name)
    assert "512" in json.dumps(shown["encryption"]), shown
    vol_name = unique("vaultvol")
    admin.run("volume", "create", "--size", "1", "--type", name, vol_name)
    vol = wait_status(admin, "volume", vol_name, "available")
    assert vol["encrypted"] is True
    info = layer_info(nimbus, vol["id"])
    assert info["format-specific"]["data"]["encrypt"]["cipher-alg"] == "aes-256", info
    admin.fails("volume", "type", "delete", name)  # in use
    admin.run("volume", "delete", vol["id"])
    wait_gone(admin, "volume", vol["id"])
    admin.run("volume", "type", "delete", name)
    assert name not in {t["Name"] for t in admin.json("volume", "type", "list")}


def test_image_from_volume_with_the_cli(nimbus):
    admin = nimbus.admin_cli()
    vol_name = unique("tovimg")
    admin.run("volume", "create", "--size", "1", vol_name)
    vol = wait_status(admin, "volume", vol_name, "available")
    image_name = unique("fromvol")
    admin.run("image", "create", "--volume", vol["id"], "--disk-format", "qcow2",
              "--container-format", "bare", image_name)
    deadline = time.monotonic() + WAIT
    while (image := admin.json("image", "show", image_name))["status"] != "active":
        assert time.monotonic() < deadline, image
        time.sleep(0.3)
    assert image["disk_format"] == "qcow2" and image["virtual_size"] == 1 << 30
    wait_status(admin, "volume", vol["id"], "available")
    admin.run("image", "delete", image["id"])
    admin.run("volume", "delete", vol["id"])
    wait_gone(admin, "volume", vol["id"])
