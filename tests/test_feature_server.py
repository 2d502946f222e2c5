"""The feature server end to end: a repository applied and materialized, `strata-server` started as a
subprocess on a free port, talked to with http.client on keep-alive connections. Checks the values
against the source rows and against in-process retrieval (the same C++ code), request errors (4xx with
a JSON error), /health, /metrics, a materialization while it runs, RocksDB and Redis, and shutdown on
SIGTERM."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

import strata
from strata.features.cli import server_binary

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)
N_DRIVERS = 300

DEFS = """\
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
  - name: zone
    join_keys: [{name: zone_id, type: string}]
sources:
  - name: driver_hourly
    table: data/driver_hourly
    timestamp_field: event_timestamp
  - name: zone_stats
    table: data/zone_stats
    timestamp_field: ts
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_hourly
    ttl: 2h
    features: [{name: conv_rate, type: float64}, {name: trips, type: int64}, {name: name, type: string}]
  - name: zone
    entities: [zone]
    source: zone_stats
    features: [{name: demand, type: float64}]
on_demand_feature_views:
  - name: adjusted
    sources: [driver_stats]
    request: [{name: bonus, type: float64}]
    features: [{name: score, type: float64, expression: "conv_rate * 10 + bonus"}]
feature_services:
  - name: eta_model
    features: ["driver_stats:conv_rate", "driver_stats:trips", "zone:demand"]
"""


def driver_table(ids, rng: random.Random, now: dt.datetime = NOW) -> pa.Table:
    """One row per driver; every fifth one is 3 hours old (outside the 2h TTL)."""
    ts = [now - (dt.timedelta(hours=3) if i % 5 == 0 else dt.timedelta(minutes=rng.randrange(1, 60))) for i in ids]
    return pa.table({
        "driver_id": pa.array(ids, pa.int64()),
        "event_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "conv_rate": pa.array([rng.random() * 1e3 / 7 for _ in ids], pa.float64()),
        "trips": pa.array([rng.randrange(-1000, 1000) for _ in ids], pa.int64()),
        "name": pa.array([rng.choice(["ana", 'quo"te', "back\\slash", "wëst", "日本", "tab\t", None]) for _ in ids]),
    })


def make_repo(root: Path, online_yaml: str = "{type: rocksdb, path: online}") -> tuple[str, dict]:
    repo = root / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "strata.yaml").write_text(f"project: rides\nonline: {online_yaml}\n")
    (repo / "features.yaml").write_text(DEFS)
    rng = random.Random(5)
    drivers = driver_table(list(range(1, N_DRIVERS + 1)), rng)
    strata.write_table(str(repo / "data/driver_hourly"), drivers)
    strata.write_table(str(repo / "data/zone_stats"), pa.table({
        "zone_id": ["north", "south", "wëst"],
        "ts": pa.array([NOW - dt.timedelta(days=3)] * 3, pa.timestamp("us", tz="UTC")),
        "demand": [1.5, 2.5, float("nan")]}))
    fs = strata.FeatureStore(str(repo))
    fs.apply()
    fs.materialize(NOW - dt.timedelta(days=7), NOW)
    fs.close()
    rows = {r["driver_id"]: r for r in drivers.to_pylist()}
    return str(repo), rows


class Server:
    """strata-server as a subprocess; the port comes from its "listening" line."""

    def __init__(self, repo: str, *extra: str):
        self.proc = subprocess.Popen([server_binary(), "--repo", repo, "--port", "0", "--threads", "2",
                                      "--refresh-ms", "50", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"strata-server listening on http://127\.0\.0\.1:(\d+) \(registry v(\d+), store (\w+)\)$",
                     line.strip())
        if m is None:
            self.proc.kill()
            raise AssertionError(f"unexpected first line {line!r}; stderr: {self.proc.stderr.read()}")
        self.port = int(m.group(1))
        self.registry_version = int(m.group(2))
        self.store = m.group(3)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def stop(self, timeout: float = 5) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def post(conn: http.client.HTTPConnection, body, path: str = "/get-online-features") -> tuple[int, dict]:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    res = conn.getresponse()
    raw = res.read()
    assert res.getheader("Content-Type") == "application/json"
    return res.status, json.loads(raw)


def columns(resp: dict) -> dict:
    """Feast's response as {name: (values, statuses, event_timestamps)}."""
    names = resp["metadata"]["feature_names"]
    return {n: (r["values"], r["statuses"], r["event_timestamps"]) for n, r in zip(names, resp["results"])}


def iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}" if t.microsecond else "") + "Z"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    repo, rows = make_repo(tmp_path_factory.mktemp("srv"))
    server = Server(repo)
    yield server, repo, rows
    assert server.stop() == 0


def test_values_match_the_source_rows(served):
    server, repo, rows = served
    assert server.store == "rocksdb" and server.registry_version == 0
    ids = [1, 2, 5, 7, 10, N_DRIVERS + 1]
    conn = server.connect()
    status, resp = post(conn, {"features": ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:name"],
                               "entities": {"driver_id": ids}})
    assert status == 200, resp
    cols = columns(resp)
    assert list(cols) == ["driver_id", "conv_rate", "trips", "name"]
    assert cols["driver_id"] == (ids, ["PRESENT"] * len(ids), ["1970-01-01T00:00:00Z"] * len(ids))
    for i, d in enumerate(ids):
        row = rows.get(d)
        for f in ("conv_rate", "trips", "name"):
            value, st, ts = cols[f][0][i], cols[f][1][i], cols[f][2][i]
            if row is None:
                assert (value, st, ts) == (None, "NOT_FOUND", "1970-01-01T00:00:00Z")
            elif d % 5 == 0:  # 3 hours old, TTL 2h
                assert (value, st, ts) == (None, "OUTSIDE_MAX_AGE", iso(row["event_timestamp"]))
            else:
                assert value == row[f], (d, f)  # doubles round-trip exactly, strings unescaped
                assert st == "PRESENT" and ts == iso(row["event_timestamp"])


def test_server_and_in_process_retrieval_agree(served):
    server, repo, _ = served
    fs = strata.FeatureStore(repo)
    rng = random.Random(11)
    conn = server.connect()
    for _ in range(30):
        ids = [rng.randrange(0, N_DRIVERS + 20) for _ in range(rng.randrange(1, 120))]
        zones = [rng.choice(["north", "south", "wëst", "nowhere"]) for _ in ids]
        bonus = [rng.random() for _ in ids]
        full = rng.random() < 0.5
        body = {"feature_service": "eta_model"} if rng.random() < 0.3 else \
            {"features": rng.sample(["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:name",
                                     "zone:demand", "adjusted:score"], rng.randrange(1, 6))}
        body.update(entities={"driver_id": ids, "zone_id": zones}, full_feature_names=full,
                    request_data={"bonus": bonus})
        if "adjusted:score" not in body.get("features", []):
            del body["request_data"]
        status, resp = post(conn, body)
        assert status == 200, resp
        got = fs.get_online_features(features=body.get("features"), feature_service=body.get("feature_service"),
                                     entities={"driver_id": ids, "zone_id": zones},
                                     request_data=body.get("request_data"), full_feature_names=full,
                                     with_status=True)
        cols = columns(resp)
        assert list(cols) == [k for k in got if not k.startswith("__")]
        for name, (values, statuses, stamps) in cols.items():
            want = [None if isinstance(v, float) and v != v else v for v in got[name]]  # NaN is null in JSON
            assert values == want, name
            assert statuses == got["__status__"][name], name
            assert stamps == [iso(t) if t else "1970-01-01T00:00:00Z" for t in got["__event_timestamp__"][name]]
    fs.close()


def test_keep_alive_and_many_requests_on_one_connection(served):
    server, _, _ = served
    conn = server.connect()
    post(conn, {"features": ["zone:demand"], "entities": {"zone_id": ["north"]}})
    sock = conn.sock
    for i in range(200):
        status, resp = post(conn, {"features": ["zone:demand"], "entities": {"zone_id": ["north", "wëst"]}})
        assert status == 200
        values = columns(resp)["demand"][0]
        assert values == [1.5, None]  # NaN renders as null
    conn.request("GET", "/health")
    assert conn.getresponse().read()
    assert conn.sock is sock  # never reconnected


@pytest.mark.parametrize("body,status,message", [
    ("{nope", 400, "malformed JSON"),
    ("[]", 400, "must be a JSON object"),
    ({"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}}, 400, "unknown feature 'nope'"),
    ({"features": ["nope:conv_rate"], "entities": {"driver_id": [1]}}, 400, "unknown feature view 'nope'"),
    ({"feature_service": "nope", "entities": {"driver_id": [1]}}, 400, "unknown feature service 'nope'"),
    ({"features": ["driver_stats:trips"], "entities": {"driver_id": ["1"]}}, 400, "must be an integer"),
    ({"features": ["driver_stats:trips"], "entities": {"driver_id": [1.5]}}, 400, "must hold int64"),
    ({"features": ["driver_stats:trips"], "entities": {"zone_id": ["north"]}}, 400, "missing entity key 'driver_id'"),
    ({"features": ["driver_stats:trips"], "entities": {"rider": [1]}}, 400, "unknown entity key 'rider'"),
    ({"features": ["driver_stats:trips"], "entities": {"driver_id": [1, 2], "zone_id": ["x"]}}, 400, "has 1 values"),
    ({"features": ["adjusted:score"], "entities": {"driver_id": [1]}}, 400, "missing request data 'bonus'"),
    ({"features": ["driver_stats:trips"]}, 400, "no entities"),
    ({"features": ["driver_stats:trips"], "entities": {"driver_id": [1]}, "x": 1}, 400, "unknown field 'x'"),
])
def test_bad_requests_get_4xx_with_a_json_error(served, body, status, message):
    server, _, _ = served
    conn = server.connect()
    got_status, resp = post(conn, body)
    assert got_status == status
    assert set(resp) == {"error"} and message in resp["error"], resp
    # The connection survives a request error.
    assert post(conn, {"features": ["zone:demand"], "entities": {"zone_id": ["north"]}})[0] == 200


def test_http_errors(served):
    server, _, _ = served
    conn = server.connect()
    conn.request("GET", "/get-online-features")
    res = conn.getresponse()
    assert res.status == 405 and res.getheader("Allow") == "POST" and "error" in json.loads(res.read())
    conn.request("GET", "/no/such/path")
    res = conn.getresponse()
    assert res.status == 404 and "unknown path" in json.loads(res.read())["error"]
    big = json.dumps({"features": ["driver_stats:trips"], "entities": {"driver_id": list(range(300_000))}})
    assert len(big) > 1 << 20
    conn = server.connect()
    conn.request("POST", "/get-online-features", body=big)
    res = conn.getresponse()
    assert res.status == 413 and "larger than 1048576 bytes" in json.loads(res.read())["error"]
    # Raw garbage on a socket gets a 400 and the server keeps serving.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
    assert post(server.connect(), {"features": ["zone:demand"], "entities": {"zone_id": ["north"]}})[0] == 200


def test_health_and_metrics(served):
    server, _, _ = served
    conn = server.connect()
    post(conn, {"features": ["zone:demand"], "entities": {"zone_id": ["north", "south"]}})
    post(conn, "{")
    conn.request("GET", "/health")
    res = conn.getresponse()
    health = json.loads(res.read())
    assert res.status == 200
    assert health["status"] == "ok" and health["registry_version"] == 0 and health["project"] == "rides"
    assert health["store"] == "rocksdb"
    conn.request("GET", "/metrics")
    res = conn.getresponse()
    text = res.read().decode()
    assert res.status == 200 and res.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['strata_requests_total{path="/get-online-features",code="200"}'] >= 1
    assert samples['strata_requests_total{path="/get-online-features",code="400"}'] >= 1
    assert samples['strata_request_duration_seconds_bucket{path="/get-online-features",le="+Inf"}'] == \
        samples['strata_request_duration_seconds_count{path="/get-online-features"}']
    assert samples['strata_store_errors_total{store="rocksdb"}'] == 0
    assert samples["strata_entities_served_total"] >= 2
    assert samples["strata_registry_version"] == 0
    # Buckets are cumulative.
    buckets = [v for k, v in samples.items() if k.startswith('strata_request_duration_seconds_bucket{path="/get-online')]
    assert buckets == sorted(buckets)


def test_materialization_while_serving_becomes_visible(tmp_path):
    repo, rows = make_repo(tmp_path)
    server = Server(repo)
    try:
        conn = server.connect()
        new_id = N_DRIVERS + 500
        body = {"features": ["driver_stats:trips"], "entities": {"driver_id": [new_id]}}
        assert columns(post(conn, body)[1])["trips"][1] == ["NOT_FOUND"]
        now = dt.datetime.now(UTC).replace(microsecond=0)
        strata.write_table(os.path.join(repo, "data/driver_hourly"), pa.table({
            "driver_id": pa.array([new_id], pa.int64()),
            "event_timestamp": pa.array([now - dt.timedelta(minutes=1)], pa.timestamp("us", tz="UTC")),
            "conv_rate": [0.25], "trips": pa.array([4242], pa.int64()), "name": ["new"]}), mode="append")
        fs = strata.FeatureStore(repo)
        fs.materialize(now - dt.timedelta(hours=1), now)  # a primary in this process; the server follows
        fs.close()
        deadline = time.time() + 5
        while time.time() < deadline:
            values, statuses, _ = columns(post(conn, body)[1])["trips"]
            if statuses == ["PRESENT"]:
                break
            time.sleep(0.02)
        assert values == [4242] and statuses == ["PRESENT"]
    finally:
        assert server.stop() == 0


def test_newly_applied_registry_is_served(tmp_path):
    repo, rows = make_repo(tmp_path)
    server = Server(repo, "--registry-poll-ms", "50")
    try:
        conn = server.connect()
        body = {"features": ["driver_stats_v2:trips"], "entities": {"driver_id": [1]}}
        status, resp = post(conn, body)
        assert status == 400 and "unknown feature view 'driver_stats_v2'" in resp["error"]
        defs = Path(repo, "features.yaml").read_text()
        Path(repo, "features.yaml").write_text(defs.replace("on_demand_feature_views:", """\
  - name: driver_stats_v2
    entities: [driver]
    source: driver_hourly
    features: [{name: trips, type: int64}]
on_demand_feature_views:"""))
        fs = strata.FeatureStore(repo)
        fs.apply()
        fs.materialize(NOW - dt.timedelta(days=7), NOW, views=["driver_stats_v2"])
        fs.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            status, resp = post(conn, body)
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200 and columns(resp)["trips"][0] == [rows[1]["trips"]]
        conn.request("GET", "/health")
        assert json.loads(conn.getresponse().read())["registry_version"] == 1
    finally:
        assert server.stop() == 0
    assert "serving registry v1" in server.proc.stdout.read()


def test_sigterm_with_idle_and_busy_connections_exits_0(tmp_path):
    repo, _ = make_repo(tmp_path)
    server = Server(repo)
    idle = server.connect()
    assert post(idle, {"features": ["zone:demand"], "entities": {"zone_id": ["north"]}})[0] == 200
    # A client in the middle of sending a request when the signal arrives.
    partial = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    partial.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    time.sleep(0.1)
    start = time.time()
    assert server.stop(timeout=5) == 0
    assert time.time() - start < 5
    assert server.proc.stdout.read().strip() == "strata-server stopped"
    partial.close()


def test_start_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    p = subprocess.run([server_binary(), "--repo", str(empty), "--port", "0"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1 and "strata apply" in p.stderr
    p = subprocess.run([server_binary(), "--port", "0"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--repo is required" in p.stderr
    p = subprocess.run([server_binary(), "--repo", str(empty), "--port", "99999"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and "--port" in p.stderr


def test_strata_serve_cli(tmp_path):
    repo, _ = make_repo(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "strata", "serve", "--repo", repo, "--port", str(port),
                             "--threads", "1", "--registry-version", "0", "--refresh-ms", "100",
                             "--body-limit", "4096"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line, (line, proc.stderr.read() if proc.poll() else "")
        assert "(registry v0," in line
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert post(conn, {"features": ["zone:demand"], "entities": {"zone_id": ["south"]}})[1]["results"][1]["values"] \
            == [2.5]
        conn.request("POST", "/get-online-features", body=b"{" + b" " * 5000 + b"}")
        res = conn.getresponse()
        assert res.status == 413 and "larger than 4096 bytes" in json.loads(res.read())["error"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_store(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (scripts/setup installs it)")
    port = _free_port()
    redis = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        repo, rows = make_repo(tmp_path, f'{{type: redis, url: "redis://127.0.0.1:{port}/0", key_prefix: "srv:"}}')
        server = Server(repo)
        try:
            assert server.store == "redis"
            ids = [d for d in range(1, 40) if d % 5]
            status, resp = post(server.connect(), {"features": ["driver_stats:trips"], "entities": {"driver_id": ids}})
            assert status == 200
            assert columns(resp)["trips"][0] == [rows[d]["trips"] for d in ids]
        finally:
            assert server.stop() == 0
    finally:
        redis.terminate()
        redis.wait(10)
