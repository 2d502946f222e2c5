"""`strata validate SUITE TABLE`: check a strata table against an expectation suite.

Registered into the `strata` command line by cli.py through add_parser(subparsers)."""

from __future__ import annotations

import argparse
import sys

from strata.errors import StrataError

EPILOG = """exit status:
  0  every expectation passed
  1  at least one expectation failed
  2  the suite or the table could not be read (error on stderr)

examples:
  strata validate checks/transactions.yaml data/transactions
  strata validate checks/transactions.yaml data/transactions --version 12 --format json
  strata validate checks/transactions.yaml data/transactions --html report.html"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `validate` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "validate",
        help="check a table against an expectation suite (exit 0 pass, 1 fail)",
        description="Validate a strata table (at a version) against an expectation suite (YAML) and print "
                    "the report: one line per expectation, or the JSON report with --format json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suite", help="suite file (YAML: name, expectations)")
    p.add_argument("table", help="path of the strata table")
    p.add_argument("--version", type=int, default=None, help="table version to validate (default: latest)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="report format (default: text)")
    p.add_argument("--samples", type=int, default=5, help="failing values shown per expectation (default 5)")
    p.add_argument("--html", metavar="PATH", default=None,
                   help="also write the report as one self-contained HTML file (results and failing values)")
    p.set_defaults(func=cmd_validate)
    return p


def cmd_validate(args) -> int:
    """Runs the validation; returns the exit status (0 passed, 1 failed, 2 error)."""
    from strata.quality.suite import Suite  # noqa: PLC0415

    try:
        suite = Suite.from_yaml(args.suite)
        report = suite.validate(args.table, version=args.version, max_samples=args.samples)
    except StrataError as e:
        print(f"strata validate: error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(report.to_json(indent=2))
    else:
        print(report.summary(), end="")
    if getattr(args, "html", None):
        try:
            report.to_html(args.html)
        except OSError as e:
            print(f"strata validate: error: cannot write {args.html}: {e.strerror or e}", file=sys.stderr)
            return 2
    return 0 if report.success else 1
