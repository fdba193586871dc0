#!/usr/bin/env python3
"""Summarize one bench/l4 results directory: per-run rows, then medians over the rounds.

Reads RESULTS/runs.tsv (one row per measured run: round, test, target, the proxy's CPU seconds
before and after, bytes or connections, seconds, errors), the iperf3 JSON of every throughput
run (roundN-tputS-TARGET.json) and RESULTS/loadavg.tsv. Tests: tputS (iperf3 with S streams),
conn (short connections), udpB (B-byte datagrams: amount = replies, errors = datagrams lost).

    python3 bench/summarize_l4.py bench/results/l4-20260101-120000
"""
import csv
import json
import statistics
import sys
from pathlib import Path

ORDER = ["direct", "haproxy", "haproxy_splice", "nginx", "fulcrum"]
LABEL = {
    "direct": "direct (no proxy)",
    "haproxy": "HAProxy splice-auto",
    "haproxy_splice": "HAProxy splice forced",
    "nginx": "NGINX stream",
    "fulcrum": "Fulcrum",
}


def load(results):
    runs = []
    with open(results / "runs.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            run = {
                "round": int(row["round"]),
                "test": row["test"],
                "target": row["target"],
                "cpu": float(row["cpu_after"]) - float(row["cpu_before"]),
                "errors": int(row["errors"]),
            }
            amount = int(row["amount"])
            if run["test"].startswith("tput"):
                path = results / f"round{row['round']}-{row['test']}-{row['target']}.json"
                end = json.loads(path.read_text())["end"]
                run["rate"] = end["sum_received"]["bits_per_second"] / 1e9  # Gbit/s
                gb = amount / 1e9
                run["cost"] = run["cpu"] / gb if gb else float("nan")  # CPU-s per GB
            elif run["test"].startswith("udp"):
                secs = float(row["seconds"])
                run["rate"] = amount / secs if secs else float("nan")  # datagrams/s
                run["cost"] = run["cpu"] / amount * 1e5 if amount else float("nan")  # per 100k
            else:
                secs = float(row["seconds"])
                run["rate"] = amount / secs if secs else float("nan")  # connections/s
                run["cost"] = run["cpu"] / amount * 1e4 if amount else float("nan")  # per 10k
            runs.append(run)
    return runs


def fmt(v, spec, proxy=True):
    return "-" if v is None or not proxy else format(v, spec)


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def main():
    results = Path(sys.argv[1])
    runs = load(results)
    present = {r["test"] for r in runs}
    tests = (sorted((t for t in present if t.startswith("tput")), key=lambda t: int(t[4:]))
             + (["conn"] if "conn" in present else [])
             + sorted((t for t in present if t.startswith("udp")), key=lambda t: int(t[3:])))

    print("Per run (CPU = the proxy's user+system seconds over the measured run):")
    print("(rate: Gbit/s for tput, connections/s for conn, datagrams/s for udp; cost: CPU-s per GB, "
          "per 10k connections, per 100k datagrams; errors: failed connections, lost datagrams)")
    print(f"{'round':>5}  {'test':<8}{'target':<23}{'rate':>16}{'CPU s':>8}"
          f"{'cost':>17}{'errors':>8}")
    for r in runs:
        proxy = r["target"] != "direct"
        rate = f"{r['rate']:.2f}" if r["test"].startswith("tput") else f"{r['rate']:.0f}"
        print(f"{r['round']:>5}  {r['test']:<8}{LABEL[r['target']]:<23}{rate:>16}"
              f"{fmt(r['cpu'], '.2f', proxy):>8}{fmt(r['cost'], '.3f', proxy):>17}{r['errors']:>8}")

    med = {}
    for t in ORDER:
        for test in tests:
            mine = [r for r in runs if r["target"] == t and r["test"] == test]
            if mine:
                med[t, test] = {
                    "n": len(mine),
                    "rate": statistics.median(r["rate"] for r in mine),
                    "cost": statistics.median(r["cost"] for r in mine) if t != "direct" else None,
                    "errors": sum(r["errors"] for r in mine),
                }

    rounds = max(r["round"] for r in runs)
    print()
    print(f"Medians over {rounds} round(s); each proxy pinned to one CPU, iperf3 / l4conn and "
          "the backends to the other:")
    head = f"{'path':<23}{'n':>3}"
    for test in tests:
        if test == "conn":
            head += f"{'conn/s':>9}{'CPU-s/10k':>11}"
        elif test.startswith("udp"):
            s = test[3:]
            head += f"{'dgram/s ' + s:>14}{'CPU-s/100k ' + s:>16}"
        else:
            s = test[4:]
            head += f"{'Gbit/s ' + s:>11}{'CPU-s/GB ' + s:>13}"
    head += f"{'errors':>8}"
    print(head)
    print("-" * len(head))
    for t in ORDER:
        if not any((t, test) in med for test in tests):
            continue
        n = max(med[t, test]["n"] for test in tests if (t, test) in med)
        line = f"{LABEL[t]:<23}{n:>3}"
        errors = 0
        for test in tests:
            m = med.get((t, test))
            if test == "conn":
                line += f"{fmt(m and m['rate'], '.0f'):>9}{fmt(m and m['cost'], '.3f'):>11}"
            elif test.startswith("udp"):
                line += f"{fmt(m and m['rate'], '.0f'):>14}{fmt(m and m['cost'], '.3f'):>16}"
            else:
                line += f"{fmt(m and m['rate'], '.2f'):>11}{fmt(m and m['cost'], '.3f'):>13}"
            errors += m["errors"] if m else 0
        print(line + f"{errors:>8}")

    print()
    for ref in ("haproxy", "haproxy_splice", "nginx"):
        if not any(("fulcrum", t) in med for t in tests):
            break
        parts = []
        if not any((ref, t) in med for t in tests):
            continue
        for test in tests:
            f, o = med.get(("fulcrum", test)), med.get((ref, test))
            if not f or not o:
                continue
            if test == "conn":
                what, cost = "conn/s", "CPU/10k"
            elif test.startswith("udp"):
                what, cost = f"dgram/s {test[3:]}", f"CPU/dgram {test[3:]}"
            else:
                what, cost = f"Gbit/s {test[4:]}", f"CPU/GB {test[4:]}"
            parts.append(f"{what} {ratio(f['rate'], o['rate'])}  {cost} {ratio(f['cost'], o['cost'])}")
        print(f"Fulcrum / {LABEL[ref] + ':':<23} " + "   ".join(parts))

    loads = results / "loadavg.tsv"
    if loads.exists():
        with open(loads) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        print()
        print("load average (1/5/15 min): " + "; ".join(
            f"{r['when']} {r['load1']} {r['load5']} {r['load15']}" for r in rows))

    # Issue 9's targets, against HAProxy's usual (splice-auto) config, on one stream.
    h, f = med.get(("haproxy", "tput1")), med.get(("fulcrum", "tput1"))
    hc, fc = med.get(("haproxy", "conn")), med.get(("fulcrum", "conn"))
    if h and f and hc and fc:
        def judge(v, limit, above):
            ok = v >= limit if above else v <= limit
            return f"{v:.2f} ({'met' if ok else 'NOT met'})"
        print()
        print("issue 9 targets vs HAProxy splice-auto: "
              f"Gbit/s (1 stream) >= 1.25x: {judge(f['rate'] / h['rate'], 1.25, True)}; "
              f"CPU/GB <= 0.60x: {judge(f['cost'] / h['cost'], 0.60, False)}; "
              f"conn/s >= 1.00x: {judge(fc['rate'] / hc['rate'], 1.0, True)}; "
              f"CPU/10k conn <= 1.00x: {judge(fc['cost'] / hc['cost'], 1.0, False)}")

    udp = [t for t in tests if t.startswith("udp")]
    verdicts = []
    for t in udp:
        n, f = med.get(("nginx", t)), med.get(("fulcrum", t))
        if n and f:
            r, c = f["rate"] / n["rate"], f["cost"] / n["cost"]
            verdicts.append(f"{t[3:]} B: dgram/s {r:.3f}x ({'met' if r >= 1.5 else 'NOT met'}), "
                            f"CPU/dgram {c:.3f}x ({'met' if c <= 1.0 else 'NOT met'})")
    if verdicts:
        print("issue 9 udp targets vs NGINX stream (>= 1.5x datagrams/s at <= its CPU per "
              "datagram): " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
