"""Self-contained HTML pages for data quality: a validation Report, column profiles, drift.

    report.to_html("report.html", profile=quality.profile(data),
                   drift=quality.drift(reference, data, histograms=True))
    quality.profile(data).to_html("profile.html")
    quality.drift(reference, data, histograms=True).to_html("drift.html")

One file: inline CSS and SVG charts drawn here, no script, and nothing loaded from anywhere (the
page's Content-Security-Policy forbids it), so it can be attached to a ticket or archived as is.
Values that come from the data (samples, categories, column names, suite names) are escaped.

Numbers are shown with 6 significant digits (integers in full, with thousands separators);
every element that shows one carries it at full precision in a data- attribute (floats as
repr(), NaN and infinities as "NaN", "Infinity", "-Infinity"; structured values as JSON), for
tests and scripts to read:
  header    #status[data-success]; #row-count #evaluated #successful #unsuccessful #elapsed
            #table-version [data-value]
  results   tr.result[data-index, data-type, data-success] (one per expectation, in suite order)
            with td.observed[data-observed], td.element-count[data-value],
            td.unexpected-count[data-unexpected-count], td.unexpected-percent[data-unexpected-percent];
            then, for failing ones, tr.samples-row[data-index] with li.sample[data-value]
  profile   article.column-profile[data-column] with svg.histogram[data-bins] >
            rect.bar[data-count, data-lo, data-hi], or svg.top-values > rect.top-bar[data-count];
            td[data-stat, data-value] for count, nulls, distinct, min, max, mean, stdev, q<q>
  drift     tr.drift-row[data-column, data-psi, data-alert]; figure.drift-column[data-column,
            data-psi, data-alert] > svg.drift-chart > rect.dbar[data-series, data-bin, data-count,
            data-proportion] (series "reference" and "current" over the same bins)
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import re
from typing import Any, Callable, Iterable, Optional, Sequence

__all__ = ["render_html", "write_html"]

Formatter = Callable[[float], str]

_REF_COLOR = "#6b8fc7"
_CUR_COLOR = "#f08a4b"
_BAR_COLOR = "#4c78a8"
_TOP_COLOR = "#59a89c"
_MAX_DRIFT_CATEGORIES = 30  # categorical drift charts group the rest into one "others" bin


# --------------------------------------------------------------------------------------------
# Text and numbers
# --------------------------------------------------------------------------------------------
def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _attr(v: Any) -> str:
    """Full-precision text of a number for a data- attribute."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return _attr(v)
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _json(v: Any) -> str:
    return json.dumps(_jsonable(v), ensure_ascii=False, default=str)


def _fmt(v: Any) -> str:
    """Display text: floats with 6 significant digits, integers in full."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return _attr(v)
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return _value_text(v)


def _value_text(v: Any) -> str:
    """A data value as text, exactly (samples and categories are shown as they are)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _attr(v)
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat(sep=" ") if isinstance(v, _dt.datetime) else v.isoformat()
    if isinstance(v, bytes):
        return repr(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={_value_text(x)}" for k, x in v.items())
    return str(v)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_TIMESTAMP = re.compile(r"^timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]$")
_UNIT_SCALE = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_EPOCH = _dt.datetime(1970, 1, 1)


def _temporal_formatter(arrow_type: str) -> Optional[Formatter]:
    """For timestamp and date columns, a function from the engine's integers (in the column's
    unit) to ISO text; None for other types."""
    m = _TIMESTAMP.match(arrow_type)
    if m:
        scale, tz = _UNIT_SCALE[m.group(1)], m.group(2)

        def ts(v: float) -> str:
            t = _EPOCH + _dt.timedelta(microseconds=round(v * 1_000_000 / scale))
            return t.isoformat(sep=" ") + (" UTC" if tz else "")

        return _guard(ts)
    if arrow_type.startswith("date32"):
        return _guard(lambda v: (_EPOCH + _dt.timedelta(days=v)).date().isoformat()
                      if v == int(v) else (_EPOCH + _dt.timedelta(days=v)).isoformat(sep=" ", timespec="seconds"))
    if arrow_type.startswith("date64"):
        return _guard(lambda v: (_EPOCH + _dt.timedelta(milliseconds=v)).isoformat(sep=" ", timespec="seconds"))
    return None


def _guard(f: Formatter) -> Formatter:
    def g(v: float) -> str:
        if v is None or not math.isfinite(v):
            return _fmt(v)
        try:
            return f(v)
        except (OverflowError, ValueError):
            return _fmt(v)

    return g


def _duration(v: float, arrow_type: str) -> str:
    """A spread of a timestamp or date column (in the column's unit) as a duration."""
    m = _TIMESTAMP.match(arrow_type)
    scale = _UNIT_SCALE[m.group(1)] if m else 1_000 if arrow_type.startswith("date64") else 1 / 86_400
    try:
        return str(_dt.timedelta(seconds=v / scale))
    except (OverflowError, ValueError):
        return _fmt(v)


def _tick(v: float, temporal: Optional[Formatter]) -> str:
    """Short axis label."""
    if temporal is not None:
        s = temporal(v)
        s = s[:16] if len(s) > 16 and s[4:5] == "-" else s
        return s[:10] if s.endswith(" 00:00") else s
    return f"{v:.4g}"


# --------------------------------------------------------------------------------------------
# SVG charts (sizes in px of the viewBox; the CSS scales them to the card)
# --------------------------------------------------------------------------------------------
def _svg_open(cls: str, width: int, height: int, label: str, attrs: str = "") -> str:
    return (f'<svg class="chart {cls}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}"{attrs}>'
            f"<title>{_e(label)}</title>")


def _histogram_svg(column: str, bins: Sequence[tuple[float, float, int]], temporal: Optional[Formatter]) -> str:
    w, h, ml, mr, mt, mb = 400, 190, 48, 14, 12, 30
    pw, ph = w - ml - mr, h - mt - mb
    top = max((c for _, _, c in bins), default=0) or 1
    bw = pw / len(bins)
    full = temporal or _fmt
    out = [_svg_open("histogram", w, h, f"histogram of {column}",
                     f' data-column="{_e(column)}" data-bins="{len(bins)}"')]
    out.append(f'<line class="grid" x1="{ml}" y1="{mt}" x2="{w - mr}" y2="{mt}"/>')
    for i, (lo, hi, c) in enumerate(bins):
        bh = c / top * ph
        x = ml + i * bw
        close = "]" if i == len(bins) - 1 else ")"
        out.append(f'<rect class="bar" x="{x + 0.5:.2f}" y="{mt + ph - bh:.2f}" width="{max(bw - 1, 0.5):.2f}" '
                   f'height="{bh:.2f}" fill="{_BAR_COLOR}" data-count="{c}" data-lo="{_attr(lo)}" data-hi="{_attr(hi)}">'
                   f"<title>[{_e(full(lo))}, {_e(full(hi))}{close}: {c:,}</title></rect>")
    out.append(f'<line class="axis" x1="{ml}" y1="{mt + ph}" x2="{w - mr}" y2="{mt + ph}"/>')
    out.append(f'<text class="tick" x="{ml - 6}" y="{mt + 4}" text-anchor="end">{top:,}</text>')
    out.append(f'<text class="tick" x="{ml - 6}" y="{mt + ph + 4}" text-anchor="end">0</text>')
    y = mt + ph + 16
    out.append(f'<text class="tick" x="{ml}" y="{y}" text-anchor="start">{_e(_tick(bins[0][0], temporal))}</text>')
    out.append(f'<text class="tick" x="{w - mr}" y="{y}" text-anchor="end">{_e(_tick(bins[-1][1], temporal))}</text>')
    if temporal is None and len(bins) > 1:
        mid = (bins[0][0] + bins[-1][1]) / 2
        out.append(f'<text class="tick" x="{ml + pw / 2:.1f}" y="{y}" text-anchor="middle">{_e(_tick(mid, None))}</text>')
    out.append("</svg>")
    return "".join(out)


def _top_values_svg(column: str, values: Sequence[tuple[Any, int]], total: int) -> str:
    row, lw, w, mt = 20, 130, 400, 6
    h = mt * 2 + row * len(values)
    top = max(c for _, c in values) or 1
    bar_w = w - lw - 70
    out = [_svg_open("top-values", w, h, f"most frequent values of {column}", f' data-column="{_e(column)}"')]
    for i, (v, c) in enumerate(values):
        y = mt + i * row
        text = _value_text(v)
        share = f" ({c / total:.1%})" if total else ""
        out.append(f'<text class="label" x="{lw - 6}" y="{y + 14}" text-anchor="end">{_e(_short(text, 20))}'
                   f"<title>{_e(text)}</title></text>")
        bl = c / top * bar_w
        out.append(f'<rect class="top-bar" x="{lw}" y="{y + 3}" width="{bl:.2f}" height="{row - 6}" fill="{_TOP_COLOR}" '
                   f'data-value="{_e(_json(v))}" data-count="{c}"><title>{_e(text)}: {c:,}{share}</title></rect>')
        out.append(f'<text class="tick" x="{lw + bl + 4:.2f}" y="{y + 14}">{c:,}</text>')
    out.append("</svg>")
    return "".join(out)


def _edge_ticks(edges: Sequence[float], temporal: Optional[Formatter]) -> list[str]:
    """Short labels of bin edges: 4 significant digits, or for dates and times the date when
    the edges fall on different days, else month, day and time."""
    if temporal is None:
        return [f"{v:.4g}" for v in edges]
    full = [temporal(v) for v in edges]
    if len({t[:10] for t in full}) == len(full):
        return [t[:10] for t in full]
    return [t[5:16] for t in full]


def _drift_svg(column: str, bins: Any, temporal: Optional[Formatter]) -> str:
    """Reference and current proportions per bin, side by side."""
    ref, cur = list(bins.reference_counts), list(bins.current_counts)
    if bins.kind == "numeric":
        full = temporal or _fmt
        e = list(bins.edges)
        labels = []
        for i in range(len(ref)):
            if not e:
                labels.append("all values")
            elif i == 0:
                labels.append(f"< {full(e[0])}")
            elif i == len(ref) - 1:
                labels.append(f"≥ {full(e[-1])}")
            else:
                labels.append(f"[{full(e[i - 1])}, {full(e[i])})")
        merged = [False] * len(ref)
    else:
        labels = list(bins.labels)
        merged = [False] * len(ref)
        if len(labels) > _MAX_DRIFT_CATEGORIES:
            order = sorted(range(len(labels)), key=lambda i: -(ref[i] + cur[i]))
            keep = sorted(order[: _MAX_DRIFT_CATEGORIES - 1])
            rest = order[_MAX_DRIFT_CATEGORIES - 1:]
            labels = [labels[i] for i in keep] + [f"{len(rest)} other categories"]
            ref = [ref[i] for i in keep] + [sum(ref[i] for i in rest)]
            cur = [cur[i] for i in keep] + [sum(cur[i] for i in rest)]
            merged = [False] * len(keep) + [True]
    rt, ct = sum(ref) or 1, sum(cur) or 1
    rp, cp = [c / rt for c in ref], [c / ct for c in cur]
    n = len(ref)
    w, ml, mr, mt = 400, 56, 14, 30
    mb = 56
    h = 230
    pw, ph = w - ml - mr, h - mt - mb
    top = max(rp + cp + [1e-12])
    gw = pw / n
    bw = max((gw - 2) / 2, 0.5)
    out = [_svg_open("drift-chart", w, h, f"reference and current distribution of {column}",
                     f' data-column="{_e(column)}" data-bins="{n}"')]
    lx = ml
    for name, color, total in (("reference", _REF_COLOR, sum(ref)), ("current", _CUR_COLOR, sum(cur))):
        out.append(f'<rect class="legend-key" x="{lx}" y="8" width="11" height="11" fill="{color}"/>'
                   f'<text class="legend" x="{lx + 16}" y="18">{name} (n={total:,})</text>')
        lx += 160
    out.append(f'<line class="grid" x1="{ml}" y1="{mt}" x2="{w - mr}" y2="{mt}"/>')
    for i in range(n):
        x0 = ml + i * gw + 1
        for j, (series, color, counts, props) in enumerate(
                (("reference", _REF_COLOR, ref, rp), ("current", _CUR_COLOR, cur, cp))):
            bh = props[i] / top * ph
            out.append(
                f'<rect class="dbar {series}" x="{x0 + j * bw:.2f}" y="{mt + ph - bh:.2f}" width="{bw:.2f}" '
                f'height="{bh:.2f}" fill="{color}" data-series="{series}" data-bin="{i}" data-count="{counts[i]}" '
                f'data-proportion="{_attr(props[i])}"' + (' data-merged="true"' if merged[i] else "") +
                f"><title>{_e(labels[i])} — {series}: {counts[i]:,} ({props[i]:.2%})</title></rect>")
    out.append(f'<line class="axis" x1="{ml}" y1="{mt + ph}" x2="{w - mr}" y2="{mt + ph}"/>')
    out.append(f'<text class="tick" x="{ml - 6}" y="{mt + 4}" text-anchor="end">{top:.0%}</text>')
    out.append(f'<text class="tick" x="{ml - 6}" y="{mt + ph + 4}" text-anchor="end">0%</text>')
    base = mt + ph + 10
    if bins.kind == "numeric":
        ticks = _edge_ticks(bins.edges, temporal)
        step = max(1, math.ceil(len(ticks) / 12))
        for k, tick in enumerate(ticks):
            if k % step:
                continue
            x = ml + (k + 1) * gw
            out.append(f'<text class="tick" transform="translate({x:.1f},{base}) rotate(-35)" text-anchor="end">'
                       f"{_e(tick)}</text>")
    else:
        step = max(1, math.ceil(n / 15))
        for i in range(0, n, step):
            x = ml + (i + 0.5) * gw
            out.append(f'<text class="tick" transform="translate({x:.1f},{base}) rotate(-35)" text-anchor="end">'
                       f"{_e(_short(labels[i], 12))}</text>")
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
def _tile(ident: str, value: Any, label: str, cls: str = "") -> str:
    return (f'<div class="tile {cls}"><div class="tile-value" id="{ident}" data-value="{_e(_attr(value))}">'
            f"{_e(_fmt(value))}</div><div class=\"tile-label\">{_e(label)}</div></div>")


def _meta(items: Iterable[tuple[str, str, Any]]) -> str:
    rows = []
    for ident, label, value in items:
        if value is None:
            continue
        num = f' data-value="{_e(_attr(value))}"' if isinstance(value, (int, float)) else ""
        text = _fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        rows.append(f'<div><dt>{_e(label)}</dt><dd id="{ident}"{num}>{_e(text)}</dd></div>')
    return f'<dl class="meta">{"".join(rows)}</dl>' if rows else ""


def _report_header(report: Any) -> str:
    stats = report.statistics
    ok = bool(report.success)
    badge = (f'<span id="status" class="badge {"pass" if ok else "fail"}" data-success="{_attr(ok)}">'
             f'{"PASS" if ok else "FAIL"}</span>')
    meta = _meta([
        ("suite-name", "suite", report.suite_name),
        ("table-path", "table", report.table_path if report.table_path is not None else "in-memory data"),
        ("table-version", "version", report.table_version),
    ])
    tiles = "".join([
        _tile("row-count", int(report.row_count), "rows"),
        _tile("evaluated", stats["evaluated"], "expectations"),
        _tile("successful", stats["successful"], "passed", "pass"),
        _tile("unsuccessful", stats["unsuccessful"], "failed", "fail" if stats["unsuccessful"] else ""),
        f'<div class="tile"><div class="tile-value" id="elapsed" data-value="{_attr(float(report.elapsed_seconds))}">'
        f'{_fmt(float(report.elapsed_seconds))} s</div><div class="tile-label">elapsed</div></div>',
    ])
    return f'<section class="overview"><div class="status-row">{badge}{meta}</div><div class="tiles">{tiles}</div></section>'


_RESULT_HEAD = ("#", "status", "expectation", "column(s)", "observed", "rows", "unexpected", "unexpected %", "arguments")


def _results_section(report: Any) -> str:
    rows = []
    for i, r in enumerate(report.results):
        ok = bool(r.success)
        cols = ", ".join(r.columns) if r.columns else (r.column or "")
        name = "" if r.name.startswith(f"{r.type}(") else f'<div class="sub">{_e(r.name)}</div>'
        args = ", ".join(f"{k}={_value_text(v) if not isinstance(v, (list, dict)) else _json(v)}"
                         for k, v in r.kwargs.items() if k not in ("column", "columns", "column_a", "column_b"))
        origin = f'<div class="sub">{_e(r.origin)}</div>' if r.origin else ""
        uc, up = r.unexpected_count, r.unexpected_percent
        cells = [
            f'<td class="num">{i + 1}</td>',
            f'<td><span class="badge {"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}</span></td>',
            f'<td class="type"><code>{_e(r.type)}</code>{name}</td>',
            f'<td class="columns">{_e(cols) or "—"}</td>',
            f'<td class="observed num" data-observed="{_e(_json(r.observed_value))}">{_e(_fmt(r.observed_value))}</td>',
            f'<td class="element-count num" data-value="{_attr(r.element_count)}">{_fmt(r.element_count)}</td>',
            f'<td class="unexpected-count num" data-unexpected-count="{_attr(uc)}">{_fmt(uc)}</td>',
            f'<td class="unexpected-percent num" data-unexpected-percent="{_attr(up)}">'
            f'{_fmt(up) + "%" if up is not None else "—"}</td>',
            f'<td class="args">{_e(args)}{origin}</td>',
        ]
        rows.append(f'<tr class="result {"pass" if ok else "fail"}" data-index="{i}" data-type="{_e(r.type)}" '
                    f'data-success="{_attr(ok)}">{"".join(cells)}</tr>')
        if ok:
            continue
        detail = []
        if r.error:
            detail.append(f'<div class="error">could not evaluate: {_e(r.error)}</div>')
        if r.unexpected_samples:
            items = "".join(f'<li class="sample" data-value="{_e(_json(s))}"><code>{_e(_value_text(s))}</code></li>'
                            for s in r.unexpected_samples)
            detail.append(f'<div class="samples"><span class="samples-label">failing values</span><ul>{items}</ul></div>')
        if detail:
            rows.append(f'<tr class="samples-row" data-index="{i}"><td></td><td colspan="{len(_RESULT_HEAD) - 1}">'
                        f'{"".join(detail)}</td></tr>')
    head = "".join(f"<th>{_e(h)}</th>" for h in _RESULT_HEAD)
    return (f'<section id="results"><h2>Expectations</h2><div class="scroll"><table class="results">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def _stat_cells(items: Sequence[tuple[str, str, Any, str]]) -> str:
    """(label, key, value, text) pairs laid out two per row."""
    rows = []
    for k in range(0, len(items), 2):
        cells = []
        for label, key, value, text in items[k:k + 2]:
            cells.append(f'<th>{_e(label)}</th><td data-stat="{_e(key)}" data-value="{_e(_attr(value))}">{_e(text)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="stats">{"".join(rows)}</table>'


def _column_profile(c: Any) -> str:
    temporal = _temporal_formatter(c.type) if c.kind == "temporal" else None
    show = temporal or _fmt

    def val(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return show(v)
        return _value_text(v)

    nulls = f"{c.null_count:,}" + (f" ({c.null_count / c.count:.1%})" if c.count else "")
    items = [("count", "count", c.count, f"{c.count:,}"), ("nulls", "nulls", c.null_count, nulls)]
    if c.kind == "float":
        items.append(("NaN", "nan", c.nan_count, f"{c.nan_count:,}"))
    if c.distinct is not None:
        items.append(("distinct", "distinct", c.distinct, _fmt(c.distinct) + ("" if c.distinct_exact else " (approx.)")))
    items += [("min", "min", c.min, val(c.min)), ("max", "max", c.max, val(c.max))]
    if c.mean is not None:
        items.append(("mean", "mean", c.mean, val(c.mean) if c.kind == "temporal" else _fmt(c.mean)))
    if c.stdev is not None:
        items.append(("stdev", "stdev", c.stdev, _duration(c.stdev, c.type) if temporal else _fmt(c.stdev)))
    if c.min_length is not None:
        items += [("min length", "min_length", c.min_length, _fmt(c.min_length)),
                  ("max length", "max_length", c.max_length, _fmt(c.max_length)),
                  ("mean length", "mean_length", c.mean_length, _fmt(c.mean_length))]
    for q, v in sorted(c.quantiles.items()):
        items.append((f"p{q * 100:g}", f"q{q:g}", v, val(v)))
    stats = _stat_cells(items)
    if c.top_values:
        tops = ", ".join(f"{_short(_value_text(v), 24)} ({n:,})" for v, n in c.top_values[:5])
        approx = "" if c.top_values_exact in (None, True) else f" (counts may be up to {c.top_values_max_error:,} low)"
        stats += f'<div class="top-values-text"><span class="k">top values</span> {_e(tops)}{_e(approx)}</div>'
    if c.histogram:
        chart = _histogram_svg(c.name, c.histogram, temporal)
    elif c.top_values:
        chart = _top_values_svg(c.name, c.top_values, c.valid_count)
    else:
        chart = '<div class="empty">no values to chart</div>'
    return (f'<article class="card column-profile" data-column="{_e(c.name)}" data-kind="{_e(c.kind)}">'
            f'<h3>{_e(c.name)} <span class="type">{_e(c.type)}</span></h3>{chart}{stats}</article>')


def _profile_section(profile: Any, standalone: bool) -> str:
    head = "" if not standalone else _meta([
        ("profile-rows", "rows", profile.num_rows),
        ("profile-columns", "columns", len(profile.column_names)),
        ("table-version", "table version", profile.table_version),
    ])
    cards = "".join(_column_profile(c) for c in profile.columns.values())
    note = ('<p class="note">Histograms: equal-width bins between min and max, counts from the quantile sketch '
            "(they add up to the non-null, non-NaN values). Quantiles: KLL sketch, about 1% rank error.</p>")
    h2 = "" if standalone else "<h2>Column profiles</h2>"
    return f'<section id="profile">{h2}{head}{note}<div class="cards">{cards}</div></section>'


def _alert_text(c: Any) -> str:
    return ", ".join(f"{a.metric} {_fmt(a.value)} {'<' if a.metric.endswith('pvalue') else '>'} {a.threshold:g}"
                     for a in c.alerts)


def _drift_section(d: Any, standalone: bool) -> str:
    n_alerts = len(d.alerts)
    head = _meta([
        ("drift-reference", "reference", d.reference),
        ("drift-current", "current", d.current),
        ("drift-bins", "bins", d.bins),
        ("drift-alerts", "alerts", n_alerts),
    ])
    if standalone:
        ok = not d.has_alerts
        head = (f'<div class="status-row"><span id="status" class="badge {"pass" if ok else "fail"}" '
                f'data-success="{_attr(ok)}">{"NO DRIFT" if ok else "DRIFT"}</span>{head}</div>')
    th = ", ".join(f"{k} {'<' if k.endswith('pvalue') else '>'} {v:g}" for k, v in d.thresholds.items() if v is not None)
    rows = []
    for c in d.columns.values():
        alert = c.drifted
        status = ("skipped" if c.skipped else "ALERT" if alert else "ok")
        cls = "skip" if c.skipped else ("fail" if alert else "pass")

        def cell(cls_: str, v: Optional[float]) -> str:
            return f'<td class="{cls_} num" data-value="{_attr(v)}">{_fmt(v)}</td>'

        rows.append(
            f'<tr class="drift-row {cls}" data-column="{_e(c.name)}" data-psi="{_attr(c.psi)}" data-alert="{_attr(alert)}">'
            f"<td>{_e(c.name)}</td><td>{_e(c.kind or '—')}</td>"
            + cell("psi", c.psi) + cell("ks-statistic", c.ks_statistic) + cell("ks-pvalue", c.ks_pvalue)
            + cell("js", c.js) + cell("chi2-pvalue", c.chi2_pvalue)
            + f'<td><span class="badge {cls}">{status}</span></td>'
            f'<td class="args">{_e(c.skipped or _alert_text(c))}</td></tr>')
    table = ('<div class="scroll"><table class="drift"><thead><tr><th>column</th><th>kind</th><th>PSI</th><th>KS D</th>'
             "<th>KS p</th><th>JS</th><th>χ² p</th><th>status</th><th>alerts</th></tr></thead>"
             f'<tbody>{"".join(rows)}</tbody></table></div>')
    hist = getattr(d, "histograms", None) or {}
    figures = []
    for c in d.columns.values():
        b = hist.get(c.name)
        if b is None:
            continue
        temporal = _temporal_formatter(b.type) if b.kind == "numeric" else None
        alert = c.drifted
        metrics = []
        if c.ks_statistic is not None:
            metrics.append(f"KS D {_fmt(c.ks_statistic)} (p {_fmt(c.ks_pvalue)})")
        if c.chi2_pvalue is not None:
            metrics.append(f"χ² {_fmt(c.chi2_statistic)}, {c.chi2_dof} dof (p {_fmt(c.chi2_pvalue)})")
        if c.js is not None:
            metrics.append(f"JS {_fmt(c.js)}")
        what = (f"{len(b.reference_counts)} bins at the reference's quantiles" if b.kind == "numeric"
                else f"{len(b.labels)} categories")
        figures.append(
            f'<figure class="card drift-column {"alert" if alert else ""}" data-column="{_e(c.name)}" '
            f'data-psi="{_attr(c.psi)}" data-alert="{_attr(alert)}">'
            f'<figcaption><span class="col">{_e(c.name)}</span> <span class="psi-label">PSI '
            f'<span class="psi" data-psi="{_attr(c.psi)}">{_fmt(c.psi)}</span></span> '
            f'<span class="badge {"fail" if alert else "pass"}">{"ALERT" if alert else "OK"}</span></figcaption>'
            + _drift_svg(c.name, b, temporal)
            + f'<div class="metrics">{_e(" · ".join(metrics))}<br><span class="sub">{_e(what)}'
            + (f"; {_e(_alert_text(c))}" if alert else "") + "</span></div></figure>")
    if figures:
        charts = f'<div class="cards">{"".join(figures)}</div>'
    else:
        charts = ('<p class="note">No histograms in this drift report: compute it with '
                  "<code>drift(reference, current, histograms=True)</code> to draw them.</p>")
    return (f'<section id="drift">{"" if standalone else "<h2>Drift</h2>"}{head}<p class="note">Thresholds: {_e(th or "none")}. '
            f"Bars are each side's share of its non-null values per bin.</p>{table}{charts}</section>")


_CSS = """
:root { --fail: #b42318; --fail-bg: #fdeceb; --pass: #18794e; --pass-bg: #e8f5ee; --muted: #5f6b7a;
        --line: #dde2e8; --card: #ffffff; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: #1d2733;
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 8px; word-break: break-all; }
code { font: 12.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
nav a { color: #2a5db0; margin-right: 14px; text-decoration: none; }
.status-row { display: flex; align-items: center; gap: 18px; flex-wrap: wrap; margin-bottom: 14px; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; }
.meta div { display: flex; gap: 6px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; font-weight: 600; word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700;
         letter-spacing: .03em; }
.badge.pass { background: var(--pass-bg); color: var(--pass); }
.badge.fail { background: var(--fail-bg); color: var(--fail); }
.badge.skip { background: #eef0f3; color: var(--muted); }
#status { font-size: 16px; padding: 4px 14px; border-radius: 14px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 130px; }
.tile-value { font-size: 22px; font-weight: 700; font-variant-numeric: tabular-nums; }
.tile-label { color: var(--muted); font-size: 12px; }
.tile.pass .tile-value { color: var(--pass); }
.tile.fail .tile-value { color: var(--fail); }
.scroll { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table.results, table.drift { border-collapse: collapse; width: 100%; }
table.results th, table.drift th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600;
    padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.results td, table.drift td { padding: 7px 10px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.observed { max-width: 280px; white-space: normal; word-break: break-word; }
tr.result.fail td, tr.drift-row.fail td { background: var(--fail-bg); }
tr.result.fail td:first-child, tr.drift-row.fail td:first-child { box-shadow: inset 3px 0 var(--fail); }
tr.samples-row td { background: #fff7f6; padding-top: 2px; }
.samples { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.samples-label { color: var(--muted); font-size: 12px; }
.samples ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.samples li { background: #fff; border: 1px solid #f1c6c2; border-radius: 4px; padding: 1px 6px; word-break: break-all; }
.error { color: var(--fail); }
.args, .sub { color: var(--muted); font-size: 12px; word-break: break-word; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 14px; margin-top: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 0; }
.card.alert { border-color: #f0a9a2; box-shadow: inset 0 3px var(--fail); }
.type { color: var(--muted); font-weight: 400; font-size: 12px; }
svg.chart { display: block; width: 100%; height: auto; margin: 4px 0 8px; }
svg .tick, svg .label, svg .legend { font: 11px system-ui, sans-serif; fill: #4a5563; }
svg .legend { fill: #1d2733; }
svg .axis { stroke: #8a94a3; stroke-width: 1; }
svg .grid { stroke: #e6e9ee; stroke-dasharray: 3 3; }
svg rect:hover { opacity: .75; }
table.stats { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
table.stats th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 8px 2px 0; white-space: nowrap; width: 1%; }
table.stats td { padding: 2px 14px 2px 0; word-break: break-all; }
.top-values-text { font-size: 12.5px; margin-top: 6px; word-break: break-word; }
.top-values-text .k { color: var(--muted); margin-right: 4px; }
figcaption { font-weight: 600; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
figcaption .col { font-size: 14px; word-break: break-all; }
.psi-label { color: var(--muted); font-weight: 500; }
.psi { color: #1d2733; font-weight: 700; font-variant-numeric: tabular-nums; }
.metrics { font-size: 12.5px; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 8px; }
.empty { color: var(--muted); padding: 30px 0; text-align: center; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
"""


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------
def render_html(report: Any = None, *, profile: Any = None, drift: Any = None, title: Optional[str] = None) -> str:
    """The page as text: a validation Report (header and results), plus the profile's and the
    DriftReport's sections when given. At least one of the three is required."""
    if report is None and profile is None and drift is None:
        raise ValueError("render_html needs a report, a profile or a drift report")
    if title is None:
        if report is not None:
            title = f"Data quality: {report.suite_name}"
        elif drift is not None:
            title = f"Drift: {drift.current} against {drift.reference}"
        else:
            title = "Column profile"
    parts = []
    links = []
    if report is not None:
        parts += [_report_header(report), _results_section(report)]
        links.append(("results", "Expectations"))
    if drift is not None:
        parts.append(_drift_section(drift, standalone=report is None))
        links.append(("drift", "Drift"))
    if profile is not None:
        parts.append(_profile_section(profile, standalone=report is None))
        links.append(("profile", "Column profiles"))
    nav = "<nav>" + "".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in links) + "</nav>" if len(links) > 1 else ""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="generator" content="strata">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n{nav}\n" + "\n".join(parts) +
        f'\n<footer>Written by strata on <time datetime="{now.isoformat()}">{now:%Y-%m-%d %H:%M} UTC</time>.</footer>\n'
        "</main>\n</body>\n</html>\n"
    )


def write_html(path: str | os.PathLike, report: Any = None, *, profile: Any = None, drift: Any = None,
               title: Optional[str] = None) -> str:
    """Writes render_html(...) to `path` (UTF-8) and returns the path."""
    text = render_html(report, profile=profile, drift=drift, title=title)
    out = os.fspath(path)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return out
