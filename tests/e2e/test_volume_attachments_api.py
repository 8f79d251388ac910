"""Cinder's attachments API with the real clients, no guest needed (these
attachments are bookkeeping only: nothing is plugged into a hypervisor, as in
upstream Cinder):

- `openstack --os-volume-api-version 3.44 volume attachment create/set/complete/
  list/show/delete` against a volume and a server record: the attachment goes
  reserved → attaching → attached, the volume reserved → attaching → in-use
  (with the server in its `attachments`), a delete of the in-use volume is
  refused with 400, and deleting the attachment makes it available again;
- openstacksdk: `create_volume(wait=True)`, an attachment made with a connector
  (connection info `driver_volume_type: file`), completed and deleted through
  `conn.block_storage`, then `delete_volume(wait=True)`;
- the legacy volume actions through the SDK (reserve, unreserve, attach,
  begin/abort detaching, detach, initialize/terminate connection), and an
  admin's `openstack volume set --detached` (reset-status `attach_status`).
"""

from __future__ import annotations

import json
import time
import uuid

import openstack
import pytest

from nimbus_e2e import ADMIN_PASSWORD, unique

WAIT = 60
V344 = ("--os-volume-api-version", "3.44")


def wait_volume(cli, name: str, wanted: str) -> dict:
    deadline = time.monotonic() + WAIT
    while (shown := cli.json("volume", "show", name))["status"] != wanted:
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, f"volume {name} stuck in {shown['status']}"
        time.sleep(0.3)
    return shown


def wait_volume_gone(cli, name: str) -> None:
    deadline = time.monotonic() + WAIT
    while cli.run("volume", "show", name, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"volume {name} was not deleted"
        time.sleep(0.3)


def _image(cli, tmp_path) -> str:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    return cli.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                    "--file", str(disk), unique("attimg"))["id"]


def test_attachment_lifecycle_with_the_cli(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    image = _image(admin, tmp_path)
    server = admin.json("server", "create", "--flavor", "SCS-1V-4", "--image", image,
                        "--network", "private", unique("attvm"))
    vol_name = unique("attvol")
    try:
        admin.run("volume", "create", "--size", "1", vol_name)
        vol = wait_volume(admin, vol_name, "available")

        created = admin.json(*V344, "volume", "attachment", "create", vol["id"],
                             "--server", server["id"])
        aid = created["ID"]
        assert created["Status"] == "reserved", created
        assert created["Volume ID"] == vol["id"] and created["Instance ID"] == server["id"]
        assert admin.json("volume", "show", vol["id"])["status"] == "reserved"

        updated = admin.json(*V344, "volume", "attachment", "set", aid, "--host", "node-1",
                             "--mountpoint", "/dev/vdb")
        assert updated["Status"] == "attaching", updated
        props = json.dumps(updated["Properties"])
        assert "file" in props and "qcow2" in props, updated
        assert admin.json("volume", "show", vol["id"])["status"] == "attaching"

        admin.run(*V344, "volume", "attachment", "complete", aid)
        shown = admin.json("volume", "show", vol["id"])
        assert shown["status"] == "in-use", shown
        assert server["id"] in json.dumps(shown["attachments"]), shown
        assert "/dev/vdb" in json.dumps(shown["attachments"]), shown

        listed = admin.json(*V344, "volume", "attachment", "list")
        row = next(r for r in listed if r["ID"] == aid)
        assert row["Volume ID"] == vol["id"] and row["Server ID"] == server["id"]
        assert row["Status"] == "attached"
        filtered = admin.json(*V344, "volume", "attachment", "list", "--volume-id", vol["id"])
        assert [r["ID"] for r in filtered] == [aid]
        one = admin.json(*V344, "volume", "attachment", "show", aid)
        assert one["Status"] == "attached" and one["Attach Mode"] == "rw", one

        # Below 3.27 there is no attachments API; an in-use volume is not deleted.
        admin.fails("--os-volume-api-version", "3.26", "volume", "attachment", "list")
        admin.fails("volume", "delete", vol["id"], status=400)
        assert admin.json("volume", "show", vol["id"])["status"] == "in-use"

        admin.run(*V344, "volume", "attachment", "delete", aid)
        shown = wait_volume(admin, vol["id"], "available")
        assert shown["attachments"] in ([], "", None), shown
        admin.fails(*V344, "volume", "attachment", "show", aid)
        assert aid not in {r["ID"] for r in admin.json(*V344, "volume", "attachment", "list")}
    finally:
        admin.run("volume", "delete", vol_name, check=False)
        admin.run("server", "delete", "--wait", server["id"], check=False)
        admin.run("image", "delete", image, check=False)
    wait_volume_gone(admin, vol_name)


def test_sdk_volume_with_an_attachment(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    vol = None
    try:
        vol = conn.create_volume(size=1, name=unique("sdkatt"), wait=True, timeout=WAIT)
        assert vol.status == "available"
        # Cinder checks the instance's form, not its existence (a non-Nova consumer).
        consumer = str(uuid.uuid4())
        att = conn.block_storage.create_attachment(
            vol.id, instance=consumer, connector={"host": "sdk-host", "mountpoint": "/dev/vdc"})
        assert att.status == "attaching" and att.instance == consumer
        assert att.connection_info["driver_volume_type"] == "file"
        assert att.connection_info["volume_id"] == vol.id
        assert "path" not in att.connection_info or att.connection_info["path"].endswith(".qcow2")
        conn.block_storage.complete_attachment(att.id)
        assert conn.get_volume(vol.id).status == "in-use"
        fetched = conn.block_storage.get_attachment(att.id)
        assert fetched.status == "attached" and fetched.volume_id == vol.id
        assert att.id in {a.id for a in conn.block_storage.attachments()}

        with pytest.raises(openstack.exceptions.BadRequestException):
            conn.block_storage.delete_volume(vol.id)
        conn.block_storage.delete_attachment(att.id)
        assert conn.get_volume(vol.id).status == "available"
        assert conn.delete_volume(vol.id, wait=True, timeout=WAIT)
        assert conn.get_volume(vol.id) is None
        vol = None
    finally:
        if vol is not None:
            for a in conn.block_storage.attachments(volume_id=vol.id):
                conn.block_storage.delete_attachment(a.id)
            conn.delete_volume(vol.id, wait=True, timeout=WAIT)
        conn.close()


def test_legacy_attach_actions_with_the_sdk_and_reset_with_the_cli(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    admin = nimbus.admin_cli()
    bs = conn.block_storage
    vol = None
    try:
        vol = conn.create_volume(size=1, name=unique("legacy"), wait=True, timeout=WAIT)
        status = lambda: bs.get_volume(vol.id).status  # noqa: E731
        bs.reserve_volume(vol)
        assert status() == "attaching"
        bs.unreserve_volume(vol)
        assert status() == "available"

        info = bs.init_volume_attachment(vol, {"host": "legacy-host", "mode": "ro"})
        assert info["driver_volume_type"] == "file" and info["data"]["access_mode"] == "ro"
        assert status() == "available", "initialize_connection changes nothing"

        server = str(uuid.uuid4())
        bs.reserve_volume(vol)
        bs.attach_volume(vol, "/dev/vdd", instance=server)
        shown = bs.get_volume(vol.id)
        assert shown.status == "in-use"
        [attached] = shown.attachments
        assert attached["server_id"] == server and attached["device"] == "/dev/vdd"
        bs.begin_volume_detaching(vol)
        assert status() == "detaching"
        bs.abort_volume_detaching(vol)
        assert status() == "in-use"
        bs.detach_volume(vol, attached["attachment_id"])
        assert status() == "available"
        assert bs.get_volume(vol.id).attachments == []

        # An admin's repair: the record goes, the volume is available again.
        bs.attach_volume(vol, "/dev/vde", host_name="legacy-host")
        assert status() == "in-use"
        admin.run("volume", "set", "--detached", vol.id)
        shown = bs.get_volume(vol.id)
        assert shown.status == "available" and shown.attachments == []

        bs.reserve_volume(vol)
        bs.terminate_volume_attachment(vol, {"host": "legacy-host"})
        assert status() == "available"
        assert conn.delete_volume(vol.id, wait=True, timeout=WAIT)
        vol = None
    finally:
        if vol is not None:
            admin.run("volume", "set", "--detached", vol.id, check=False)
            conn.delete_volume(vol.id, wait=True, timeout=WAIT)
        conn.close()
