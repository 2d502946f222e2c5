"""`strata contract attach|detach|show|sla|quarantine`: a table's data contract from the shell.

Registered into the `strata` command line by cli.py through add_parser(subparsers)."""

from __future__ import annotations

import argparse
import json

EPILOG = """examples:
  strata contract attach data/payments contracts/payments.yaml
  strata contract show data/payments
  strata contract sla data/payments          # exit 1 when an SLA is not met
  strata contract quarantine data/payments --limit 20
  strata contract detach data/payments"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "contract", help="attach, inspect or remove a table's data contract (gates every write)",
        description="A data contract declares a table's schema, rules, owner and SLAs; attached to a table it is "
                    "checked on every write (append, overwrite, UPDATE, MERGE) before the commit.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="contract_command", metavar="SUBCOMMAND", required=True)
    a = sub.add_parser("attach", help="attach CONTRACT (YAML file) to TABLE, after checking the table conforms")
    a.add_argument("table")
    a.add_argument("contract")
    a.set_defaults(func=_attach)
    d = sub.add_parser("detach", help="remove TABLE's contract (writes are no longer gated)")
    d.add_argument("table")
    d.set_defaults(func=_detach)
    s = sub.add_parser("show", help="print TABLE's contract")
    s.add_argument("table")
    s.set_defaults(func=_show)
    sla = sub.add_parser("sla", help="check TABLE against its contract's SLA (exit 0 met, 1 not met)")
    sla.add_argument("table")
    sla.add_argument("--format", choices=["text", "json"], default="text")
    sla.set_defaults(func=_sla)
    q = sub.add_parser("quarantine", help="print the rows the contract kept out of TABLE, with the reasons")
    q.add_argument("table")
    q.add_argument("--limit", type=int, default=40, help="rows to print (default 40)")
    q.set_defaults(func=_quarantine)
    return p


def _attach(args) -> int:
    from strata import quality

    c = quality.attach_contract(args.table, args.contract)
    print(f"attached contract {c.name!r} (on_fail={c.on_fail}, {len(c.schema)} columns, "
          f"{c.num_expectations} expectations) to {args.table}")
    return 0


def _detach(args) -> int:
    from strata import quality

    quality.detach_contract(args.table)
    print(f"{args.table}: no contract")
    return 0


def _show(args) -> int:
    from strata import quality

    c = quality.get_contract(args.table)
    if c is None:
        print(f"{args.table}: no contract")
        return 0
    print(c.yaml, end="" if c.yaml.endswith("\n") else "\n")
    return 0


def _sla(args) -> int:
    from strata import quality

    r = quality.check_sla(args.table)
    if args.format == "json":
        print(json.dumps(r, indent=2))
    else:
        for x in r.get("results", []):
            print(f"{'PASS' if x['success'] else 'FAIL'}  {x['name']}  observed={x.get('observed_value')}")
        print("SLA met" if r["success"] else "SLA NOT met")
    return 0 if r["success"] else 1


def _quarantine(args) -> int:
    from strata import quality

    t = quality.quarantine(args.table)
    if t is None:
        print(f"{args.table}: nothing quarantined")
        return 0
    data = t.to_arrow()
    print(f"{data.num_rows} quarantined rows")
    print(data.slice(0, args.limit).to_pandas().to_string(index=False))
    return 0
