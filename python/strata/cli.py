"""The `strata` command line. Thin: argument parsing and printing; the engine does the work."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Optional, Sequence

import strata
from strata.errors import StrataError

DESCRIPTION = """strata: lakehouse tables (Delta Lake) on a fast C++ engine.

Commands:
  table info PATH        version, schema, partitioning, files, rows, properties
  table history PATH     the commits, newest first
  table show PATH        rows (with --filter, --columns, --version, --as-of, --limit)
  table checkpoint PATH  write a checkpoint of the latest version
  table vacuum PATH      delete files no version within the retention references
  table restore PATH     make the latest version equal to an earlier one
  table set-property PATH KEY=VALUE ...
  sql "SELECT ..."       SQL over tables with DuckDB: FROM 'path/to/table'
  validate SUITE TABLE   check a table against an expectation suite (exit 1 when it fails)
  profile TABLE          per-column profile (counts, nulls, distinct, quantiles, top values)
  drift REF CUR          PSI / KS / JS per column between two tables or versions (exit 1 on alerts)
  contract attach|detach|show|sla|quarantine TABLE ...
                         a table's data contract, checked on every write
  apply [--repo DIR]     validate a feature repository, store it as a new registry version
  plan                   what apply would change
  registry history|show  the applied feature registry's versions and definitions
  materialize START END  load the latest feature values into the online store
  materialize-incremental END
                         the same, from the last watermark (the change data feed when on)
  serve                  start the feature server (strata-server)
  runs TABLE             the recorded runs (writes) of a table: rows in/out/rejected, time, freshness
  demo                   the end-to-end demo (what `make demo` runs)

Run `strata COMMAND --help` for the options of each."""


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _open(args) -> strata.Table:
    return strata.Table(args.path, version=getattr(args, "version", None), as_of=getattr(args, "as_of", None))


def cmd_info(args) -> int:
    t = _open(args)
    files = t.files()
    size = sum(f["size"] for f in files)
    p = t.protocol
    print(f"table      {t.path}")
    print(f"version    {t.version}  ({t.timestamp.isoformat()})")
    print(f"rows       {t.count()}")
    print(f"files      {len(files)}  ({_fmt_bytes(size)})")
    print(f"partitions {', '.join(t.partition_columns) or '-'}")
    feats = sorted(set(p["reader_features"]) | set(p["writer_features"]))
    print(f"protocol   reader {p['min_reader_version']}, writer {p['min_writer_version']}"
          + (f"  features: {', '.join(feats)}" if feats else ""))
    if t.properties:
        print("properties")
        for k, v in sorted(t.properties.items()):
            print(f"  {k} = {v}")
    print("schema")
    for field in t.schema:
        print(f"  {field.name}: {field.type}{'' if field.nullable else ' NOT NULL'}")
    return 0


def cmd_history(args) -> int:
    t = _open(args)
    rows = t.history(limit=args.limit)
    if args.json:
        for r in rows:
            r = dict(r, timestamp=r["timestamp"].isoformat())
            print(json.dumps(r))
        return 0
    print(f"{'version':>7}  {'timestamp':<26}  {'operation':<14}  details")
    for r in rows:
        params = r["operationParameters"] or {}
        metrics = r["operationMetrics"] or {}
        detail = ", ".join(f"{k}={v}" for k, v in list(params.items()) + list(metrics.items())[:3])
        print(f"{r['version']:>7}  {r['timestamp'].isoformat(timespec='milliseconds'):<26}  "
              f"{(r['operation'] or '-'):<14}  {detail}")
    return 0


def cmd_show(args) -> int:
    t = _open(args)
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    reader = t.to_reader(columns=columns, filter=args.filter)
    batches, n = [], 0
    for b in reader:
        batches.append(b)
        n += b.num_rows
        if n >= args.limit:
            break
    import pyarrow as pa  # noqa: PLC0415

    tbl = pa.Table.from_batches(batches, schema=reader.schema).slice(0, args.limit)
    if args.format == "json":
        for row in tbl.to_pylist():
            print(json.dumps(row, default=str))
    elif args.format == "csv":
        import pyarrow.csv as pacsv  # noqa: PLC0415

        pacsv.write_csv(tbl, sys.stdout.buffer)
    else:
        print(tbl.to_pandas().to_string(index=False, max_colwidth=40))
        print(f"({tbl.num_rows} row{'s' if tbl.num_rows != 1 else ''} shown, version {t.version})")
    return 0


def cmd_vacuum(args) -> int:
    files = strata.Table(args.path).vacuum(retention_hours=args.retention_hours, dry_run=args.dry_run,
                                           force=args.force)
    verb = "would delete" if args.dry_run else "deleted"
    for f in files:
        print(f)
    print(f"{verb} {len(files)} file{'s' if len(files) != 1 else ''}")
    return 0


def cmd_restore(args) -> int:
    if (args.to_version is None) == (args.to_as_of is None):
        print("strata: error: give --to-version or --to-as-of", file=sys.stderr)
        return 2
    m = strata.Table(args.path).restore(version=args.to_version, as_of=args.to_as_of)
    if m["version"] < 0:
        print(f"already identical to version {m['restored_from']}; nothing committed")
    else:
        print(f"version {m['version']}: restored version {m['restored_from']} "
              f"(+{m['files_added']} / -{m['files_removed']} files)")
    return 0


def cmd_set_property(args) -> int:
    props = {}
    for kv in args.properties:
        if "=" not in kv:
            print(f"strata: error: expected KEY=VALUE, got {kv!r}", file=sys.stderr)
            return 2
        k, v = kv.split("=", 1)
        props[k.strip()] = v.strip()
    v = strata.Table(args.path).set_properties(props)
    print(f"version {v}: " + ", ".join(f"{k}={val}" for k, val in props.items()))
    return 0


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 128MB, 1GiB, 5000000)")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    return int(float(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit])


def cmd_optimize(args) -> int:
    z = [c.strip() for c in args.z_order.split(",")] if args.z_order else None
    m = strata.Table(args.path).optimize(z_order=z, target_size=args.target_size, partition_filter=args.where)
    if m["version"] < 0:
        print(f"nothing to optimize ({m['num_files_considered']} files already compact)")
    else:
        print(f"version {m['version']}: {m['num_files_removed']} files ({m['num_bytes_removed']:,} bytes) -> "
              f"{m['num_files_added']} files ({m['num_bytes_added']:,} bytes) in "
              f"{m['num_partitions_optimized']} partition(s)" + (f", z-ordered by {', '.join(z)}" if z else ""))
    return 0


def cmd_changes(args) -> int:
    t = strata.Table(args.path)
    tbl = t.changes(args.start, args.end)
    if args.format == "json":
        for row in tbl.slice(0, args.limit).to_pylist():
            print(json.dumps(row, default=str))
    else:
        print(tbl.slice(0, args.limit).to_pandas().to_string(index=False, max_colwidth=40))
        print(f"({min(tbl.num_rows, args.limit)} of {tbl.num_rows} change rows shown)")
    return 0


def cmd_runs(args) -> int:
    from strata.quality.monitor import runs  # noqa: PLC0415

    rows = runs(args.path, limit=args.limit).to_pylist()[::-1]  # newest first
    if args.json:
        for r in rows:
            print(json.dumps(r, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
        return 0
    print(f"{'started_at':<23}  {'operation':<9}  {'source':<16}  {'version':>7}  {'rows_in':>9}  {'rows_out':>9}  "
          f"{'rejected':>8}  {'ms':>8}  {'newest_event':<23}  status")
    for r in rows:
        def ts(v):
            return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if v is not None else "-"
        status = "ok"
        if not r["success"]:
            status = "FAILED" + (": " + r["error"].splitlines()[0][:80] if r["error"] else "")
        print(f"{ts(r['started_at']):<23}  {r['operation']:<9}  {r['source']:<16}  "
              f"{'-' if r['version'] is None else r['version']:>7}  {r['rows_in']:>9}  {r['rows_out']:>9}  "
              f"{r['rows_rejected']:>8}  {r['duration_ms']:>8.1f}  {ts(r['newest_event']):<23}  {status}")
    print(f"({len(rows)} run{'s' if len(rows) != 1 else ''})")
    return 0


def cmd_checkpoint(args) -> int:
    t = strata.Table(args.path)
    t.checkpoint()
    print(f"checkpoint written at version {t.version}")
    return 0


_TABLE_REF = re.compile(r"\b(FROM|JOIN)\s+'([^']+)'", re.IGNORECASE)


def cmd_sql(args) -> int:
    import os  # noqa: PLC0415

    import duckdb  # noqa: PLC0415

    con = duckdb.connect()
    names: dict[str, str] = {}

    def swap(m: re.Match) -> str:
        path = m.group(2)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            return m.group(0)  # a plain file: DuckDB reads it itself
        if path not in names:
            names[path] = f"strata_t{len(names)}"
            con.register(names[path], strata.Table(path).to_reader())
        return f"{m.group(1)} {names[path]}"

    query = _TABLE_REF.sub(swap, args.query)
    rel = con.sql(query)
    if rel is None:
        return 0
    if args.format == "json":
        for row in rel.fetch_arrow_table().to_pylist():
            print(json.dumps(row, default=str))
    else:
        rel.show(max_rows=args.limit)
    return 0


def cmd_demo(args) -> int:
    from strata.demo import run_demo  # noqa: PLC0415

    return run_demo(args.dir)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="strata", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"strata {strata.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    table = sub.add_parser("table", help="inspect and maintain a Delta table",
                           description="Inspect and maintain a Delta table.")
    tsub = table.add_subparsers(dest="table_command", metavar="SUBCOMMAND")

    def add_version_args(sp):
        sp.add_argument("path", help="table directory (or file:// URI)")
        sp.add_argument("--version", type=int, help="time travel to this version")
        sp.add_argument("--as-of", dest="as_of", help="time travel to this ISO-8601 timestamp")

    info = tsub.add_parser("info", help="version, schema, files, rows, properties")
    add_version_args(info)
    info.set_defaults(func=cmd_info)

    hist = tsub.add_parser("history", help="commits, newest first")
    hist.add_argument("path")
    hist.add_argument("--limit", type=int, default=None, help="at most this many commits")
    hist.add_argument("--json", action="store_true", help="one JSON object per commit")
    hist.set_defaults(func=cmd_history)

    show = tsub.add_parser("show", help="print rows")
    add_version_args(show)
    show.add_argument("--filter", help="SQL predicate, e.g. \"country = 'FR' AND amount > 10\"")
    show.add_argument("--columns", help="comma-separated columns")
    show.add_argument("--limit", type=int, default=20, help="rows to print (default 20)")
    show.add_argument("--format", choices=["table", "json", "csv"], default="table")
    show.set_defaults(func=cmd_show)

    cp = tsub.add_parser("checkpoint", help="write a checkpoint of the latest version")
    cp.add_argument("path")
    cp.set_defaults(func=cmd_checkpoint)

    vac = tsub.add_parser("vacuum", help="delete files no recent version references")
    vac.add_argument("path")
    vac.add_argument("--retention-hours", type=float, default=168, help="keep files younger than this (default 168)")
    vac.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    vac.add_argument("--force", action="store_true", help="allow a retention shorter than the table's setting")
    vac.set_defaults(func=cmd_vacuum)

    res = tsub.add_parser("restore", help="make the latest version equal to an earlier one")
    res.add_argument("path")
    res.add_argument("--to-version", type=int, help="the version to restore")
    res.add_argument("--to-as-of", help="restore the version current at this ISO-8601 timestamp")
    res.set_defaults(func=cmd_restore)

    opt = tsub.add_parser("optimize", help="compact small files; optionally Z-order by columns")
    opt.add_argument("path")
    opt.add_argument("--z-order", help="comma-separated columns to cluster by")
    opt.add_argument("--target-size", type=_parse_size, default=None,
                     help="bytes per output file, e.g. 128MB (default: delta.targetFileSize, else 128MiB)")
    opt.add_argument("--where", help="SQL over partition columns: optimize only these partitions")
    opt.set_defaults(func=cmd_optimize)

    ch = tsub.add_parser("changes", help="the change data feed between versions")
    ch.add_argument("path")
    ch.add_argument("--from", dest="start", type=int, required=True, help="first version (inclusive)")
    ch.add_argument("--to", dest="end", type=int, default=None, help="last version (default: latest)")
    ch.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    ch.add_argument("--format", choices=["table", "json"], default="table")
    ch.set_defaults(func=cmd_changes)

    sp = tsub.add_parser("set-property", help="set table properties (KEY=VALUE ...)")
    sp.add_argument("path")
    sp.add_argument("properties", nargs="+", metavar="KEY=VALUE")
    sp.set_defaults(func=cmd_set_property)

    sql = sub.add_parser("sql", help="run SQL with DuckDB; tables as FROM 'path'",
                         description="Runs SQL with DuckDB. A quoted path after FROM/JOIN that holds a "
                                     "Delta table is read through strata (latest version).")
    sql.add_argument("query")
    sql.add_argument("--limit", type=int, default=40, help="rows to print (default 40)")
    sql.add_argument("--format", choices=["table", "json"], default="table")
    sql.set_defaults(func=cmd_sql)

    from strata.quality import cli_contract, cli_drift, cli_validate  # noqa: PLC0415

    cli_validate.add_parser(sub)
    cli_contract.add_parser(sub)
    cli_drift.add_parser(sub)

    from strata.features import cli as cli_features  # noqa: PLC0415

    cli_features.add_parsers(sub)

    rn = sub.add_parser("runs", help="the recorded runs (writes) of a table, newest first",
                        description="Every write to a table (append, overwrite, MERGE, UPDATE, DELETE, OPTIMIZE, "
                                    "and runs reported by ingest and pipeline steps) is recorded in "
                                    "<table>/_strata/runs: rows in/out/rejected, duration, newest event time.")
    rn.add_argument("path", help="table directory (or URI)")
    rn.add_argument("--limit", type=int, default=20, help="the most recent runs to print (default 20)")
    rn.add_argument("--json", action="store_true", help="one JSON object per run")
    rn.set_defaults(func=cmd_runs)

    demo = sub.add_parser("demo", help="run the end-to-end demo")
    demo.add_argument("--dir", default=None, help="where to put the demo's tables (default: a temp dir)")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if args.command in ("table", "registry"):
            parser.parse_args([args.command, "--help"])
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except StrataError as e:
        print(f"strata: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
