"""The metadata service at 169.254.169.254 with real guests: a server created
without `--config-drive` gets its keys and user data from the service (the agent
answers in the network's DHCP namespace, by the request's source address); one
created with `--config-drive True` from its config drive. From inside a guest,
the OpenStack and EC2 paths describe that guest and no other."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from nimbus_e2e import unique
from test_servers_vm import BOOT_TIMEOUT, _console_ready, _keypair, _ssh_ok, _status, _wait_status

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _create(cli, name: str, key_name: str, user_data: Path, *extra: str) -> dict:
    return cli.json("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                    "--network", "private", "--key-name", key_name,
                    "--user-data", str(user_data), *extra, name)


def test_instance_data_from_the_metadata_service_and_the_config_drive(vm_cloud, tmp_path):
    cli = vm_cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    user_data = tmp_path / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho user-data-ran > /root/user-data-marker\n")
    by_metadata, by_drive = unique("mdvm"), unique("cdvm")
    started = time.monotonic()
    md = _create(cli, by_metadata, key_name, user_data)
    cd = _create(cli, by_drive, key_name, user_data, "--config-drive", "True")
    try:
        ready = {}
        for name in (by_metadata, by_drive):
            _wait_status(cli, name, "ACTIVE")
            match = _console_ready(cli, name, timeout=BOOT_TIMEOUT)
            ready[name] = time.monotonic() - started
            assert match.group(1) == name
        print(f"create -> ready line: metadata service {ready[by_metadata]:.1f} s, "
              f"config drive {ready[by_drive]:.1f} s (both created together)")
        shown_md, shown_cd = _status(cli, by_metadata), _status(cli, by_drive)
        assert shown_md["config_drive"] in ("", "False", False, None), shown_md["config_drive"]
        assert shown_cd["config_drive"] in ("True", True), shown_cd["config_drive"]
        assert not (vm_cloud.data_dir / "instances" / md["id"] / "disk.config").exists()
        assert (vm_cloud.data_dir / "instances" / cd["id"] / "disk.config").exists()

        for name, source in ((by_metadata, "metadata-service"), (by_drive, "config-drive")):
            # the key arrived (ssh works) and the user data ran
            assert _ssh_ok(vm_cloud, name, key, "hostname").strip() == name
            assert _ssh_ok(vm_cloud, name, key, "cat", "/run/nimbus/source").strip() == source
            assert "user-data-ran" in _ssh_ok(vm_cloud, name, key, "cat", "/root/user-data-marker")

        # From inside each guest, the service describes that guest.
        for name, server in ((by_metadata, md), (by_drive, cd)):
            address = _status(cli, name)["addresses"]["private"][0]
            meta = json.loads(_ssh_ok(vm_cloud, name, key, "wget", "-qO-",
                                      "http://169.254.169.254/openstack/latest/meta_data.json"))
            assert meta["uuid"] == server["id"], meta
            assert meta["name"] == name
            assert key_name in meta["public_keys"]
            local = _ssh_ok(vm_cloud, name, key, "wget", "-qO-",
                            "http://169.254.169.254/latest/meta-data/local-ipv4")
            assert local.strip() == address
            keys = _ssh_ok(vm_cloud, name, key, "wget", "-qO-",
                           "http://169.254.169.254/2009-04-04/meta-data/public-keys/")
            assert keys.strip() == f"0={key_name}"
            ud = _ssh_ok(vm_cloud, name, key, "wget", "-qO-",
                         "http://169.254.169.254/openstack/2012-08-10/user_data")
            assert "user-data-ran" in ud
            nd = json.loads(_ssh_ok(vm_cloud, name, key, "wget", "-qO-",
                                    "http://169.254.169.254/openstack/latest/network_data.json"))
            assert nd["links"] and nd["links"][0]["vif_id"], nd
        # A header naming the other instance changes nothing.
        other = _ssh_ok(vm_cloud, by_metadata, key,
                        f"wget -qO- --header 'X-Instance-ID: {cd['id']}' "
                        "http://169.254.169.254/openstack/latest/meta_data.json")
        assert json.loads(other)["uuid"] == md["id"]
    finally:
        cli.run("server", "delete", "--wait", by_metadata, by_drive, check=False)
