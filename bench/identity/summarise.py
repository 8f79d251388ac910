#!/usr/bin/env python3
"""Turn the output of one bench/identity/run into a markdown report.

    summarise.py RUN_DIR                      print the report
    summarise.py --record RUN_DIR DOC.md      append it to DOC.md under "## Identity"

RUN_DIR holds wrk/<target>.<workload>.<round>.txt (each with the BENCH_RESULT
line printed by report.lua), rss.tsv, status.tsv, notes.txt and meta.env.
Standard library only.
"""
import pathlib
import re
import statistics
import sys

TARGETS = [
    ("keystone", "Keystone, no cache"),
    ("keystone-memcached", "Keystone + memcached"),
    ("nimbus", "nimbus"),
]
WORKLOADS = [
    ("validate", "token validate", "GET /v3/auth/tokens"),
    ("issue", "token issue", "POST /v3/auth/tokens"),
    ("users", "user list", "GET /v3/users"),
]
# workload -> minimum nimbus / best-Keystone throughput ratio
RATIO_GOALS = {"validate": 100, "users": 50, "issue": 10}
VALIDATE_P99_MS = 5.0
RSS_GOAL_MIB = 40
# a round is suspect when other processes used more than this share of the
# machine's CPU (niced ones, e.g. background builds, get a higher limit)
OTHER_LIMIT, NICED_LIMIT = 10, 25

DOC_INTRO = """\
# Benchmarks

How benchmarks work here:

- Every benchmark measures its baseline **in the same run** on the same
  machine (for identity: the real Python Keystone, set up by the script), so
  the numbers that matter are the **ratios**, not absolute values.
- Each workload runs for a fixed time after a warm-up, several rounds; the
  tables show the **median** of the rounds.
- The machines are small and shared (2 cores, load generator on the same
  cores as the server), so expect run-to-run noise of 10-20 %; a target that
  is only just met or missed deserves a second run.
- Each section says the exact command that produced it. Benchmarks are run by
  hand and are not part of the test suite or CI.
"""


def read_kv(path):
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
    return out


def parse_rounds(run):
    """{(target, workload): [ {rps, p50, p99, errors}, ... ]}"""
    res = {}
    for f in sorted((run / "wrk").glob("*.txt")):
        target, workload, rnd = f.name[: -len(".txt")].rsplit(".", 2)
        if rnd == "warmup":
            continue
        m = re.search(r"BENCH_RESULT (.*)", f.read_text(errors="replace"))
        if not m:
            continue
        v = {k: int(x) for k, x in (kv.split("=") for kv in m.group(1).split())}
        other = re.search(r"BENCH_OTHER_CPU pct=(-?\d+)(?: niced=(\d+))?", f.read_text(errors="replace"))
        res.setdefault((target, workload), []).append(
            {
                "rps": v["requests"] / (v["duration_us"] / 1e6),
                "p50": v["p50_us"] / 1000,
                "p99": v["p99_us"] / 1000,
                "errors": v["errors_status"] + v["errors_socket"],
                "requests": v["requests"],
                "other_cpu": max(0, int(other.group(1))) if other else 0,
                "niced_cpu": int(other.group(2) or 0) if other else 0,
            }
        )
    return res


def median(rounds, key):
    return statistics.median(r[key] for r in rounds)


def fmt_rps(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def fmt_ms(x):
    return f"{x:.2f}" if x < 10 else f"{x:,.0f}"


def fmt_ratio(x):
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def mib(kb):
    return kb / 1024


def report(run):
    meta = read_kv(run / "meta.env")
    rounds = parse_rounds(run)
    status = {}
    for line in (run / "status.tsv").read_text().splitlines() if (run / "status.tsv").exists() else []:
        t, w, s = line.split("\t")
        status[(t, w)] = s
    rss = {}
    for line in (run / "rss.tsv").read_text().splitlines() if (run / "rss.tsv").exists() else []:
        t, phase, kb = line.split("\t")
        rss[(t, phase)] = int(kb)
    notes = [n for n in (run / "notes.txt").read_text().splitlines() if n.strip()] if (run / "notes.txt").exists() else []

    out = []
    out.append(
        f"Command: `{meta.get('command', 'bench/identity/run')}` · {meta.get('date', '?')} · "
        f"{meta.get('cpu', '?')} · Keystone {meta.get('keystone', '?')} (Python {meta.get('python', '?')}, "
        f"gunicorn {meta.get('workers', '?')} sync workers, SQLite, fernet tokens, bcrypt) · "
        f"wrk {meta.get('wrk', '?')}, median of the rounds · nimbus rev {meta.get('nimbus_rev', '?')}"
        f"{', binary built ' + meta['nimbus_built'] if 'nimbus_built' in meta else ''} · "
        f"run took {meta.get('elapsed', '?')} s"
    )
    out.append("")
    out.append("| Workload | Server | req/s | p50 ms | p99 ms | errors | other CPU |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    med = {}
    noisy = []
    for w, wname, wreq in WORKLOADS:
        for t, tname in TARGETS:
            r = rounds.get((t, w))
            if r and median(r, "requests") == 0:
                out.append(f"| {wname} `{wreq}` | {tname} | 0 | – | – | no request completed | |")
            elif r:
                med[(t, w)] = {k: median(r, k) for k in ("rps", "p50", "p99")}
                errs = sum(x["errors"] for x in r)
                other = max(x["other_cpu"] for x in r)
                niced = max(x["niced_cpu"] for x in r)
                if other > OTHER_LIMIT or niced > NICED_LIMIT:
                    noisy.append(f"{tname} / {wname}")
                other = f"{other} %" + (f" + {niced} % niced" if niced else "")
                out.append(
                    f"| {wname} `{wreq}` | {tname} | {fmt_rps(med[(t, w)]['rps'])} | "
                    f"{fmt_ms(med[(t, w)]['p50'])} | {fmt_ms(med[(t, w)]['p99'])} | {errs} | {other} |"
                )
            else:
                why = status.get((t, w), "not run")
                out.append(f"| {wname} `{wreq}` | {tname} | – | – | – | {why} | |")

    out.append("")
    out.append("| Target | Measured | Goal | Met? |")
    out.append("|---|---|---|---|")

    def errors_of(t, w):
        return sum(x["errors"] for x in rounds.get((t, w), []))

    for w, wname, _ in WORKLOADS:
        ks = [(med[(t, w)]["rps"], t) for t, _ in TARGETS[:2] if (t, w) in med]
        nb = med.get(("nimbus", w))
        goal = f"≥ {RATIO_GOALS[w]}× best Keystone"
        if nb and ks and max(ks)[0] > 0:
            best, best_t = max(ks)
            ratio = nb["rps"] / best
            ok = ratio >= RATIO_GOALS[w] and errors_of("nimbus", w) == 0
            measured = f"{fmt_ratio(ratio)} ({fmt_rps(nb['rps'])} vs {fmt_rps(best)} req/s, {dict(TARGETS)[best_t]})"
            met = "yes" if ok else "**no**"
            if errors_of("nimbus", w):
                met += f" ({errors_of('nimbus', w)} errors)"
        else:
            measured, met = "–", "not measured"
        out.append(f"| {wname} throughput | {measured} | {goal} | {met} |")
        if w == "validate":
            if nb:
                ok = nb["p99"] < VALIDATE_P99_MS
                out.append(
                    f"| {wname} p99 latency | {fmt_ms(nb['p99'])} ms | < {VALIDATE_P99_MS:g} ms | {'yes' if ok else '**no**'} |"
                )
            else:
                out.append(f"| {wname} p99 latency | – | < {VALIDATE_P99_MS:g} ms | not measured |")
    idle = rss.get(("nimbus", "after_loads"))
    if idle is not None:
        ok = mib(idle) < RSS_GOAL_MIB
        out.append(f"| nimbus idle RSS after the loads | {mib(idle):.1f} MiB | < {RSS_GOAL_MIB} MiB | {'yes' if ok else '**no**'} |")
    else:
        out.append(f"| nimbus idle RSS after the loads | – | < {RSS_GOAL_MIB} MiB | not measured |")

    out.append("")
    out.append("| Memory (VmRSS) | after start-up | idle after the loads |")
    out.append("|---|---:|---:|")
    rows = [
        ("nimbus", "`nimbus serve`"),
        ("keystone", f"Keystone, no cache: gunicorn master + {meta.get('workers', '?')} workers"),
        ("keystone-memcached", f"Keystone + memcached: gunicorn master + {meta.get('workers', '?')} workers"),
        ("memcached", "memcached (for Keystone)"),
    ]
    for t, name in rows:
        a, b = rss.get((t, "after_start")), rss.get((t, "after_loads"))
        if a is None and b is None:
            continue
        fa = f"{mib(a):.1f} MiB" if a is not None else "–"
        fb = f"{mib(b):.1f} MiB" if b is not None else "–"
        out.append(f"| {name} | {fa} | {fb} |")

    notes.insert(0, "req/s, p50 and p99 are medians of the rounds; errors are non-2xx responses plus "
                 "socket errors/timeouts over all rounds; other CPU is the largest share of the "
                 "machine's CPU (both cores) used during a round by processes other than the servers, "
                 "memcached and wrk, and by niced processes")
    if noisy:
        notes.append(f"**other processes were busy (> {OTHER_LIMIT} %, or > {NICED_LIMIT} % niced) during "
                     "rounds of: " + "; ".join(noisy) + ". Those numbers are unreliable.**")
    if notes or (run / "failures.md").exists():
        out.append("")
        out.append("Notes:")
        out.append("")
        for n in notes:
            out.append(f"- {n}")
        if (run / "failures.md").exists():
            out.append("- some requests failed; the exact requests and responses are in "
                       "`bench/.work/identity/failures.md`")
    return "\n".join(out) + "\n", meta


def record(doc, section, meta):
    text = doc.read_text() if doc.exists() else DOC_INTRO
    block = f"### {meta.get('date', '')}\n\n{section}"
    m = re.search(r"^## Identity\s*$", text, re.M)
    if not m:
        text = text.rstrip("\n") + "\n\n## Identity\n\nMeasured by `bench/identity/run` (see bench/identity/README.md).\n"
        m = re.search(r"^## Identity\s*$", text, re.M)
    nxt = re.search(r"^## ", text[m.end():], re.M)
    cut = m.end() + nxt.start() if nxt else len(text)
    head, tail = text[:cut].rstrip("\n"), text[cut:]
    text = head + "\n\n" + block + ("\n" + tail if tail else "")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def main(argv):
    if argv[:1] == ["--record"] and len(argv) == 3:
        section, meta = report(pathlib.Path(argv[1]))
        record(pathlib.Path(argv[2]), section, meta)
    elif len(argv) == 1:
        section, meta = report(pathlib.Path(argv[0]))
        sys.stdout.write(f"# Identity benchmark: Keystone vs nimbus\n\n{section}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
