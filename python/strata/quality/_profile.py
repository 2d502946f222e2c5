"""Column profiles, computed by the C++ engine in one streaming pass (on every core), mergeable
and serializable; profiles of table versions are stored beside the table and kept up to date.

    from strata.quality import profile, Profile
    p = profile("path/to/table")           # a table version: stored under _strata/profiles/
    p = profile("path/to/table@3")         # time travel: version 3
    p = profile(pyarrow_table)             # anything with __arrow_c_stream__, a DataFrame, a dict
    p["amount"].mean, p["amount"].quantiles[0.5], p["country"].top_values
    both = p.merge(q)                      # the profile of the rows of both
    Profile.from_json(p.to_json())

What a column profile holds. Nulls are counted, never described; NaN (floating-point columns) is
counted apart and left out of every other statistic.
  exact     count, null_count, nan_count, valid_count, min, max, min/max_length (strings);
            top_values while a column has at most 2048 distinct values
  floating  mean, stdev (sample standard deviation, n - 1), mean_length
  sketched  distinct: HyperLogLog, exact up to 2048 distinct values, then ~0.8% standard error;
            quantiles: KLL sketch, about 1% rank error (exact for small columns);
            histogram: `bins` equal-width bins between min and max whose counts come from the
            KLL sketch's CDF (no second pass; they add up to valid_count);
            top_values beyond 2048 distinct values: Misra-Gries, each count at most
            top_values_max_error below the true count.
Integers, booleans, strings and binaries have top values; numeric and temporal columns have
quantiles and histograms. Temporal min/max/quantiles are integers in the column's unit (for
timestamp[us], microseconds since the epoch). Booleans' mean is the fraction of true.

Table profiles: profile(path) reads the version's stored profile when there is one. Otherwise,
when the latest earlier stored profile is followed only by appends (commits that only add files),
it profiles just the added files and merges; otherwise it scans the version. The result is
stored (whole-table profiles only) so the next call is free. `Profile.source` says which
("stored", "incremental" or "full").
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

import pyarrow as pa

from strata import _strata
from strata.errors import InvalidArgumentError

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HISTOGRAM_BINS = 20
TOP_VALUES = 10

_VERSIONED = re.compile(r"^(.*)@(\d+)$")


# --------------------------------------------------------------------------------------------
# Inputs: table paths (path@version), strata.Table, or Arrow-compatible data
# --------------------------------------------------------------------------------------------
def split_table_ref(ref: str) -> tuple[str, Optional[int]]:
    """'path@12' -> ('path', 12); 'path' -> ('path', None). A suffix that is not all digits is
    part of the path."""
    m = _VERSIONED.match(ref)
    if m and m.group(1):
        return m.group(1), int(m.group(2))
    return ref, None


def resolve_source(data: Any, version: Optional[int] = None) -> tuple[str, Any]:
    """('table', (path, version)) for a table path or a strata.Table, else ('stream', data)."""
    from strata.table import Table  # noqa: PLC0415  (strata imports this package lazily)

    if isinstance(data, Table):
        return "table", (data.path, data.version if version is None else version)
    if isinstance(data, (str, os.PathLike)):
        path, v = split_table_ref(os.fspath(data))
        if v is not None and version is not None and v != version:
            raise InvalidArgumentError(f"{data!r} names version {v} but version={version} was given")
        return "table", (path, v if v is not None else version)
    if version is not None:
        raise InvalidArgumentError("version= applies to table paths and strata.Table only")
    return "stream", data


def stream_capsule(data: Any, what: str = "data"):
    """An Arrow C stream capsule for anything tabular: objects with __arrow_c_stream__ (pyarrow,
    polars, pandas >= 2.2, DuckDB results), record batches, pandas DataFrames, dicts of columns."""
    if hasattr(data, "__arrow_c_stream__"):
        return data.__arrow_c_stream__()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]).__arrow_c_stream__()
    if isinstance(data, dict):
        return pa.table(data).__arrow_c_stream__()
    try:
        import pandas as pd  # noqa: PLC0415

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False).__arrow_c_stream__()
    except ImportError:  # pragma: no cover
        pass
    raise InvalidArgumentError(
        f"cannot read the {what} from {type(data).__name__}: expected a table path, a strata.Table, "
        "an Arrow table or stream, a DataFrame or a dict of columns"
    )


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnProfile:
    """The profile of one column (see the module docstring for what each field means)."""

    name: str
    type: str
    kind: str  # integer, float, decimal, temporal, boolean, string, binary, other
    count: int
    null_count: int
    nan_count: int
    valid_count: int
    distinct: Optional[float]
    distinct_exact: bool
    min: Any
    max: Any
    mean: Optional[float]
    stdev: Optional[float]
    min_length: Optional[int]
    max_length: Optional[int]
    mean_length: Optional[float]
    quantiles: dict[float, float] = field(default_factory=dict)
    histogram: list[tuple[float, float, int]] = field(default_factory=list)
    top_values: list[tuple[Any, int]] = field(default_factory=list)
    top_values_exact: Optional[bool] = None
    top_values_max_error: Optional[int] = None

    @property
    def null_fraction(self) -> float:
        return self.null_count / self.count if self.count else 0.0


class Profile:
    """Profiles of the columns of a dataset. Immutable: merge() returns a new profile."""

    def __init__(self, _profile: Any, _info: Optional[dict] = None):
        self._p = _profile
        self._info = dict(_info or {})
        self._columns: Optional[dict[str, ColumnProfile]] = None

    @classmethod
    def from_json(cls, text: str | bytes) -> "Profile":
        if isinstance(text, bytes):
            text = text.decode()
        return cls(_strata._Profile.from_json(text))

    # --- what it describes ----------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return self._p.num_rows

    @property
    def table_version(self) -> Optional[int]:
        """The table version this profile describes (table profiles only)."""
        return self._p.table_version

    @property
    def source(self) -> Optional[str]:
        """For table profiles: 'stored', 'incremental' or 'full' (how it was obtained)."""
        return self._info.get("source")

    @property
    def base_version(self) -> Optional[int]:
        """For incremental table profiles: the stored profile's version that was extended."""
        return self._info.get("base_version")

    @property
    def rows_scanned(self) -> Optional[int]:
        return self._info.get("rows_scanned")

    @property
    def column_names(self) -> list[str]:
        return list(self._p.column_names)

    @property
    def columns(self) -> dict[str, ColumnProfile]:
        """Column name -> ColumnProfile (20 histogram bins, 10 top values)."""
        if self._columns is None:
            self._columns = {c.name: c for c in self.summarize()}
        return self._columns

    def summarize(self, histogram_bins: int = HISTOGRAM_BINS, top_values: int = TOP_VALUES,
                  quantiles: Sequence[float] = QUANTILES) -> list[ColumnProfile]:
        """ColumnProfiles with the given histogram size, number of top values and quantiles."""
        if histogram_bins < 0 or top_values < 0:
            raise InvalidArgumentError("histogram_bins and top_values must be >= 0")
        for q in quantiles:
            if not 0 <= q <= 1:
                raise InvalidArgumentError(f"quantile {q} is not in [0, 1]")
        out = []
        for d in self._p.summary(int(histogram_bins), int(top_values), [float(q) for q in quantiles]):
            d["histogram"] = [tuple(b) for b in d["histogram"]]
            d["top_values"] = [tuple(t) for t in d["top_values"]]
            out.append(ColumnProfile(**d))
        return out

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r} in the profile (columns: {', '.join(self.column_names)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.column_names)

    def __len__(self) -> int:
        return len(self.column_names)

    # --- combining and serializing --------------------------------------------------------------
    def merge(self, other: "Profile") -> "Profile":
        """The profile of the rows of both (columns matched by name; a column one side lacks is
        null on that side's rows). Both must use the same sketch parameters."""
        if not isinstance(other, Profile):
            raise InvalidArgumentError(f"can only merge a Profile, not {type(other).__name__}")
        return Profile(self._p.merge(other._p))

    def select(self, columns: Iterable[str]) -> "Profile":
        return Profile(self._p.select(list(columns)), self._info)

    def to_json(self, histogram_bins: int = HISTOGRAM_BINS, top_values: int = TOP_VALUES) -> str:
        """JSON with a readable summary per column plus the sketches (base64) that let
        Profile.from_json() merge it later."""
        return self._p.to_json(int(histogram_bins), int(top_values))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.to_json())

    def to_arrow(self) -> pa.Table:
        """One row per column, like DuckDB's SUMMARIZE (min, max and top value as text)."""
        rows = []
        for c in self.columns.values():
            rows.append({
                "column": c.name, "type": c.type, "kind": c.kind, "count": c.count, "null_count": c.null_count,
                "nan_count": c.nan_count, "distinct": c.distinct,
                "min": None if c.min is None else str(c.min), "max": None if c.max is None else str(c.max),
                "mean": c.mean, "stdev": c.stdev, "q25": c.quantiles.get(0.25), "q50": c.quantiles.get(0.5),
                "q75": c.quantiles.get(0.75),
                "top_value": str(c.top_values[0][0]) if c.top_values else None,
                "top_count": c.top_values[0][1] if c.top_values else None,
            })
        schema = pa.schema([
            ("column", pa.string()), ("type", pa.string()), ("kind", pa.string()), ("count", pa.int64()),
            ("null_count", pa.int64()), ("nan_count", pa.int64()), ("distinct", pa.float64()), ("min", pa.string()),
            ("max", pa.string()), ("mean", pa.float64()), ("stdev", pa.float64()), ("q25", pa.float64()),
            ("q50", pa.float64()), ("q75", pa.float64()), ("top_value", pa.string()), ("top_count", pa.int64()),
        ])
        return pa.Table.from_pylist(rows, schema=schema)

    def to_text(self) -> str:
        """A readable table, one line per column."""
        head = f"{self.num_rows:,} rows" + (f", table version {self.table_version}" if self.table_version is not None else "")
        if self.source:
            head += f" ({self.source}" + (f" from version {self.base_version}" if self.base_version is not None else "") + ")"
        headers = ["column", "type", "nulls", "distinct", "min", "max", "mean", "stdev", "median", "top value"]
        rows = []
        for c in self.columns.values():
            top = f"{_short(c.top_values[0][0])} ({c.top_values[0][1]:,})" if c.top_values else "-"
            distinct = "-" if c.distinct is None else (f"{c.distinct:,.0f}" + ("" if c.distinct_exact else "~"))
            nulls = f"{c.null_count:,}" + (f" +{c.nan_count:,} NaN" if c.nan_count else "")
            rows.append([c.name, c.type, nulls, distinct, _short(c.min), _short(c.max), _num(c.mean), _num(c.stdev),
                         _num(c.quantiles.get(0.5)), top])
        return head + "\n" + _table(headers, rows)

    def to_html(self, path: Any, title: Optional[str] = None) -> str:
        """Writes a self-contained HTML page with a histogram or top-values chart and the statistics
        of every column. Returns the path."""
        from strata.quality import html_report  # noqa: PLC0415

        return html_report.write_html(path, profile=self, title=title)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<strata.quality.Profile {self.num_rows:,} rows, {len(self)} columns>"


def _short(v: Any, width: int = 24) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return _num(v)
    s = repr(v) if isinstance(v, (str, bytes)) else str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


def _num(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    return f"{v:.6g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(headers)] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def profile(
    data: Any,
    columns: Optional[Iterable[str]] = None,
    *,
    version: Optional[int] = None,
    store: bool = True,
    use_stored: bool = True,
    threads: Optional[int] = None,
) -> Profile:
    """Profiles `data`: a table path ('path' or 'path@version'), a strata.Table, or anything
    tabular (objects with __arrow_c_stream__, record batches, DataFrames, dicts of columns).

    columns: profile only these (for tables, only a stored profile or a scan of those columns is
      used, and nothing is stored).
    version: the table version (tables only; default latest).
    store / use_stored: for tables, write the result under _strata/profiles/ and reuse or extend
      stored profiles (see the module docstring).
    threads: worker threads (default: every core).
    """
    cols = [str(c) for c in columns] if columns is not None else []
    if isinstance(columns, str):
        cols = [columns]
    kind, src = resolve_source(data, version)
    if kind == "table":
        path, v = src
        p, info = _strata.profile_table(str(path), v, cols, bool(use_stored), bool(store), int(threads or 0))
        return Profile(p, info)
    return Profile(_strata.profile_stream(stream_capsule(src), cols, int(threads or 0)))
