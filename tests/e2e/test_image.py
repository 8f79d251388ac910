"""Glance v2 with the real clients: `openstack image ...` (create with data, list,
show, save, set/unset, members, delete) and openstacksdk's image proxy; the
visibility rules across two projects; the per-project storage quota."""

from __future__ import annotations

import hashlib
import os
import struct

import openstack
import pytest
import requests

from nimbus_e2e import ADMIN_PASSWORD, HTTP_TIMEOUT, unique


def qcow2_file(path, virtual_size: int = 64 << 20, payload: int = 300_000) -> bytes:
    """A qcow2 v3 image (header and some data): what `qemu-img create` starts with."""
    header = bytearray(4096)
    header[0:4] = b"QFI\xfb"
    header[4:8] = struct.pack(">I", 3)          # version
    header[20:24] = struct.pack(">I", 16)       # cluster bits
    header[24:32] = struct.pack(">Q", virtual_size)
    data = bytes(header) + os.urandom(payload)
    path.write_bytes(data)
    return data


def member_of_new_project(nimbus, prefix: str):
    """A new project and a user with `member` on it; returns (project, CLI)."""
    ks = nimbus.keystone()
    project = ks.create_project(unique(prefix + "proj"))
    name, password = unique(prefix), "Img-pw-" + unique("x")
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    return project, nimbus.user_cli(name, password, project=project["name"])


def test_image_lifecycle_with_the_cli(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    src = tmp_path / "disk.qcow2"
    data = qcow2_file(src)
    name = unique("img")
    created = admin.json("image", "create", "--file", str(src), "--disk-format", "qcow2",
                         "--container-format", "bare", name)
    assert created["status"] == "active"
    assert created["size"] == len(data)
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    assert created["virtual_size"] == 64 << 20
    image_id = created["id"]

    listed = admin.json("image", "list")
    assert {"ID": image_id, "Name": name, "Status": "active"} in listed
    assert [i["ID"] for i in admin.json("image", "list", "--name", name)] == [image_id]

    shown = admin.json("image", "show", name)
    assert shown["id"] == image_id and shown["disk_format"] == "qcow2"
    assert shown["properties"]["os_hash_algo"] == "sha512"
    assert shown["properties"]["os_hash_value"] == hashlib.sha512(data).hexdigest()

    out = tmp_path / "saved.qcow2"
    admin.run("image", "save", "--file", str(out), name)
    assert out.read_bytes() == data

    admin.run("image", "set", "--property", "os_distro=nimbus", "--property", "hw_disk_bus=virtio",
              "--tag", "blue", "--min-ram", "128", name)
    shown = admin.json("image", "show", image_id)
    assert shown["properties"]["os_distro"] == "nimbus"
    assert shown["properties"]["hw_disk_bus"] == "virtio"
    assert shown["tags"] == ["blue"] and shown["min_ram"] == 128
    assert [i["ID"] for i in admin.json("image", "list", "--tag", "blue")] == [image_id]
    admin.run("image", "unset", "--property", "hw_disk_bus", "--tag", "blue", image_id)
    shown = admin.json("image", "show", image_id)
    assert "hw_disk_bus" not in shown["properties"] and shown["tags"] == []

    admin.run("image", "set", "--name", name + "-renamed", "--protected", image_id)
    admin.fails("image", "delete", image_id, status=403)
    admin.run("image", "set", "--unprotected", image_id)
    admin.run("image", "delete", image_id)
    admin.fails("image", "show", image_id)
    assert image_id not in [i["ID"] for i in admin.json("image", "list")]
    # the data went with it
    assert not (nimbus.data_dir / "images" / image_id).exists()


def test_data_must_match_the_disk_format(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    src = tmp_path / "not-qcow2.img"
    src.write_bytes(b"just some bytes" * 100)
    name = unique("badfmt")
    proc = admin.fails("image", "create", "--file", str(src), "--disk-format", "qcow2",
                       "--container-format", "bare", name, status=400)
    assert "qcow2" in proc.stderr
    # the SDK deleted the image it could not fill
    assert admin.json("image", "list", "--name", name) == []


def test_visibility_across_projects_and_members(nimbus, tmp_path):
    project_a, alice = member_of_new_project(nimbus, "alice")
    project_b, bob = member_of_new_project(nimbus, "bob")
    src = tmp_path / "shared.qcow2"
    qcow2_file(src)
    private = alice.json("image", "create", "--private", "--file", str(src), "--disk-format", "qcow2",
                         "--container-format", "bare", unique("priv"))
    shared = alice.json("image", "create", "--file", str(src), "--disk-format", "qcow2",
                        "--container-format", "bare", unique("shr"))
    assert private["visibility"] == "private" and shared["visibility"] == "shared"
    assert private["owner"] == project_a["id"]

    # another project's images are invisible: 404 (the CLI's "No Image found"), not 403
    for image in (private, shared):
        assert "No Image found" in bob.fails("image", "show", image["id"]).stderr
    listed = [i["ID"] for i in bob.json("image", "list")]
    assert private["id"] not in listed and shared["id"] not in listed
    # only cloud admins publicize
    alice.fails("image", "set", "--public", private["id"], status=403)

    # sharing: pending until bob accepts
    member = alice.json("image", "add", "project", shared["id"], project_b["id"])
    assert member["status"] == "pending"
    assert bob.json("image", "show", shared["id"])["id"] == shared["id"]
    assert shared["id"] not in [i["ID"] for i in bob.json("image", "list")]
    bob.run("image", "set", "--accept", shared["id"])
    assert shared["id"] in [i["ID"] for i in bob.json("image", "list")]
    members = alice.json("image", "member", "list", shared["id"])
    assert [(m["Member ID"], m["Status"]) for m in members] == [(project_b["id"], "accepted")]
    # bob can read the data, but the image is not his to change
    out = tmp_path / "bob.qcow2"
    bob.run("image", "save", "--file", str(out), shared["id"])
    assert out.read_bytes() == src.read_bytes()
    bob.fails("image", "delete", shared["id"])
    bob.fails("image", "set", "--name", "bobs", shared["id"], status=403)

    alice.run("image", "remove", "project", shared["id"], project_b["id"])
    assert "No Image found" in bob.fails("image", "show", shared["id"]).stderr
    alice.run("image", "delete", private["id"], shared["id"])


def test_openstacksdk_image_proxy(nimbus):
    conn = openstack.connect(auth_url=nimbus.identity_url, username="admin", password=ADMIN_PASSWORD,
                             project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", identity_api_version="3")
    try:
        payload = os.urandom(100_000)
        name = unique("sdkimg")
        image = conn.image.create_image(name, data=payload, disk_format="raw",
                                        container_format="bare", os_distro="nimbus",
                                        allow_duplicates=True, validate_checksum=True)
        fetched = conn.image.get_image(image.id)
        assert fetched.status == "active" and fetched.size == len(payload)
        assert fetched.os_distro == "nimbus"
        assert image.id in [i.id for i in conn.image.images()]
        assert [i.id for i in conn.image.images(name=name)] == [image.id]
        assert conn.image.download_image(image).content == payload

        # pagination: the SDK follows Glance's top-level `next`
        prefix = unique("page")
        made = [conn.image.create_image(f"{prefix}-{n}", disk_format="raw", container_format="bare",
                                        allow_duplicates=True).id for n in range(5)]
        paged = [i.id for i in conn.image.images(limit=2, sort="name:asc")
                 if i.name.startswith(prefix)]
        assert paged == made
        # `id=in:` as `openstack server list` sends it
        resp = requests.get(f"{nimbus.url}/image/v2/images", params={"id": f"in:{made[0]},{made[1]}"},
                            headers={"X-Auth-Token": conn.auth_token}, timeout=HTTP_TIMEOUT)
        assert sorted(i["id"] for i in resp.json()["images"]) == sorted(made[:2])

        for image_id in [image.id, *made]:
            conn.image.delete_image(image_id)
        assert conn.image.find_image(name) is None
    finally:
        conn.close()


def test_glance_errors_and_discovery(nimbus):
    resp = requests.get(f"{nimbus.url}/image", timeout=HTTP_TIMEOUT)
    assert resp.status_code == 300
    current = resp.json()["versions"][0]
    assert current["status"] == "CURRENT"
    assert current["links"][0]["href"] == f"{nimbus.url}/image/v2/"
    token = nimbus.keystone().admin_token()
    resp = requests.get(f"{nimbus.url}/image/v2/images/no-such-image",
                        headers={"X-Auth-Token": token}, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in resp.text
    resp = requests.post(f"{nimbus.url}/image/v2/images", data="{broken",
                         headers={"X-Auth-Token": token, "Content-Type": "application/json"},
                         timeout=HTTP_TIMEOUT)
    assert resp.status_code == 400


@pytest.mark.parametrize("quota_mib", [1])
def test_storage_quota_answers_413(start_server, tmp_path, quota_mib):
    server = start_server("quota", "--image-quota-mib", str(quota_mib))
    admin = server.admin_cli()
    small, big = tmp_path / "small.img", tmp_path / "big.img"
    small.write_bytes(os.urandom(600_000))
    big.write_bytes(os.urandom(600_000))
    admin.json("image", "create", "--file", str(small), "--disk-format", "raw",
               "--container-format", "bare", "small")
    admin.fails("image", "create", "--file", str(big), "--disk-format", "raw",
                "--container-format", "bare", "big", status=413)
    assert [i["Name"] for i in admin.json("image", "list")] == ["small"]
    # images survive a restart; nothing is left of the refused upload
    server.stop()
    server.start()
    assert [i["Status"] for i in admin.json("image", "list")] == ["active"]
    assert len(list((server.data_dir / "images").iterdir())) == 1
