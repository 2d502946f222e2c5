"""`strata drift` and `strata profile`: argument parsing and printing; the engine does the work.

    strata drift REF CUR [--columns a,b] [--bins 10] [--format text|json] [--html PATH]
    strata profile TABLE [--version N] [--format text|json]

The lead's cli.py calls add_parser(subparsers); each command sets `func`, which returns the exit
status.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from strata.errors import StrataError

DRIFT_DESCRIPTION = """Compares two versions of data column by column.

REF and CUR are table paths; PATH@N means version N of the table at PATH.
Numeric columns: PSI over 10 bins at the reference's quantiles (empty bins count as 1e-4),
the Kolmogorov-Smirnov statistic D and its asymptotic p-value, and the Jensen-Shannon
divergence (base 2) over the same bins. Categorical columns (strings, booleans): PSI over the
categories, the chi-square test of homogeneity and the JS divergence. Nulls and NaN are ignored.

Alerts: PSI > 0.2, KS p-value < 0.05, JS > 0.1 (change them with the threshold options)."""

DRIFT_EPILOG = """exit status:
  0  no alert
  1  at least one alert (a column drifted)
  2  error (bad arguments, missing table or version, unknown column, HTML file not writable)

--html PATH also writes one self-contained HTML page: the metrics table and, per column, the
reference and current distributions over the same bins."""

PROFILE_DESCRIPTION = """Profiles every column of a table version: counts, nulls, NaN, distinct values,
min/max, mean/stdev, quantiles, a histogram and the most frequent values.

The profile is stored under TABLE/_strata/profiles/ for that version (Delta readers and VACUUM
ignore paths starting with '_'). A later version that only appended data is profiled by reading
just the new files and merging with the stored profile."""


def _columns(text: Optional[str]) -> Optional[list[str]]:
    if not text:
        return None
    cols = [c.strip() for c in text.split(",") if c.strip()]
    return cols or None


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {v}")
    return v


def cmd_drift(args) -> int:
    from strata.quality._drift import drift  # noqa: PLC0415

    thresholds = {}
    if args.psi_threshold is not None:
        thresholds["psi"] = args.psi_threshold
    if args.ks_pvalue is not None:
        thresholds["ks_pvalue"] = args.ks_pvalue
    if args.js_threshold is not None:
        thresholds["js"] = args.js_threshold
    if args.chi2_pvalue is not None:
        thresholds["chi2_pvalue"] = args.chi2_pvalue
    try:
        report = drift(args.reference, args.current, columns=_columns(args.columns), thresholds=thresholds,
                       bins=args.bins, histograms=bool(getattr(args, "html", None)))
    except StrataError as e:
        print(f"strata drift: error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(report.to_json(indent=2))
    else:
        print(f"drift of {report.current} against {report.reference} ({report.bins} bins)")
        print(report.to_text())
        for a in report.alerts:
            print(f"ALERT {a}")
    if getattr(args, "html", None):
        try:
            report.to_html(args.html)
        except OSError as e:
            print(f"strata drift: error: cannot write {args.html}: {e.strerror or e}", file=sys.stderr)
            return 2
    return 1 if report.has_alerts else 0


def cmd_profile(args) -> int:
    from strata.quality._profile import profile  # noqa: PLC0415

    try:
        p = profile(args.table, columns=_columns(args.columns), version=args.version, store=not args.no_store)
    except StrataError as e:
        print(f"strata profile: error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(p.to_dict(), indent=2))
    else:
        print(f"profile of {args.table}")
        print(p.to_text())
    return 0


def add_parser(subparsers) -> None:
    """Registers `drift` and `profile` on an argparse subparsers object."""
    d = subparsers.add_parser(
        "drift", help="per-column drift between two table versions (exit 1 on alerts)",
        description=DRIFT_DESCRIPTION, epilog=DRIFT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("reference", metavar="REF", help="reference table: PATH or PATH@VERSION")
    d.add_argument("current", metavar="CUR", help="current table: PATH or PATH@VERSION")
    d.add_argument("--columns", help="comma-separated columns (default: all)")
    d.add_argument("--bins", type=_positive_int, default=10, help="PSI bins at the reference's quantiles (default 10)")
    d.add_argument("--format", choices=["text", "json"], default="text")
    d.add_argument("--psi-threshold", type=float, default=None, help="alert when PSI is above this (default 0.2)")
    d.add_argument("--ks-pvalue", type=float, default=None, help="alert when the KS p-value is below this (default 0.05)")
    d.add_argument("--js-threshold", type=float, default=None, help="alert when JS is above this (default 0.1)")
    d.add_argument("--chi2-pvalue", type=float, default=None,
                   help="alert when the chi-square p-value is below this (default: no chi-square alert)")
    d.add_argument("--html", metavar="PATH", default=None,
                   help="also write an HTML page with the metrics and each column's histograms")
    d.set_defaults(func=cmd_drift)

    p = subparsers.add_parser(
        "profile", help="column profiles of a table version (stored and updated incrementally)",
        description=PROFILE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", metavar="TABLE", help="table path (PATH@VERSION also works)")
    p.add_argument("--version", type=int, default=None, help="profile this version (default: latest)")
    p.add_argument("--columns", help="comma-separated columns (default: all; subsets are not stored)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--no-store", action="store_true", help="do not store the profile under _strata/profiles/")
    p.set_defaults(func=cmd_profile)
