"""The end-to-end demo (`make demo`): what strata does today, on embedded sample data."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time

import numpy as np
import pyarrow as pa

import strata


def _rides(start: int, n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return pa.table({
        "ride_id": pa.array(np.arange(start, start + n), pa.int64()),
        "driver_id": pa.array(rng.integers(1001, 1051, n), pa.int64()),
        "city": pa.array(rng.choice(["paris", "berlin", "lisbon", "madrid"], n)),
        "fare": pa.array(np.round(rng.gamma(4.0, 5.0, n), 2)),
        "ts": pa.array([base + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 30, n)],
                       pa.timestamp("us", tz="UTC")),
    })


def _step(title: str) -> None:
    print(f"\n== {title}")


def _feature_store(root: str, rides_path: str) -> None:
    import duckdb  # noqa: PLC0415

    from strata.features import FeatureStore  # noqa: PLC0415

    repo = os.path.join(root, "feature_repo")
    shutil.rmtree(repo, ignore_errors=True)
    here = os.path.dirname(os.path.abspath(__file__))
    example = next(p for p in (os.path.join(here, "..", "..", "examples", "feature_repo"),
                               os.path.join(here, "examples", "feature_repo")) if os.path.isdir(p))
    shutil.copytree(example, repo)
    rides = strata.Table(rides_path).to_arrow(columns=["ride_id", "driver_id", "fare", "ts"])
    hourly = duckdb.sql("""
        SELECT driver_id, date_trunc('hour', ts) + INTERVAL 1 HOUR AS event_timestamp,
               date_trunc('hour', ts) + INTERVAL 1 HOUR AS created,
               count(*) AS trips, round(avg(fare), 2) AS avg_fare
        FROM rides GROUP BY ALL ORDER BY event_timestamp""").arrow()
    hourly = hourly.read_all() if hasattr(hourly, "read_all") else hourly
    hourly = hourly.cast(pa.schema([pa.field("driver_id", pa.int64()),
                                    pa.field("event_timestamp", pa.timestamp("us", tz="UTC")),
                                    pa.field("created", pa.timestamp("us", tz="UTC")),
                                    pa.field("trips", pa.int64()), pa.field("avg_fare", pa.float64())]))
    strata.write_table(os.path.join(repo, "data", "driver_hourly"), hourly)
    print(f"driver_hourly: {hourly.num_rows} (driver, hour) rows aggregated from the rides table")
    fs = FeatureStore(repo)
    applied = fs.apply()
    print(f"strata apply -> registry version {applied.version}:")
    for line in applied.plan:
        print(f"  {line}")
    entity = rides.slice(0, 5).select(["ride_id", "driver_id", "ts"]).rename_columns(
        ["ride_id", "driver_id", "event_timestamp"])
    entity = entity.append_column("label_fare", rides["fare"].slice(0, 5))
    training = fs.get_historical_features(entity, feature_service="fare_model", full_feature_names=True)
    print("training set (each ride sees only its driver's stats from the two hours before it):")
    for r in training.to_pylist():
        print(f"  ride {r['ride_id']} driver {r['driver_id']} at {r['event_timestamp']:%m-%d %H:%M}: "
              f"trips {r['driver_hourly__trips']}, avg_fare {r['driver_hourly__avg_fare']}, "
              f"latest avg_fare {r['driver_latest__avg_fare']}, label {r['label_fare']}")
    runs = fs.materialize(None, dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    for run in runs:
        print(f"materialized {run['view']}: {run['rows_read']} rows -> {run['rows_written']} drivers "
              f"in {run['seconds'] * 1000:.0f} ms")
    online = fs.get_online_features(features=["driver_latest:trips", "driver_latest:avg_fare",
                                              "driver_hourly:trips", "fare_quote:quoted_fare"],
                                    entity_rows=[{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 9999}],
                                    request_data={"distance_km": [5.0, 12.0, 3.0]},
                                    full_feature_names=True, with_status=True)
    status = online.pop("__status__")
    online.pop("__event_timestamp__")
    print("online (driver 9999 is unknown; the hourly view is past its 2h TTL in January's data):")
    for name, values in online.items():
        shown = [round(v, 2) if isinstance(v, float) else v for v in values]
        print(f"  {name:<28} {shown}  {status[name] if name != 'driver_id' else ''}")
    fs.close()


def run_demo(directory: str | None = None) -> int:
    owned = directory is None
    root = directory or tempfile.mkdtemp(prefix="strata-demo-")
    path = os.path.join(root, "rides")
    if os.path.exists(path):
        shutil.rmtree(path)
    t0 = time.perf_counter()

    _step("1. create a partitioned table (100,000 rides)")
    v = strata.write_table(path, _rides(0, 100_000, 1), partition_by=["city"],
                           configuration={"delta.constraints.fare_not_negative": "fare >= 0"})
    t = strata.Table(path)
    print(f"version {v}: {t.count()} rows in {len(t.files())} files, partitioned by {t.partition_columns}")

    _step("2. append a day of new rides")
    strata.write_table(path, _rides(100_000, 20_000, 2))
    print(f"version {strata.Table(path).version}: {strata.Table(path).count()} rows")

    _step("3. a bad write is refused and changes nothing")
    bad = _rides(200_000, 5, 3).set_column(3, "fare", pa.array([10.0, -1.0, 3.0, 4.0, 5.0]))
    try:
        strata.write_table(path, bad)
    except strata.ExpectationFailedError as e:
        print(f"refused: {e}")
    print(f"still version {strata.Table(path).version}")

    _step("4. evolve the schema: add a tip column")
    tipped = _rides(120_000, 1_000, 4).append_column("tip", pa.array(np.full(1_000, 1.5)))
    strata.write_table(path, tipped, schema_mode="merge")
    print("columns:", ", ".join(strata.Table(path).schema.names))

    _step("5. replace one partition (fares in lisbon recomputed)")
    lisbon = strata.Table(path).to_arrow(filter="city = 'lisbon'")
    fares = pa.compute.multiply(lisbon["fare"], 1.1)
    strata.write_table(path, lisbon.set_column(lisbon.schema.get_field_index("fare"), "fare", fares),
                       mode="overwrite", replace_where="city = 'lisbon'")
    t = strata.Table(path)
    print(f"version {t.version}: {t.count()} rows")

    _step("6. data skipping: a selective query opens only the files that can match")
    plan = t.scan_plan("city = 'paris' AND fare > 60")
    rows = t.to_arrow(filter="city = 'paris' AND fare > 60")
    print(f"{rows.num_rows} rows; opened {plan['files_to_read']} of {plan['files_total']} files")

    _step("7. time travel")
    for version in (0, 1, t.version):
        print(f"version {version}: {strata.Table(path, version=version).count()} rows")
    first = strata.Table(path, as_of=strata.Table(path, version=0).timestamp)
    print(f"as of the first commit's time: version {first.version}")

    _step("8. MERGE: upsert late corrections and new rides, recording the change feed")
    cdf_from = strata.Table(path).set_properties({"delta.enableChangeDataFeed": "true"}) + 1
    corrections = _rides(120_500, 1_000, 5).append_column("tip", pa.array(np.zeros(1_000)))  # 500 fixed, 500 new
    m = (strata.Table(path).merge(corrections, on="t.ride_id = s.ride_id", source_alias="s", target_alias="t")
         .when_matched_update(set={"fare": "s.fare"}, predicate="s.fare <> t.fare")
         .when_not_matched_insert_all()
         .execute())
    print(f"version {m['version']}: {m['num_target_rows_updated']} updated, {m['num_target_rows_inserted']} "
          f"inserted; {m['num_target_files_removed']} files rewritten, {m['num_target_files_skipped']} skipped "
          f"unread by key range")
    changes = strata.Table(path).changes(cdf_from)
    kinds = pa.compute.value_counts(changes["_change_type"]).to_pylist()
    print("change feed:", ", ".join(f"{k['values']}={k['counts']}" for k in kinds))

    _step("9. OPTIMIZE: compact the small files, clustered by driver and time")
    before = len(strata.Table(path).files())
    o = strata.Table(path).optimize(z_order=["driver_id", "ts"])
    print(f"version {o['version']}: {before} files -> {len(strata.Table(path).files())} "
          f"(rows unchanged: {strata.Table(path).count()})")

    _step("10. SQL with DuckDB over the table (zero copy through Arrow)")
    import duckdb  # noqa: PLC0415

    rides = strata.Table(path)  # noqa: F841  (DuckDB finds it by name)
    print(duckdb.sql("SELECT city, count(*) AS rides, round(avg(fare), 2) AS avg_fare "
                     "FROM rides GROUP BY city ORDER BY city").fetchall())

    _step("11. the same table through delta-rs (an independent reader)")
    try:
        import deltalake  # noqa: PLC0415

        other = deltalake.DeltaTable(path).to_pyarrow_table()
        ours = strata.Table(path).to_arrow()
        same = other.sort_by("ride_id").select(ours.schema.names).equals(ours.sort_by("ride_id"))
        print(f"delta-rs reads {other.num_rows} rows; identical to strata: {same}")
    except ImportError:
        print("deltalake is not installed; skipped")

    _step("12. data quality: a contract gates every write; failing rows are quarantined")
    from strata import quality  # noqa: PLC0415

    quality.attach_contract(path, """\
name: rides
owner: mobility-data
schema:
  - {name: ride_id, type: int64, nullable: false}
  - {name: fare, type: float64}
  - {name: city, type: string}
expectations:
  - {type: between, column: fare, min: 0, max: 500}
  - {type: in_set, column: city, values: [paris, berlin, lisbon, madrid]}
  - {type: not_null, column: driver_id}
on_fail: quarantine
""")
    late = _rides(130_000, 1_000, 6).append_column("tip", pa.array(np.zeros(1_000)))
    late = late.set_column(2, "city", pa.array(["rome"] * 3 + late["city"].to_pylist()[3:]))
    late = late.set_column(3, "fare", pa.array([900.0] + late["fare"].to_pylist()[1:]))
    before = strata.Table(path).count()
    strata.write_table(path, late)
    q = quality.quarantine(path).to_arrow()
    print(f"published {strata.Table(path).count() - before} rows, quarantined {q.num_rows}:")
    for r in q.select(["ride_id", "city", "fare", "_quarantine_reason"]).to_pylist():
        print(f"  ride {r['ride_id']} ({r['city']}, fare {r['fare']}): {r['_quarantine_reason']}")
    report = quality.Suite("rides_nightly", [
        {"type": "unique", "column": "ride_id"},
        {"type": "mean_between", "column": "fare", "min": 5, "max": 50},
        {"type": "null_proportion_between", "column": "tip", "max": 0.9},  # fails: tip came late
    ]).validate(strata.Table(path))
    print(f"suite {report.suite_name!r} on version {report.table_version}: "
          f"{report.statistics['successful']} of {report.statistics['evaluated']} expectations pass")
    for r in report.results:
        print(f"  {'PASS' if r.success else 'FAIL'} {r.name}: observed {r.observed_value}")

    _step("13. feature store: a point-in-time training set, materialization, online reads")
    _feature_store(root, path)

    _step("14. history")
    for h in strata.Table(path).history():
        gate = h.get("quality")
        note = f"  [contract {gate['contract']}: {gate['rowsChecked']} rows checked, " \
               f"{gate['rowsQuarantined']} quarantined]" if gate else ""
        print(f"  v{h['version']}  {h['operation']:<13} {h['operationParameters'].get('mode', '')}{note}")
    print(f"\ndone in {time.perf_counter() - t0:.1f} s; tables in {root}")
    if owned:
        print("(a temporary directory; pass --dir to keep the tables somewhere else)")
    return 0
