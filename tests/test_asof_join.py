"""The point-in-time (as-of) join, strata._strata.point_in_time_join, against two oracles:

- a brute-force Python model of ARCHITECTURE.md "Point-in-time semantics, exactly" (TTL, created
  timestamp tie-break, NULL keys and timestamps, duplicate entity rows, multi-column and string
  keys), on seeded and hypothesis-generated data;
- DuckDB's ASOF LEFT JOIN on data it can express (no TTL, no ties in a key's event timestamps).

Both must agree with strata exactly, row by row, in the entity frame's order. Each case also runs
with a one-byte memory budget, so the out-of-core (spilling) path is checked the same way.
"""

from __future__ import annotations

import random
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pytest

try:
    from strata import _strata
except ImportError:  # pragma: no cover - the extension is not built
    _strata = None

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.skipif(
    _strata is None or not hasattr(_strata, "point_in_time_join"),
    reason="strata._strata.point_in_time_join is not in this build (python/src/features_bindings.cc not wired yet)",
)


# --------------------------------------------------------------------------------------------
# the call
# --------------------------------------------------------------------------------------------
def pit_join(entity: pa.Table, views: list[dict], stats: bool = False, **kw) -> Any:
    """Runs the join; views are dicts whose "data" is a pyarrow table. Returns a pyarrow Table
    (and the stats dict when stats=True)."""
    vs = [dict(v, data=v["data"]) for v in views]
    res = _strata.point_in_time_join(entity, vs, return_stats=stats, **kw)
    cap, st_ = res if stats else (res, None)
    out = pa.RecordBatchReader._import_from_c_capsule(cap).read_all()
    return (out, st_) if stats else out


# --------------------------------------------------------------------------------------------
# brute-force reference
# --------------------------------------------------------------------------------------------
def _nanos(col: pa.ChunkedArray | pa.Array) -> list[Optional[int]]:
    """Timestamps as integer nanoseconds since the epoch (instants: the time zone does not matter)."""
    unit = col.type.unit
    f = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    raw = pc.cast(col, pa.int64()).to_pylist()
    return [None if v is None else v * f for v in raw]


def _keys(t: pa.Table, cols: list[str]) -> list[Optional[tuple]]:
    per_col = []
    for c in cols:
        col = t[c]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        per_col.append(col.to_pylist())
    out = []
    for i in range(t.num_rows):
        k = tuple(pc_[i] for pc_ in per_col)
        out.append(None if any(v is None for v in k) else k)
    return out


def reference(entity: pa.Table, views: list[dict], entity_ts: str = "event_timestamp",
              full_feature_names: bool = False) -> pa.Table:
    """For each entity row and view, scans the view's rows with the same key: among those with
    T - ttl <= t <= T, the largest t, then the largest created timestamp (NULL lowest), then the
    last row read; no such row gives NULL."""
    T = _nanos(entity[entity_ts])
    out = entity
    for v in views:
        rows: pa.Table = v["data"]
        ekeys = _keys(entity, v.get("entity_keys") or v["join_keys"])
        fkeys = _keys(rows, v["join_keys"])
        ft = _nanos(rows[v["timestamp_column"]])
        created = v.get("created_timestamp_column")
        fc = _nanos(rows[created]) if created else [0] * rows.num_rows
        ttl = v.get("ttl_us")
        by_key: dict[tuple, list[int]] = {}
        for i, k in enumerate(fkeys):
            if k is not None and ft[i] is not None:
                by_key.setdefault(k, []).append(i)
        picks = []
        for e in range(entity.num_rows):
            best = None
            if ekeys[e] is not None and T[e] is not None:
                for i in by_key.get(ekeys[e], []):
                    t = ft[i]
                    if t > T[e] or (ttl is not None and t < T[e] - ttl * 1000):
                        continue
                    rank = (t, -1 if fc[i] is None else 0, fc[i] or 0, i)
                    if best is None or rank > best[0]:
                        best = (rank, i)
            picks.append(None if best is None else best[1])
        idx = pa.array(picks, pa.int64())
        names = v.get("output_names") or [
            f"{v['name']}__{f}" if full_feature_names else f for f in v["features"]
        ]
        for f, name in zip(v["features"], names):
            out = out.append_column(pa.field(name, rows.schema.field(f).type), rows[f].take(idx))
    return out


def assert_same(got: pa.Table, want: pa.Table, context: str = "") -> None:
    assert got.column_names == want.column_names, context
    assert got.num_rows == want.num_rows, context
    for name in want.column_names:
        g, w = got[name], want[name]
        assert g.type == w.type, f"{context}: column {name}: {g.type} != {w.type}"
        gl, wl = g.to_pylist(), w.to_pylist()
        if gl != wl:
            bad = next(i for i in range(len(wl)) if gl[i] != wl[i])
            raise AssertionError(f"{context}: column {name!r} row {bad}: got {gl[bad]!r}, want {wl[bad]!r}")


def check_all_paths(entity: pa.Table, views: list[dict], **kw) -> pa.Table:
    """strata in memory, single-threaded and spilled must each equal the reference."""
    want = reference(entity, views, kw.get("entity_timestamp_column", "event_timestamp"),
                     kw.get("full_feature_names", False))
    assert_same(pit_join(entity, views, **kw), want, "in memory")
    assert_same(pit_join(entity, views, parallelism=1, partitions=1, **kw), want, "one thread")
    got, stats = pit_join(entity, views, stats=True, memory_budget_bytes=1, partitions=4, **kw)
    assert_same(got, want, "spilled")
    assert stats["views_spilled"] == sum(1 for v in views if v["data"].num_rows and v["features"])
    return want


# --------------------------------------------------------------------------------------------
# random data
# --------------------------------------------------------------------------------------------
def random_case(seed: int, n_entity: int = 400, n_rows: int = 2000):
    rng = random.Random(seed)
    nkeys = rng.randint(1, 30)
    span = rng.randint(5, 100)

    def maybe(v, p=0.05):
        return None if rng.random() < p else v

    def ts(factor):  # mostly whole seconds: many ties
        return lambda: rng.randint(0, span) * factor + (rng.randint(0, factor - 1) if rng.random() < 0.2 else 0)

    ts_ms, ts_us, ts_ns = ts(10**3), ts(10**6), ts(10**9)
    base = [dict(driver_id=maybe(rng.randint(0, nkeys + 5)), store=maybe(f"s{rng.randint(0, nkeys)}"),
                 ea=maybe(rng.randint(0, 3)), eb=maybe(f"b{rng.randint(0, 3)}"),
                 event_timestamp=maybe(ts_ms()), label=rng.random()) for _ in range(n_entity)]
    picks = [rng.randrange(n_entity) for _ in range(n_entity + n_entity // 4)] if n_entity else []
    ent = [base[i] for i in picks]  # duplicate entity rows
    entity = pa.table({
        "driver_id": pa.array([r["driver_id"] for r in ent], pa.int64()),
        "store": pa.array([r["store"] for r in ent], pa.string()),
        "ea": pa.array([r["ea"] for r in ent], pa.int64()),
        "eb": pa.array([r["eb"] for r in ent], pa.string()),
        "event_timestamp": pa.array([r["event_timestamp"] for r in ent], pa.timestamp("ms", tz="UTC")),
        "label": pa.array([r["label"] for r in ent], pa.float64()),
    })
    ttls = [None, 0, 1_000_000, 10_000_000, 30_500_000]
    n1, n2, n3 = (rng.randint(0, n_rows) for _ in range(3))
    v1 = pa.table({
        "driver_id": pa.array([maybe(rng.randint(0, nkeys), 0.03) for _ in range(n1)], pa.int32()),
        "ts": pa.array([maybe(ts_us(), 0.03) for _ in range(n1)], pa.timestamp("us", tz="America/New_York")),
        "created": pa.array([maybe(rng.randint(0, 3), 0.2) for _ in range(n1)], pa.timestamp("s")),
        "conv_rate": pa.array([maybe(rng.random(), 0.1) for _ in range(n1)], pa.float64()),
        "trips": pa.array([rng.randint(0, 10**6) for _ in range(n1)], pa.int64()),
    })
    v2 = pa.table({
        "store": pa.array([maybe(f"s{rng.randint(0, nkeys)}", 0.03) for _ in range(n2)], pa.large_string()),
        "t": pa.array([maybe(ts_ns(), 0.03) for _ in range(n2)], pa.timestamp("ns")),
        "name": pa.array([maybe(f"n{rng.randint(0, 10**5)}", 0.1) for _ in range(n2)], pa.string()),
    })
    v3 = pa.table({
        "a": pa.array([maybe(rng.randint(0, 3), 0.03) for _ in range(n3)], pa.int16()),
        "b": pa.array([maybe(f"b{rng.randint(0, 3)}", 0.03) for _ in range(n3)], pa.string()),
        "when": pa.array([maybe(rng.randint(0, span), 0.03) for _ in range(n3)], pa.timestamp("s", tz="+05:30")),
        "made": pa.array([maybe(rng.randint(0, 2), 0.1) for _ in range(n3)], pa.timestamp("ms")),
        "v": pa.array([maybe(rng.randint(0, 1000), 0.1) for _ in range(n3)], pa.int32()),
    })
    views = [
        dict(name="driver_stats", data=v1, join_keys=["driver_id"], timestamp_column="ts",
             created_timestamp_column="created", ttl_us=rng.choice(ttls), features=["conv_rate", "trips"]),
        dict(name="store_stats", data=v2, join_keys=["store"], timestamp_column="t", ttl_us=rng.choice(ttls),
             features=["name"]),
        dict(name="pair", data=v3, join_keys=["a", "b"], entity_keys=["ea", "eb"], timestamp_column="when",
             created_timestamp_column="made", ttl_us=rng.choice(ttls), features=["v", "a"],
             output_names=["pair_v", "pair_a"]),
    ]
    return entity, views


@pytest.mark.parametrize("seed", range(12))
def test_random_against_reference(seed):
    entity, views = random_case(seed)
    want = check_all_paths(entity, views, full_feature_names=seed % 2 == 1)
    if seed == 0:  # the data must exercise both outcomes
        col = want.column(6)
        assert 0 < col.null_count < len(col)


small_ts = st.one_of(st.none(), st.integers(0, 12))


@st.composite
def small_case(draw):
    keys = st.one_of(st.none(), st.integers(0, 3))
    ne = draw(st.integers(0, 12))
    nf = draw(st.integers(0, 25))
    entity = pa.table({
        "k": pa.array([draw(keys) for _ in range(ne)], pa.int64()),
        "event_timestamp": pa.array([draw(small_ts) for _ in range(ne)], pa.timestamp("s")),
    })
    rows = pa.table({
        "k": pa.array([draw(keys) for _ in range(nf)], pa.int64()),
        "t": pa.array([None if (x := draw(small_ts)) is None else x * 1000 for _ in range(nf)], pa.timestamp("ms")),
        "c": pa.array([draw(st.one_of(st.none(), st.integers(0, 2))) for _ in range(nf)], pa.timestamp("us")),
        "f": pa.array(list(range(nf)), pa.int64()),
    })
    ttl = draw(st.one_of(st.none(), st.integers(0, 4)))
    view = dict(name="v", data=rows, join_keys=["k"], timestamp_column="t", created_timestamp_column="c",
                ttl_us=None if ttl is None else ttl * 1_000_000, features=["f"])
    return entity, [view]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_case())
def test_hypothesis_against_reference(case):
    entity, views = case
    check_all_paths(entity, views)


# --------------------------------------------------------------------------------------------
# DuckDB's ASOF JOIN
# --------------------------------------------------------------------------------------------
def duckdb_case(seed: int, n_entity: int = 3000, n_rows: int = 20000):
    """No TTL and no ties: each key's event timestamps are distinct. NULL keys and timestamps on
    both sides, duplicate entity rows, keys with no rows."""
    rng = random.Random(seed)
    nkeys = 200
    ent_keys = [None if rng.random() < 0.03 else rng.randint(0, nkeys + 20) for _ in range(n_entity)]
    ent_ts = [None if rng.random() < 0.03 else rng.randint(0, 10**9) for _ in range(n_entity)]
    dup = [rng.randrange(n_entity) for _ in range(n_entity // 5)]
    entity = pa.table({
        "driver_id": pa.array(ent_keys + [ent_keys[i] for i in dup], pa.int64()),
        "event_timestamp": pa.array(ent_ts + [ent_ts[i] for i in dup], pa.timestamp("us")),
        "label": pa.array(list(range(n_entity + len(dup))), pa.int64()),
    })
    used: set[tuple] = set()
    fk, ft = [], []
    while len(fk) < n_rows:
        k = None if rng.random() < 0.02 else rng.randint(0, nkeys)
        t = rng.randint(0, 10**9)
        if (k, t) in used:
            continue
        used.add((k, t))
        fk.append(k)
        ft.append(None if rng.random() < 0.02 else t)
    rows = pa.table({
        "driver_id": pa.array(fk, pa.int64()),
        "ts": pa.array(ft, pa.timestamp("us")),
        "conv_rate": pa.array([rng.random() for _ in fk], pa.float64()),
        "trips": pa.array([rng.randint(0, 1000) for _ in fk], pa.int64()),
    })
    skeys = [f"s{rng.randint(0, 50)}" for _ in range(n_rows // 2)]
    sts, seen = [], set()
    for k in skeys:
        t = rng.randint(0, 10**9)
        while (k, t) in seen:
            t = rng.randint(0, 10**9)
        seen.add((k, t))
        sts.append(t)
    entity = entity.append_column("store", pa.array([None if rng.random() < 0.05 else f"s{rng.randint(0, 60)}"
                                                     for _ in range(entity.num_rows)], pa.string()))
    stores = pa.table({"store": pa.array(skeys, pa.string()), "ts": pa.array(sts, pa.timestamp("us")),
                       "rating": pa.array([rng.random() for _ in skeys], pa.float64())})
    views = [
        dict(name="driver_stats", data=rows, join_keys=["driver_id"], timestamp_column="ts",
             features=["conv_rate", "trips"]),
        dict(name="store_stats", data=stores, join_keys=["store"], timestamp_column="ts", features=["rating"]),
    ]
    return entity, views


def duckdb_asof(entity: pa.Table, views: list[dict]) -> pa.Table:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    e = entity.append_column("__rid", pa.array(range(entity.num_rows), pa.int64()))
    con.register("e", e)
    sel = ["e.* EXCLUDE (__rid)"]
    joins = []
    for i, v in enumerate(views):
        con.register(f"f{i}", v["data"])
        (k,) = v["join_keys"]
        sel += [f'f{i}."{f}"' for f in v["features"]]
        joins.append(f'ASOF LEFT JOIN f{i} ON e."{k}" = f{i}."{k}" '
                     f'AND e.event_timestamp >= f{i}."{v["timestamp_column"]}"')
    q = f"SELECT {', '.join(sel)} FROM e {' '.join(joins)} ORDER BY e.__rid"
    return con.sql(q).to_arrow_table()


@pytest.mark.parametrize("seed", range(4))
def test_against_duckdb_asof_join(seed):
    entity, views = duckdb_case(seed)
    want_ref = reference(entity, views)
    want_duck = duckdb_asof(entity, views)
    got = pit_join(entity, views)
    assert got.column_names == want_duck.column_names
    for name in got.column_names:
        assert got[name].to_pylist() == want_duck[name].to_pylist(), f"strata vs DuckDB: column {name}"
    assert_same(got, want_ref, "strata vs reference")
    got_spilled = pit_join(entity, views, memory_budget_bytes=1)
    assert_same(got_spilled, want_ref, "spilled vs reference")
    assert 0 < got["conv_rate"].null_count < got.num_rows


# --------------------------------------------------------------------------------------------
# inputs and errors
# --------------------------------------------------------------------------------------------
def test_reads_a_strata_table_scan(tmp_path):
    import strata

    entity, views = random_case(3, 200, 1500)
    path = str(tmp_path / "driver_hourly")
    strata.write_table(path, views[0]["data"])
    view = dict(views[0], data=strata.Table(path))  # anything with __arrow_c_stream__
    got = pit_join(entity, [view])
    want = reference(entity, [views[0]])
    assert_same(got, want, "strata table as view")


def test_bad_input_names_view_and_column():
    import strata

    entity, views = random_case(1, 10, 10)
    bad = dict(views[0], features=["no_such"])
    with pytest.raises(strata.InvalidArgumentError, match=r"'driver_stats'.*'no_such'"):
        pit_join(entity, [bad])
    mismatch = dict(views[0], entity_keys=["store"])  # string entity column vs int32 view key
    with pytest.raises(strata.InvalidArgumentError, match=r"'driver_stats'.*'driver_id'.*'store'"):
        pit_join(entity, [mismatch])
    with pytest.raises(strata.InvalidArgumentError, match="unknown key 'ttl'"):
        pit_join(entity, [dict(views[0], ttl=5)])
    with pytest.raises(strata.InvalidArgumentError, match="missing 'timestamp_column'"):
        pit_join(entity, [{k: v for k, v in views[0].items() if k != "timestamp_column"}])
