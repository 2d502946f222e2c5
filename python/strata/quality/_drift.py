"""Drift between a reference and a current dataset, computed by the C++ engine.

    from strata.quality import psi, ks, chi_square, js_divergence, drift
    psi(reference, current, bins=10) -> float            # array-likes: pyarrow, numpy, pandas, lists
    ks(reference, current) -> KsResult(statistic, pvalue)
    chi_square(reference, current) -> ChiSquareResult(statistic, dof, pvalue)
    js_divergence(reference, current) -> float
    drift("tables/tx@3", "tables/tx", columns=None, thresholds={"psi": 0.25}) -> DriftReport

Definitions (the C++ header strata/quality/drift.h says the same):
- PSI (population stability index) = sum over bins of (c - r) * ln(c / r), r and c being the
  reference's and the current data's proportions in each bin. Numeric bins are cut at the
  reference's quantiles i/bins, computed exactly as numpy.quantile (method "linear"); a value x
  falls in bin numpy.searchsorted(edges, x, side="right"), so values outside the reference's
  range land in the first or last bin. An empty bin's proportion is replaced by
  epsilon = 1e-4 (PSI_EPSILON) before the logarithm, without renormalizing. psi_details()
  returns the edges and counts.
- KS: the two-sample Kolmogorov-Smirnov statistic D = sup |F_ref - F_cur|, exact over both
  samples (as scipy.stats.ks_2samp), and its asymptotic p-value kstwobign.sf(D * sqrt(n*m/(n+m))).
  scipy's ks_2samp(method="asymp") uses kstwo.sf(D, round(n*m/(n+m))) instead; the two p-values
  differ by less than 0.01 (absolute) once both samples have a thousand values or more.
- Chi-square: test of homogeneity of the 2 x k table of category counts (categories absent from
  both sides dropped), as scipy.stats.chi2_contingency(table, correction=False).
- JS: the Jensen-Shannon divergence in base 2, in [0, 1]: the SQUARE of
  scipy.spatial.distance.jensenshannon(p, q, base=2) (which returns the distance, its root).
- chi_square() and js_divergence() treat values as categories (strings, booleans, integers);
  with bins=N they bin numeric values at the reference's quantiles first, like PSI.
- Nulls are ignored everywhere, and NaN in numeric data; both are counted in the detailed
  results. An input with no values left is an InvalidArgumentError.

drift() compares column by column: numeric columns get PSI, KS and JS (over the PSI bins),
categorical ones PSI (over categories), chi-square and JS. A metric past its threshold is an
alert. Defaults: PSI > 0.2, KS p-value < 0.05, JS > 0.1; chi-square p-value alerts only when a
"chi2_pvalue" threshold is given. drift(..., histograms=True) also keeps the counts behind each
column's PSI (DriftReport.histograms), which DriftReport.to_html() draws.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple, Optional, Sequence

import pyarrow as pa

from strata import _strata
from strata.errors import InvalidArgumentError
from strata.quality._profile import resolve_source, stream_capsule

PSI_EPSILON = 1e-4
DEFAULT_THRESHOLDS: dict[str, Optional[float]] = {"psi": 0.2, "ks_pvalue": 0.05, "js": 0.1, "chi2_pvalue": None}
METRICS = ("psi", "ks", "js", "chi2")


# --------------------------------------------------------------------------------------------
# Array inputs
# --------------------------------------------------------------------------------------------
def _as_array(values: Any, what: str):
    """A pyarrow Array or ChunkedArray for an array-like."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    try:
        import numpy as np  # noqa: PLC0415

        if isinstance(values, np.ndarray):
            if values.ndim != 1:
                raise InvalidArgumentError(f"the {what} must be one-dimensional, not shape {values.shape}")
            if isinstance(values, np.ma.MaskedArray):
                return pa.array(values.data, mask=np.ma.getmaskarray(values))
            return pa.array(values)
    except ImportError:  # pragma: no cover
        pass
    try:
        import pandas as pd  # noqa: PLC0415

        if isinstance(values, pd.Series):
            return pa.array(values)
        if isinstance(values, pd.DataFrame):
            raise InvalidArgumentError(f"the {what} must be one column, not a DataFrame (use drift() for tables)")
    except ImportError:  # pragma: no cover
        pass
    if hasattr(values, "__arrow_c_array__"):
        return pa.array(values)
    if hasattr(values, "__arrow_c_stream__"):
        t = pa.table(values)
        if t.num_columns != 1:
            raise InvalidArgumentError(f"the {what} must be one column, not {t.num_columns} (use drift() for tables)")
        return t.column(0)
    if isinstance(values, (list, tuple, range)):
        return pa.array(list(values))
    raise InvalidArgumentError(f"the {what} must be array-like (pyarrow, numpy, pandas, list), not {type(values).__name__}")


def _capsule(values: Any, what: str):
    return pa.table({"values": _as_array(values, what)}).__arrow_c_stream__()


def _check_bins(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidArgumentError(f"bins must be a positive integer, not {bins!r}")
    return bins


# --------------------------------------------------------------------------------------------
# Single metrics
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PsiResult:
    """PSI with its bins: `edges` (bins - 1, the reference's quantiles) and counts per bin."""

    psi: float
    edges: list[float]
    reference_counts: list[int]
    current_counts: list[int]
    reference_ignored: int  # nulls and NaN left out
    current_ignored: int
    epsilon: float = PSI_EPSILON

    @property
    def reference_proportions(self) -> list[float]:
        total = sum(self.reference_counts)
        return [c / total for c in self.reference_counts]

    @property
    def current_proportions(self) -> list[float]:
        total = sum(self.current_counts)
        return [c / total for c in self.current_counts]


class KsResult(NamedTuple):
    statistic: float
    pvalue: float
    reference_count: int
    current_count: int


class ChiSquareResult(NamedTuple):
    statistic: float
    dof: int
    pvalue: float


def psi_details(reference: Any, current: Any, bins: int = 10, *, epsilon: float = PSI_EPSILON) -> PsiResult:
    """PSI of two numeric array-likes with its edges and counts (see the module docstring)."""
    r = _strata.psi(_capsule(reference, "reference"), _capsule(current, "current"), _check_bins(bins), float(epsilon))
    return PsiResult(r["psi"], list(r["edges"]), list(r["reference_counts"]), list(r["current_counts"]),
                     r["reference_ignored"], r["current_ignored"], float(epsilon))


def psi(reference: Any, current: Any, bins: int = 10, *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two numeric array-likes: `bins` bins at the reference's
    quantiles, empty-bin proportions replaced by `epsilon` (1e-4); nulls and NaN ignored."""
    return psi_details(reference, current, bins, epsilon=epsilon).psi


def ks(reference: Any, current: Any) -> KsResult:
    """Two-sample Kolmogorov-Smirnov statistic (exact) and asymptotic p-value."""
    r = _strata.ks(_capsule(reference, "reference"), _capsule(current, "current"))
    return KsResult(r["statistic"], r["pvalue"], r["reference_count"], r["current_count"])


def _counts(reference: Any, current: Any, bins: Optional[int]) -> tuple[list[int], list[int]]:
    rc, cc = _capsule(reference, "reference"), _capsule(current, "current")
    if bins is None:
        r = _strata.category_counts(rc, cc)
    else:
        r = _strata.quantile_bins(rc, cc, _check_bins(bins))
    return list(r["reference_counts"]), list(r["current_counts"])


def category_counts(reference: Any, current: Any) -> dict[str, tuple[int, int]]:
    """{category: (reference count, current count)}, categories as text, sorted."""
    r = _strata.category_counts(_capsule(reference, "reference"), _capsule(current, "current"))
    return {c: (a, b) for c, a, b in zip(r["categories"], r["reference_counts"], r["current_counts"])}


def chi_square(reference: Any, current: Any, bins: Optional[int] = None) -> ChiSquareResult:
    """Chi-square test of homogeneity (scipy.stats.chi2_contingency(..., correction=False)) of the
    category counts, or with bins=N of the counts in N reference-quantile bins."""
    stat, dof, p = _strata.chi2_from_counts(*_counts(reference, current, bins))
    return ChiSquareResult(stat, dof, p)


def js_divergence(reference: Any, current: Any, bins: Optional[int] = None) -> float:
    """Jensen-Shannon divergence, base 2 (in [0, 1]), of the category proportions, or with bins=N
    of the proportions in N reference-quantile bins. Equals
    scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2."""
    return _strata.js_from_counts(*_counts(reference, current, bins))


# --------------------------------------------------------------------------------------------
# Per-column report
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    column: str
    metric: str  # psi, ks_pvalue, js, chi2_pvalue
    value: float
    threshold: float

    def __str__(self) -> str:
        op = "<" if self.metric.endswith("pvalue") else ">"
        return f"{self.column}: {self.metric} {self.value:.4g} {op} {self.threshold:g}"


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: str  # numeric, categorical, or "" when skipped
    reference_count: int
    current_count: int
    reference_ignored: int
    current_ignored: int
    psi: Optional[float] = None
    ks_statistic: Optional[float] = None
    ks_pvalue: Optional[float] = None
    chi2_statistic: Optional[float] = None
    chi2_dof: Optional[int] = None
    chi2_pvalue: Optional[float] = None
    js: Optional[float] = None
    alerts: list[Alert] = field(default_factory=list)
    skipped: Optional[str] = None  # why the column has no metrics

    @property
    def drifted(self) -> bool:
        return bool(self.alerts)


@dataclass(frozen=True)
class ColumnBins:
    """The counts behind one column's PSI. Numeric columns: len(edges) + 1 bins cut at `edges`
    (the reference's quantiles; x falls in bin searchsorted(edges, x, side="right")), labels
    empty. Categorical columns: one bin per category, `labels` as text, sorted."""

    kind: str  # numeric or categorical
    type: str  # the reference column's Arrow type, e.g. "timestamp[us]" (edges are in its unit)
    edges: list[float]
    labels: list[str]
    reference_counts: list[int]
    current_counts: list[int]


def _num(v: Any) -> Optional[float]:
    if v is None:
        return None
    if isinstance(v, str):  # the engine writes NaN and infinities as strings
        return float(v.replace("Infinity", "inf"))
    return float(v)


class DriftReport:
    """Per-column drift metrics and the alerts where a metric passed its threshold."""

    def __init__(self, data: Mapping[str, Any]):
        self._data = dict(data)
        cols = {}
        for c in data["columns"]:
            ks_ = c.get("ks") or {}
            chi = c.get("chi2") or {}
            alerts = [Alert(c["name"], a["metric"], _num(a["value"]), _num(a["threshold"])) for a in c["alerts"]]
            cols[c["name"]] = ColumnDrift(
                name=c["name"], kind=c["kind"], reference_count=c["reference_count"],
                current_count=c["current_count"], reference_ignored=c["reference_ignored"],
                current_ignored=c["current_ignored"], psi=_num(c.get("psi")),
                ks_statistic=_num(ks_.get("statistic")), ks_pvalue=_num(ks_.get("pvalue")),
                chi2_statistic=_num(chi.get("statistic")), chi2_dof=chi.get("dof"), chi2_pvalue=_num(chi.get("pvalue")),
                js=_num(c.get("js")), alerts=alerts, skipped=c.get("skipped"),
            )
        self.columns: dict[str, ColumnDrift] = cols
        self.thresholds: dict[str, Optional[float]] = {
            k: _num(v) for k, v in data.get("options", {}).get("thresholds", {}).items()}
        self.bins: int = data.get("options", {}).get("bins", 10)
        self.reference: Optional[str] = data.get("reference")
        self.current: Optional[str] = data.get("current")
        # Column name -> ColumnBins; filled by drift(..., histograms=True).
        self.histograms: dict[str, ColumnBins] = {}

    @property
    def alerts(self) -> list[Alert]:
        return [a for c in self.columns.values() for a in c.alerts]

    @property
    def has_alerts(self) -> bool:
        return bool(self.alerts)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.alerts]

    def __getitem__(self, name: str) -> ColumnDrift:
        return self.columns[name]

    def __iter__(self):
        return iter(self.columns.values())

    def __len__(self) -> int:
        return len(self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "current": self.current,
            "has_alerts": self.has_alerts,
            "bins": self.bins,
            "thresholds": self.thresholds,
            "columns": [asdict(c) for c in self.columns.values()],
            "alerts": [asdict(a) for a in self.alerts],
        }

    def to_json(self, indent: Optional[int] = None) -> str:
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return str(v)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return json.dumps(clean(self.to_dict()), indent=indent)

    def to_text(self) -> str:
        def f(v: Optional[float], fmt: str = ".4f") -> str:
            return "-" if v is None else format(v, fmt)

        headers = ["column", "kind", "psi", "ks D", "ks p", "js", "chi2 p", "alerts"]
        rows = []
        for c in self.columns.values():
            if c.skipped:
                rows.append([c.name, c.kind or "-", "-", "-", "-", "-", "-", f"skipped: {c.skipped}"])
                continue
            alerts = ", ".join(f"{a.metric}{'<' if a.metric.endswith('pvalue') else '>'}{a.threshold:g}" for a in c.alerts)
            rows.append([c.name, c.kind, f(c.psi), f(c.ks_statistic), f(c.ks_pvalue, ".3g"), f(c.js),
                         f(c.chi2_pvalue, ".3g"), alerts or "-"])
        cells = [headers] + rows
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        lines = ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        n = len(self.alerts)
        lines.append(f"{n} alert{'s' if n != 1 else ''} in {len(self.drifted_columns)} of {len(self.columns)} columns")
        return "\n".join(lines)

    def to_html(self, path: Any, title: Optional[str] = None) -> str:
        """Writes a self-contained HTML page: the metrics of every column and, for columns with
        histograms (drift(..., histograms=True)), reference and current bars over the same bins.
        Returns the path."""
        from strata.quality import html_report  # noqa: PLC0415

        return html_report.write_html(path, drift=self, title=title)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<strata.quality.DriftReport {len(self.columns)} columns, {len(self.alerts)} alerts>"


def _describe(data: Any) -> str:
    kind, src = resolve_source(data)
    if kind == "table":
        path, v = src
        return f"{path}@{v}" if v is not None else str(path)
    return type(data).__name__


def _reader_capsule(data: Any, columns: Optional[list[str]], what: str):
    """A stream of `data` (only `columns` for tables, which can skip the others)."""
    kind, src = resolve_source(data)
    if kind == "table":
        from strata.table import Table  # noqa: PLC0415

        path, v = src
        t = Table(path, version=v)
        return t.to_reader(columns=columns).__arrow_c_stream__()
    return stream_capsule(src, what)


def _materialize(data: Any, columns: Optional[list[str]], what: str) -> pa.Table:
    """`data` read once into memory (only `columns` for tables), so it can be scanned twice."""
    kind, src = resolve_source(data)
    if kind == "table":
        from strata.table import Table  # noqa: PLC0415

        path, v = src
        return Table(path, version=v).to_arrow(columns=columns)
    if isinstance(src, pa.Table):
        return src
    return pa.RecordBatchReader.from_stream(_Capsule(stream_capsule(src, what))).read_all()


class _Capsule:
    """An Arrow C stream capsule behind the __arrow_c_stream__ protocol, for pyarrow to read."""

    def __init__(self, capsule):
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema=None):
        return self._capsule


def _column_bins(report: DriftReport, reference: pa.Table, current: pa.Table, epsilon: float) -> dict[str, ColumnBins]:
    """The counts behind each compared column's PSI, from the same engine functions as psi_details()
    and category_counts(), so a PSI recomputed from them equals the report's."""
    out = {}
    for c in report.columns.values():
        if c.skipped or c.kind not in ("numeric", "categorical"):
            continue
        ref, cur = reference.column(c.name), current.column(c.name)
        if c.kind == "numeric":
            d = psi_details(ref, cur, report.bins, epsilon=epsilon)
            out[c.name] = ColumnBins("numeric", str(ref.type), d.edges, [], d.reference_counts, d.current_counts)
        else:
            r = _strata.category_counts(_capsule(ref, "reference"), _capsule(cur, "current"))
            out[c.name] = ColumnBins("categorical", str(ref.type), [], list(r["categories"]),
                                     list(r["reference_counts"]), list(r["current_counts"]))
    return out


def drift(
    reference: Any,
    current: Any,
    columns: Optional[Iterable[str]] = None,
    thresholds: Optional[Mapping[str, Optional[float]]] = None,
    *,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
    metrics: Optional[Sequence[str]] = None,
    threads: Optional[int] = None,
    histograms: bool = False,
) -> DriftReport:
    """Drift of each column between `reference` and `current`: table paths ('path' or
    'path@version'), strata.Table objects, or anything tabular (__arrow_c_stream__, DataFrames).

    columns: compare these (default: every column; columns only one side has are reported as
      skipped). thresholds: overrides of DEFAULT_THRESHOLDS (psi, ks_pvalue, js, chi2_pvalue;
      None disables one). metrics: a subset of ("psi", "ks", "js", "chi2"); by default numeric
      columns get psi, ks and js and categorical ones psi, chi2 and js (without "ks", numeric
      columns are not sorted, which is much faster).
    histograms: also keep each column's bin (or category) counts in `report.histograms`, for
      DriftReport.to_html(). Both inputs are then read into memory once and binned a second time."""
    th = dict(DEFAULT_THRESHOLDS)
    for k, v in (thresholds or {}).items():
        if k not in th:
            raise InvalidArgumentError(f"unknown threshold {k!r} (choose from {', '.join(th)})")
        th[k] = None if v is None else float(v)
    cols = [columns] if isinstance(columns, str) else (list(columns) if columns is not None else None)
    mets = list(metrics) if metrics is not None else []
    for m in mets:
        if m not in METRICS:
            raise InvalidArgumentError(f"unknown metric {m!r} (choose from {', '.join(METRICS)})")
    inf = float("inf")
    ref_data, cur_data = reference, current
    if histograms:
        ref_data, cur_data = _materialize(reference, cols, "reference"), _materialize(current, cols, "current")
    text = _strata.drift(
        _reader_capsule(ref_data, cols, "reference"),
        _reader_capsule(cur_data, cols, "current"),
        cols or [],
        _check_bins(bins),
        float(epsilon),
        mets,
        inf if th["psi"] is None else th["psi"],
        -inf if th["ks_pvalue"] is None else th["ks_pvalue"],
        inf if th["js"] is None else th["js"],
        th["chi2_pvalue"],
        int(threads or 0),
    )
    data = json.loads(text)
    data["reference"] = _describe(reference)
    data["current"] = _describe(current)
    report = DriftReport(data)
    report.thresholds = th
    if histograms:
        report.histograms = _column_bins(report, ref_data, cur_data, float(epsilon))
    return report
