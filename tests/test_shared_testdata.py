"""Every table of the shared test data (../shared/testdata/delta-tables beside the repository), at every version
delta-rs can load: strata gives exactly delta-rs's rows, or refuses the table with
UnsupportedFeatureError naming the feature. The tables strata refuses are listed in REFUSED; the
test fails if strata refuses any other table or reads one of these, so the list only changes
deliberately."""

from __future__ import annotations

import glob
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strata
from conftest import (
    assert_same_rows,
    copy_shared_table,
    deltars_read,
    require_shared_tables,
    shared_table_dirs,
    shared_table_name,
    strata_read,
)

# table -> a word the UnsupportedFeatureError message must contain (the feature it names)
REFUSED = {
    "simple_table_features": "reader version 5",  # readerFeatures with minReaderVersion 5: invalid protocol
    "spark-shredded-variant-preview-delta": "variantShredding-preview",
    "spark-variant-checkpoint": "variantType-preview",
    "spark-variant-stable-feature-checkpoint": "variantType",
}

# Tables/versions delta-rs cannot read but strata can, and how strata's rows were checked instead.
# (Informational: these are recorded by the tests below, not failures.)
DELTARS_FAILS_STRATA_READS = {
    ("table_with_edge_timestamps", 0): "delta-rs's pyarrow reader overflows on INT96 year 9999; "
    "checked against the raw Parquet files in test_edge_timestamps_against_parquet",
}

TABLES = [shared_table_name(p) for p in shared_table_dirs()]
_notes: list[str] = []


def test_walk_finds_the_shared_tables():
    require_shared_tables()
    # the walk must find nested tables (golden/...) and not descend into tables
    assert len(TABLES) >= 50, TABLES
    assert "golden/data-reader-array-primitives" in TABLES
    assert not any(n.startswith(t + "/") for t in TABLES for n in TABLES)
    assert set(REFUSED) <= set(TABLES)


def _log_versions(path: str) -> list[int]:
    """Versions that appear in _delta_log as commits or checkpoints."""
    out = set()
    for f in os.listdir(os.path.join(path, "_delta_log")):
        m = re.match(r"^(\d{20})\.(json|checkpoint\b)", f)
        if m:
            out.add(int(m.group(1)))
    return sorted(out)


def _deltars_latest(path: str):
    from deltalake import DeltaTable

    try:
        return DeltaTable(path).version()
    except Exception:  # noqa: BLE001 - delta-rs cannot load the table at all
        return None


@pytest.mark.parametrize("name", TABLES)
def test_strata_matches_deltars_at_every_version(name, tmp_path):
    path = copy_shared_table(name, tmp_path / "t")
    versions = _log_versions(path)
    latest = _deltars_latest(path)
    top = max([latest or 0] + versions)

    if name in REFUSED:
        with pytest.raises(strata.errors.UnsupportedFeatureError) as ei:
            strata.Table(path)
        assert REFUSED[name] in str(ei.value), str(ei.value)
        for v in range(top + 1):
            try:
                strata_read(path, v)
            except strata.errors.UnsupportedFeatureError as e:
                assert REFUSED[name] in str(e)
            except strata.errors.StrataError:
                pass  # e.g. a version that cannot be reconstructed
            else:
                pytest.fail(f"{name} v{v}: strata now reads a table listed in REFUSED; update REFUSED")
        return

    mismatches, errors = [], []
    for v in range(top + 1):
        try:
            expected = deltars_read(path, v)
        except Exception as e:  # noqa: BLE001 - delta-rs cannot load this version: skip it
            try:
                got = strata_read(path, v)
            except strata.errors.UnsupportedFeatureError as se:
                errors.append(f"v{v}: strata refuses ({se}) a table not in REFUSED")
            except Exception:  # noqa: BLE001 - both fail: fine
                pass
            else:
                _notes.append(f"{name} v{v}: delta-rs fails ({type(e).__name__}), strata reads {got.num_rows} rows")
            continue
        try:
            got = strata_read(path, v)
        except Exception as e:  # noqa: BLE001
            errors.append(f"v{v}: delta-rs reads {expected.num_rows} rows, strata raises {type(e).__name__}: {e}")
            continue
        try:
            assert_same_rows(got, expected, f"{name} v{v}")
        except AssertionError as e:
            mismatches.append(str(e))

    assert not errors, f"{name}:\n" + "\n".join(errors)
    assert not mismatches, "strata rows differ from delta-rs:\n" + "\n".join(mismatches)
    if latest is not None:  # (some tables lack data files: then only the metadata is compared)
        assert strata.Table(path).version == latest


@pytest.mark.parametrize(
    "name",
    [n for n in TABLES if n not in REFUSED and n not in ("checkpoints", "checkpoints_vacuumed")],
)
def test_strata_latest_version_and_schema_names_match_deltars(name, tmp_path):
    from deltalake import DeltaTable

    path = copy_shared_table(name, tmp_path / "t")
    try:
        dt = DeltaTable(path)
    except Exception:  # noqa: BLE001
        pytest.skip("delta-rs cannot load this table")
    t = strata.Table(path)
    assert t.version == dt.version()
    assert t.schema.names == [f.name for f in dt.schema().fields]
    assert sorted(t.partition_columns) == sorted(dt.metadata().partition_columns)


def test_edge_timestamps_against_parquet(tmp_path):
    """delta-rs cannot read INT96 timestamps in year 9999; strata must give the Parquet values."""
    path = copy_shared_table("table_with_edge_timestamps", tmp_path / "t")
    files = sorted(glob.glob(os.path.join(path, "*.parquet")))
    raw = pa.concat_tables(pq.read_table(f, coerce_int96_timestamp_unit="us") for f in files)
    raw = raw.cast(
        pa.schema(
            [
                pa.field("BIG_DATE", pa.timestamp("us", "UTC")),
                pa.field("NORMAL_DATE", pa.timestamp("us", "UTC")),
                pa.field("SOME_VALUE", pa.int32()),
            ]
        )
    )
    got = strata_read(path)
    assert_same_rows(got, raw, "table_with_edge_timestamps")
    assert got.column("BIG_DATE").type == pa.timestamp("us", "UTC")


@pytest.mark.parametrize(
    "name,filter,duck_filter",
    [
        ("delta-0.8.0-partitioned", "year = '2021' and month = '12'", None),
        ("delta-0.8.0-partitioned", "value > '3' or day = '4'", None),
        ("delta-0.8.0-null-partition", "k is null", None),
        ("delta-0.8.0-special-partition", "x = 'A/A'", None),
        ("delta-2.2.0-partitioned-types", "c1 >= 5 and c2 <> 'b'", None),
        ("partition-type-primitives", "is_active = 'true' and id > 12", None),
        ("table_with_deletion_logs", "id >= 50 or age < 100", None),
        ("table-with-dv-small", "value > 3", None),
        ("simple_table_with_checkpoint", "version >= 5", None),
        ("COVID-19_NYT", "state = 'Ohio' and cases > 1000", None),
        ("checkpoint-v2-table", "id between 10 and 20", None),
        ("checkpoint-v2-table", "created_at > timestamp '2025-08-09 14:50:00'", None),
        ("cdf-table-with-cdc-and-dvs", "comment like 'merge%'", None),
        ("table_with_column_mapping", "`Company Very Short` = 'BMS'", "\"Company Very Short\" = 'BMS'"),
        ("table_with_partitioning_mapping", "newid in (1, 3)", None),
    ],
)
def test_filters_match_deltars_filtered_in_duckdb(name, filter, duck_filter, tmp_path):
    import duckdb

    path = copy_shared_table(name, tmp_path / "t")
    full = deltars_read(path)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("full_t", full)
    expected = con.sql(f"select * from full_t where {duck_filter or filter}").to_arrow_table()
    got = strata.Table(path).to_arrow(filter=filter)
    assert_same_rows(got, expected, f"{name} filter {filter!r}")
    # data skipping never drops a file that holds a matching row
    plan = strata.Table(path).scan_plan(filter)
    assert plan["files_to_read"] <= plan["files_total"]
    if expected.num_rows:
        assert plan["files_to_read"] >= 1


def test_zz_report_tables_delta_rs_cannot_read():
    """Informational: versions delta-rs fails on but strata reads (printed with -s / -rP)."""
    for note in _notes:
        print("NOTE:", note)
    keys = {(n.split(" v")[0], int(n.split(" v")[1].split(":")[0])) for n in _notes}
    # every such case must be known (and checked another way) or it is a new discovery to look at
    unknown = keys - set(DELTARS_FAILS_STRATA_READS)
    if _notes:  # only meaningful when the per-table tests ran in this session
        assert not unknown, f"new tables delta-rs fails on but strata reads: {sorted(unknown)}"
