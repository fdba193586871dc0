#!/usr/bin/env python3
"""Summarize one bench/memory results directory: per-run rows, then medians over the rounds.

Reads RESULTS/rounds.tsv: one row per proxy process (round, target, N, then the proxy's RSS in
KiB: idle before any of the N connections, holding pass 1's N connections, after closing them,
holding pass 2's, after closing those; then how many connections were still open when RSS was
read, the backend connections at that moment, and the seconds each pass took to open).

    python3 bench/summarize_memory.py bench/results/memory-20250101-120000
    python3 bench/summarize_memory.py bench/results/memory-tcp-20250101-120000 tcp

The second argument is the bench's MODE (http when omitted): with tcp the proxies are layer-4
relays (HAProxy mode tcp, NGINX stream, a Fulcrum tcp listener) and the target is issue 9's.
"""
import csv
import statistics
import sys
from pathlib import Path

ORDER = ["haproxy", "nginx", "fulcrum"]
LABEL = {"haproxy": "HAProxy", "nginx": "NGINX", "fulcrum": "Fulcrum"}
# Issue 8's target (http): at most 2 KiB of RSS per idle keep-alive connection; issue 9's (tcp):
# at most 2 KiB per idle relayed TCP connection plus pipe buffers (kernel memory, not in RSS).
TARGET_KIB = 2.0


def load(results):
    runs = []
    with open(results / "rounds.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            r = {k: float(v) if k != "target" else v for k, v in row.items()}
            n = r["n"]
            r["first"] = (r["rss_held1"] - r["rss_idle"]) / n
            r["second"] = (r["rss_held2"] - r["rss_closed1"]) / n
            r["kept"] = (r["rss_closed1"] - r["rss_idle"]) / n
            r["lost"] = (n - r["open1"]) + (n - r["open2"])
            runs.append(r)
    return runs


def mib(kib):
    return f"{kib / 1024:.1f}"


def ratio(a, b):
    return f"{a / b:.2f}" if b > 0 else "-"


def main():
    results = Path(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "http"
    if mode == "tcp":
        LABEL.update(haproxy="HAProxy mode tcp", nginx="NGINX stream", fulcrum="Fulcrum tcp")
    runs = load(results)
    n = int(runs[0]["n"]) if runs else 0

    print(f"Per run (N = {n} connections; RSS in MiB, per-connection figures in KiB):\n")
    print("| round | target | RSS idle | RSS +N (1st) | after close | RSS +N (2nd) "
          "| 1st KiB/conn | 2nd KiB/conn | kept KiB/conn | backend conns | lost |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {int(r['round'])} | {LABEL[r['target']]} | {mib(r['rss_idle'])} "
              f"| {mib(r['rss_held1'])} | {mib(r['rss_closed1'])} | {mib(r['rss_held2'])} "
              f"| {r['first']:.2f} | {r['second']:.2f} | {r['kept']:.2f} "
              f"| {int(r['upstream1'])}/{int(r['upstream2'])} | {int(r['lost'])} |")

    med = {}
    for t in ORDER:
        mine = [r for r in runs if r["target"] == t]
        if mine:
            med[t] = {k: statistics.median(r[k] for r in mine)
                      for k in ("rss_idle", "rss_held1", "first", "second", "kept")}
            med[t]["n"] = len(mine)
            med[t]["lost"] = sum(r["lost"] for r in mine)

    ngx = med.get("nginx")
    print(f"\nMedians over rounds (N = {n}; ratios: this proxy / NGINX, lower is better):\n")
    print("| target | runs | RSS idle MiB | RSS +N MiB | 1st pass KiB/conn | 2nd pass KiB/conn "
          "| kept after close KiB/conn | 1st / NGINX | 2nd / NGINX | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in ORDER:
        m = med.get(t)
        if not m:
            continue
        r1 = ratio(m["first"], ngx["first"]) if ngx else "-"
        r2 = ratio(m["second"], ngx["second"]) if ngx else "-"
        print(f"| {LABEL[t]} | {m['n']} | {mib(m['rss_idle'])} | {mib(m['rss_held1'])} "
              f"| {m['first']:.2f} | {m['second']:.2f} | {m['kept']:.2f} | {r1} | {r2} "
              f"| {int(m['lost'])} |")
    print()
    print("1st pass: fresh process, (RSS holding N warm idle connections - RSS idle) / N. "
          "2nd pass: the same after pass 1's connections were closed, from the RSS left then. "
          "kept: what pass 1 left resident after closing, per connection. "
          "lost: connections found closed when RSS was read (must be 0).")
    f = med.get("fulcrum")
    if f:
        verdict = "met" if f["first"] <= TARGET_KIB else "NOT met"
        what = "relayed TCP connection" if mode == "tcp" else "keep-alive connection"
        print(f"\ntarget: Fulcrum <= {TARGET_KIB:.0f} KiB RSS per idle {what} "
              f"(1st pass): {f['first']:.2f} KiB ({verdict})"
              + (f"; NGINX {ngx['first']:.2f} KiB" if ngx else ""))


if __name__ == "__main__":
    main()
