"""Shared helpers for the strata benchmarks: timing (best-of-N and median), per-operation peak
memory (each measured operation runs in a fresh subprocess), machine info and table printing."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"  # gitignored: cached data sets and scratch tables

RESULT_MARK = "@@BENCH_RESULT@@ "


# --- timing -------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(
    fn: Callable[[], Any],
    repeat: int = 3,
    warmup: int = 1,
    setup: Optional[Callable[[], Any]] = None,
    after: Optional[Callable[[Any], Any]] = None,
) -> dict[str, Any]:
    """Runs `fn` warmup + repeat times (setup() before each run, untimed). Returns best, median,
    all times (seconds) and the last return value. after(value), when given, runs untimed after
    every run (e.g. a correctness check); its return values are in "after"."""
    times: list[float] = []
    afters: list[Any] = []
    last = None
    for i in range(warmup + repeat):
        if setup is not None:
            setup()
        dt, last = timed(fn)
        if i >= warmup:
            times.append(dt)
        if after is not None:
            afters.append(after(last))
    out = {"best": min(times), "median": statistics.median(times), "times": times, "value": last}
    if after is not None:
        out["after"] = afters
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


# --- memory -------------------------------------------------------------------------------------
def rss_kb() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc/self/status."""
    cur = peak = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
    except OSError:
        pass
    return cur, peak


def emit_result(obj: dict[str, Any]) -> None:
    """Called in a worker subprocess: hands its result (JSON) back to the driver."""
    cur, peak = rss_kb()
    obj.setdefault("rss_end_kb", cur)
    obj.setdefault("vmhwm_kb", peak)  # cross-check for the driver's wait4 ru_maxrss
    sys.stdout.write(RESULT_MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


class _RusagePopen(subprocess.Popen):
    """Popen that reaps its child with os.wait4 so the child's own rusage (ru_maxrss: the peak
    RSS of that process alone, in KiB on Linux) is kept."""

    def _try_wait(self, wait_flags):  # type: ignore[override]
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            pid, sts = self.pid, 0
            ru = None
        if pid == self.pid and ru is not None:
            self._bench_rusage = ru
        return (pid, sts)


def run_worker(argv: Sequence[str], env: Optional[dict[str, str]] = None, timeout: Optional[float] = None) -> dict[str, Any]:
    """Runs `argv` as a fresh subprocess; returns the JSON it emitted (emit_result) plus
    `peak_rss_kb`: that child's own ru_maxrss from wait4 (see _RusagePopen), and its wall time."""
    t0 = time.perf_counter()
    proc = _RusagePopen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"worker timed out after {timeout}s: {' '.join(argv)}\n{err[-3000:]}")
    wall = time.perf_counter() - t0
    result: Optional[dict[str, Any]] = None
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
    if proc.returncode != 0 or result is None:
        raise RuntimeError(
            f"worker failed (rc={proc.returncode}): {' '.join(argv)}\nstdout tail:\n{out[-2000:]}\nstderr tail:\n{err[-4000:]}"
        )
    result["worker_wall_s"] = wall
    ru = getattr(proc, "_bench_rusage", None)
    result["peak_rss_kb"] = ru.ru_maxrss if ru is not None else None
    return result


# --- machine ------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = int(line.split()[1]) / 1024 / 1024
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_gib, 1) if mem_gib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": tuple(round(x, 2) for x in load),
    }


def print_machine_info(info: dict[str, Any], extra: Optional[dict[str, str]] = None) -> None:
    print(f"date      : {info['date']}")
    print(f"machine   : nproc={info['nproc']}  cpu={info['cpu']}  ram={info['ram_gib']} GiB  kernel={info['kernel']}")
    print(f"python    : {info['python']}   load average at start: {info['loadavg']}")
    for k, v in (extra or {}).items():
        print(f"{k:<10}: {v}")


# --- formatting ---------------------------------------------------------------------------------
def fmt_s(s: Optional[float]) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_mib(kb: Optional[int]) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f} MiB"


def fmt_ratio(r: Optional[float]) -> str:
    return "-" if r is None else f"{r:.2f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(cells[0], widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


# --- files, workers, results --------------------------------------------------------------------
def rmtree(p: Path) -> None:
    if p.exists():
        shutil.rmtree(p)


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def worker_env() -> dict[str, str]:
    """The environment for a worker subprocess: the repository's python/ first on PYTHONPATH."""
    env = dict(os.environ)
    py = str(REPO_DIR / "python")
    env["PYTHONPATH"] = py + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def result_field(res: dict, key: str, field: str = "best"):
    """A field of one (operation, engine) result, or None when it failed or is absent."""
    r = res.get(key) or {}
    return None if "error" in r else r.get(field)


def save_results(kind: str, rows: int, payload: dict[str, Any], markdown: str) -> None:
    """Writes bench/out/<kind>/results_<rows>.json and .md and says where."""
    dest = OUT_DIR / kind / f"results_{rows}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(payload, indent=1, default=str))
    md = OUT_DIR / kind / f"results_{rows}.md"
    md.write_text(markdown)
    print(f"results: {dest.relative_to(REPO_DIR)} and {md.relative_to(REPO_DIR)}")
