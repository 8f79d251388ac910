"""TCP reachability probe for bench/network: runs inside a network namespace
(`ip netns exec nimbus-ext-<tag> python3 tcp_probe.py IP PORT`) and answers
commands read from stdin, one JSON line each on stdout. Times are
time.monotonic() (CLOCK_MONOTONIC, shared by every process on the host), so the
caller can set them against its own API calls.

- `open`: starts a TCP connect every INTERVAL (2 ms), each on a new socket (so a
  dropped SYN's retransmission never decides), until one completes; answers
  {"sent": <when the first successful attempt was started>, "done": ...}.
- `closed`: connects with a 300 ms timeout until 3 attempts in a row get no answer
  at all (a filtered port drops SYNs; a refused one would answer with RST);
  answers {"closed": <time>}.
Only standard library: it runs with the host's python3.
"""

import json
import selectors
import socket
import sys
import time

INTERVAL = 0.002
GIVE_UP = 30.0


def wait_open(addr):
    sel = selectors.DefaultSelector()
    pending = {}
    start = time.monotonic()
    next_send = start
    try:
        while True:
            now = time.monotonic()
            if now - start > GIVE_UP:
                return {"error": f"no connection within {GIVE_UP} s"}
            if now >= next_send:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(addr)
                pending[s] = now
                sel.register(s, selectors.EVENT_WRITE)
                next_send += INTERVAL
            for key, _ in sel.select(timeout=max(0.0, next_send - time.monotonic())):
                s = key.fileobj
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    return {"sent": pending[s], "done": time.monotonic(),
                            "attempts": round((now - start) / INTERVAL)}
                sel.unregister(s)
                s.close()
                del pending[s]
            # A SYN that got no answer in 1 s was dropped: its socket can go.
            for s, sent in list(pending.items()):
                if now - sent > 1.0:
                    sel.unregister(s)
                    s.close()
                    del pending[s]
    finally:
        for s in pending:
            s.close()
        sel.close()


def wait_closed(addr):
    silent = 0
    start = time.monotonic()
    while silent < 3:
        if time.monotonic() - start > GIVE_UP:
            return {"error": f"still answering after {GIVE_UP} s"}
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.3)
        try:
            s.connect(addr)
            silent = 0
        except socket.timeout:
            silent += 1
        except OSError:
            silent = 0  # refused: something answered
            time.sleep(0.05)
        finally:
            s.close()
    return {"closed": time.monotonic()}


def main():
    addr = (sys.argv[1], int(sys.argv[2]))
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "open":
            out = wait_open(addr)
        elif cmd == "closed":
            out = wait_closed(addr)
        else:
            out = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
