"""Feature server latency: strata-server over RocksDB, 1M entities x 10 features, on loopback.

    bench/serve/setup                                    # wrk (apt), once
    .venv/bin/python bench/serve/bench_serve.py          # 1M entities (default)
    .venv/bin/python bench/serve/bench_serve.py --quick  # 100k entities, shorter runs

What it runs (each against the same server process, after a warm-up):
- wrk at fixed concurrencies (`--latency`): achieved requests/s and wrk's latency percentiles, for
  1-entity and 100-entity requests. wrk is closed-loop: its percentiles are at the rate it reached.
- loadgen (bench/serve/loadgen.cc, built here with g++ and Boost.Beast): open loop at a fixed rate,
  latency measured from each request's due time (no coordinated omission; Debian has no wrk2):
  1 entity x 10 features at 10,000 requests/s (target p99 <= 1 ms) and 100-entity batches at
  --batch-rate requests/s (target p99 <= 5 ms).
- the floor: redis-benchmark GET of a value the size of one stored row, on a private redis-server.

Client and server share the machine's cores; the report says how many. Results: a table on stdout and
bench/out/serve/results_<entities>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import OUT_DIR, REPO_DIR  # noqa: E402

sys.path.insert(0, str(REPO_DIR / "python"))
import strata  # noqa: E402
from strata.features.cli import server_binary  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = OUT_DIR / "serve"
FEATURES = [f"stats:f{i}" for i in range(10)]

DEFS = """\
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: stats
    table: data/stats
    timestamp_field: event_timestamp
feature_views:
  - name: stats
    entities: [driver]
    source: stats
    features:
%s
"""


def build_repo(n: int) -> Path:
    """A repository with one view of 10 features for n drivers, applied and materialized (cached)."""
    repo = OUT / f"repo_{n}"
    if (repo / ".ready").exists():
        return repo
    if repo.exists():
        shutil.rmtree(repo)
    (repo / "data").mkdir(parents=True)
    types = ["float64"] * 5 + ["int64"] * 4 + ["string"]
    feats = "\n".join(f"      - {{name: f{i}, type: {t}}}" for i, t in enumerate(types))
    (repo / "strata.yaml").write_text("project: bench\nonline: {type: rocksdb, path: online}\n")
    (repo / "features.yaml").write_text(DEFS % feats)
    rng = np.random.default_rng(1)
    now = np.datetime64("now", "us")
    t0 = time.perf_counter()
    chunk = 250_000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        cols = {"driver_id": pa.array(np.arange(start + 1, start + m + 1, dtype=np.int64)),
                "event_timestamp": pa.array(np.full(m, now) - rng.integers(0, 3_600_000_000, m).astype("timedelta64[us]"),
                                            pa.timestamp("us", tz="UTC"))}
        for i, t in enumerate(types):
            if t == "float64":
                cols[f"f{i}"] = pa.array(rng.random(m))
            elif t == "int64":
                cols[f"f{i}"] = pa.array(rng.integers(0, 1_000_000, m))
            else:
                cols[f"f{i}"] = pa.array([f"s{v}" for v in rng.integers(0, 1000, m)])
        strata.write_table(str(repo / "data/stats"), pa.table(cols), mode="append")
    fs = strata.FeatureStore(str(repo))
    fs.apply()
    t1 = time.perf_counter()
    runs = fs.materialize(None, "2100-01-01T00:00:00Z")
    fs.close()
    print(f"built {n:,} entities: table {t1 - t0:.1f}s, materialize {time.perf_counter() - t1:.1f}s "
          f"({runs[0]['rows_written']:,} rows)", flush=True)
    (repo / ".ready").write_text("ok\n")
    return repo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(repo: Path, threads: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([server_binary(), "--repo", str(repo), "--port", "0", "--threads", str(threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"strata-server did not start: {line!r} {proc.stderr.read()}")
    return proc, int(m.group(1))


def build_loadgen() -> Path:
    exe = OUT / "loadgen"
    src = HERE / "loadgen.cc"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["g++", "-O2", "-std=c++20", str(src), "-o", str(exe), "-lpthread"], check=True)
    return exe


def parse_wrk(text: str) -> dict:
    out: dict = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            v = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
            out[f"p{pct}_us"] = v
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else ""
    return out


def run_wrk(port: int, n: int, batch: int, conns: int, seconds: int) -> dict:
    env = dict(os.environ, BENCH_ENTITIES=str(n), BENCH_BATCH=str(batch), BENCH_FEATURES=json.dumps(FEATURES))
    p = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(HERE / "wrk_post.lua"),
                        f"http://127.0.0.1:{port}"], capture_output=True, text=True, env=env, timeout=seconds + 60)
    if p.returncode != 0:
        raise SystemExit(f"wrk failed: {p.stderr}")
    return {"tool": "wrk", "batch": batch, "connections": conns, **parse_wrk(p.stdout)}


def run_loadgen(exe: Path, port: int, n: int, batch: int, rate: float, conns: int, seconds: int) -> dict:
    p = subprocess.run([str(exe), "--port", str(port), "--rate", str(rate), "--seconds", str(seconds),
                        "--warmup", "2", "--connections", str(conns), "--entities", str(n), "--batch", str(batch),
                        "--features", json.dumps(FEATURES)], capture_output=True, text=True, timeout=seconds + 60)
    if p.returncode != 0 and not p.stdout:
        raise SystemExit(f"loadgen failed: {p.stderr}")
    return {"tool": "loadgen (open loop)", "batch": batch, "connections": conns, **json.loads(p.stdout)}


def run_redis_floor(value_size: int, n: int, seconds: int) -> dict:
    exe = shutil.which("redis-server")
    bench = shutil.which("redis-benchmark")
    if exe is None or bench is None:
        return {"tool": "redis-benchmark", "skipped": "redis-server/redis-benchmark not installed"}
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        keys = min(n, 1_000_000)
        subprocess.run([bench, "-p", str(port), "-t", "set", "-n", str(keys), "-r", str(keys), "-d", str(value_size),
                        "-q", "-P", "64"], capture_output=True, check=True, timeout=600)
        p = subprocess.run([bench, "-p", str(port), "-t", "get", "-n", str(40_000 * seconds), "-r", str(keys),
                            "-d", str(value_size), "-c", "16", "--csv", "--precision", "3"],
                           capture_output=True, text=True, check=True, timeout=600)
        rows = [r for r in p.stdout.splitlines() if r.startswith('"GET')]
        vals = [float(x.strip('"')) for x in rows[-1].split(",")[1:]]
        # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        return {"tool": "redis-benchmark GET", "batch": 1, "connections": 16, "rps": vals[0],
                "p50_us": vals[3] * 1e3, "p99_us": vals[5] * 1e3, "value_bytes": value_size}
    finally:
        proc.terminate()
        proc.wait(10)


def fmt(v, unit="") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}{unit}"
    return f"{v}{unit}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100k entities, 5 s runs")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="server I/O threads")
    ap.add_argument("--rate", type=float, default=10_000, help="open-loop rate for 1-entity requests")
    ap.add_argument("--batch-rate", type=float, default=1_000, help="open-loop rate for 100-entity requests")
    ap.add_argument("--no-redis", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.entities, args.seconds = 100_000, 5
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run bench/serve/setup")
    OUT.mkdir(parents=True, exist_ok=True)
    repo = build_repo(args.entities)
    loadgen = build_loadgen()
    proc, port = start_server(repo, args.threads)
    results = []
    try:
        # Warm-up: touch the store so the first measured run is not a cold-cache one.
        run_wrk(port, args.entities, 100, 8, 3)
        for batch, conns in ((1, 1), (1, 16), (100, 16)):
            results.append(run_wrk(port, args.entities, batch, conns, args.seconds))
            print(json.dumps(results[-1]), flush=True)
        results.append(run_loadgen(loadgen, port, args.entities, 1, args.rate, 32, args.seconds))
        print(json.dumps(results[-1]), flush=True)
        results.append(run_loadgen(loadgen, port, args.entities, 100, args.batch_rate, 16, args.seconds))
        print(json.dumps(results[-1]), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        if code != 0:
            print(f"strata-server exited with {code}: {proc.stderr.read()}", file=sys.stderr)
    if not args.no_redis:
        results.append(run_redis_floor(200, args.entities, args.seconds))
        print(json.dumps(results[-1]), flush=True)

    cores = os.cpu_count()
    lines = [f"# Feature server: {args.entities:,} entities x 10 features, RocksDB, loopback, {cores} cores "
             f"shared by client and server (server threads: {args.threads})", "",
             "| tool | entities/request | connections | target rate | achieved req/s | p50 | p90 | p99 | p99.9 | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['tool']} | - | - | - | skipped: {r['skipped']} | | | | | |")
            continue
        lines.append("| {tool} | {b} | {c} | {tr} | {rps} | {p50} | {p90} | {p99} | {p999} | {err} |".format(
            tool=r["tool"], b=r["batch"], c=r["connections"], tr=fmt(r.get("target_rate")),
            rps=fmt(r.get("rps", r.get("achieved_rate"))), p50=fmt(r.get("p50_us"), " us"),
            p90=fmt(r.get("p90_us"), " us"), p99=fmt(r.get("p99_us"), " us"), p999=fmt(r.get("p999_us"), " us"),
            err=r.get("errors", r.get("non_2xx", 0))))
    targets = []
    for r in results:
        if r["tool"].startswith("loadgen") and r["batch"] == 1:
            ok = r["p99_us"] <= 1000 and r["achieved_rate"] >= 0.95 * r["target_rate"] and r["errors"] == 0
            targets.append(f"- 1 entity x 10 features at {r['target_rate']:,.0f} req/s: p99 {r['p99_us']:,.0f} us "
                           f"(target <= 1,000 us): {'MET' if ok else 'NOT MET'}")
        if r["tool"].startswith("loadgen") and r["batch"] == 100:
            ok = r["p99_us"] <= 5000 and r["achieved_rate"] >= 0.95 * r["target_rate"] and r["errors"] == 0
            targets.append(f"- 100-entity batches at {r['target_rate']:,.0f} req/s: p99 {r['p99_us']:,.0f} us "
                           f"(target <= 5,000 us): {'MET' if ok else 'NOT MET'}")
    md = "\n".join(lines + [""] + targets) + "\n"
    print()
    print(md)
    (OUT / f"results_{args.entities}.json").write_text(json.dumps(results, indent=2))
    (OUT / f"results_{args.entities}.md").write_text(md)


if __name__ == "__main__":
    main()
