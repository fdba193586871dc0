#!/usr/bin/env python3
"""Summarize one bench/run results directory: per-run rows, then medians over the rounds.

Reads RESULTS/runs.tsv (one row per measured wrk run: round, target, whose CPU was read, CPU
seconds before and after) and RESULTS/roundN-TARGET.wrk.txt (wrk --latency output).

    python3 bench/summarize.py bench/results/20250101-120000
"""
import csv
import re
import statistics
import sys
from pathlib import Path

ORDER = ["backend", "haproxy", "nginx", "fulcrum"]
LABEL = {"backend": "direct (no proxy)", "haproxy": "HAProxy", "nginx": "NGINX", "fulcrum": "Fulcrum"}
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # to milliseconds


def latency_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unreadable latency {text!r}")
    return float(m.group(1)) * UNIT[m.group(2)]


def parse_wrk(path):
    """The numbers this summary needs from one wrk --latency output."""
    out = path.read_text()

    def find(pattern):
        m = re.search(pattern, out, re.M)
        if not m:
            raise ValueError(f"{path}: no match for {pattern!r}")
        return m

    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(find(r"^\s*(\d+) requests in")[1]),
        "rps": float(find(r"^Requests/sec:\s*([\d.]+)")[1]),
        "p50": latency_ms(find(r"^\s*50%\s+(\S+)")[1]),
        "p99": latency_ms(find(r"^\s*99%\s+(\S+)")[1]),
        "socket_errors": sum(int(g) for g in sock.groups()) if sock else 0,
        "non2xx": int(non2xx[1]) if non2xx else 0,
    }


def load(results):
    runs = []
    with open(results / "runs.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            run = parse_wrk(results / f"round{row['round']}-{row['target']}.wrk.txt")
            run["round"] = int(row["round"])
            run["target"] = row["target"]
            run["cpu"] = float(row["cpu_after"]) - float(row["cpu_before"])
            run["cpu_per_100k"] = run["cpu"] / run["requests"] * 1e5 if run["requests"] else float("nan")
            runs.append(run)
    return runs


def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def main():
    results = Path(sys.argv[1])
    runs = load(results)

    print("Per run (CPU = the proxy's own user+system seconds; for 'direct', the backend's):")
    print(f"{'round':>5}  {'target':<18}{'requests':>10}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU s':>8}{'CPU/100k':>10}{'errors':>8}")
    for r in runs:
        print(f"{r['round']:>5}  {LABEL[r['target']]:<18}{r['requests']:>10}{r['rps']:>11.0f}"
              f"{r['p50']:>9.3f}{r['p99']:>9.3f}{r['cpu']:>8.2f}{r['cpu_per_100k']:>10.3f}"
              f"{r['socket_errors'] + r['non2xx']:>8}")

    med = {}
    for t in ORDER:
        mine = [r for r in runs if r["target"] == t]
        if not mine:
            continue
        med[t] = {k: statistics.median(r[k] for r in mine)
                  for k in ("rps", "p50", "p99", "cpu_per_100k")}
        med[t]["n"] = len(mine)
        med[t]["socket_errors"] = sum(r["socket_errors"] for r in mine)
        med[t]["non2xx"] = sum(r["non2xx"] for r in mine)

    print()
    print("Medians over rounds (ratios: this proxy / HAProxy, this proxy / NGINX;"
          " req/s higher is better, CPU lower is better):")
    head = (f"{'target':<18}{'n':>3}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU-s/100k':>12}"
            f"{'rps/HAP':>9}{'rps/NGX':>9}{'cpu/HAP':>9}{'cpu/NGX':>9}{'non2xx':>8}{'sockerr':>9}")
    print(head)
    print("-" * len(head))
    hap, ngx = med.get("haproxy"), med.get("nginx")
    for t, m in med.items():
        cmp = ["-"] * 4
        if t != "backend" and hap and ngx:
            cmp = [ratio(m["rps"], hap["rps"]), ratio(m["rps"], ngx["rps"]),
                   ratio(m["cpu_per_100k"], hap["cpu_per_100k"]),
                   ratio(m["cpu_per_100k"], ngx["cpu_per_100k"])]
        print(f"{LABEL[t]:<18}{m['n']:>3}{m['rps']:>10.0f}{m['p50']:>9.3f}{m['p99']:>9.3f}"
              f"{m['cpu_per_100k']:>12.3f}{cmp[0]:>9}{cmp[1]:>9}{cmp[2]:>9}{cmp[3]:>9}"
              f"{m['non2xx']:>8}{m['socket_errors']:>9}")
    print()
    print("direct: CPU column is the backend NGINX's own CPU. non2xx/sockerr: totals over rounds.")


if __name__ == "__main__":
    main()
