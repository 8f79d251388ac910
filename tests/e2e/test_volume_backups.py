"""Cinder backups with the real clients: `openstack volume backup create
[--incremental] [--force]`, `volume backup restore` (into a new volume and, with
`--force`, into an existing one), `volume backup delete` (refused while an
incremental depends on the backup), `volume backup set` (name, description and
properties, 3.9/3.43; `--state` as an admin), `delete --force`, a restart, and
openstacksdk's `create_volume_backup`. No guests: data is written into the
volume's qcow2 layer with qemu-io while the volume is not attached, and read back
from the restored volumes' layers."""

from __future__ import annotations

import time

import openstack

from nimbus_e2e import ADMIN_PASSWORD, unique
from test_volumes import WAIT, qemu_io, top_path, wait_gone, wait_status


def backup_files(server) -> list[str]:
    return sorted(p.name for p in (server.data_dir / "backups").glob("*.qcow2"))


def wait_backup(cli, name: str) -> dict:
    return wait_status(cli, "volume backup", name, "available")


def test_backup_incremental_delete_volume_restore_with_the_cli(nimbus):
    cli = nimbus.admin_cli()
    vol_name = unique("bkvol")
    cli.run("volume", "create", "--size", "1", vol_name)
    vol = wait_status(cli, "volume", vol_name, "available")
    qemu_io(top_path(nimbus, vol["id"]), "write -P 0xa1 0 2M")

    full_name, inc_name = unique("full"), unique("inc")
    created = cli.json("volume", "backup", "create", "--name", full_name, vol["id"])
    assert created["name"] == full_name
    full = wait_backup(cli, full_name)
    assert full["volume_id"] == vol["id"] and full["is_incremental"] is False and full["size"] == 1
    # The temporary snapshot that froze the volume is nobody's business.
    assert cli.json("volume", "snapshot", "list") == [] or all(
        s["Name"] != f"backup-{full['id']}" for s in cli.json("volume", "snapshot", "list"))

    qemu_io(top_path(nimbus, vol["id"]), "write -P 0xb2 1M 1M")
    cli.run("volume", "backup", "create", "--incremental", "--force", "--name", inc_name,
            vol["id"])
    inc = wait_backup(cli, inc_name)
    assert inc["is_incremental"] is True
    assert cli.json("volume", "backup", "show", full_name)["has_dependent_backups"] is True
    assert sorted([full["id"] + ".qcow2", inc["id"] + ".qcow2"]) == backup_files(nimbus)
    listed = {b["Name"] for b in cli.json("volume", "backup", "list")}
    assert {full_name, inc_name} <= listed

    # The parent of an incremental stays.
    cli.fails("volume", "backup", "delete", full_name, status=400)

    # The volume goes; both backups bring its data back.
    cli.run("volume", "delete", vol["id"])
    wait_gone(cli, "volume", vol["id"])
    cli.run("volume", "backup", "restore", full_name, "from-full-" + vol_name)
    cli.run("volume", "backup", "restore", inc_name, "from-inc-" + vol_name)
    from_full = wait_status(cli, "volume", "from-full-" + vol_name, "available")
    from_inc = wait_status(cli, "volume", "from-inc-" + vol_name, "available")
    qemu_io(top_path(nimbus, from_full["id"]), "read -P 0xa1 0 2M", read_only=True)
    qemu_io(top_path(nimbus, from_inc["id"]), "read -P 0xa1 0 1M", read_only=True)
    qemu_io(top_path(nimbus, from_inc["id"]), "read -P 0xb2 1M 1M", read_only=True)

    # An existing volume is only overwritten with --force.
    cli.fails("volume", "backup", "restore", full_name, from_inc["id"])
    cli.run("volume", "backup", "restore", "--force", full_name, from_inc["id"])
    wait_backup(cli, full_name)
    wait_status(cli, "volume", from_inc["id"], "available")
    qemu_io(top_path(nimbus, from_inc["id"]), "read -P 0xa1 0 2M", read_only=True)

    cli.run("volume", "backup", "delete", inc_name)
    wait_gone(cli, "volume backup", inc_name)
    cli.run("volume", "backup", "delete", full_name)
    wait_gone(cli, "volume backup", full_name)
    deadline = time.monotonic() + WAIT
    while backup_files(nimbus):
        assert time.monotonic() < deadline, backup_files(nimbus)
        time.sleep(0.3)
    for v in (from_full["id"], from_inc["id"]):
        cli.run("volume", "delete", v)
    for v in (from_full["id"], from_inc["id"]):
        wait_gone(cli, "volume", v)


def test_openstacksdk_create_volume_backup(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    try:
        vol = conn.create_volume(size=1, name=unique("sdkbk"), wait=True, timeout=WAIT)
        backup = conn.create_volume_backup(vol.id, name=unique("sdkb"), wait=True, timeout=WAIT)
        assert backup.status == "available" and backup.volume_id == vol.id
        inc = conn.create_volume_backup(vol.id, incremental=True, wait=True, timeout=WAIT)
        assert inc.is_incremental
        shown = conn.block_storage.get_backup(backup.id)
        assert shown.has_dependent_backups and shown.size == 1
        assert conn.delete_volume_backup(inc.id, wait=True, timeout=WAIT)
        assert conn.delete_volume_backup(backup.id, wait=True, timeout=WAIT)
        assert conn.delete_volume(vol.id, wait=True, timeout=WAIT)
    finally:
        conn.close()


def test_backup_of_an_unknown_volume_is_a_404(nimbus):
    cli = nimbus.admin_cli()
    out = cli.run("volume", "backup", "create", "no-such-volume", check=False)
    assert out.returncode != 0
    ks = nimbus.keystone()
    token = ks.admin_token()
    r = ks.request("POST", nimbus.url + "/volume/v3/backups", token,
                   json={"backup": {"volume_id": "no-such-volume"}})
    assert r.status_code == 404 and "itemNotFound" in r.text, r.text
    r = ks.request("POST", nimbus.url + "/volume/v3/backups", token, json={"backup": {"name": "x"}})
    assert r.status_code == 400 and "badRequest" in r.text, r.text


def test_backups_survive_a_restart(start_server):
    """A backup made before `nimbus serve` restarts restores afterwards, and an
    incremental taken after the restart is based on it."""
    server = start_server("backups")
    cli = server.admin_cli()
    cli.run("volume", "create", "--size", "1", "keep")
    vol = wait_status(cli, "volume", "keep", "available")
    qemu_io(top_path(server, vol["id"]), "write -P 0x3c 0 1M")
    cli.run("volume", "backup", "create", "--name", "before", "keep")
    before = wait_backup(cli, "before")

    assert server.stop() == 0
    server.start()
    cli = server.admin_cli()
    assert cli.json("volume", "backup", "show", "before")["status"] == "available"
    qemu_io(top_path(server, vol["id"]), "write -P 0x4d 1M 1M")
    cli.run("volume", "backup", "create", "--incremental", "--name", "after", "keep")
    after = wait_backup(cli, "after")
    assert after["is_incremental"] is True
    assert cli.json("volume", "backup", "show", "before")["has_dependent_backups"] is True
    cli.run("volume", "backup", "restore", "after", "back")
    back = wait_status(cli, "volume", "back", "available")
    qemu_io(top_path(server, back["id"]), "read -P 0x3c 0 1M", read_only=True)
    qemu_io(top_path(server, back["id"]), "read -P 0x4d 1M 1M", read_only=True)
    for b in (after["id"], before["id"]):
        cli.run("volume", "backup", "delete", b)
        wait_gone(cli, "volume backup", b)


def test_backup_set_state_and_force_delete_with_the_cli(nimbus):
    cli = nimbus.admin_cli()
    vol_name = unique("setvol")
    cli.run("volume", "create", "--size", "1", vol_name)
    vol = wait_status(cli, "volume", vol_name, "available")
    name = unique("setbk")
    cli.run("volume", "backup", "create", "--name", name, "--property", "tier=gold",
            vol["id"])
    backup = wait_backup(cli, name)
    assert backup["metadata"] == {"tier": "gold"} or "tier" in str(backup["metadata"]), backup

    renamed = name + "-b"
    cli.run("volume", "backup", "set", "--name", renamed, "--description", "nightly",
            "--property", "keep=7", backup["id"])
    shown = cli.json("volume", "backup", "show", backup["id"])
    assert shown["name"] == renamed and shown["description"] == "nightly", shown
    assert "keep" in str(shown["metadata"]) and "tier" in str(shown["metadata"]), shown
    long = cli.json("volume", "backup", "list", "--long", "--name", renamed)
    assert [b["ID"] for b in long] == [backup["id"]] and long[0]["Status"] == "available"

    # An admin resets the state; error backups can be deleted, --force deletes any.
    cli.run("volume", "backup", "set", "--state", "error", backup["id"])
    assert cli.json("volume", "backup", "show", backup["id"])["status"] == "error"
    cli.fails("volume", "backup", "set", "--state", "creating", backup["id"])
    cli.run("volume", "backup", "delete", "--force", backup["id"])
    wait_gone(cli, "volume backup", backup["id"])
    cli.run("volume", "delete", vol["id"])
    wait_gone(cli, "volume", vol["id"])
