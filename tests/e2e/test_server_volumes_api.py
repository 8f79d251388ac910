"""Nova's side of volumes with the real clients, API level (no guest is needed):
`openstack server create --boot-from-volume` makes a bootable copy-on-write volume
of the image inside the create request and attaches it as /dev/vda; the spec's
7.1 body, posted through openstacksdk's session as written (ids substituted),
does the same with a 10 GiB volume; `server volume list`, `server show` and
`volume show` agree; bad block device mappings and attachments are Nova's 4xx
and leave nothing behind; deleting the server honours `delete_on_termination`
both ways. (Plugging into a running guest is the agent's part, tested with
guests.)"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import openstack
import pytest

from nimbus_e2e import ADMIN_PASSWORD, REPO, unique

WAIT = 60
SPEC71 = REPO / "crates" / "compute" / "tests" / "spec71.json"


def _qcow2_image(cli, tmp_path: Path) -> str:
    src = tmp_path / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "64M"], check=True)
    return cli.json("image", "create", "--file", str(src), "--disk-format", "qcow2",
                    "--container-format", "bare", unique("bfvimg"))["id"]


def _wait(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _volume_gone(cli, vid: str) -> bool:
    return cli.run("volume", "show", vid, check=False).returncode != 0


def _top_layer(nimbus, volume_id: str) -> dict:
    layers = sorted((nimbus.data_dir / "volumes").glob(f"{volume_id}.*.qcow2"),
                    key=lambda p: int(p.name.split(".")[1]))
    assert layers, f"no layer file for {volume_id}"
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(layers[-1])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_boot_from_volume_with_the_cli(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _qcow2_image(admin, tmp_path)
    name = unique("bfv")
    try:
        created = admin.json("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                             "--boot-from-volume", "2", "--delete-on-termination",
                             "--network", "private", name)
        sid = created["id"]
        shown = admin.json("server", "show", sid)
        assert shown["image"] == "N/A (booted from volume)", shown
        attached = admin.json("server", "volume", "list", sid)
        assert len(attached) == 1, attached
        root = attached[0]
        assert root["Device"] == "/dev/vda" and root["Server ID"] == sid
        assert root["Delete On Termination?"] is True
        vid = root["Volume ID"]
        vol = admin.json("volume", "show", vid)
        assert vol["size"] == 2 and vol["bootable"] in (True, "true")
        assert vol["volume_image_metadata"]["image_id"] == image
        # Made by the storage controller, then handed to the agent to plug.
        _wait(lambda: admin.json("volume", "show", vid)["status"] in ("attaching", "in-use"),
              "the volume to be made")
        info = _top_layer(nimbus, vid)
        assert info["virtual-size"] == 2 << 30
        assert info["backing-filename"].endswith(image), "copy-on-write over the image"
        # The root volume cannot be detached; it goes with the server (asked for).
        admin.fails("server", "remove", "volume", sid, vid, status=400)
        admin.run("server", "delete", "--wait", sid)
        _wait(lambda: _volume_gone(admin, vid), f"volume {vid} to be deleted with the server")
    finally:
        admin.run("server", "delete", name, check=False)
        admin.run("image", "delete", image, check=False)


def test_boot_from_an_existing_volume_keeps_it(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _qcow2_image(admin, tmp_path)
    vol_name, name = unique("rootvol"), unique("bfv")
    try:
        admin.run("volume", "create", "--image", image, "--size", "1", vol_name)
        vid = _wait(lambda: (v := admin.json("volume", "show", vol_name))["status"] == "available"
                    and v["id"], "the root volume")
        created = admin.json("server", "create", "--flavor", "SCS-1V-4", "--volume", vid,
                             "--network", "private", name)
        sid = created["id"]
        attached = admin.json("server", "volume", "list", sid)
        assert [(a["Volume ID"], a["Device"]) for a in attached] == [(vid, "/dev/vda")]
        assert attached[0]["Delete On Termination?"] is False
        assert admin.json("volume", "show", vid)["status"] in ("attaching", "in-use")
        # In use by the server: a second server cannot boot from it.
        admin.fails("server", "create", "--flavor", "SCS-1V-4", "--volume", vid,
                    "--network", "private", unique("bfv2"), status=400)
        admin.run("server", "delete", "--wait", sid)
        _wait(lambda: admin.json("volume", "show", vid)["status"] == "available",
              "the kept volume to be available")
    finally:
        admin.run("server", "delete", name, check=False)
        admin.run("volume", "delete", vol_name, check=False)
        admin.run("image", "delete", image, check=False)


def test_bad_mappings_are_400_and_leave_nothing(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _qcow2_image(admin, tmp_path)
    plain = unique("plain")
    try:
        admin.run("volume", "create", "--size", "1", plain)
        vid = _wait(lambda: (v := admin.json("volume", "show", plain))["status"] == "available"
                    and v["id"], "the plain volume")
        servers = len(admin.json("server", "list"))
        volumes = len(admin.json("volume", "list"))
        # A blank volume is not bootable.
        admin.fails("server", "create", "--flavor", "SCS-1V-4", "--volume", vid,
                    "--network", "private", unique("bad"), status=400)
        # A blank volume needs a size; an image volume too.
        admin.fails("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                    "--block-device", "source_type=blank,destination_type=volume,boot_index=1",
                    "--network", "private", unique("bad"), status=400)
        admin.fails("server", "create", "--flavor", "SCS-1V-4",
                    "--block-device",
                    f"uuid={image},source_type=image,destination_type=volume,boot_index=0",
                    "--network", "private", unique("bad"), status=400)
        # Two boot disks.
        admin.fails("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                    "--block-device",
                    f"uuid={image},source_type=image,destination_type=volume,boot_index=0,"
                    "volume_size=1",
                    "--network", "private", unique("bad"), status=400)
        # An existing volume for two servers at once.
        admin.fails("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                    "--block-device", f"uuid={vid},source_type=volume,destination_type=volume",
                    "--min", "2", "--max", "2", "--network", "private", unique("bad"),
                    status=400)
        assert len(admin.json("server", "list")) == servers
        assert len(admin.json("volume", "list")) == volumes
        assert admin.json("volume", "show", vid)["status"] == "available"
    finally:
        admin.run("volume", "delete", plain, check=False)
        admin.run("image", "delete", image, check=False)


def test_spec_body_through_openstacksdk(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _qcow2_image(admin, tmp_path)
    flavor = admin.json("flavor", "show", "SCS-1V-4")["id"]
    network = admin.json("network", "show", "private")["id"]
    groups = admin.json("security", "group", "list", "--project", "admin")
    group = next(g["ID"] for g in groups if g["Name"] == "default")
    key = unique("key")
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin",
                             password=ADMIN_PASSWORD, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default",
                             identity_api_version="3")
    sid = None
    try:
        conn.compute.create_keypair(name=key)
        body = json.loads(SPEC71.read_text())
        server = body["server"]
        server.update(flavorRef=flavor, key_name=key, name=unique("DemoVM"))
        server["security_groups"][0]["name"] = group
        server["block_device_mapping_v2"][0]["uuid"] = image
        server["networks"][0]["uuid"] = network
        resp = conn.compute.post("/servers", json=body, microversion="2.79")
        assert resp.status_code == 202, resp.text
        sid = resp.json()["server"]["id"]
        doc = conn.compute.get(f"/servers/{sid}", microversion="2.79").json()["server"]
        assert doc["image"] == "", doc
        attached = list(conn.compute.volume_attachments(sid))
        assert len(attached) == 1 and attached[0].device == "/dev/vda"
        vid = attached[0].volume_id
        vol = conn.block_storage.get_volume(vid)
        assert vol.size == 10 and vol.is_bootable
        _wait(lambda: conn.block_storage.get_volume(vid).status in ("attaching", "in-use"),
              "the 10 GiB volume to be made")
        assert _top_layer(nimbus, vid)["virtual-size"] == 10 << 30
        # A swap that Cinder did not ask for is refused.
        other = conn.block_storage.create_volume(size=1, name=unique("swap"))
        try:
            resp = conn.compute.put(f"/servers/{sid}/os-volume_attachments/{vid}",
                                    json={"volumeAttachment": {"volumeId": other.id}},
                                    microversion="2.79")
            assert resp.status_code == 409, resp.text
        finally:
            conn.block_storage.wait_for_status(other, "available", wait=WAIT)
            conn.block_storage.delete_volume(other)
        conn.compute.delete_server(sid)
        conn.compute.wait_for_delete(conn.compute.get_server(sid), wait=WAIT)
        sid = None
        _wait(lambda: conn.block_storage.find_volume(vid) is None,
              "delete_on_termination to delete the volume")
    finally:
        if sid:
            conn.compute.delete_server(sid, ignore_missing=True)
        conn.compute.delete_keypair(key, ignore_missing=True)
        conn.close()
        admin.run("image", "delete", image, check=False)


@pytest.mark.parametrize("microversion", ["2.1", "2.79"])
def test_volumes_attached_in_server_documents(nimbus, tmp_path, microversion):
    admin = nimbus.admin_cli()
    image = _qcow2_image(admin, tmp_path)
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin",
                             password=ADMIN_PASSWORD, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default",
                             identity_api_version="3")
    name = unique("docs")
    try:
        created = admin.json("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                             "--boot-from-volume", "1", "--network", "private", name)
        sid = created["id"]
        doc = conn.compute.get(f"/servers/{sid}", microversion=microversion).json()["server"]
        attached = doc["os-extended-volumes:volumes_attached"]
        assert len(attached) == 1
        if microversion == "2.1":
            assert set(attached[0]) == {"id"}
        else:
            assert attached[0]["delete_on_termination"] is False
        vid = attached[0]["id"]
        admin.run("server", "delete", "--wait", sid)
        _wait(lambda: admin.json("volume", "show", vid)["status"] == "available",
              "the kept root volume")
        admin.run("volume", "delete", vid)
    finally:
        admin.run("server", "delete", name, check=False)
        conn.close()
        admin.run("image", "delete", image, check=False)


def test_add_volume_to_a_running_server_with_the_cli(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    image = admin.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                       "--file", str(disk), unique("img"))["id"]
    name, vol_name = unique("vm"), unique("data")
    try:
        admin.run("volume", "create", "--size", "1", vol_name)
        vid = _wait(lambda: (v := admin.json("volume", "show", vol_name))["status"] == "available"
                    and v["id"], "the data volume")
        sid = admin.json("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                         "--network", "private", "--wait", name)["id"]
        added = admin.json("server", "add", "volume", "--tag", "data",
                           "--enable-delete-on-termination", sid, vid)
        assert added["Device"] == "/dev/vdb" and added["Tag"] == "data", added
        assert added["Delete On Termination"] is True, added
        # The agent of the server's host plugs it: attaching until then.
        assert admin.json("volume", "show", vid)["status"] in ("attaching", "in-use")
        listed = admin.json("server", "volume", "list", sid)
        assert [(a["Volume ID"], a["Device"], a["Tag"]) for a in listed] == [
            (vid, "/dev/vdb", "data")]
        # Attached already (here or anywhere): Cinder's in-use rule.
        admin.fails("server", "add", "volume", sid, vid, status=400)
        # delete_on_termination asked for at attach time: it goes with the server.
        admin.run("server", "delete", "--wait", sid)
        _wait(lambda: _volume_gone(admin, vid), "the data volume to go with the server")
    finally:
        admin.run("server", "delete", name, check=False)
        admin.run("volume", "delete", vol_name, check=False)
        admin.run("image", "delete", image, check=False)
