#!/usr/bin/env python3
"""Summarize one bench/tls results directory: per-run rows, then medians over the rounds.

Reads RESULTS/handshakes.tsv (one row per full-handshake run: round, target, connections made
by all `openssl s_time -new` clients, wall clock and the proxy's CPU seconds before and after)
and RESULTS/runs.tsv with RESULTS/roundN-TARGET.wrk.txt (keep-alive runs, as bench/run writes
them).

    python3 bench/summarize_tls.py bench/results/tls-20250101-120000
"""
import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summarize import parse_wrk  # noqa: E402

ORDER = ["haproxy", "fulcrum"]
LABEL = {"haproxy": "HAProxy", "fulcrum": "Fulcrum"}
# The targets: Fulcrum's CPU per full handshake at most half HAProxy's, and keep-alive
# TLS requests/s at least HAProxy's.
HS_CPU_TARGET = 0.50
KA_RPS_TARGET = 1.00


def load_handshakes(results):
    runs = []
    with open(results / "handshakes.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            n = int(row["connections"])
            wall = float(row["wall_end"]) - float(row["wall_start"])
            cpu = float(row["cpu_after"]) - float(row["cpu_before"])
            runs.append({
                "round": int(row["round"]), "target": row["target"], "n": n, "wall": wall,
                "hps": n / wall if wall > 0 else float("nan"), "cpu": cpu,
                "cpu_per_100k": cpu / n * 1e5 if n else float("nan"),
            })
    return runs


def load_keepalive(results):
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


def medians(runs, keys):
    med = {}
    for t in ORDER:
        mine = [r for r in runs if r["target"] == t]
        if mine:
            med[t] = {k: statistics.median(r[k] for r in mine) for k in keys}
            med[t]["runs"] = len(mine)
            med[t]["errors"] = sum(r.get("socket_errors", 0) + r.get("non2xx", 0) for r in mine)
    return med


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    results = Path(sys.argv[1])
    hs = load_handshakes(results)
    ka = load_keepalive(results)

    print("Full handshakes, per run (a new TLS connection, no resumption, per request;"
          " CPU = the proxy's user+system seconds):")
    print(f"{'round':>5}  {'target':<9}{'handshakes':>11}{'wall s':>8}{'hs/s':>9}{'CPU s':>8}"
          f"{'CPU/100k':>10}")
    for r in hs:
        print(f"{r['round']:>5}  {LABEL[r['target']]:<9}{r['n']:>11}{r['wall']:>8.2f}{r['hps']:>9.0f}"
              f"{r['cpu']:>8.2f}{r['cpu_per_100k']:>10.2f}")
    print()
    print("Keep-alive TLS requests, per run:")
    print(f"{'round':>5}  {'target':<9}{'requests':>11}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU s':>8}{'CPU/100k':>10}{'errors':>8}")
    for r in ka:
        print(f"{r['round']:>5}  {LABEL[r['target']]:<9}{r['requests']:>11}{r['rps']:>9.0f}"
              f"{r['p50']:>9.3f}{r['p99']:>9.3f}{r['cpu']:>8.2f}{r['cpu_per_100k']:>10.3f}"
              f"{r['socket_errors'] + r['non2xx']:>8}")

    hm = medians(hs, ("hps", "cpu_per_100k"))
    km = medians(ka, ("rps", "p50", "p99", "cpu_per_100k"))
    hap_h, hap_k = hm.get("haproxy"), km.get("haproxy")

    print()
    print("Medians over rounds (ratios: this proxy / HAProxy; higher hs/s and req/s are better,"
          " lower CPU is better):")
    head = (f"{'target':<9}{'n':>3}{'hs/s':>8}{'hs CPU-s/100k':>15}{'hs/HAP':>8}{'cpu/HAP':>9}"
            f"{'ka req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'ka CPU-s/100k':>15}{'rps/HAP':>9}"
            f"{'cpu/HAP':>9}{'errors':>8}")
    print(head)
    print("-" * len(head))
    for t in ORDER:
        h, k = hm.get(t), km.get(t)
        if not h or not k:
            continue
        print(f"{LABEL[t]:<9}{h['runs']:>3}{h['hps']:>8.0f}{h['cpu_per_100k']:>15.2f}"
              f"{ratio(h['hps'], hap_h['hps']):>8.2f}{ratio(h['cpu_per_100k'], hap_h['cpu_per_100k']):>9.2f}"
              f"{k['rps']:>10.0f}{k['p50']:>8.3f}{k['p99']:>8.3f}{k['cpu_per_100k']:>15.3f}"
              f"{ratio(k['rps'], hap_k['rps']):>9.2f}{ratio(k['cpu_per_100k'], hap_k['cpu_per_100k']):>9.2f}"
              f"{k['errors']:>8}")
    print()
    if hap_h and hap_k and "fulcrum" in hm and "fulcrum" in km:
        hs_cpu = ratio(hm["fulcrum"]["cpu_per_100k"], hap_h["cpu_per_100k"])
        ka_rps = ratio(km["fulcrum"]["rps"], hap_k["rps"])
        print(f"target: full-handshake CPU <= {HS_CPU_TARGET:.2f} x HAProxy's: {hs_cpu:.2f}"
              f" ({'met' if hs_cpu <= HS_CPU_TARGET else 'NOT met'});"
              f" keep-alive req/s >= {KA_RPS_TARGET:.2f} x HAProxy's: {ka_rps:.2f}"
              f" ({'met' if ka_rps >= KA_RPS_TARGET else 'NOT met'})")
    print("errors: wrk's socket errors plus non-2xx responses, totals over rounds.")


if __name__ == "__main__":
    main()
