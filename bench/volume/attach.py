"""Attach → visible-in-guest latency (bench/volume/attach calls it), against the
guest's own hot-plug latency measured on the same guest in the same run.

- Starts `nimbus serve` with the default guest image on a fresh data directory
  and boots one server (nimbus.tiny, network `private`), reached with `nimbus ssh`.
- In the guest, a watcher (one long-lived ssh session) prints the name of every
  virtio disk the moment it appears or goes; the host timestamps each line on
  arrival.
- Measured: POST os-volume_attachments → the guest has the disk (RUNS times,
  each with a fresh 1 GiB volume, detached again with DELETE and waited for).
- Baseline: the same guest's hot-plug latency without Nimbus in the path:
  QMP `blockdev-add` + `device_add` of a scratch qcow2 straight on the guest's
  QMP socket → the watcher sees it.

Prints a markdown section on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from measure import Cloud, log, row

WATCH = ("while true; do for d in /sys/block/vd*; do s=$(cat $d/serial 2>/dev/null); "
         "echo ${d##*/}=$s; done | sort > /tmp/now; "
         "if ! cmp -s /tmp/now /tmp/was; then echo CHANGED $(tr '\\n' ' ' < /tmp/now); "
         "cp /tmp/now /tmp/was; fi; usleep 20000; done")


class Watcher:
    """The in-guest disk watcher; `wait_for(serial, present)` returns the host's
    monotonic time of the first line that shows it so."""

    def __init__(self, binary: Path, data_dir: Path, server: str, key: Path):
        self.proc = subprocess.Popen(
            [str(binary), "ssh", "--data-dir", str(data_dir), server, "-i", str(key), "--",
             WATCH], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            stdin=subprocess.DEVNULL)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.strip()))

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    def wait_for(self, serial: str, present: bool, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the guest never {'saw' if present else 'lost'} {serial}")
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith("CHANGED") and (f"={serial}" in line) == present:
                return at

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def qmp(sock_path: Path, *commands: tuple[str, dict]) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock_path))
        f = s.makefile("rw")
        f.readline()

        def execute(cmd: str, args: dict | None = None):
            f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "event" in reply:
                    continue
                if "error" in reply:
                    raise RuntimeError(f"QMP {cmd}: {reply['error']}")
                return reply["return"]
        execute("qmp_capabilities")
        for cmd, args in commands:
            execute(cmd, args)


def qmp_socket(data_dir: Path, server_id: str) -> Path:
    """The agent's QMP socket of a guest (crates/agent/src/qemu.rs::qmp_socket)."""
    instance = str((data_dir / "instances" / server_id).resolve())
    return Path("/run/nimbus/qmp") / (hashlib.sha256(instance.encode()).hexdigest()[:16] + ".sock")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, type=Path)
    ap.add_argument("--guest-dir", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--command", default="bench/volume/attach")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="nimbus-attach-bench-") as tmp:
        work = Path(tmp)
        data_dir = work / "cloud"
        data_dir.mkdir()
        cloud = Cloud(args.bin, data_dir, "--guest-image-dir", str(args.guest_dir))
        watcher = None
        try:
            key = work / "key"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
            cloud.api("POST", "/compute/v2.1/os-keypairs", json={"keypair": {
                "name": "bench", "public_key": (work / "key.pub").read_text().strip()}})
            flavor = next(f["id"] for f in cloud.api("GET", "/compute/v2.1/flavors").json()
                          ["flavors"] if f["name"] == "nimbus.tiny")
            image = cloud.api("GET", "/image/v2/images?name=nimbus-guest").json()["images"][0]
            net = cloud.api("GET", "/network/v2.0/networks?name=private").json()["networks"][0]
            server = cloud.api("POST", "/compute/v2.1/servers", json={"server": {
                "name": "attach-bench", "flavorRef": flavor, "imageRef": image["id"],
                "key_name": "bench", "networks": [{"uuid": net["id"]}]}}).json()["server"]
            log("booting the guest")
            deadline = time.monotonic() + 300
            while cloud.api("GET", f"/compute/v2.1/servers/{server['id']}").json()[
                    "server"]["status"] != "ACTIVE":
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ACTIVE")
                time.sleep(1)
            while subprocess.run([str(args.bin), "ssh", "--data-dir", str(data_dir),
                                  server["id"], "-i", str(key), "--", "true"],
                                 capture_output=True, stdin=subprocess.DEVNULL).returncode:
                if time.monotonic() > deadline:
                    raise RuntimeError("no ssh to the guest")
                time.sleep(2)
            watcher = Watcher(args.bin, data_dir, server["id"], key)
            time.sleep(2)
            attach, detach = [], []
            for i in range(args.runs):
                vol = cloud.api("POST", "/volume/v3/volumes", json={"volume": {
                    "size": 1, "name": f"v{i}"}}).json()["volume"]
                while cloud.api("GET", f"/volume/v3/volumes/{vol['id']}").json()[
                        "volume"]["status"] != "available":
                    time.sleep(0.05)
                watcher.drain()
                start = time.monotonic()
                cloud.api("POST", f"/compute/v2.1/servers/{server['id']}/os-volume_attachments",
                          json={"volumeAttachment": {"volumeId": vol["id"]}})
                attach.append(watcher.wait_for(vol["id"][:20], True) - start)
                start = time.monotonic()
                cloud.api("DELETE",
                          f"/compute/v2.1/servers/{server['id']}/os-volume_attachments/{vol['id']}")
                detach.append(watcher.wait_for(vol["id"][:20], False) - start)
                while cloud.api("GET", f"/volume/v3/volumes/{vol['id']}").json()[
                        "volume"]["status"] != "available":
                    time.sleep(0.05)
                cloud.api("DELETE", f"/volume/v3/volumes/{vol['id']}")
                log(f"run {i + 1}: attach {attach[-1]:.3f} s, detach {detach[-1]:.3f} s")
            # Baseline: the guest's own hot-plug latency, QMP straight to QEMU.
            sock = qmp_socket(data_dir, server["id"])
            direct = []
            for i in range(args.runs):
                scratch = work / f"scratch{i}.qcow2"
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(scratch), "1G"],
                               check=True)
                serial = f"benchscratch{i:08d}"
                watcher.drain()
                start = time.monotonic()
                qmp(sock, ("blockdev-add", {"driver": "qcow2", "node-name": f"scratch{i}",
                                            "file": {"driver": "file",
                                                     "filename": str(scratch)}}),
                    ("device_add", {"driver": "virtio-blk-pci", "id": f"scratch{i}",
                                    "drive": f"scratch{i}", "bus": "nimbus-hp7",
                                    "serial": serial}))
                direct.append(watcher.wait_for(serial, True) - start)
                qmp(sock, ("device_del", {"id": f"scratch{i}"}))
                watcher.wait_for(serial, False)
                time.sleep(0.5)
                qmp(sock, ("blockdev-del", {"node-name": f"scratch{i}"}))
        finally:
            if watcher:
                watcher.stop()
            cloud.stop()
            subprocess.run([str(args.bin), "teardown", "--data-dir", str(data_dir)],
                           capture_output=True)
    print(f"## Volume: attach → visible in the guest "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print()
    print(f"Command: `{args.command}` · {os.cpu_count()} cores · binary `{args.bin}` · "
          "guest: the default image under QEMU TCG · seconds from the API call to the "
          "line of an in-guest watcher (polls /sys/block every 20 ms over one ssh session)")
    print()
    print("| Case | runs | median s | min s | max s |")
    print("|---|---:|---:|---:|---:|")
    print(row("POST os-volume_attachments → disk in the guest", attach))
    print(row("DELETE os-volume_attachments → disk gone from the guest", detach))
    print(row("baseline: QMP blockdev-add + device_add → disk in the guest", direct))
    print()
    med, base = statistics.median(attach), statistics.median(direct)
    print("| Target | Measured | Goal | Met? |")
    print("|---|---|---|---|")
    print(f"| attach visible in the guest | {med:.3f} s (median; {med / base:.1f}× the "
          f"guest's own hot-plug time) | < 2 s | {'yes' if med < 2 else '**no**'} |")


if __name__ == "__main__":
    sys.exit(main())
