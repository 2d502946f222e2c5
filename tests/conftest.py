"""Shared fixtures and helpers for the strata pytest suites.

- `tmp_table`: a fresh, not-yet-existing table path under pytest's tmp_path.
- `copy_shared_table(name, dest)`: copies a table from the read-only shared test data.
- `canon(tbl)`: normalizes types (string/binary/list/map flavours, dictionary encoding, time zone
  spelling, timestamp unit, nullability, metadata) and sorts rows, so two engines' outputs compare
  with `==`.
- `assert_same_rows(actual, expected, context)`: canon both and fail with a readable diff.
- `deltars_read(path, version)`: delta-rs's view of a table at a version.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytest_plugins = ["spark_fixture"]  # the session-scoped `spark` fixture (Spark + Delta Lake oracle)

try:  # the venv finds strata through a .pth file once scripts/setup has run
    import strata  # noqa: F401
except ImportError:  # pragma: no cover - depends on the checkout's setup state
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
    import strata  # noqa: F401

# shared/ sits beside the repository (in CI too); STRATA_SHARED_DIR overrides.
SHARED_TABLES = Path(os.environ.get("STRATA_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared")) \
    / "testdata" / "delta-tables"


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture
def tmp_table(tmp_path) -> str:
    """A path where a new table can be created (the directory does not exist yet)."""
    return str(tmp_path / "table")


def require_shared_tables() -> None:
    """Skips the calling test when the shared test data is not beside the repository (a clone on its
    own), saying where it looked; in CI (CI=true), where it must be, fails instead."""
    if SHARED_TABLES.is_dir():
        return
    message = f"shared test data not found at {SHARED_TABLES} (set STRATA_SHARED_DIR to its shared/ folder)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def shared_table_dirs() -> list[Path]:
    """Every table (a directory holding _delta_log/) in the shared test data, sorted by name."""
    out = []
    for root, dirs, _files in os.walk(SHARED_TABLES):
        if "_delta_log" in dirs:
            out.append(Path(root))
            dirs[:] = []  # a table's own subdirectories are data, not nested tables
        dirs.sort()
    return sorted(out)


def shared_table_name(path: Path) -> str:
    return str(path.relative_to(SHARED_TABLES))


def copy_shared_table(name: str, dest) -> str:
    """Copies ../shared/testdata/delta-tables/<name> (read-only) to `dest`; returns dest.
    The copy is writable, so tests may corrupt or extend it."""
    require_shared_tables()
    src = SHARED_TABLES / name
    if not (src / "_delta_log").is_dir():
        raise FileNotFoundError(f"{src} is not a shared Delta table")
    dest = Path(dest)
    shutil.copytree(src, dest, symlinks=False)
    for root, dirs, files in os.walk(dest):
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
    os.chmod(dest, 0o755)
    return str(dest)


@pytest.fixture
def shared_copy(tmp_path):
    """shared_copy(name) -> path of a private copy of a shared table."""

    def _copy(name: str) -> str:
        return copy_shared_table(name, tmp_path / name.replace("/", "__"))

    return _copy


# --------------------------------------------------------------------------------------------
# canonical form
# --------------------------------------------------------------------------------------------
_UTC_NAMES = {"utc", "+00:00", "etc/utc", "z", "gmt", "etc/gmt", "-00:00"}


def _norm_tz(tz):
    if tz is None:
        return None
    return "UTC" if tz.lower() in _UTC_NAMES else tz


def _norm_array(arr: pa.Array) -> pa.Array:
    """One canonical Arrow type per logical type, recursively; values unchanged."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return _norm_array(arr.dictionary_decode())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(pa.large_string())
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return arr.cast(pa.large_binary())
    if pa.types.is_timestamp(t):
        target = pa.timestamp("us", _norm_tz(t.tz))
        # Delta timestamps are microseconds: sub-microsecond digits (INT96 files) are dropped
        return arr.cast(target, safe=False)
    if pa.types.is_date64(t):
        return arr.cast(pa.date32())
    if pa.types.is_float16(t):
        return arr.cast(pa.float32())
    if pa.types.is_decimal(t) and t.precision <= 38 and not pa.types.is_decimal128(t):
        return arr.cast(pa.decimal128(t.precision, t.scale))
    if pa.types.is_struct(t):
        children = arr.flatten()  # offset applied, parent nulls merged in
        names = [t.field(i).name for i in range(t.num_fields)]
        if not names:
            return arr
        return pa.StructArray.from_arrays([_norm_array(c) for c in children], names=names, mask=arr.is_null())
    if pa.types.is_map(t):  # a map is a list of (key, value) entries
        arr = pa.concat_arrays([arr])  # a copy without a slice offset, so keys/items line up
        entries = pa.StructArray.from_arrays([arr.keys, arr.items], names=["key", "value"])
        offsets = arr.offsets.cast(pa.int64())
        return _norm_array(pa.LargeListArray.from_arrays(offsets, entries, mask=arr.is_null()))
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    ):
        values = arr.flatten()  # offset applied, null lists contribute nothing
        lengths = pc.fill_null(pc.list_value_length(arr), 0).cast(pa.int64())
        offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(lengths)])
        return pa.LargeListArray.from_arrays(offsets, _norm_array(values), mask=arr.is_null())
    return arr


def _nullable_schema(schema: pa.Schema) -> pa.Schema:
    def f(field: pa.Field) -> pa.Field:
        return pa.field(field.name, _nullable_type(field.type), nullable=True)

    return pa.schema([f(x) for x in schema])


def _nullable_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(t):
        return pa.struct([pa.field(t.field(i).name, _nullable_type(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_large_list(t):
        return pa.large_list(pa.field("item", _nullable_type(t.value_type)))
    return t


def _sortable(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_null(t))


def _row_key(row: dict) -> tuple:
    # a total, deterministic order over any values: None first, then by (type, repr)
    return tuple((v is not None, type(v).__name__, repr(v)) for v in row.values())


def canon(tbl) -> pa.Table:
    """A canonical copy of `tbl` (anything with __arrow_c_stream__): canonical types, every field
    nullable, no metadata, one chunk, rows sorted by all columns (by Arrow's sort when every column
    is sortable, else by each row's repr, which also orders nested values)."""
    if not isinstance(tbl, pa.Table):
        tbl = pa.table(tbl)
    cols = {}
    for name, col in zip(tbl.column_names, tbl.columns):
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if isinstance(arr, pa.ChunkedArray):  # pyarrow may return ChunkedArray for 0 chunks
            arr = pa.array([], type=col.type)
        cols[name] = _norm_array(arr)
    out = pa.table(cols) if cols else tbl.select([])
    out = out.cast(_nullable_schema(out.schema))
    if out.num_rows > 1 and out.num_columns and all(_sortable(f.type) for f in out.schema):
        keys = [(name, "ascending", "at_start") for name in out.column_names]
        out = out.take(pc.sort_indices(out, sort_keys=keys))
    elif out.num_rows > 1:
        rows = out.to_pylist()
        order = sorted(range(len(rows)), key=lambda i: _row_key(rows[i]))
        out = out.take(pa.array(order, pa.int64()))
    return out.combine_chunks()


def diff_rows(actual: pa.Table, expected: pa.Table, limit: int = 5) -> str:
    """A short human-readable description of how two canonical tables differ ('' if equal)."""
    msgs = []
    if actual.schema != expected.schema:
        msgs.append(f"schema differs:\n  actual:   {actual.schema.to_string(show_schema_metadata=False)!r}\n"
                    f"  expected: {expected.schema.to_string(show_schema_metadata=False)!r}")
    if actual.num_rows != expected.num_rows:
        msgs.append(f"row count differs: actual {actual.num_rows}, expected {expected.num_rows}")
    a_rows = [repr(r) for r in actual.to_pylist()]
    e_rows = [repr(r) for r in expected.to_pylist()]
    if a_rows != e_rows:
        ca, ce = Counter(a_rows), Counter(e_rows)
        only_a = list((ca - ce).elements())[:limit]
        only_e = list((ce - ca).elements())[:limit]
        if only_a or only_e:  # (same multiset in another order is equal: e.g. -0.0 vs 0.0 ties)
            msgs.append("rows only in actual:   " + "; ".join(only_a))
            msgs.append("rows only in expected: " + "; ".join(only_e))
    return "\n".join(msgs)


def assert_same_rows(actual, expected, context: str = "") -> None:
    a, e = canon(actual), canon(expected)
    if a.schema == e.schema and a.equals(e):
        return
    d = diff_rows(a, e)
    if not d:  # equal by repr (e.g. NaN) but not by Table.equals
        return
    raise AssertionError(f"{context}\n{d}")


# --------------------------------------------------------------------------------------------
# delta-rs oracle
# --------------------------------------------------------------------------------------------
def _uses_column_mapping(dt) -> bool:
    conf = dt.metadata().configuration or {}
    return (conf.get("delta.columnMapping.mode") or "none").lower() != "none"


def deltars_read_pyarrow(path: str, version: int | None = None) -> pa.Table:
    from deltalake import DeltaTable

    return DeltaTable(path, version=version).to_pyarrow_table()


def deltars_read_datafusion(path: str, version: int | None = None) -> pa.Table:
    from deltalake import DeltaTable, QueryBuilder

    dt = DeltaTable(path, version=version)
    return pa.table(QueryBuilder().register("t", dt).execute("select * from t"))


def deltars_read(path: str, version: int | None = None) -> pa.Table:
    """delta-rs's rows at `version`. Uses DeltaTable.to_pyarrow_table(); falls back to delta-rs's
    DataFusion reader (QueryBuilder) where the pyarrow reader refuses a table (deletion vectors) or
    is known to be wrong (column mapping: delta-rs 1.6.6's pyarrow reader returns all-null columns
    for column-mapped tables written by delta-rs itself)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaProtocolError

    dt = DeltaTable(path, version=version)
    if _uses_column_mapping(dt):
        return deltars_read_datafusion(path, version)
    try:
        return dt.to_pyarrow_table()
    except DeltaProtocolError:
        return deltars_read_datafusion(path, version)


def strata_read(path: str, version: int | None = None, filter: str | None = None, columns=None) -> pa.Table:
    return strata.Table(path, version=version).to_arrow(columns=columns, filter=filter)
