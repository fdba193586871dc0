#!/usr/bin/env python3
"""Summarize one bench/h2 results directory: per-run rows, then medians over the rounds.

Reads RESULTS/runs.tsv (one row per measured run: round, mode, target, the proxy's CPU seconds
before and after) and each run's h2load output, RESULTS/roundN-MODE-TARGET.h2load.txt.

    python3 bench/summarize_h2.py bench/results/h2-20250101-120000
"""
import csv
import re
import statistics
import sys
from pathlib import Path

MODES = ["h2c", "tls"]
ORDER = ["nginx", "fulcrum"]
LABEL = {"nginx": "NGINX", "fulcrum": "Fulcrum"}
PROTOCOL = {"h2c": "h2c", "tls": "h2"}   # what h2load must report as "Application protocol"
# Issue 8: HTTP/2 through Fulcrum within 1.1x NGINX's CPU per request.
CPU_TARGET = 1.10

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNIT[m.group(2)] if m else float("nan")


def parse_h2load(path):
    text = path.read_text(errors="replace")
    run = {"rps": float("nan"), "done": 0, "succeeded": 0, "failed": 0, "non2xx": 0,
           "mean_ms": float("nan"), "protocol": "?"}
    m = re.search(r"^finished in [\d.]+s, ([\d.]+) req/s", text, re.M)
    if m:
        run["rps"] = float(m.group(1))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if m:
        run["done"], run["succeeded"] = int(m.group(3)), int(m.group(4))
        run["failed"] = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        run["non2xx"] = int(m.group(2)) + int(m.group(3)) + int(m.group(4))
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        run["mean_ms"] = ms(m.group(3))
    m = re.search(r"^Application protocol: (\S+)", text, re.M)
    if m:
        run["protocol"] = m.group(1)
    return run


def load(results):
    runs = []
    with open(results / "runs.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            mode, target = row["mode"], row["target"]
            run = parse_h2load(results / f"round{row['round']}-{mode}-{target}.h2load.txt")
            run.update(round=int(row["round"]), mode=mode, target=target,
                       cpu=float(row["cpu_after"]) - float(row["cpu_before"]))
            run["cpu_per_100k"] = run["cpu"] / run["done"] * 1e5 if run["done"] else float("nan")
            run["errors"] = run["failed"] + run["non2xx"] + (run["protocol"] != PROTOCOL[mode])
            runs.append(run)
    return runs


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    results = Path(sys.argv[1])
    runs = load(results)

    print("Per run (CPU = the proxy's user+system seconds over the h2load run):")
    print(f"{'round':>5}  {'mode':<5}{'target':<9}{'proto':>6}{'requests':>10}{'req/s':>9}"
          f"{'mean ms':>9}{'CPU s':>8}{'CPU/100k':>10}{'errors':>8}")
    for r in runs:
        print(f"{r['round']:>5}  {r['mode']:<5}{LABEL[r['target']]:<9}{r['protocol']:>6}{r['done']:>10}"
              f"{r['rps']:>9.0f}{r['mean_ms']:>9.2f}{r['cpu']:>8.2f}{r['cpu_per_100k']:>10.3f}"
              f"{r['errors']:>8}")

    med = {}
    for mode in MODES:
        for t in ORDER:
            mine = [r for r in runs if r["mode"] == mode and r["target"] == t]
            if mine:
                med[mode, t] = {k: statistics.median(r[k] for r in mine)
                                for k in ("rps", "mean_ms", "cpu_per_100k")}
                med[mode, t]["runs"] = len(mine)
                med[mode, t]["errors"] = sum(r["errors"] for r in mine)

    print()
    print("Medians over rounds (ratios: this proxy / NGINX in the same mode; higher req/s is"
          " better, lower CPU is better):")
    print()
    print("| mode | target | runs | req/s | mean ms | CPU-s/100k | req/s / NGINX | CPU / NGINX | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode in MODES:
        ngx = med.get((mode, "nginx"))
        for t in ORDER:
            m = med.get((mode, t))
            if not m:
                continue
            rr = ratio(m["rps"], ngx["rps"]) if ngx else float("nan")
            cr = ratio(m["cpu_per_100k"], ngx["cpu_per_100k"]) if ngx else float("nan")
            print(f"| {mode} | {LABEL[t]} | {m['runs']} | {m['rps']:.0f} | {m['mean_ms']:.2f} |"
                  f" {m['cpu_per_100k']:.3f} | {rr:.2f} | {cr:.2f} | {m['errors']} |")
    print()

    # Per-round ratios: both proxies of a round ran minutes apart at most, so these show how much
    # of the spread is the machine.
    for mode in MODES:
        per_round = []
        for rnd in sorted({r["round"] for r in runs}):
            f = [r for r in runs if (r["round"], r["mode"], r["target"]) == (rnd, mode, "fulcrum")]
            n = [r for r in runs if (r["round"], r["mode"], r["target"]) == (rnd, mode, "nginx")]
            if f and n:
                per_round.append(f"{ratio(f[0]['cpu_per_100k'], n[0]['cpu_per_100k']):.2f}")
        if per_round:
            print(f"{mode}: Fulcrum/NGINX CPU per request, round by round: {', '.join(per_round)}")
    verdicts = []
    for mode in MODES:
        f, n = med.get((mode, "fulcrum")), med.get((mode, "nginx"))
        if f and n:
            cr = ratio(f["cpu_per_100k"], n["cpu_per_100k"])
            verdicts.append(f"{mode} {cr:.2f} ({'met' if cr <= CPU_TARGET else 'NOT met'})")
    if verdicts:
        print(f"target: Fulcrum's CPU per request <= {CPU_TARGET:.2f} x NGINX's: {'; '.join(verdicts)}")
    print("errors: h2load's failed, errored and timed-out requests, non-2xx responses, and runs not"
          " on the expected protocol (h2c, or h2 by ALPN), totals over rounds.")


if __name__ == "__main__":
    main()
