"""Feature store: registry (apply, validation, versions), point-in-time training sets (brute-force
oracle, leakage, reproducibility, on-demand features), materialization (watermarks, change data
feed) and online retrieval on RocksDB and Redis."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pytest

import strata
from strata.errors import InvalidArgumentError

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 3, 1, tzinfo=UTC)

STRATA_YAML = "project: rides\nonline: {type: rocksdb, path: online}\n"
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
    created_timestamp_field: created
  - name: zone_stats
    table: data/zone_stats
    timestamp_field: ts
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_hourly
    ttl: 2h
    features: [{name: conv_rate, type: float64}, {name: trips, type: int64}]
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


def _ts(minutes: float) -> dt.datetime:
    return BASE + dt.timedelta(minutes=minutes)


def driver_rows(rng: random.Random, n: int, drivers: int = 20) -> pa.Table:
    # Minute-granular timestamps make exact ties common; created breaks some of them.
    return pa.table({
        "driver_id": pa.array([rng.randrange(drivers) for _ in range(n)], pa.int64()),
        "event_timestamp": pa.array([_ts(rng.randrange(0, 600)) for _ in range(n)], pa.timestamp("us", tz="UTC")),
        "created": pa.array([_ts(rng.randrange(0, 5)) for _ in range(n)], pa.timestamp("us", tz="UTC")),
        "conv_rate": pa.array([round(rng.random(), 4) for _ in range(n)], pa.float64()),
        "trips": pa.array([rng.randrange(100) for _ in range(n)], pa.int64()),
    })


def zone_rows(rng: random.Random, n: int) -> pa.Table:
    return pa.table({
        "zone_id": pa.array([rng.choice(["north", "south", "east", "wëst"]) for _ in range(n)]),
        "ts": pa.array([_ts(rng.randrange(0, 600)) for _ in range(n)], pa.timestamp("us", tz="UTC")),
        "demand": pa.array([rng.random() for _ in range(n)], pa.float64()),
    })


def make_repo(tmp_path, rng, n_driver=400, n_zone=100, cdf=False) -> str:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "strata.yaml").write_text(STRATA_YAML)
    (repo / "features.yaml").write_text(DEFS)
    conf = {"delta.enableChangeDataFeed": "true"} if cdf else None
    strata.write_table(str(repo / "data/driver_hourly"), driver_rows(rng, n_driver), configuration=conf)
    strata.write_table(str(repo / "data/zone_stats"), zone_rows(rng, n_zone))
    return str(repo)


# --- registry ---------------------------------------------------------------------------------------
def test_apply_plan_versions_and_listing(tmp_path):
    repo = make_repo(tmp_path, random.Random(1))
    fs = strata.FeatureStore(repo)
    with pytest.raises(InvalidArgumentError, match="strata apply|apply\\(\\)"):
        fs.list_feature_views()
    assert fs.plan() == ["+ entity driver", "+ entity zone", "+ source driver_hourly", "+ source zone_stats",
                         "+ feature_view driver_stats", "+ feature_view zone", "+ on_demand_feature_view adjusted",
                         "+ feature_service eta_model"]
    r = fs.apply()
    assert r.version == 0 and len(r.plan) == 8
    assert fs.apply().version is None  # nothing changed: no new version
    assert sorted(v.name for v in fs.list_feature_views()) == ["driver_stats", "zone"]
    fv = fs.get_feature_view("driver_stats")
    assert fv.ttl == dt.timedelta(hours=2) and [f.name for f in fv.features] == ["conv_rate", "trips"]
    assert fv.location == "features.yaml:15"

    (tmp_path / "repo/features.yaml").write_text(DEFS.replace("ttl: 2h", "ttl: 3h"))
    r = fs.apply()
    assert r.version == 1 and r.plan == ["~ feature_view driver_stats (ttl 2h -> 3h)"]
    hist = fs.registry_history()
    assert [h["version"] for h in hist] == [0, 1]
    assert fs.registry(0).feature_views["driver_stats"].ttl == dt.timedelta(hours=2)
    assert fs.get_feature_view("driver_stats").ttl == dt.timedelta(hours=3)
    # The registry is a Delta table other engines read.
    deltalake = pytest.importorskip("deltalake")
    assert deltalake.DeltaTable(os.path.join(repo, ".strata/registry")).to_pyarrow_table().num_rows == 2


@pytest.mark.parametrize("edit, message", [
    (("source: zone_stats\n    features", "source: nowhere\n    features"),
     "features.yaml:20: feature view 'zone': unknown source 'nowhere'"),
    (("{name: demand, type: float64}", "{name: demand, type: float64}, {name: surge, type: float64}"),
     "features.yaml:20: feature view 'zone' (source 'zone_stats', table data/zone_stats): feature 'surge' is not a "
     "column"),
    (("{name: trips, type: int64}", "{name: trips, type: string}"),
     "features.yaml:15: feature view 'driver_stats' (source 'driver_hourly', table data/driver_hourly): feature "
     "'trips' is declared string but the column is int64"),
    (("{name: zone_id, type: string}", "{name: zone_key, type: string}"),
     "entity join key 'zone_key' is not a column"),
    (("timestamp_field: ts", "timestamp_field: when"), "features.yaml:11: source 'zone_stats': timestamp_field 'when'"),
    (("  - name: zone\n    entities", "  - name: driver_stats\n    entities"),
     "features.yaml:20: duplicate feature_view 'driver_stats' (first declared at features.yaml:15)"),
    (("ttl: 2h", "ttl: two hours"), "features.yaml:18: feature view 'driver_stats': ttl 'two hours'"),
])
def test_apply_errors_name_file_and_line(tmp_path, edit, message):
    repo = make_repo(tmp_path, random.Random(2), 10, 10)
    (tmp_path / "repo/features.yaml").write_text(DEFS.replace(*edit))
    fs = strata.FeatureStore(repo)
    with pytest.raises(InvalidArgumentError) as e:
        fs.apply()
    assert message in str(e.value)
    assert not os.path.exists(os.path.join(repo, ".strata/registry"))  # nothing stored


def test_cli_apply_and_registry_history(tmp_path):
    repo = make_repo(tmp_path, random.Random(3), 10, 10)
    cli = [sys.executable, "-m", "strata"]
    out = subprocess.run(cli + ["apply", "--repo", repo], capture_output=True, text=True, check=True).stdout
    assert "+ feature_view driver_stats" in out and "applied registry version 0" in out
    out = subprocess.run(cli + ["apply", "--repo", repo], capture_output=True, text=True, check=True).stdout
    assert "registry unchanged" in out
    out = subprocess.run(cli + ["registry", "history", "--repo", repo], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("version   0")
    (tmp_path / "repo/features.yaml").write_text(DEFS.replace("source: driver_hourly\n    ttl", "source: x\n    ttl"))
    p = subprocess.run(cli + ["apply", "--repo", repo], capture_output=True, text=True)
    assert p.returncode == 1 and "features.yaml:15: feature view 'driver_stats': unknown source 'x'" in p.stderr


# --- offline retrieval ---------------------------------------------------------------------------------
def brute_force(entity: pa.Table, rows: pa.Table, key: str, ts: str, created: str | None, ttl: dt.timedelta | None,
                features: list[str]) -> dict[str, list]:
    """For each entity row: the feature row with the same key and T - ttl <= t <= T, largest t, then
    largest created; ties beyond that: the row read last (highest index)."""
    r = rows.to_pylist()
    out = {f: [] for f in features}
    for e in entity.to_pylist():
        best, best_i = None, -1
        for i, row in enumerate(r):
            if row[key] != e[key] or row[ts] is None or row[ts] > e["event_timestamp"]:
                continue
            if ttl is not None and row[ts] < e["event_timestamp"] - ttl:
                continue
            version = (row[ts], row[created] if created else None)
            if best is None or (version[0], version[1] or dt.datetime.min.replace(tzinfo=UTC)) >= (
                    best[0], best[1] or dt.datetime.min.replace(tzinfo=UTC)):
                best, best_i = version, i
        for f in features:
            out[f].append(r[best_i][f] if best is not None else None)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_historical_features_match_brute_force(tmp_path, seed):
    rng = random.Random(seed)
    repo = make_repo(tmp_path, rng, n_driver=300, n_zone=80)
    fs = strata.FeatureStore(repo)
    fs.apply()
    n = 150
    entity = pa.table({
        "driver_id": pa.array([rng.randrange(25) for _ in range(n)], pa.int64()),  # some drivers never appear
        "zone_id": pa.array([rng.choice(["north", "south", "wëst", "nowhere"]) for _ in range(n)]),
        "event_timestamp": pa.array([_ts(rng.randrange(-30, 700)) for _ in range(n)], pa.timestamp("us", tz="UTC")),
        "bonus": pa.array([float(rng.randrange(3)) for _ in range(n)]),
        "label": pa.array([rng.randrange(2) for _ in range(n)], pa.int64()),
    })
    got = fs.get_historical_features(entity, features=["driver_stats:conv_rate", "driver_stats:trips", "zone:demand",
                                                       "adjusted:score"])
    assert got.column_names == entity.column_names + ["conv_rate", "trips", "demand", "score"]
    assert got.select(entity.column_names).equals(entity)  # entity columns and row order kept
    drivers = strata.Table(os.path.join(repo, "data/driver_hourly")).to_arrow()
    zones = strata.Table(os.path.join(repo, "data/zone_stats")).to_arrow()
    want = brute_force(entity, drivers, "driver_id", "event_timestamp", "created", dt.timedelta(hours=2),
                       ["conv_rate", "trips"])
    want.update(brute_force(entity, zones, "zone_id", "ts", None, None, ["demand"]))
    for f in ["conv_rate", "trips", "demand"]:
        assert got[f].to_pylist() == want[f], f
    bonus = entity["bonus"].to_pylist()
    assert got["score"].to_pylist() == [None if c is None else c * 10 + b for c, b in zip(want["conv_rate"], bonus)]

    by_service = fs.get_historical_features(entity, feature_service="eta_model", full_feature_names=True)
    assert by_service.column_names[-3:] == ["driver_stats__conv_rate", "driver_stats__trips", "zone__demand"]
    assert by_service["zone__demand"].to_pylist() == want["demand"]


def test_no_leakage_from_the_future(tmp_path):
    """Feature values equal their own event time; labels are the next (future) value. A training
    row may only ever carry a value from at or before its timestamp, so no feature reaches its label."""
    rng = random.Random(7)
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "strata.yaml").write_text(STRATA_YAML)
    (repo / "features.yaml").write_text(DEFS.replace("    ttl: 2h\n", ""))
    times = sorted({rng.randrange(0, 10_000) for _ in range(500)})
    strata.write_table(str(repo / "data/driver_hourly"), pa.table({
        "driver_id": pa.array([1] * len(times), pa.int64()),
        "event_timestamp": pa.array([_ts(t) for t in times], pa.timestamp("us", tz="UTC")),
        "created": pa.array([_ts(0)] * len(times), pa.timestamp("us", tz="UTC")),
        "conv_rate": pa.array([float(t) for t in times]),
        "trips": pa.array(times, pa.int64()),
    }))
    strata.write_table(str(repo / "data/zone_stats"), zone_rows(rng, 5))
    fs = strata.FeatureStore(str(repo))
    fs.apply()
    ts = [rng.randrange(0, 10_000) for _ in range(400)]
    labels = [next((float(t) for t in times if t > x), None) for x in ts]
    entity = pa.table({"driver_id": pa.array([1] * len(ts), pa.int64()),
                       "event_timestamp": pa.array([_ts(x) for x in ts], pa.timestamp("us", tz="UTC")),
                       "label": labels})
    got = fs.get_historical_features(entity, features=["driver_stats:conv_rate"])
    for x, v, label in zip(ts, got["conv_rate"].to_pylist(), labels):
        assert v is None or v <= x
        assert label is None or v is None or v < label
    # And the feature is exactly the latest past value (not merely "not future").
    assert got["conv_rate"].to_pylist() == [max((float(t) for t in times if t <= x), default=None) for x in ts]


def test_reproducible_with_versions_and_saved_datasets(tmp_path):
    rng = random.Random(11)
    repo = make_repo(tmp_path, rng, 300, 50)
    fs = strata.FeatureStore(repo)
    fs.apply()
    entity = pa.table({"driver_id": pa.array([rng.randrange(20) for _ in range(100)], pa.int64()),
                       "zone_id": pa.array(["north"] * 100),
                       "event_timestamp": pa.array([_ts(rng.randrange(0, 700)) for _ in range(100)],
                                                   pa.timestamp("us", tz="UTC"))})
    first = fs.get_historical_features(entity, feature_service="eta_model")
    import json

    lineage = json.loads(first.schema.metadata[b"strata.lineage"])
    assert lineage["sources"]["driver_hourly"]["version"] == 0
    fs.save_dataset("train_v1", first)
    # New data arrives (later corrections at the same timestamps).
    newer = driver_rows(rng, 300).set_column(2, "created", pa.array([_ts(100)] * 300, pa.timestamp("us", tz="UTC")))
    strata.write_table(os.path.join(repo, "data/driver_hourly"), newer)
    now = fs.get_historical_features(entity, feature_service="eta_model")
    assert not now.equals(first)
    again = fs.get_historical_features(
        entity, feature_service="eta_model",
        as_of_versions={k: v["version"] for k, v in lineage["sources"].items()})
    assert again.equals(first) and again.schema.metadata == first.schema.metadata
    sink_a, sink_b = pa.BufferOutputStream(), pa.BufferOutputStream()
    for sink, t in ((sink_a, first), (sink_b, again)):
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
    assert sink_a.getvalue().equals(sink_b.getvalue())  # byte for byte
    from_saved = fs.get_historical_features(dataset="train_v1")
    assert from_saved.equals(first)
    saved = fs.get_dataset("train_v1")
    assert saved.equals(first)


def test_historical_errors(tmp_path):
    repo = make_repo(tmp_path, random.Random(5), 10, 10)
    fs = strata.FeatureStore(repo)
    fs.apply()
    entity = pa.table({"driver_id": [1], "event_timestamp": pa.array([_ts(0)], pa.timestamp("us", tz="UTC"))})
    with pytest.raises(InvalidArgumentError, match="unknown feature 'nope' of view 'driver_stats'"):
        fs.get_historical_features(entity, features=["driver_stats:nope"])
    with pytest.raises(InvalidArgumentError, match="unknown feature view 'ghost'"):
        fs.get_historical_features(entity, features=["ghost:x"])
    with pytest.raises(InvalidArgumentError, match="lacks join key 'zone_id'"):
        fs.get_historical_features(entity, features=["zone:demand"])
    with pytest.raises(InvalidArgumentError, match="event_timestamp"):
        fs.get_historical_features(pa.table({"driver_id": [1]}), features=["driver_stats:trips"])
    with pytest.raises(InvalidArgumentError, match="unknown feature service 'x'"):
        fs.get_historical_features(entity, feature_service="x")


# --- materialization and online retrieval ---------------------------------------------------------------
def latest_offline(table: pa.Table, key: str, ts: str, created: str | None, end: dt.datetime, start=None):
    best = {}
    for i, r in enumerate(table.to_pylist()):
        if r[ts] > end or (start is not None and r[ts] < start):
            continue
        v = (r[ts], r[created] if created else dt.datetime.min.replace(tzinfo=UTC), i)
        if r[key] not in best or v >= best[r[key]][0]:
            best[r[key]] = (v, r)
    return {k: r for k, (_, r) in best.items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (scripts/setup installs it)")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize("store", ["rocksdb", "redis"])
def test_online_equals_last_offline_per_entity(tmp_path, store, request):
    rng = random.Random(21)
    repo = make_repo(tmp_path, rng, 2000, 200)
    if store == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = f"t{rng.randrange(1 << 30)}:"
        (tmp_path / "repo/strata.yaml").write_text(f"project: rides\nonline: {{type: redis, url: \"{url}\", "
                                                   f"key_prefix: \"{prefix}\"}}\n")
    fs = strata.FeatureStore(repo)
    fs.apply()
    end = _ts(600)
    runs = fs.materialize(None, end)
    assert {r["view"] for r in runs} == {"driver_stats", "zone"}
    drivers = strata.Table(os.path.join(repo, "data/driver_hourly")).to_arrow()
    want = latest_offline(drivers, "driver_id", "event_timestamp", "created", end)
    assert runs[0]["rows_written"] == len(want)
    ids = sorted(want) + [10_000]  # one unknown entity
    # "now" inside every row's TTL: evaluate against the stored event time rather than the clock.
    got = fs.get_online_features(features=["driver_stats:conv_rate", "driver_stats:trips"],
                                 entities={"driver_id": ids}, with_status=True)
    assert got["driver_id"] == ids
    for i, d in enumerate(ids):
        if d not in want:
            assert got["conv_rate"][i] is None and got["__status__"]["conv_rate"][i] == "NOT_FOUND"
            continue
        # Rows from March 2026 are far outside the 2h TTL today: served as missing, OUTSIDE_MAX_AGE,
        # with the stored event time.
        assert got["__status__"]["conv_rate"][i] == "OUTSIDE_MAX_AGE"
        assert got["__event_timestamp__"]["conv_rate"][i] == want[d]["event_timestamp"]
    zones = strata.Table(os.path.join(repo, "data/zone_stats")).to_arrow()
    zwant = latest_offline(zones, "zone_id", "ts", None, end)
    zids = sorted(zwant)
    got = fs.get_online_features(features=["zone:demand"], entity_rows=[{"zone_id": z} for z in zids],
                                 with_status=True)
    assert got["demand"] == [zwant[z]["demand"] for z in zids]  # no TTL: every value present
    assert set(got["__status__"]["demand"]) == {"PRESENT"}
    fs.close()


def test_online_ttl_and_on_demand(tmp_path):
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "strata.yaml").write_text(STRATA_YAML)
    (repo / "features.yaml").write_text(DEFS)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    strata.write_table(str(repo / "data/driver_hourly"), pa.table({
        "driver_id": pa.array([1, 2, 2], pa.int64()),
        "event_timestamp": pa.array([now - dt.timedelta(minutes=30), now - dt.timedelta(hours=3),
                                     now - dt.timedelta(hours=5)], pa.timestamp("us", tz="UTC")),
        "created": pa.array([now] * 3, pa.timestamp("us", tz="UTC")),
        "conv_rate": [0.5, 0.7, 0.9], "trips": pa.array([5, 7, 9], pa.int64())}))
    strata.write_table(str(repo / "data/zone_stats"), zone_rows(random.Random(1), 5))
    fs = strata.FeatureStore(str(repo))
    fs.apply()
    fs.materialize(now - dt.timedelta(days=1), now)
    got = fs.get_online_features(features=["driver_stats:conv_rate", "adjusted:score"],
                                 entity_rows=[{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}],
                                 request_data={"bonus": [1.0, 2.0, 3.0]}, with_status=True)
    assert got["conv_rate"] == [0.5, None, None]
    assert got["__status__"]["conv_rate"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert got["score"][0] == pytest.approx(6.0)
    assert got["score"][1:] == [None, None]
    fs.close()


def test_materialize_incremental_window_and_cdf(tmp_path):
    for cdf in (False, True):
        rng = random.Random(31)
        root = tmp_path / f"cdf{cdf}"
        root.mkdir()
        repo = make_repo(root, rng, 500, 20, cdf=cdf)
        fs = strata.FeatureStore(repo)
        fs.apply()
        first = fs.materialize_incremental(_ts(300), views=["driver_stats"])[0]
        assert first["used_cdf"] is False
        # New rows: some in the future window, some late (event time before the watermark).
        late = driver_rows(rng, 100)
        late = late.set_column(1, "event_timestamp",
                               pa.array([_ts(rng.randrange(0, 600)) for _ in range(100)], pa.timestamp("us", tz="UTC")))
        late = late.set_column(2, "created", pa.array([_ts(50)] * 100, pa.timestamp("us", tz="UTC")))
        strata.write_table(os.path.join(repo, "data/driver_hourly"), late)
        second = fs.materialize_incremental(_ts(600), views=["driver_stats"])[0]
        hist = fs.materialization_history()
        assert [h["view"] for h in hist] == ["driver_stats", "driver_stats"]
        v0 = strata.Table(os.path.join(repo, "data/driver_hourly"), version=0).to_arrow().to_pylist()
        new_rows = late.to_pylist()
        # First window: [300 - ttl (2h), 300]. Then the window (300, 600]; with the feed also every
        # new row up to 600, the late ones included.
        loaded = [r for r in v0 if _ts(180) <= r["event_timestamp"] <= _ts(600)]
        if cdf:
            assert second["used_cdf"] is True
            assert second["rows_read"] == 100 + sum(1 for r in v0 if _ts(300) <= r["event_timestamp"] <= _ts(600))
            loaded += new_rows
        else:
            assert second["used_cdf"] is False and second["start_us"] == hist[0]["end_us"]
            loaded += [r for r in new_rows if r["event_timestamp"] >= _ts(300)]
        want = latest_offline(pa.Table.from_pylist(loaded), "driver_id", "event_timestamp", "created", _ts(600))
        ids = sorted(want)
        got = fs.get_online_features(features=["driver_stats:trips"], entities={"driver_id": ids}, with_status=True)
        assert got["__event_timestamp__"]["trips"] == [want[i]["event_timestamp"] for i in ids], cdf
        fs.close()


KILL_SCRIPT = textwrap.dedent("""
    import sys, datetime as dt, os
    import strata
    fs = strata.FeatureStore(sys.argv[1])
    def progress(view, read, written):
        if written > 0:
            print("WRITING", flush=True)
            os.kill(os.getpid(), 9) if sys.argv[2] == "suicide" else None
    fs.materialize(None, dt.datetime(2027, 1, 1), progress=progress)
    print("DONE", flush=True)
""")


def test_materialize_killed_and_rerun_gives_the_same_store(tmp_path):
    rng = random.Random(41)
    repo = make_repo(tmp_path, rng, 60_000, 100)
    # Many entities so the write phase spans several batches.
    strata.write_table(os.path.join(repo, "data/driver_hourly"),
                       driver_rows(rng, 60_000, drivers=50_000))
    fs = strata.FeatureStore(repo)
    fs.apply()
    script = tmp_path / "mat.py"
    script.write_text(KILL_SCRIPT)
    p = subprocess.run([sys.executable, str(script), repo, "suicide"], capture_output=True, text=True, timeout=300)
    assert p.returncode == -9 and "WRITING" in p.stdout and "DONE" not in p.stdout
    assert fs.materialization_history() == []  # the killed run recorded nothing
    p = subprocess.run([sys.executable, str(script), repo, "normal"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "DONE" in p.stdout, p.stderr
    all_rows = strata.Table(os.path.join(repo, "data/driver_hourly")).to_arrow()
    want = latest_offline(all_rows, "driver_id", "event_timestamp", "created", dt.datetime(2027, 1, 1, tzinfo=UTC))
    ids = sorted(want)
    got = fs.get_online_features(features=["driver_stats:trips"], entities={"driver_id": ids}, with_status=True)
    assert got["__event_timestamp__"]["trips"] == [want[i]["event_timestamp"] for i in ids]
    fs.close()


def test_spark_engine_gives_the_same_training_set(tmp_path, spark):
    """engine="spark": the same retrieval as one Spark SQL query over the same table versions."""
    rng = random.Random(51)
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "strata.yaml").write_text(STRATA_YAML)
    (repo / "features.yaml").write_text(DEFS)
    rows = driver_rows(rng, 400)
    # distinct created timestamps: a tie on both timestamps is the one case engines may pick differently
    rows = rows.set_column(2, "created", pa.array([_ts(i / 60) for i in range(400)], pa.timestamp("us", tz="UTC")))
    strata.write_table(str(repo / "data/driver_hourly"), rows)
    strata.write_table(str(repo / "data/driver_hourly"), driver_rows(rng, 10).set_column(
        2, "created", pa.array([_ts(1000 + i) for i in range(10)], pa.timestamp("us", tz="UTC"))))
    strata.write_table(str(repo / "data/zone_stats"), zone_rows(rng, 100))
    fs = strata.FeatureStore(str(repo))
    fs.apply()
    n = 200
    entity = pa.table({
        "driver_id": pa.array([rng.randrange(25) for _ in range(n)], pa.int64()),
        "zone_id": pa.array([rng.choice(["north", "south", "wëst", "nowhere"]) for _ in range(n)]),
        "event_timestamp": pa.array([_ts(rng.randrange(-30, 700)) for _ in range(n)], pa.timestamp("us", tz="UTC")),
        "label": pa.array([rng.randrange(2) for _ in range(n)], pa.int64()),
    })
    feats = ["driver_stats:conv_rate", "driver_stats:trips", "zone:demand"]
    local = fs.get_historical_features(entity, features=feats, as_of_versions={"driver_hourly": 0})
    on_spark = fs.get_historical_features(entity, features=feats, as_of_versions={"driver_hourly": 0},
                                          engine="spark", spark=spark)
    assert on_spark.drop_columns([]).replace_schema_metadata(None).equals(local.replace_schema_metadata(None))
    assert b'"engine": "spark"' in on_spark.schema.metadata[b"strata.lineage"]
    assert sum(v is not None for v in local["conv_rate"].to_pylist()) > 20  # the comparison is not vacuous
