"""Backups of a volume attached to a running guest (issue 5: "backup → delete →
restore → the file is there"): `openstack volume backup create --force` of an
in-use volume freezes it through the agent (QMP) without detaching it; the
volume is then detached and deleted, the backup restored into a new volume,
which the guest mounts to find the file written before the backup (and not the
one written after it)."""

from __future__ import annotations

import os

import pytest

from nimbus_e2e import unique
from test_servers_vm import _keypair, _wait
from test_volumes_vm import FIND_DISK, _guest_disk, _server, _volume_status

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _sh(cloud, server: str, key, script: str, timeout: float = 120) -> str:
    """Runs a guest command through `nimbus ssh` until it succeeds (sshd may still
    be coming up); its stdout, which may be empty."""
    def attempt():
        proc = cloud.ssh(server, key, script)
        return (proc.stdout,) if proc.returncode == 0 else None
    return _wait(attempt, timeout, f"ssh to {server}: {script}", interval=2)[0]


def _backup_status(cli, backup: str, status: str, timeout: float = 120) -> dict:
    def check():
        b = cli.json("volume", "backup", "show", backup)
        if b["status"].startswith("error"):
            raise AssertionError(f"backup {backup} went {b['status']}: {b.get('fail_reason')}")
        return b if b["status"] == status else None
    return _wait(check, timeout, f"backup {backup} to be {status}", interval=0.5)


def test_backup_in_use_delete_restore_file_is_there(vm_cloud, tmp_path):
    cli = vm_cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    server = _server(cli, key_name, "--image", "nimbus-guest")
    _sh(vm_cloud, server, key, "true")

    volume = cli.json("volume", "create", "--size", "1", unique("bkdata"))
    _volume_status(cli, volume["id"], "available")
    cli.run("server", "add", "volume", server, volume["id"])
    _volume_status(cli, volume["id"], "in-use")
    disk = _guest_disk(vm_cloud, server, key, volume["id"])
    _sh(vm_cloud, server, key,
            f"mke2fs -F /dev/{disk} >/dev/null && mkdir -p /mnt/b && mount /dev/{disk} /mnt/b && "
            "echo before-backup > /mnt/b/hello && sync")

    # In use: refused without --force, taken online with it.
    denied = cli.run("volume", "backup", "create", volume["id"], check=False)
    assert denied.returncode != 0 and "400" in denied.stderr + denied.stdout, denied
    name = unique("online")
    cli.run("volume", "backup", "create", "--force", "--name", name, volume["id"])
    backup = _backup_status(cli, name, "available")
    assert cli.json("volume", "show", volume["id"])["status"] == "in-use"
    _sh(vm_cloud, server, key, "echo after-backup > /mnt/b/later && sync")

    # The volume goes.
    _sh(vm_cloud, server, key, "umount /mnt/b")
    cli.run("server", "remove", "volume", server, volume["id"])
    _volume_status(cli, volume["id"], "available")
    _wait(lambda: not _sh(vm_cloud, server, key,
                          FIND_DISK.format(serial=volume["id"][:20])).strip(),
          30, "the disk to leave the guest")
    cli.run("volume", "delete", volume["id"])
    _wait(lambda: cli.run("volume", "show", volume["id"], check=False).returncode != 0,
          60, "the volume to go")

    # Restored into a new volume, attached again: the file is there.
    restored_name = unique("restored")
    cli.run("volume", "backup", "restore", backup["id"], restored_name)
    restored = _volume_status(cli, restored_name, "available")
    cli.run("server", "add", "volume", server, restored["id"])
    _volume_status(cli, restored["id"], "in-use")
    disk = _guest_disk(vm_cloud, server, key, restored["id"])
    out = _sh(vm_cloud, server, key,
                  f"mkdir -p /mnt/r && mount /dev/{disk} /mnt/r && cat /mnt/r/hello && "
                  "ls /mnt/r; umount /mnt/r")
    assert "before-backup" in out and "later" not in out, out

    cli.run("server", "remove", "volume", server, restored["id"])
    _volume_status(cli, restored["id"], "available")
    cli.run("volume", "delete", restored["id"])
    cli.run("volume", "backup", "delete", backup["id"])
    cli.run("server", "delete", "--wait", server)
