"""Reachability probes run inside a network namespace, for hosts without ping or nc.

As a script (run by `in_netns` through `ip netns exec NS python netprobe.py ...`):
  netprobe.py icmp ADDRESS        exit 0 when ADDRESS answers an ICMP echo (3 tries)
  netprobe.py tcp ADDRESS PORT    exit 0 when a TCP connection to ADDRESS:PORT opens;
                                  prints the first line the server sends, if any
Traffic goes only to the address given, from inside the namespace given.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def icmp(address: str, tries: int = 3, wait: float = 2.0) -> bool:
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(1, tries + 1):
            payload = b"nimbus-e2e-probe"
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
            s.sendto(packet, (address, 0))
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([s], [], [], left)[0]:
                    break
                data, (source, _) = s.recvfrom(2048)
                ihl = (data[0] & 0x0F) * 4
                kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if source == address and kind == 0 and rid == ident and rseq == seq:
                    return True
    return False


def tcp(address: str, port: int, timeout: float = 5.0) -> tuple[bool, str]:
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            try:
                first = s.recv(256).decode(errors="replace").splitlines()
            except OSError:
                first = []
            return True, first[0] if first else ""
    except OSError:
        return False, ""


def in_netns(netns: str, *probe: str) -> subprocess.CompletedProcess:
    """Runs this file's probe `probe` in namespace `netns`."""
    return subprocess.run(["ip", "netns", "exec", netns, sys.executable, str(Path(__file__)),
                           *probe], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    if sys.argv[1] == "icmp":
        sys.exit(0 if icmp(sys.argv[2]) else 1)
    ok, line = tcp(sys.argv[2], int(sys.argv[3]))
    print(line)
    sys.exit(0 if ok else 1)
