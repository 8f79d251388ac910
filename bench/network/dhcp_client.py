"""A minimal DHCP client for bench/network, run inside the bench's namespace
(`ip netns exec nimbus-bench-dhcp-… python3 dhcp_client.py IFACE MAC [TIMEOUT]`,
also fed to python3 on stdin by crates/agent/tests/dhcp_leases.rs), on an
interface that already carries MAC. It broadcasts DISCOVER every INTERVAL
(5 ms; udhcpc and dhclient wait whole seconds between tries, which would be
the resolution of the measurement) until an OFFER comes, then REQUESTs the
offered address until the ACK, and prints one JSON line:
{"start", "offer", "ack" (time.monotonic(), shared by all processes), "address"}.
It leaves the interface unconfigured. Only standard library.
"""

import json
import os
import random
import select
import socket
import struct
import sys
import time

INTERVAL = 0.005
GIVE_UP = 60.0
MAGIC = b"\x63\x82\x53\x63"


def packet(xid, mac, msg_type, requested=None, server=None):
    chaddr = bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0")
    head = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0x8000,
                       b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4)
    opts = bytes([53, 1, msg_type])
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    opts += bytes([55, 3, 1, 3, 6, 255])
    return head + chaddr + b"\0" * 192 + MAGIC + opts


def parse(data, xid):
    """(message type, yiaddr, server id) of a reply to xid, else None."""
    if len(data) < 240 or data[0] != 2 or struct.unpack("!I", data[4:8])[0] != xid:
        return None
    if data[236:240] != MAGIC:
        return None
    yiaddr = socket.inet_ntoa(data[16:20])
    opts, i, msg_type, server = data[240:], 0, None, None
    while i < len(opts) and opts[i] != 255:
        if opts[i] == 0:
            i += 1
            continue
        code, length = opts[i], opts[i + 1]
        value = opts[i + 2:i + 2 + length]
        if code == 53:
            msg_type = value[0]
        elif code == 54:
            server = socket.inet_ntoa(value)
        i += 2 + length
    return msg_type, yiaddr, server


def exchange(sock, payload, xid, want, give_up):
    """Sends payload every INTERVAL until a reply of type `want` arrives."""
    start = time.monotonic()
    next_send = start
    while time.monotonic() - start < give_up:
        now = time.monotonic()
        if now >= next_send:
            sock.sendto(payload, ("255.255.255.255", 67))
            next_send = now + INTERVAL
        ready, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
        if ready:
            reply = parse(sock.recv(4096), xid)
            if reply and reply[0] == want:
                return time.monotonic(), reply
    raise SystemExit(json.dumps({"error": f"no DHCP message {want} within {give_up} s"}))


def main():
    iface, mac = sys.argv[1], sys.argv[2].lower()
    give_up = float(sys.argv[3]) if len(sys.argv) > 3 else GIVE_UP
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("0.0.0.0", 68))
    xid = random.getrandbits(32)
    # The caller times from its own clock; "start" is when the first DISCOVER left.
    start = time.monotonic()
    offer_at, (_, offered, server) = exchange(sock, packet(xid, mac, 1), xid, 2, give_up)
    ack_at, (_, address, _) = exchange(
        sock, packet(xid, mac, 3, requested=offered, server=server), xid, 5, give_up)
    print(json.dumps({"start": start, "offer": offer_at, "ack": ack_at, "address": address,
                      "pid": os.getpid()}), flush=True)


if __name__ == "__main__":
    main()
