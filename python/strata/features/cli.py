"""Feature-store commands: strata apply | plan | registry | materialize | materialize-incremental | serve."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys

from strata.errors import InvalidArgumentError


def _store(args):
    from strata.features import FeatureStore  # noqa: PLC0415

    return FeatureStore(args.repo)


def _print_plan(plan: list[str]) -> None:
    if not plan:
        print("no changes")
    for line in plan:
        print(f"  {line}")


def cmd_apply(args) -> int:
    fs = _store(args)
    r = fs.apply(dry_run=args.dry_run)
    print("plan:")
    _print_plan(r.plan)
    if args.dry_run:
        print("dry run: nothing stored")
    elif r.changed:
        print(f"applied registry version {r.version} (project {fs.project})")
    else:
        print("registry unchanged")
    return 0


def cmd_plan(args) -> int:
    fs = _store(args)
    _print_plan(fs.plan())
    return 0


def cmd_registry_history(args) -> int:
    fs = _store(args)
    rows = fs.registry_history()
    if args.json:
        for r in rows:
            print(json.dumps(dict(r, applied_at=r["applied_at"].isoformat())))
        return 0
    if not rows:
        print("nothing applied yet (run `strata apply`)")
    for r in reversed(rows):
        print(f"version {r['version']:>3}  {r['applied_at'].isoformat(timespec='seconds')}  {r['project']}")
        _print_plan(r["plan"])
    return 0


def cmd_registry_show(args) -> int:
    fs = _store(args)
    reg = fs.registry(args.version)
    if args.json:
        print(json.dumps(reg.doc, indent=2))
        return 0
    print(f"project {reg.project}  (registry version {reg.version})")
    print(f"online  {reg.online}")
    for e in reg.entities.values():
        print(f"entity  {e.name}: " + ", ".join(f"{k.name} {k.type}" for k in e.join_keys))
    for s in reg.sources.values():
        print(f"source  {s.name}: {s.table or '-'} (event time {s.timestamp_field})"
              + (f", kafka topic {s.kafka['topic']}" if s.kafka else ""))
    for v in reg.feature_views.values():
        ttl = f", ttl {v.ttl}" if v.ttl else ""
        print(f"view    {v.name} [{', '.join(v.entities)}] from {v.source}{ttl}{'' if v.online else ', offline only'}: "
              + ", ".join(f"{f.name} {f.type}" for f in v.features))
    for v in reg.on_demand_views.values():
        print(f"on-demand {v.name}: " + ", ".join(f"{f['name']} = {f['expression']}" for f in v.features))
    for s in reg.feature_services.values():
        print(f"service {s.name}: {', '.join(s.features)}")
    return 0


def _time(text: str):
    if text == "now":
        return _dt.datetime.now(_dt.timezone.utc)
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(f"'{text}' is not an ISO-8601 time (e.g. 2026-01-31T12:00:00) or 'now'") from None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def _progress():
    if not sys.stderr.isatty():
        return None
    state = {"last": 0.0}

    def report(view: str, read: int, written: int) -> None:
        import time  # noqa: PLC0415

        now = time.monotonic()
        if now - state["last"] >= 0.5:
            state["last"] = now
            print(f"\r  {view}: {read:,} rows read, {written:,} written", end="", file=sys.stderr, flush=True)

    return report


def _print_runs(runs) -> None:
    if sys.stderr.isatty():
        print("\r", end="", file=sys.stderr)
    for r in runs:
        how = "change data feed" if r["used_cdf"] else "window scan"
        rate = r["rows_read"] / r["seconds"] if r["seconds"] > 0 else 0
        print(f"{r['view']}: {r['rows_read']:,} rows read ({how}, table v{r['source_version']}), "
              f"{r['rows_written']:,} entities written in {r['seconds']:.2f} s ({rate:,.0f} rows/s)")


def cmd_materialize(args) -> int:
    fs = _store(args)
    runs = fs.materialize(_time(args.start), _time(args.end), views=args.views or None, progress=_progress())
    _print_runs(runs)
    return 0


def cmd_materialize_incremental(args) -> int:
    fs = _store(args)
    runs = fs.materialize_incremental(_time(args.end), views=args.views or None, progress=_progress())
    _print_runs(runs)
    return 0


def server_binary() -> str:
    """strata-server: $STRATA_SERVER, then PATH, then the source tree's build directory."""
    env = os.environ.get("STRATA_SERVER")
    if env:
        return env
    found = shutil.which("strata-server")
    if found:
        return found
    here = os.path.dirname(os.path.abspath(__file__))
    for rel in ("../../../build/cpp/apps/strata-server", "../bin/strata-server"):
        p = os.path.normpath(os.path.join(here, rel))
        if os.access(p, os.X_OK):
            return p
    raise InvalidArgumentError("strata-server not found: build it (`make build`) or set STRATA_SERVER")


def cmd_serve(args) -> int:
    fs = _store(args)
    fs.registry()  # fails clearly when nothing was applied
    argv = [server_binary(), "--repo", fs.repo_path, "--host", args.host, "--port", str(args.port)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    for flag, value in (("--registry-version", args.registry_version), ("--refresh-ms", args.refresh_ms),
                        ("--registry-poll-ms", args.registry_poll_ms), ("--body-limit", args.body_limit)):
        if value is not None:
            argv += [flag, str(value)]
    sys.stdout.flush()
    os.execv(argv[0], argv)  # the server owns the process: signals (SIGTERM) reach it directly
    return 0  # pragma: no cover


def add_parsers(sub) -> None:
    def repo_arg(p):
        p.add_argument("--repo", "-r", default=".", help="the feature repository folder (default: .)")

    ap = sub.add_parser("apply", help="validate the feature repository and store it as a new registry version",
                        description="Validates strata.yaml and the definition files (errors name file and line), "
                                    "checks sources against their tables, prints the plan, and stores the "
                                    "registry as a new version when anything changed.")
    repo_arg(ap)
    ap.add_argument("--dry-run", action="store_true", help="validate and print the plan only")
    ap.set_defaults(func=cmd_apply)

    pl = sub.add_parser("plan", help="what `strata apply` would change")
    repo_arg(pl)
    pl.set_defaults(func=cmd_plan)

    rg = sub.add_parser("registry", help="the applied registry: history, show")
    rsub = rg.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
    rh = rsub.add_parser("history", help="every applied registry version with its plan, newest first")
    repo_arg(rh)
    rh.add_argument("--json", action="store_true")
    rh.set_defaults(func=cmd_registry_history)
    rs = rsub.add_parser("show", help="the applied definitions (latest or --version)")
    repo_arg(rs)
    rs.add_argument("--version", type=int, default=None)
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_registry_show)

    ma = sub.add_parser("materialize", help="load the latest values in [START, END] into the online store")
    repo_arg(ma)
    ma.add_argument("start", help="ISO-8601 time (UTC when no zone)")
    ma.add_argument("end", help="ISO-8601 time or 'now'")
    ma.add_argument("--views", nargs="*", help="feature views (default: every online view)")
    ma.set_defaults(func=cmd_materialize)

    mi = sub.add_parser("materialize-incremental",
                        help="load what changed since the last materialization, up to END")
    repo_arg(mi)
    mi.add_argument("end", help="ISO-8601 time or 'now'")
    mi.add_argument("--views", nargs="*", help="feature views (default: every online view)")
    mi.set_defaults(func=cmd_materialize_incremental)

    sv = sub.add_parser("serve", help="start the feature server (strata-server) for the repository",
                        description="Starts strata-server: POST /get-online-features (Feast-shaped JSON), "
                                    "GET /health, GET /metrics. With RocksDB the server opens the store as a "
                                    "read-only secondary that follows materializations; SIGTERM stops it.")
    repo_arg(sv)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=6566)
    sv.add_argument("--threads", type=int, default=0, help="I/O threads (default: cores)")
    sv.add_argument("--registry-version", type=int, default=None,
                    help="serve this applied registry version (default: the latest, and follow new ones)")
    sv.add_argument("--refresh-ms", type=int, default=None,
                    help="catch up with the online store's writer every MS ms (default 500)")
    sv.add_argument("--registry-poll-ms", type=int, default=None,
                    help="serve a newly applied registry within MS ms when its online store is the same "
                         "(default 2000; 0: never)")
    sv.add_argument("--body-limit", type=int, default=None, help="largest request body in bytes (default 1 MiB)")
    sv.set_defaults(func=cmd_serve)
