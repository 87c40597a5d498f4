#!/usr/bin/env python3
"""Check that chatload (the repo's load generator) agrees with ircload (../shared/bench).

    python benchmarks/compare_generators.py                    # ngircd, W1 and W2, 3 pairs each
    python benchmarks/compare_generators.py -s trio-chat -w W1 -n 5

For every workload and server, the two generators run alternately (chatload, ircload, chatload, ...),
each against a freshly started server pinned to CPU 0 with the generator on CPU 1, exactly as in
run.py.  Prints the medians of both and chatload/ircload; |ratio - 1| <= 10% is "agree".
Raw JSON lines go to benchmarks/results/<stamp>-compare.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import run as bench


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-w", "--workloads", default="W1,W2", help="workloads (default W1,W2)")
    ap.add_argument("-s", "--servers", default="ngircd", help="servers (default ngircd)")
    ap.add_argument("-n", "--pairs", type=int, default=3, help="chatload/ircload pairs per workload (default 3)")
    ap.add_argument("--tolerance", type=float, default=0.10, help="agreement bound (default 0.10)")
    ap.add_argument("--python", default=bench.default_python())
    ap.add_argument("--trio-args", default=bench.DEFAULT_TRIO_ARGS)
    ap.add_argument("--gen-args", default="", help="extra flags for both generators")
    ap.add_argument("--port", type=int, default=16900)
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args(argv)

    bench.setup_process()
    wls = bench.select_workloads(a.workloads, None)
    servers = bench.select_servers(a.servers)
    bench.fd_limit(max(w.clients for w in wls) + 200)
    ircload = bench.build_ircload(a.cc)
    if ircload is None:
        raise SystemExit(f"ircload.c not found in {bench.SHARED_BENCH}")
    gens = {"chatload": bench.build_chatload(a.cc), "ircload": ircload}
    opts = bench.Options(a.python, shlex.split(a.trio_args), 0, 1, a.port)
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    raw_path = bench.RESULTS / f"{_dt.datetime.now():%Y%m%d-%H%M%S}-compare.jsonl"
    busy = bench.warn_if_busy()
    results: dict[tuple[str, str, str], list[bench.Record]] = {}
    extra = shlex.split(a.gen_args)
    try:
        with open(raw_path, "w") as raw:
            for i in range(a.pairs):
                for wl in wls:
                    for name in servers:
                        for gname, gen in gens.items():
                            srv = bench.start_server(name, opts)
                            try:
                                rec = bench.run_generator(gen, wl, srv, opts, extra, timeout=a.timeout)
                            finally:
                                srv.stop()
                            rec.update(
                                runner_server=name, runner_workload=wl.name, runner_repeat=i + 1, runner_generator=gname
                            )
                            raw.write(json.dumps(rec) + "\n")
                            raw.flush()
                            results.setdefault((name, wl.name, gname), []).append(rec)
                            lat = rec.get("lat_us") or {}
                            rate = bench.fmt_rate(rec.get("deliveries_per_s"))
                            print(
                                f"[{i + 1}/{a.pairs}] {wl.name:8} {name:9} {gname:8} {rec.get('status'):10} "
                                f"{rate:>10}  p50 {bench.fmt_ms(lat.get('p50'))}"
                                f"  p99 {bench.fmt_ms(lat.get('p99'))} ms  gen busy "
                                f"{rec.get('gen_loop_busy_pct')}%",
                                file=sys.stderr,
                            )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        bench.stop_all()

    print(
        f"chatload vs ircload, medians of {a.pairs} alternating run(s) each, {bench.machine_info()}, "
        f"machine {busy:.0%} busy before the runs"
    )
    print(f"{'workload':9} {'server':9} {'metric':13} {'chatload':>11} {'ircload':>11} {'ratio':>6}  verdict")
    worst = 0.0
    for wl in wls:
        for name in servers:
            c = bench.summarise(results.get((name, wl.name, "chatload"), []))
            r = bench.summarise(results.get((name, wl.name, "ircload"), []))
            rows: list[tuple[str, float | None, float | None, Callable[[float | None], str]]] = [
                ("deliveries/s", c["rate"], r["rate"], bench.fmt_rate),
                ("srv us/deliv", c["us_per"], r["us_per"], lambda v: bench.fmt_num(v, ".3f")),
            ]
            if wl.metric == "latency":
                rows += [("p50 ms", c["p50"], r["p50"], bench.fmt_ms), ("p99 ms", c["p99"], r["p99"], bench.fmt_ms)]
            if wl.metric == "memory":
                rows = [("KB/conn", c["kbconn"], r["kbconn"], lambda v: bench.fmt_num(v, ".2f"))]
            for label, cv, rv, f in rows:
                ratio = cv / rv if cv and rv else None
                verdict = "-"
                if ratio is not None:
                    dev = abs(ratio - 1)
                    if label in ("deliveries/s", "KB/conn"):
                        worst = max(worst, dev)
                    verdict = "agree" if dev <= a.tolerance else f"DIFFER by {dev:.0%}"
                print(
                    f"{wl.name:9} {name:9} {label:13} {f(cv):>11} {f(rv):>11} "
                    f"{'-' if ratio is None else f'{ratio:.3f}':>6}  {verdict}"
                )
            print(
                f"{'':9} {'':9} {'gen busy %':13} {bench.fmt_num(c['gen_busy'], '.0f'):>11} "
                f"{bench.fmt_num(r['gen_busy'], '.0f'):>11}"
            )
    print(f"raw: {raw_path}")
    return 0 if worst <= a.tolerance else 1


if __name__ == "__main__":
    time.tzset()
    sys.exit(main())
