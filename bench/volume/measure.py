"""Volume-from-image latency through the Cinder API of a real `nimbus serve`
(bench/volume/run calls it), against plain file copies of the same image in the
same run.

- Starts `nimbus serve --no-local-agent` on a fresh data directory.
- Uploads a qcow2 image holding SIZE_MIB of random data (Glance API).
- For 1, 10 and 100 GiB (RUNS times each): POST /volume/v3/volumes with
  imageRef, then GET every 20 ms until `available`: create→available latency;
  then deletes it. Also a blank 1 GiB volume for reference.
- Baselines: `cp` of the image's data file, and `qemu-img convert` of it to a
  new qcow2 (what a copying implementation pays at the least, for this image).
- Backups of a 1 GiB volume made from that image (its chain holds the image's
  SIZE_MIB of data): full backup POST → `available` (RUNS times, each deleted
  after), incremental backup of the unchanged volume (target < 1 s), restore
  into a new volume; baseline: `cp` of the same chain flattened into one qcow2
  file (`qemu-img convert`, made once), in the same run; and a compressed
  `qemu-img convert -c` of that file (why backups are stored uncompressed).

Prints a markdown section on stdout.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ADMIN_PASSWORD = "bench-Admin-pw-1"


def log(msg: str) -> None:
    print(f"[volume-bench] {msg}", file=sys.stderr, flush=True)


class Cloud:
    def __init__(self, binary: Path, data_dir: Path, *serve_args: str):
        """`serve_args`: extra `nimbus serve` flags (default: no local agent)."""
        self.data_dir = data_dir
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, NIMBUS_ADMIN_PASSWORD=ADMIN_PASSWORD, NIMBUS_LOG="warn")
        self.logfile = open(data_dir / "nimbus.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--data-dir", str(data_dir), "--listen",
             f"127.0.0.1:{self.port}", *(serve_args or ("--no-local-agent",))],
            stdout=self.logfile, stderr=self.logfile, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nimbus did not start")
            time.sleep(0.2)
        self.session = requests.Session()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        resp = self.session.post(self.url + "/identity/v3/auth/tokens", json=body, timeout=30)
        resp.raise_for_status()
        self.session.headers.update({"X-Auth-Token": resp.headers["X-Subject-Token"],
                                     "OpenStack-API-Version": "volume 3.67"})

    def api(self, method: str, path: str, expect=(200, 201, 202, 204), **kw):
        resp = self.session.request(method, self.url + path, timeout=60, **kw)
        if resp.status_code not in expect:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def make_image(work: Path, size_mib: int) -> Path:
    raw = work / "data.raw"
    with open(raw, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    image = work / "image.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    return image


def volume_latency(cloud: Cloud, body: dict) -> float:
    start = time.monotonic()
    vol = cloud.api("POST", "/volume/v3/volumes", json={"volume": body}).json()["volume"]
    while True:
        status = cloud.api("GET", f"/volume/v3/volumes/{vol['id']}").json()["volume"]["status"]
        if status == "available":
            elapsed = time.monotonic() - start
            break
        if status == "error" or time.monotonic() - start > 120:
            raise RuntimeError(f"volume {vol['id']} is {status}")
        time.sleep(0.02)
    cloud.api("DELETE", f"/volume/v3/volumes/{vol['id']}")
    while cloud.api("GET", f"/volume/v3/volumes/{vol['id']}", expect=(200, 404)).status_code == 200:
        time.sleep(0.05)
    return elapsed


def wait_for(cloud: Cloud, path: str, key: str, wanted: str, start: float) -> float:
    """GETs `path` every 20 ms until `key`'s status is `wanted`; seconds since `start`."""
    while True:
        status = cloud.api("GET", path).json()[key]["status"]
        if status == wanted:
            return time.monotonic() - start
        if status.startswith("error") or time.monotonic() - start > 300:
            raise RuntimeError(f"{path} is {status}")
        time.sleep(0.02)


def backup_latency(cloud: Cloud, body: dict) -> tuple[str, float]:
    start = time.monotonic()
    b = cloud.api("POST", "/volume/v3/backups", json={"backup": body}).json()["backup"]
    return b["id"], wait_for(cloud, f"/volume/v3/backups/{b['id']}", "backup", "available", start)


def delete_backup(cloud: Cloud, backup_id: str) -> None:
    cloud.api("DELETE", f"/volume/v3/backups/{backup_id}")
    while cloud.api("GET", f"/volume/v3/backups/{backup_id}",
                    expect=(200, 404)).status_code == 200:
        time.sleep(0.05)


def backups(cloud: Cloud, image_id: str, runs: int, work: Path) -> tuple[list, list[float]]:
    """Full, unchanged-incremental and restore latencies of a 1 GiB volume made
    from the image; and `cp` times of its chain flattened into one file."""
    vol = cloud.api("POST", "/volume/v3/volumes", json={"volume": {
        "size": 1, "imageRef": image_id}}).json()["volume"]
    wait_for(cloud, f"/volume/v3/volumes/{vol['id']}", "volume", "available", time.monotonic())
    log(f"full backup x {runs}")
    fulls = []
    for _ in range(runs):
        bid, took = backup_latency(cloud, {"volume_id": vol["id"]})
        fulls.append(took)
        delete_backup(cloud, bid)
    parent, _ = backup_latency(cloud, {"volume_id": vol["id"]})
    log(f"incremental backup of the unchanged volume x {runs}")
    incs = []
    for _ in range(runs):
        bid, took = backup_latency(cloud, {"volume_id": vol["id"], "incremental": True})
        incs.append(took)
    log(f"restore of the full backup into a new volume x {runs}")
    restores = []
    for _ in range(runs):
        start = time.monotonic()
        r = cloud.api("POST", f"/volume/v3/backups/{parent}/restore",
                      json={"restore": {"name": "bench-restore"}}).json()["restore"]
        restores.append(wait_for(cloud, f"/volume/v3/volumes/{r['volume_id']}", "volume",
                                 "available", start))
        cloud.api("DELETE", f"/volume/v3/volumes/{r['volume_id']}")
    # The same data as one file: the volume's current chain, flattened once.
    layers = sorted((cloud.data_dir / "volumes").glob(f"{vol['id']}.*.qcow2"),
                    key=lambda p: int(p.name.split(".")[1]))
    flat = work / "flat.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-U", "-O", "qcow2", str(layers[-1]),
                    str(flat)], check=True)
    copies = [timed(["cp", str(flat), str(work / f"flatcopy{i}")]) for i in range(runs)]
    # Why backups are not compressed: the same file through `convert -c`.
    compressed = [timed(["qemu-img", "convert", "-c", "-O", "qcow2", str(flat),
                         str(work / f"flatc{i}.qcow2")]) for i in range(runs)]
    rows = [("full backup, 1 GiB volume over the image", fulls),
            ("incremental backup, unchanged volume", incs),
            ("restore of the full backup into a new volume", restores),
            ("for comparison: `qemu-img convert -c` (compressed) of the flattened file",
             compressed)]
    return rows, copies


def timed(cmd: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.monotonic() - start


def row(name: str, samples: list[float]) -> str:
    return (f"| {name} | {len(samples)} | {statistics.median(samples):.3f} | "
            f"{min(samples):.3f} | {max(samples):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image-mib", type=int, default=512)
    ap.add_argument("--command", default="bench/volume/run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="nimbus-volume-bench-") as tmp:
        work = Path(tmp)
        data_dir = work / "cloud"
        data_dir.mkdir()
        log(f"making a qcow2 image with {args.image_mib} MiB of random data")
        image = make_image(work, args.image_mib)
        cloud = Cloud(args.bin, data_dir)
        try:
            img = cloud.api("POST", "/image/v2/images", json={
                "name": "bench", "disk_format": "qcow2", "container_format": "bare"}).json()
            with open(image, "rb") as f:
                cloud.api("PUT", f"/image/v2/images/{img['id']}/file", data=f,
                          headers={"Content-Type": "application/octet-stream"})
            results = []
            for size in (1, 10, 100):
                log(f"volume from image, {size} GiB x {args.runs}")
                results.append((f"volume from image, {size} GiB",
                                [volume_latency(cloud, {"size": size, "imageRef": img["id"]})
                                 for _ in range(args.runs)]))
            log(f"blank volume, 1 GiB x {args.runs}")
            results.append(("blank volume, 1 GiB",
                            [volume_latency(cloud, {"size": 1}) for _ in range(args.runs)]))
            backup_rows, flat_copies = backups(cloud, img["id"], args.runs, work)
            glance_file = data_dir / "images" / img["id"]
            copies = [timed(["cp", str(glance_file), str(work / f"copy{i}")])
                      for i in range(args.runs)]
            converts = [timed(["qemu-img", "convert", "-O", "qcow2", str(glance_file),
                               str(work / f"conv{i}.qcow2")]) for i in range(args.runs)]
        finally:
            cloud.stop()
    image_mib = args.image_mib
    print(f"## Volume: volume-from-image and backups ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print()
    print(f"Command: `{args.command}` · {os.cpu_count()} cores · binary `{args.bin}` · "
          f"image: qcow2 with {image_mib} MiB of random data · seconds, "
          "POST → `available` (GET every 20 ms)")
    print()
    print("| Case | runs | median s | min s | max s |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in results:
        print(row(name, samples))
    print(row(f"baseline: `cp` of the {image_mib} MiB image file", copies))
    print(row("baseline: `qemu-img convert` of the image", converts))
    for name, samples in backup_rows:
        print(row(name, samples))
    print(row("baseline: `cp` of the same chain flattened into one file", flat_copies))
    print()
    med = {name: statistics.median(s) for name, s in results + backup_rows}
    worst = max(med[f"volume from image, {s} GiB"] for s in (1, 10, 100))
    ratio = med["volume from image, 100 GiB"] / med["volume from image, 1 GiB"]
    print("| Target | Measured | Goal | Met? |")
    print("|---|---|---|---|")
    print(f"| volume-from-image at any size | {worst:.3f} s (worst median) | < 1 s | "
          f"{'yes' if worst < 1 else '**no**'} |")
    print(f"| does not grow with size | 100 GiB / 1 GiB = {ratio:.2f} | ≈ 1 | "
          f"{'yes' if ratio < 1.5 else '**no**'} |")
    inc = med["incremental backup, unchanged volume"]
    print(f"| incremental backup of an unchanged volume | {inc:.3f} s | < 1 s | "
          f"{'yes' if inc < 1 else '**no**'} |")
    full = med["full backup, 1 GiB volume over the image"]
    cp = statistics.median(flat_copies)
    print(f"| full backup vs `cp` of the flattened data | {image_mib / full:.0f} MiB/s vs "
          f"{image_mib / cp:.0f} MiB/s (× {full / cp:.1f} the time) | report | — |")


if __name__ == "__main__":
    main()
