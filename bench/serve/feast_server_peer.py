#!/usr/bin/env python3
"""The Feast peer of bench/serve/bench_serve.py, run by it with .venv-feast/bin/python (installed by
bench/pit/setup-feast): Feast's Python feature server (`feast serve`) over Feast's default local
online store (sqlite), holding the same rows as strata's RocksDB store.

    .venv-feast/bin/python bench/serve/feast_server_peer.py --dir bench/out/serve/feast_<n> \\
        --parquet bench/out/serve/table_<n>.parquet --entities <n> [--workers 2]

1. Unless --dir holds a loaded repository (a `.ready` file), builds one there: feature_store.yaml
   (file registry, `offline_store: file`, `online_store: sqlite`), the entity `driver` (driver_id
   int64) and the view `stats` (f0..f4 float64, f5..f8 int64, f9 string, no TTL) over a FileSource
   on --parquet, which bench_serve.py exports from strata's own table so both servers hold the same
   values. Applies it and loads every row of the Parquet file into the online store.
2. Starts `feast serve` on a free loopback port: gunicorn with uvicorn workers, `--workers` 2 by
   default (Feast's own default is 1) to match strata-server's 2 I/O threads on a 2-core machine, and
   `--no-access-log` (strata-server logs no line per request either); Feast's defaults otherwise,
   among them gunicorn's worker recycling every ~1,000 requests (`--max-requests`, which
   --max-requests here overrides). Waits until
   GET /health answers, and prints
   `listening on http://127.0.0.1:<port> (feast <version>, workers: <w>, pid: <pid>)` on stdout; the
   server runs in a process group of its own whose id is that pid.
3. Runs until SIGTERM/SIGINT, which it passes on to the server; then waits for it (bounded) and
   kills what is left of its process group.

Progress and the server's own log go to stderr."""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

CHUNK = 50_000  # rows per write_to_online_store call


def log(msg: str) -> None:
    print(f"[feast-peer] {msg}", file=sys.stderr, flush=True)


def build_repo(repo: Path, parquet: Path, entities: int) -> None:
    import pyarrow.parquet as pq
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "project: bench_serve\n"
        f"registry: {repo}/registry.db\n"
        "provider: local\n"
        "offline_store:\n  type: file\n"
        f"online_store:\n  type: sqlite\n  path: {repo}/online.db\n"
        "entity_key_serialization_version: 3\n")
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    types = [Float64] * 5 + [Int64] * 4 + [String]
    view = FeatureView(name="stats", entities=[driver], ttl=dt.timedelta(0),  # 0: no TTL, like strata's view
                       source=FileSource(name="stats", path=str(parquet), timestamp_field="event_timestamp"),
                       schema=[Field(name="driver_id", dtype=Int64)] +
                       [Field(name=f"f{i}", dtype=t) for i, t in enumerate(types)])
    fs = FeatureStore(repo_path=str(repo))
    fs.apply([driver, view])

    # write_to_online_store, a chunk at a time, rather than materialize: at 50,000 rows on this machine
    # they took the same time within noise (~11-12 s), as both spend it in the sqlite store's one
    # INSERT per entity per feature; materialize would also read the whole file through the dask
    # offline store first, while chunks keep memory bounded.
    t0 = time.perf_counter()
    rows = 0
    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=CHUNK):
        fs.write_to_online_store("stats", df=batch.to_pandas())
        rows += batch.num_rows
    if rows != entities:
        raise SystemExit(f"{parquet} has {rows:,} rows, expected {entities:,}")
    secs = time.perf_counter() - t0
    log(f"loaded {rows:,} rows into sqlite in {secs:.1f}s ({rows / secs:,.0f} rows/s)")
    (repo / ".ready").write_text("ok\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def stop(proc: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM (gunicorn's graceful shutdown), then SIGKILL of the server's process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:  # workers left behind by a master that died or hung
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.wait(5) if proc.returncode is None else proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="the Feast repository (built here unless already loaded)")
    ap.add_argument("--parquet", required=True, help="the rows: driver_id, event_timestamp, f0..f9")
    ap.add_argument("--entities", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2, help="feast serve --workers (Feast's default is 1)")
    ap.add_argument("--max-requests", type=int,
                    help="feast serve --max-requests: recycle a worker after this many requests, 0: never "
                         "(default: Feast's, 1000)")
    ap.add_argument("--build-only", action="store_true")
    a = ap.parse_args()

    repo, parquet = Path(a.dir).resolve(), Path(a.parquet).resolve()
    if not (repo / ".ready").exists():
        build_repo(repo, parquet, a.entities)
    if a.build_only:
        return 0

    port = free_port()
    cmd = [str(Path(sys.executable).parent / "feast"), "--chdir", str(repo), "serve", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(a.workers), "--no-access-log"]
    if a.max_requests is not None:
        cmd += ["--max-requests", str(a.max_requests)]
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A process group of its own, so that stop() reaches gunicorn's workers too. Its stdout (gunicorn's
    # log) goes to our stderr: our stdout is for the one line the caller waits for. gunicorn (>= 23)
    # opens a control socket in $XDG_RUNTIME_DIR, else in ~/.gunicorn: keep it private.
    runtime = tempfile.TemporaryDirectory(prefix="feast_serve_")
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime.name)
    proc = subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            if stopping or proc.poll() is not None or time.monotonic() > deadline:
                log(f"feast serve did not come up (exit code {proc.poll()})")
                return 1
            time.sleep(0.2)
        print(f"listening on http://127.0.0.1:{port} (feast {version('feast')}, workers: {a.workers}, "
              f"pid: {proc.pid})", flush=True)
        while not stopping and proc.poll() is None:
            time.sleep(0.2)
        if proc.poll() is not None:
            log(f"feast serve exited on its own with {proc.returncode}")
            return 1
        return 0
    finally:
        code = stop(proc)
        runtime.cleanup()
        log(f"feast serve stopped ({code})")


if __name__ == "__main__":
    sys.exit(main())
