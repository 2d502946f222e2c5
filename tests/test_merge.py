"""MERGE against independent oracles.

1. A brute-force model (pure Python over lists of dicts, below) of Delta MERGE semantics: SQL
   three-valued logic for the ON condition and every clause predicate, clauses tried in order per
   category (first TRUE predicate wins), the multiple-match rule, and partial inserts (unlisted
   columns are NULL).
2. delta-rs (`DeltaTable.merge`) applying the same MERGE to an identical copy of the table.
3. DuckDB's own MERGE INTO, where it applies (the oracle check and the upsert example).

`test_model_agrees_with_deltars`, `test_model_agrees_with_duckdb` and `test_model_examples` check
the model against delta-rs, DuckDB and hand-worked cases without touching strata's MERGE: they
validate the oracle itself. Every other test exercises `strata.Table.merge` (marked
@needs_strata_merge) and fails, never skips, while that API is missing.

Random cases: target tables of 0-60 rows written in 1-4 commits, sources of 0-40 rows, keys drawn
from a small range (so matches, misses and, in the duplicate tests, multiple matches all occur),
NULLs in keys and values, 1-5 clauses of random kinds with random predicates from a grammar both
engines accept (comparisons, AND/OR/NOT, IS [NOT] NULL, IN, arithmetic in SET). 2-3 MERGEs run
in sequence on one table so later ones hit rewritten files and deletion vectors; delta-rs reads
strata's table after each MERGE, and after the last every version is read back (time travel).

The multiple-match rule is Delta's (OSS Delta Spark's `canBeComputedUnambiguously`): a target
row matched by more than one source row is an error when there is a WHEN MATCHED clause, unless
the only WHEN MATCHED clause is a single unconditional DELETE. (delta-rs 1.6.6 is more lenient:
it only fails when two pairs would both take a WHEN MATCHED action, like Databricks Runtime 16+,
and it duplicates such target rows when the merge has only NOT MATCHED BY SOURCE clauses; so the
delta-rs comparisons use sources without duplicate keys.) Clause lists follow Delta's rule that
only the last clause of each category (MATCHED / NOT MATCHED / NOT MATCHED BY SOURCE) may omit
its condition (Delta Spark rejects anything else: NON_LAST_MATCHED_CLAUSE_OMIT_CONDITION).

Set STRATA_MERGE_CASES to change the number of random cases per configuration (default 40).
"""

from __future__ import annotations

import functools
import os
import random
import sys
import re
import shutil
import tempfile
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import assert_same_rows, deltars_read
from deltalake import DeltaTable

import strata
from strata.errors import ExpectationFailedError, InvalidArgumentError, SchemaMismatchError

CASES = int(os.environ.get("STRATA_MERGE_CASES", "40"))

SCHEMA = pa.schema([("id", pa.int64()), ("p", pa.string()), ("v", pa.float64()), ("txt", pa.string()),
                    ("n", pa.int64())])
COLS = tuple(SCHEMA.names)
TYPE = {"id": "int", "p": "str", "v": "float", "txt": "str", "n": "int"}
P_VALUES = [None, "a", "b", "c"]
S_VALUES = [None, "", "a", "b", "ab", "zz", "é"]
KEY_RANGE = 20  # ids 0..20: sources and targets collide often

METRIC_KEYS = {"version", "num_source_rows", "num_target_rows_inserted", "num_target_rows_updated",
               "num_target_rows_deleted", "num_target_rows_copied", "num_target_files_added",
               "num_target_files_removed", "num_target_files_skipped", "num_deletion_vectors_added",
               "execution_time_ms", "join"}

CONFIGS = [(False, False), (False, True), (True, False), (True, True)]
CONFIG_IDS = ["copy-on-write-flat", "copy-on-write-partitioned", "deletion-vectors-flat",
              "deletion-vectors-partitioned"]


def needs_strata_merge(test):
    """Tests of strata's MERGE: fail with a clear message (not skip) while the API is missing."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        if not callable(getattr(strata.Table, "merge", None)):
            pytest.fail("strata.Table.merge is not implemented yet (this test needs the MERGE API)", pytrace=False)
        return test(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------------------
# expressions: one AST, rendered as SQL for the engines and evaluated by the model
#   ("col", side, name) ("lit", value) ("cmp", op, a, b) ("arith", op, a, b) ("and", a, b)
#   ("or", a, b) ("not", a) ("isnull", a, negated) ("in", a, [literals])
# ---------------------------------------------------------------------------------------------
def col(side, name):
    return ("col", side, name)


def lit(value):
    return ("lit", value)


def AND(a, b):  # noqa: N802
    return ("and", a, b)


def cmp(op, a, b):
    return ("cmp", op, a, b)


def sql_literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, float):
        return repr(v)  # quarters: exact, always with a '.'
    return str(v)


def sql(e) -> str:
    k = e[0]
    if k == "col":
        return f"{e[1]}.{e[2]}"
    if k == "lit":
        return sql_literal(e[1])
    if k in ("cmp", "arith"):
        return f"({sql(e[2])} {e[1]} {sql(e[3])})"
    if k in ("and", "or"):
        return f"({sql(e[1])} {k.upper()} {sql(e[2])})"
    if k == "not":
        return f"(NOT {sql(e[1])})"
    if k == "isnull":
        return f"({sql(e[1])} IS {'NOT ' if e[2] else ''}NULL)"
    if k == "in":
        return f"({sql(e[1])} IN ({', '.join(sql_literal(x) for x in e[2])}))"
    raise AssertionError(e)


_CMP = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def ev(e, env):
    """SQL semantics: None is NULL; comparisons/arithmetic with NULL give NULL; AND/OR/NOT are
    three-valued."""
    k = e[0]
    if k == "col":
        return env[e[1]][e[2]]
    if k == "lit":
        return e[1]
    if k in ("cmp", "arith"):
        a, b = ev(e[2], env), ev(e[3], env)
        if a is None or b is None:
            return None
        return (_CMP if k == "cmp" else _ARITH)[e[1]](a, b)
    if k == "and":
        a, b = ev(e[1], env), ev(e[2], env)
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if k == "or":
        a, b = ev(e[1], env), ev(e[2], env)
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    if k == "not":
        a = ev(e[1], env)
        return None if a is None else not a
    if k == "isnull":
        return (ev(e[1], env) is None) != e[2]
    if k == "in":
        a = ev(e[1], env)
        if a is None:
            return None
        if a in e[2]:
            return True
        return None if None in e[2] else False
    raise AssertionError(e)


def holds(pred, env) -> bool:
    return pred is None or ev(pred, env) is True


# ---------------------------------------------------------------------------------------------
# clauses and the model
# ---------------------------------------------------------------------------------------------
MATCHED = ("update", "update_all", "delete")
NOT_MATCHED = ("insert", "insert_all")
BY_SOURCE = ("by_source_update", "by_source_delete")


@dataclass
class Clause:
    kind: str  # one of MATCHED + NOT_MATCHED + BY_SOURCE
    pred: tuple | None = None
    assign: dict = field(default_factory=dict)  # update/insert/by_source_update: column -> AST

    def describe(self) -> str:
        head = {"update": "WHEN MATCHED", "update_all": "WHEN MATCHED", "delete": "WHEN MATCHED",
                "insert": "WHEN NOT MATCHED", "insert_all": "WHEN NOT MATCHED",
                "by_source_update": "WHEN NOT MATCHED BY SOURCE",
                "by_source_delete": "WHEN NOT MATCHED BY SOURCE"}[self.kind]
        cond = f" AND {sql(self.pred)}" if self.pred is not None else ""
        if self.kind in ("update", "by_source_update"):
            act = "UPDATE SET " + ", ".join(f"{c} = {sql(e)}" for c, e in self.assign.items())
        elif self.kind == "update_all":
            act = "UPDATE SET *"
        elif self.kind in ("delete", "by_source_delete"):
            act = "DELETE"
        elif self.kind == "insert":
            act = f"INSERT ({', '.join(self.assign)}) VALUES ({', '.join(sql(e) for e in self.assign.values())})"
        else:
            act = "INSERT *"
        return f"{head}{cond} THEN {act}"

    def duckdb_sql(self) -> str:
        """The clause in DuckDB's MERGE syntax (the * forms spelled out by column name)."""
        if self.kind == "update_all":
            return Clause("update", self.pred, {c: col("s", c) for c in COLS}).duckdb_sql()
        if self.kind == "insert_all":
            return Clause("insert", self.pred, {c: col("s", c) for c in COLS}).duckdb_sql()
        if self.kind in ("update", "by_source_update"):
            head = "WHEN MATCHED" if self.kind == "update" else "WHEN NOT MATCHED BY SOURCE"
            cond = f" AND {sql(self.pred)}" if self.pred is not None else ""
            return f"{head}{cond} THEN UPDATE SET " + ", ".join(f"{c} = {sql(e)}" for c, e in self.assign.items())
        return self.describe()


class DuplicateMatch(Exception):
    def __init__(self, keys):
        super().__init__(f"target rows with keys {sorted(keys, key=repr)} match several source rows")
        self.keys = keys


def multiple_matches_allowed(clauses) -> bool:
    matched = [c for c in clauses if c.kind in MATCHED]
    return not matched or (len(matched) == 1 and matched[0].kind == "delete" and matched[0].pred is None)


def model_merge(target: list[dict], source: list[dict], on, clauses: list[Clause]):
    """Delta MERGE over lists of dicts. Returns (new rows, {"inserted", "updated", "deleted"});
    raises DuplicateMatch where Delta reports a target row matched by several source rows."""
    matched_cl = [c for c in clauses if c.kind in MATCHED]
    insert_cl = [c for c in clauses if c.kind in NOT_MATCHED]
    by_source_cl = [c for c in clauses if c.kind in BY_SOURCE]
    matches = {}  # target index -> source indices for which ON is TRUE
    source_matched = set()
    for ti, tr in enumerate(target):
        for si, sr in enumerate(source):
            if ev(on, {"t": tr, "s": sr}) is True:
                matches.setdefault(ti, []).append(si)
                source_matched.add(si)
    if not multiple_matches_allowed(clauses):
        dup = {target[ti]["id"] for ti, sis in matches.items() if len(sis) > 1}
        if dup:
            raise DuplicateMatch(dup)
    out, n = [], {"inserted": 0, "updated": 0, "deleted": 0}

    def act(clauses_in_order, row, env):
        for c in clauses_in_order:
            if holds(c.pred, env):
                if c.kind.endswith("delete"):
                    n["deleted"] += 1
                    return
                new = dict(row)
                if c.kind == "update_all":
                    new.update({k: env["s"][k] for k in COLS})
                else:
                    new.update({k: ev(e, env) for k, e in c.assign.items()})
                n["updated"] += 1
                out.append(new)
                return
        out.append(row)  # no clause applies: unchanged

    for ti, tr in enumerate(target):
        if ti in matches:
            # several matches only get here for the single unconditional delete (or no clause)
            act(matched_cl, tr, {"t": tr, "s": source[matches[ti][0]]})
        else:
            act(by_source_cl, tr, {"t": tr})
    for si, sr in enumerate(source):
        if si in source_matched:
            continue
        for c in insert_cl:
            if holds(c.pred, {"s": sr}):
                if c.kind == "insert_all":
                    out.append({k: sr[k] for k in COLS})
                else:
                    row = dict.fromkeys(COLS)
                    row.update({k: ev(e, {"s": sr}) for k, e in c.assign.items()})
                    out.append(row)
                n["inserted"] += 1
                break
    return out, n


def rows_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{c: r[c] for c in COLS} for r in rows], schema=SCHEMA)


def same(actual, expected_rows, context: str) -> None:
    tbl = actual if isinstance(actual, pa.Table) else pa.table(actual)
    assert_same_rows(tbl.select(list(COLS)), rows_table(expected_rows), context)


# ---------------------------------------------------------------------------------------------
# random data and random MERGEs
# ---------------------------------------------------------------------------------------------
def rand_value(rng, c):
    if c == "id":
        return None if rng.random() < 0.1 else rng.randint(0, KEY_RANGE)
    if c == "p":
        return rng.choice(P_VALUES) if rng.random() < 0.5 else rng.choice(P_VALUES[1:3])
    if c == "v":
        return None if rng.random() < 0.2 else rng.randint(-30, 30) / 4
    if c == "txt":
        return rng.choice(S_VALUES)
    return None if rng.random() < 0.2 else rng.randint(-20, 20)


_RANDOM = object()


def rand_row(rng, key=_RANDOM) -> dict:
    row = {c: rand_value(rng, c) for c in COLS}
    if key is not _RANDOM:
        row["id"] = key
    return row


def rand_source(rng, duplicates: bool) -> list[dict]:
    n = rng.randint(0, 40)
    if duplicates:  # keys with replacement from a range so small that repeats are certain
        return [rand_row(rng, None if rng.random() < 0.1 else rng.randint(0, min(KEY_RANGE, max(1, n // 2))))
                for _ in range(n)]
    keys = rng.sample(range(KEY_RANGE + 1), min(n, KEY_RANGE + 1))
    rows = [rand_row(rng, k) for k in keys]
    rows += [rand_row(rng, None) for _ in range(rng.randint(0, 3))]  # NULL keys never match anything
    rng.shuffle(rows)
    return rows


def rand_literal(rng, c):
    t = TYPE[c]
    if t == "int":
        return rng.randint(-5, KEY_RANGE + 2)
    if t == "float":
        return rng.randint(-30, 30) / 4
    return rng.choice(P_VALUES[1:] if c == "p" else S_VALUES[1:])


def rand_atom(rng, sides):
    side = rng.choice(sides)
    c = rng.choice(COLS)
    r = rng.random()
    if r < 0.4:
        return cmp(rng.choice(list(_CMP)), col(side, c), lit(rand_literal(rng, c)))
    if r < 0.6:  # column vs column of the same type, across the sides where possible
        other_side = rng.choice(sides)
        same_type = [x for x in COLS if TYPE[x] == TYPE[c] and (x != c or other_side != side)]
        if not same_type:
            return ("isnull", col(side, c), rng.random() < 0.5)
        return cmp(rng.choice(list(_CMP)), col(side, c), col(other_side, rng.choice(same_type)))
    if r < 0.75:
        return ("isnull", col(side, c), rng.random() < 0.5)
    if r < 0.87:
        c = rng.choice(["id", "n"])
        return ("in", col(side, c), sorted({rng.randint(-3, KEY_RANGE) for _ in range(rng.randint(1, 4))}))
    c = rng.choice(["id", "n"])
    return cmp(rng.choice([">", "<", "="]), ("arith", rng.choice("+-"), col(side, c), col(rng.choice(sides), "n")),
               lit(rng.randint(-5, 25)))


def rand_pred(rng, sides, depth=0):
    r = rng.random()
    if depth < 2 and r < 0.3:
        return (rng.choice(["and", "or"]), rand_pred(rng, sides, depth + 1), rand_pred(rng, sides, depth + 1))
    if depth < 2 and r < 0.38:
        return ("not", rand_pred(rng, sides, depth + 1))
    return rand_atom(rng, sides)


def rand_value_expr(rng, c, sides):
    """A type-correct expression for target column c over the given sides."""
    t = TYPE[c]
    options = [col(sd, c) for sd in sides] + [lit(None), lit(rand_literal(rng, c))]
    if t == "int":
        options += [("arith", rng.choice("+-*"), col(sd, c), lit(rng.randint(1, 3))) for sd in sides]
        options += [("arith", "+", col(rng.choice(sides), "n"), col(rng.choice(sides), "id"))]
    elif t == "float":
        options += [("arith", rng.choice("+-*"), col(sd, "v"), lit(rng.choice([0.5, 2.0, 1.25]))) for sd in sides]
        if len(sides) == 2:
            options.append(("arith", "+", col("t", "v"), col("s", "v")))
    elif c == "txt":
        options += [col(sd, "p") for sd in sides]
    return rng.choice(options)


def rand_assign(rng, sides, insert=False) -> dict:
    if insert:  # a partial insert: the key and some columns, the rest NULL
        cols = ["id"] + [c for c in COLS[1:] if rng.random() < 0.6]
    else:
        cols = rng.sample(COLS, rng.randint(1, 3))
    cols = [c for c in COLS if c in cols]
    return {c: rand_value_expr(rng, c, sides) for c in cols}


SIDES = {"update": ("t", "s"), "update_all": ("t", "s"), "delete": ("t", "s"), "insert": ("s",),
         "insert_all": ("s",), "by_source_update": ("t",), "by_source_delete": ("t",)}


def rand_clauses(rng) -> list[Clause]:
    kinds = rng.choices(["update", "update_all", "delete", "insert", "insert_all", "by_source_update",
                         "by_source_delete"], weights=[3, 2, 2, 2, 2, 2, 2], k=rng.randint(1, 5))
    out = []
    for k in kinds:
        sides = SIDES[k]
        pred = None if rng.random() < 0.3 else rand_pred(rng, sides)
        assign = {}
        if k in ("update", "by_source_update"):
            assign = rand_assign(rng, sides)
        elif k == "insert":
            assign = rand_assign(rng, sides, insert=True)
        out.append(Clause(k, pred, assign))
    # Delta: within a category only the last clause may omit its condition
    for group in (MATCHED, NOT_MATCHED, BY_SOURCE):
        members = [c for c in out if c.kind in group]
        for c in members[:-1]:
            if c.pred is None:
                c.pred = rand_pred(rng, SIDES[c.kind])
    return out


T_ID_EQ_S_ID = cmp("=", col("t", "id"), col("s", "id"))


def rand_on(rng):
    return rng.choice([
        T_ID_EQ_S_ID,
        T_ID_EQ_S_ID,
        cmp("=", col("s", "id"), col("t", "id")),
        AND(T_ID_EQ_S_ID, cmp("=", col("t", "p"), col("s", "p"))),
        AND(T_ID_EQ_S_ID, cmp(">", col("t", "v"), lit(-2.5))),  # a target-only conjunct
        AND(T_ID_EQ_S_ID, ("isnull", col("s", "n"), True)),  # a source-only conjunct
    ])


def describe(on, clauses) -> str:
    return "MERGE INTO t USING s ON " + sql(on) + "\n  " + "\n  ".join(c.describe() for c in clauses)


def source_table(rng, rows) -> pa.Table:
    tbl = rows_table(rows)
    if rng.random() < 0.25:  # the * forms match columns by name, not position
        names = list(COLS)
        rng.shuffle(names)
        tbl = tbl.select(names)
    return tbl


# ---------------------------------------------------------------------------------------------
# driving the engines
# ---------------------------------------------------------------------------------------------
def sql_assign(assign: dict) -> dict:
    return {c: sql(e) for c, e in assign.items()}


def deltars_merge(dt, source, on, clauses):
    """Runs the MERGE with delta-rs on the DeltaTable `dt` (which then sees the new version)."""
    m = dt.merge(source, sql(on), source_alias="s", target_alias="t")
    for c in clauses:
        p = None if c.pred is None else sql(c.pred)
        if c.kind == "update":
            m = m.when_matched_update(updates=sql_assign(c.assign), predicate=p)
        elif c.kind == "update_all":
            m = m.when_matched_update_all(predicate=p)
        elif c.kind == "delete":
            m = m.when_matched_delete(predicate=p)
        elif c.kind == "insert":
            m = m.when_not_matched_insert(updates=sql_assign(c.assign), predicate=p)
        elif c.kind == "insert_all":
            m = m.when_not_matched_insert_all(predicate=p)
        elif c.kind == "by_source_update":
            m = m.when_not_matched_by_source_update(updates=sql_assign(c.assign), predicate=p)
        else:
            m = m.when_not_matched_by_source_delete(predicate=p)
    return m.execute()


# Extra arguments for every strata merge (the partitioned-join test forces that join with these).
JOIN_KWARGS: dict = {}
JOINS_SEEN: set = set()


def strata_merge(path, source, on, clauses, **kwargs):
    kwargs = {**JOIN_KWARGS, **kwargs}
    m = strata.Table(path).merge(source, on=sql(on) if isinstance(on, tuple) else on, source_alias="s",
                                 target_alias="t", **kwargs)
    for c in clauses:
        p = None if c.pred is None else sql(c.pred)
        if c.kind == "update":
            r = m.when_matched_update(set=sql_assign(c.assign), predicate=p)
        elif c.kind == "update_all":
            r = m.when_matched_update_all(predicate=p)
        elif c.kind == "delete":
            r = m.when_matched_delete(predicate=p)
        elif c.kind == "insert":
            r = m.when_not_matched_insert(values=sql_assign(c.assign), predicate=p)
        elif c.kind == "insert_all":
            r = m.when_not_matched_insert_all(predicate=p)
        elif c.kind == "by_source_update":
            r = m.when_not_matched_by_source_update(set=sql_assign(c.assign), predicate=p)
        else:
            r = m.when_not_matched_by_source_delete(predicate=p)
        assert r is m, f"{c.kind}: the builder methods return the builder"
    return m.execute()


def duckdb_merge(target_rows, source_rows, on, clauses) -> pa.Table:
    con = duckdb.connect()
    con.register("t_in", rows_table(target_rows))
    con.register("s_in", rows_table(source_rows))
    con.execute("CREATE TABLE tgt AS SELECT * FROM t_in")
    con.execute("CREATE TABLE src AS SELECT * FROM s_in")
    con.execute(f"MERGE INTO tgt AS t USING src AS s ON {sql(on)}\n" + "\n".join(c.duckdb_sql() for c in clauses))
    return con.sql("SELECT * FROM tgt").to_arrow_table()


def write_target(rng, path, dv, partitioned) -> list[list[dict]]:
    """Creates a table of 0-60 random rows in 1-4 commits; returns the rows at each version."""
    total = rng.randint(0, 60)
    commits = rng.randint(1, 4)
    cuts = sorted(rng.randint(0, total) for _ in range(commits - 1))
    bounds = [0, *cuts, total]
    rows = [rand_row(rng) for _ in range(total)]
    versions = []
    for i in range(commits):
        chunk = rows[bounds[i]:bounds[i + 1]]
        if i == 0:
            v = strata.write_table(path, rows_table(chunk), partition_by=["p"] if partitioned else None,
                                   configuration={"delta.enableDeletionVectors": "true"} if dv else None)
        else:
            v = strata.write_table(path, rows_table(chunk))
        assert v == i
        versions.append(rows[:bounds[i + 1]])
    return versions


def live_rows(path) -> int:
    return sum(f["num_records"] - (f["deletion_vector_cardinality"] or 0) for f in strata.Table(path).files())


def check_strata_merge(path, versions, source_rows, source, on, clauses, dv, ctx):
    """Runs the MERGE on strata and checks the result, the metrics and the commit against the
    model; returns the model's rows (appended to `versions` when a commit is expected)."""
    before = strata.Table(path)
    files_before = {f["path"] for f in before.files()}
    expected, n = model_merge(versions[-1], source_rows, on, clauses)
    m = strata_merge(path, source, on, clauses)
    assert METRIC_KEYS <= set(m), f"{ctx}\nmetrics lack {METRIC_KEYS - set(m)}"
    changed = n["inserted"] + n["updated"] + n["deleted"] > 0
    want_version = before.version + 1 if changed else -1
    got = {"version": m["version"], "num_source_rows": m["num_source_rows"],
           "inserted": m["num_target_rows_inserted"], "updated": m["num_target_rows_updated"],
           "deleted": m["num_target_rows_deleted"]}
    assert got == {"version": want_version, "num_source_rows": len(source_rows), **n}, f"{ctx}\nmetrics {m}"
    assert m["join"] in ("broadcast", "partitioned"), m
    if JOIN_KWARGS and m["num_source_rows"] and " = " in sql(on) if isinstance(on, tuple) else False:
        JOINS_SEEN.add(m["join"])
    if not dv:
        assert m["num_deletion_vectors_added"] == 0, f"{ctx}\n{m}"
    t = strata.Table(path)
    assert t.version == (want_version if changed else before.version), ctx
    same(t.to_arrow(), expected, f"strata after\n{ctx}")
    same(deltars_read(path), expected, f"delta-rs reading strata's table\n{ctx}")
    assert live_rows(path) == len(expected), ctx
    if changed:
        versions.append(expected)
        h = t.history(1)[0]
        assert h["version"] == want_version and h["operation"] == "MERGE", h
        if not dv:  # copy-on-write: files are only ever added and removed whole
            files_after = {f["path"] for f in t.files()}
            assert (len(files_after - files_before), len(files_before - files_after)) == \
                (m["num_target_files_added"], m["num_target_files_removed"]), f"{ctx}\n{m}"
    return expected


def check_all_versions(path, versions, ctx):
    """Time travel: every version still reads as it was (delta-rs read each MERGE version of
    strata's table right after it was written)."""
    for v, rows in enumerate(versions):
        same(strata.Table(path, version=v).to_arrow(), rows, f"strata v{v}\n{ctx}")


def run_case(seed, dv, partitioned, use_strata: bool):
    """One random table and 2-3 random duplicate-free MERGEs, each checked against the model, delta-rs
    (on its own copy of the table) and, with use_strata, strata."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        ours, theirs = os.path.join(d, "strata"), os.path.join(d, "deltars")
        versions = write_target(rng, ours, dv, partitioned)
        shutil.copytree(ours, theirs)
        theirs_dt = DeltaTable(theirs)
        model = versions[-1]
        history = []
        for step in range(rng.randint(2, 3)):
            source_rows = rand_source(rng, duplicates=False)
            on, clauses = rand_on(rng), rand_clauses(rng)
            source = source_table(rng, source_rows)
            history.append(describe(on, clauses))
            ctx = f"seed {seed} step {step}:\n" + "\n".join(history) + f"\nsource: {source_rows}"
            expected, n = model_merge(model, source_rows, on, clauses)
            # delta-rs on its copy
            res = deltars_merge(theirs_dt, source, on, clauses)
            got = {k: res[f"num_target_rows_{k}"] for k in n}
            assert got == n, f"delta-rs metrics {got} != model {n}\n{ctx}"
            same(deltars_read(theirs), expected, f"delta-rs vs model\n{ctx}")
            if use_strata:
                check_strata_merge(ours, versions, source_rows, source, on, clauses, dv, ctx)
            model = expected
        if use_strata:
            check_all_versions(ours, versions, "\n".join(history))


# ---------------------------------------------------------------------------------------------
# the oracle check (runs without strata's MERGE) and the random strata tests
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dv,partitioned", CONFIGS, ids=CONFIG_IDS)
def test_model_agrees_with_deltars(dv, partitioned):
    """The model and delta-rs agree on random duplicate-free MERGEs (strata only writes the
    starting table): validates the oracle the strata tests rely on."""
    base = 1000 * (1 + 2 * dv + partitioned)
    for case in range(CASES // 4):  # (the strata tests repeat this comparison on CASES cases)
        run_case(base + case, dv, partitioned, use_strata=False)


def test_model_agrees_with_duckdb():
    """DuckDB's MERGE INTO (a third engine) agrees with the model on random duplicate-free
    MERGEs over in-memory tables."""
    for seed in range(2 * CASES):
        rng = random.Random(seed)
        target = [rand_row(rng) for _ in range(rng.randint(0, 60))]
        source_rows = rand_source(rng, duplicates=False)
        on, clauses = rand_on(rng), rand_clauses(rng)
        expected, _ = model_merge(target, source_rows, on, clauses)
        ctx = f"seed {seed}:\n{describe(on, clauses)}\nsource: {source_rows}\ntarget: {target}"
        same(duckdb_merge(target, source_rows, on, clauses), expected, f"duckdb vs model\n{ctx}")


def test_model_examples():
    """The model's corner cases, by hand."""
    t = [{"id": 1, "p": "a", "v": 1.0, "txt": "x", "n": 1}, {"id": None, "p": "a", "v": 2.0, "txt": "y", "n": 2},
         {"id": 2, "p": "b", "v": None, "txt": "z", "n": 3}]
    s = [{"id": 1, "p": "b", "v": 5.0, "txt": "X", "n": 10}, {"id": None, "p": "b", "v": 6.0, "txt": "Y", "n": 20},
         {"id": 2, "p": "b", "v": 7.0, "txt": "Z", "n": 30}]
    upd = Clause("update", cmp(">", col("t", "v"), lit(0.0)), {"n": ("arith", "+", col("t", "n"), col("s", "n"))})
    dele = Clause("delete")
    ins = Clause("insert", None, {"id": col("s", "id")})
    out, n = model_merge(t, s, T_ID_EQ_S_ID, [upd, dele, ins])
    # id 1: v > 0 -> update; id 2: v NULL -> predicate NULL -> next clause deletes; NULL keys never match
    assert n == {"inserted": 1, "updated": 1, "deleted": 1}
    assert sorted(out, key=repr) == sorted([{**t[0], "n": 11}, t[1], dict.fromkeys(COLS)], key=repr)
    with pytest.raises(DuplicateMatch) as e:
        model_merge(t, s + [s[0]], T_ID_EQ_S_ID, [upd])
    assert e.value.keys == {1}
    with pytest.raises(DuplicateMatch):  # a conditional delete is ambiguous too
        model_merge(t, s + [s[0]], T_ID_EQ_S_ID, [Clause("delete", ("isnull", col("s", "v"), True))])
    out, n = model_merge(t, s + [s[0]], T_ID_EQ_S_ID, [dele])  # the single unconditional delete
    assert n["deleted"] == 2 and out == [t[1]]
    out, n = model_merge(t, s + [s[0]], T_ID_EQ_S_ID, [ins, Clause("by_source_delete")])
    assert n == {"inserted": 1, "updated": 0, "deleted": 1} and len(out) == 3


@needs_strata_merge
@pytest.mark.parametrize("dv,partitioned", CONFIGS, ids=CONFIG_IDS)
def test_random_merges_match_model_and_deltars(dv, partitioned):
    base = 1000 * (1 + 2 * dv + partitioned)
    for case in range(CASES):
        run_case(base + case, dv, partitioned, use_strata=True)


@needs_strata_merge
@pytest.mark.parametrize("dv,partitioned", CONFIGS, ids=CONFIG_IDS)
def test_random_merges_with_the_partitioned_join(dv, partitioned, monkeypatch):
    """The same oracle checks with the source spilled to 3 partitions (a partitioned join, as for
    a source larger than memory): results must not depend on the join strategy."""
    monkeypatch.setattr(sys.modules[__name__], "JOIN_KWARGS", {"broadcast_limit_bytes": 0, "join_partitions": 3})
    base = 7000 * (1 + 2 * dv + partitioned)
    JOINS_SEEN.clear()
    for case in range(max(4, CASES // 3)):
        run_case(base + case, dv, partitioned, use_strata=True)
    assert JOINS_SEEN == {"partitioned"}, JOINS_SEEN


@needs_strata_merge
@pytest.mark.parametrize("dv,partitioned", CONFIGS, ids=CONFIG_IDS)
def test_random_merges_with_duplicate_source_keys(dv, partitioned):
    """Sources with repeated keys: where the model reports an ambiguous multiple match, strata
    raises InvalidArgumentError naming a key and commits nothing; elsewhere (no WHEN MATCHED
    clause, or only one unconditional DELETE) the result equals the model."""
    errors = fine = 0
    for case in range(CASES // 2):
        seed = 50_000 + 1000 * (2 * dv + partitioned) + case
        rng = random.Random(seed)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t")
            versions = write_target(rng, path, dv, partitioned)
            history = []
            for step in range(2):
                source_rows = rand_source(rng, duplicates=True)
                on = T_ID_EQ_S_ID if rng.random() < 0.7 else rand_on(rng)
                clauses = rand_clauses(rng)
                if rng.random() < 0.35:  # make the allowed shapes common
                    clauses = [c for c in clauses if c.kind not in MATCHED]
                    if rng.random() < 0.6:
                        clauses.append(Clause("delete"))
                    if not clauses:
                        clauses = [Clause("insert_all")]
                source = source_table(rng, source_rows)
                history.append(describe(on, clauses))
                ctx = f"seed {seed} step {step}:\n" + "\n".join(history) + f"\nsource: {source_rows}"
                try:
                    model_merge(versions[-1], source_rows, on, clauses)
                except DuplicateMatch as dup:
                    errors += 1
                    v = strata.Table(path).version
                    with pytest.raises(InvalidArgumentError) as e:
                        strata_merge(path, source, on, clauses)
                    assert any(re.search(rf"(?<![\w.-]){k}(?![\w.])", str(e.value)) for k in dup.keys), \
                        f"the error names none of the keys {sorted(dup.keys)}: {e.value}\n{ctx}"
                    assert strata.Table(path).version == v, ctx
                    same(strata.Table(path).to_arrow(), versions[-1], f"unchanged after the error\n{ctx}")
                    continue
                fine += 1
                check_strata_merge(path, versions, source_rows, source, on, clauses, dv, ctx)
            check_all_versions(path, versions, "\n".join(history))
    assert errors >= 3 and fine >= 3, (errors, fine)


# ---------------------------------------------------------------------------------------------
# examples
# ---------------------------------------------------------------------------------------------
def people(ids, v=None, name=None) -> pa.Table:
    ids = list(ids)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "v": pa.array([float(i) if v is None else v(i) for i in ids], pa.float64()),
        "name": pa.array([f"n{i}" if name is None else name for i in ids], pa.string()),
    })


def new_table(path, data, **kwargs) -> str:
    assert strata.write_table(path, data, **kwargs) == 0
    return path


def merge(path, source, on="t.id = s.id", **kwargs):
    return strata.Table(path).merge(source, on=on, source_alias="s", target_alias="t", **kwargs)


def unchanged(path, version, rows: pa.Table, ctx=""):
    assert strata.Table(path).version == version, ctx
    assert_same_rows(strata.Table(path).to_arrow(), rows, ctx)


@needs_strata_merge
def test_upsert_equals_duckdb(tmp_path):
    """The classic upsert; the result equals DuckDB's SQL over the pre-merge rows and the source,
    strata's metrics and commitInfo carry the counts, and delta-rs reads the result."""
    path = new_table(str(tmp_path / "t"), people(range(0, 100)))
    strata.write_table(path, people(range(100, 120)))
    before = strata.Table(path).to_arrow()
    source = people(range(90, 150, 2), v=lambda i: i * 10.0, name="new")
    m = merge(path, source).when_matched_update_all().when_not_matched_insert_all().execute()
    assert (m["version"], m["num_source_rows"], m["num_target_rows_updated"], m["num_target_rows_inserted"],
            m["num_target_rows_deleted"]) == (2, 30, 15, 15, 0)
    con = duckdb.connect()
    con.register("t", before)
    con.register("s", source)
    want = con.sql("SELECT s.* FROM s UNION ALL "
                   "SELECT t.* FROM t WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.id = t.id)").to_arrow_table()
    assert_same_rows(strata.Table(path).to_arrow(), want, "upsert vs DuckDB SQL")
    # DuckDB's own MERGE INTO agrees
    con.execute("CREATE TABLE tgt AS SELECT * FROM t")
    con.execute("MERGE INTO tgt USING s ON tgt.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v, name = s.name "
                "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v, s.name)")
    assert_same_rows(con.sql("SELECT * FROM tgt").to_arrow_table(), want, "DuckDB MERGE INTO")
    assert_same_rows(deltars_read(path), want, "delta-rs reading the upsert")
    assert_same_rows(strata.Table(path, version=1).to_arrow(), before, "time travel to before the merge")
    h = strata.Table(path).history()[0]
    assert h["version"] == 2 and h["operation"] == "MERGE", h
    om = {k: int(v) for k, v in h["operationMetrics"].items() if k in (
        "numSourceRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")}
    assert om == {"numSourceRows": 30, "numTargetRowsInserted": 15, "numTargetRowsUpdated": 15,
                  "numTargetRowsDeleted": 0}, h


@needs_strata_merge
def test_delete_matched(tmp_path):
    path = new_table(str(tmp_path / "t"), people(range(50)))
    m = merge(path, people([3, 7, 7000, 11])).when_matched_delete().execute()
    assert (m["num_target_rows_deleted"], m["num_target_rows_inserted"], m["num_target_rows_updated"]) == (3, 0, 0)
    want = people([i for i in range(50) if i not in (3, 7, 11)])
    assert_same_rows(strata.Table(path).to_arrow(), want)
    assert_same_rows(deltars_read(path), want)


@needs_strata_merge
@pytest.mark.parametrize("dv", [False, True], ids=["copy-on-write", "deletion-vectors"])
def test_sync_with_source_snapshot(tmp_path, dv):
    """Update what changed, insert what is new, delete what the snapshot lacks: the table then
    equals the snapshot. Rows equal in both are left alone (the update is conditional), so the
    first file keeps live rows: with deletion vectors it is marked, not rewritten."""
    path = new_table(str(tmp_path / "t"), people(range(0, 40)),
                     configuration={"delta.enableDeletionVectors": "true"} if dv else None)
    strata.write_table(path, people(range(40, 60)))
    first_file = {f["path"] for f in strata.Table(path).files() if f["num_records"] == 40}
    snapshot = pa.concat_tables([people(range(10, 30), v=lambda i: -float(i), name="snap"),
                                 people(range(30, 40)),  # unchanged
                                 people(range(55, 70), v=lambda i: -float(i), name="snap")])
    m = (merge(path, snapshot).when_matched_update_all(predicate="t.v <> s.v OR t.name <> s.name")
         .when_not_matched_insert_all().when_not_matched_by_source_delete().execute())
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"], m["num_target_rows_deleted"]) == (25, 10, 25)
    assert_same_rows(strata.Table(path).to_arrow(), snapshot)
    assert_same_rows(deltars_read(path), snapshot)
    files = {f["path"]: f["deletion_vector_cardinality"] for f in strata.Table(path).files()}
    if dv:  # 30 of its 40 rows are gone; the second file (no survivors) is dropped whole
        assert m["num_deletion_vectors_added"] == 1, m
        assert [files.get(f) for f in first_file] == [30], files
    else:
        assert m["num_deletion_vectors_added"] == 0 and not first_file & set(files), m


@needs_strata_merge
def test_conditional_clauses_apply_in_order(tmp_path):
    path = new_table(str(tmp_path / "t"), pa.table({
        "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "v": pa.array([10.0, 20.0, None, 40.0, 50.0, 60.0]),
        "name": ["a", "b", "c", "d", "e", "f"]}))
    source = pa.table({"id": pa.array([1, 2, 3, 4, 7, 8, None], pa.int64()),
                       "v": pa.array([1.0, 25.0, 3.0, None, 70.0, 80.0, 90.0]),
                       "op": ["del", "upd", "upd", "del", "ins", "skip", "ins"]})
    m = (merge(path, source)
         .when_matched_delete(predicate="s.op = 'del' AND t.v > 15")   # id 4 only (id 1: v 10)
         .when_matched_update(set={"v": "s.v", "name": "'first'"}, predicate="s.v > t.v")  # id 2; id 3: NULL
         .when_matched_update(set={"name": "'second'"})                    # ids 1 and 3
         .when_not_matched_insert(values={"id": "s.id", "v": "s.v * 2"}, predicate="s.op = 'ins'")  # 7, NULL
         .when_not_matched_by_source_update(set={"v": "t.v + 1"}, predicate="t.id > 5")  # id 6
         .when_not_matched_by_source_delete()                          # id 5
         .execute())
    want = pa.table({"id": pa.array([1, 2, 3, 6, 7, None], pa.int64()),
                     "v": pa.array([10.0, 25.0, None, 61.0, 140.0, 180.0]),
                     "name": ["second", "first", "second", "f", None, None]})
    assert_same_rows(strata.Table(path).to_arrow(), want)
    assert (m["num_target_rows_deleted"], m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (2, 4, 2)
    assert_same_rows(deltars_read(path), want)


@needs_strata_merge
def test_append_only_table_allows_insert_only_merge(tmp_path):
    path = new_table(str(tmp_path / "t"), people(range(10)), configuration={"delta.appendOnly": "true"})
    m = merge(path, people(range(5, 15))).when_not_matched_insert_all().execute()
    assert m["num_target_rows_inserted"] == 5 and m["version"] == 1
    want = people(range(15))
    assert_same_rows(strata.Table(path).to_arrow(), want)
    with pytest.raises(InvalidArgumentError, match="appendOnly"):
        merge(path, people([1, 2], name="x")).when_matched_update(set={"name": "s.name"}).execute()
    with pytest.raises(InvalidArgumentError, match="appendOnly"):
        merge(path, people([1, 2])).when_matched_delete().execute()
    unchanged(path, 1, want)


@needs_strata_merge
def test_schema_evolution_adds_source_column(tmp_path):
    path = new_table(str(tmp_path / "t"), people(range(6)))
    source = people([4, 5, 6, 7]).append_column("w", pa.array([True, None, False, True]))
    m = merge(path, source, schema_mode="merge").when_matched_update_all().when_not_matched_insert_all().execute()
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (2, 2)
    assert strata.Table(path).schema.names == ["id", "v", "name", "w"]
    want = pa.concat_tables([people(range(4)).append_column("w", pa.nulls(4, pa.bool_())), source])
    assert_same_rows(strata.Table(path).to_arrow(), want)
    assert_same_rows(deltars_read(path), want)
    assert_same_rows(strata.Table(path, version=0).to_arrow(), people(range(6)))
    # With schema evolution a source may also lack a target column (as in Delta Spark with
    # autoMerge): UPDATE SET * leaves it as it was, INSERT * makes it NULL.
    lacking = pa.table({"id": pa.array([0, 50], pa.int64()), "name": ["z", "new"], "w": [False, True]})
    m = merge(path, lacking, schema_mode="merge").when_matched_update_all().when_not_matched_insert_all().execute()
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (1, 1)
    want = pa.concat_tables([
        want.filter(pc.not_equal(want["id"], 0)),
        pa.table({"id": pa.array([0, 50], pa.int64()), "v": [0.0, None], "name": ["z", "new"], "w": [False, True]}),
    ])
    assert_same_rows(strata.Table(path).to_arrow(), want)
    assert_same_rows(deltars_read(path), want)


@needs_strata_merge
def test_source_columns_outside_the_target_without_schema_mode(tmp_path):
    """Delta's rule without schema evolution (checked with Delta Spark 3.3.2 and delta-rs 1.6.6):
    UPDATE SET * / INSERT * assign the TARGET's columns from the same-named source columns, so a
    source column the target lacks is ignored and the schema is kept; a target column missing
    from the source cannot be resolved, which is an error ([DELTA_MERGE_UNRESOLVED_EXPRESSION])."""
    path = new_table(str(tmp_path / "t"), people(range(6)))
    source = people([4, 5, 6, 7], name="src").append_column("w", pa.array([1, 2, 3, 4], pa.int64()))
    m = merge(path, source).when_matched_update_all().when_not_matched_insert_all().execute()
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (2, 2)
    assert strata.Table(path).schema.names == ["id", "v", "name"]
    want = pa.concat_tables([people(range(4)), people([4, 5, 6, 7], name="src")])
    unchanged(path, 1, want)
    # a target column the source lacks (v), with either * form
    lacking = pa.table({"id": pa.array([1, 100], pa.int64()), "name": ["x", "y"]})
    for build in (lambda b: b.when_not_matched_insert_all(), lambda b: b.when_matched_update_all()):
        with pytest.raises((SchemaMismatchError, InvalidArgumentError), match=r"\bv\b"):
            build(merge(path, lacking)).execute()
    unchanged(path, 1, want)


@needs_strata_merge
def test_check_constraint_violation_commits_nothing(tmp_path):
    data = people(range(10))
    path = new_table(str(tmp_path / "t"), data, configuration={"delta.constraints.pos": "v >= 0"})
    with pytest.raises(ExpectationFailedError, match="pos"):
        merge(path, people([3, 4])).when_matched_update(set={"v": "t.v - 3.5"}).execute()  # id 3 -> -0.5
    with pytest.raises(ExpectationFailedError, match="pos"):
        merge(path, people([50], v=lambda i: -1.0)).when_not_matched_insert_all().execute()
    unchanged(path, 0, data)
    m = merge(path, people([4])).when_matched_update(set={"v": "t.v - 3.5"}).execute()  # 0.5: fine
    assert m["num_target_rows_updated"] == 1 and m["version"] == 1


@needs_strata_merge
def test_bad_expressions_name_the_column(tmp_path):
    data = pa.table({"id": pa.array([1, 2], pa.int64()), "amount": [1.0, 2.0]})
    path = new_table(str(tmp_path / "t"), data)
    source = pa.table({"id": pa.array([2, 3], pa.int64()), "amount": [5.0, 6.0]})
    cases = [
        ("unknown source column in SET", lambda: merge(path, source).when_matched_update(set={"amount": "s.nope"}),
         "nope"),
        ("unknown target column assigned", lambda: merge(path, source).when_matched_update(set={"nope2": "s.amount"}),
         "nope2"),
        ("unknown column in a predicate",
         lambda: merge(path, source).when_matched_delete(predicate="t.missing_col > 1"), "missing_col"),
        ("unknown column in ON", lambda: merge(path, source, on="t.id = s.ident").when_matched_delete(), "ident"),
        ("ambiguous unqualified column in SET",
         lambda: merge(path, source).when_matched_update(set={"amount": "amount + 1"}), "amount"),
        ("ambiguous unqualified column in a predicate",
         lambda: merge(path, source).when_matched_delete(predicate="amount > 1"), "amount"),
        ("ambiguous unqualified column in ON", lambda: merge(path, source, on="id = s.id").when_matched_delete(), "id"),
        ("target column in an insert", lambda: merge(path, source).when_not_matched_insert(
            values={"id": "s.id", "amount": "t.amount"}), "amount"),
        ("source column in a by-source clause", lambda: merge(path, source).when_not_matched_by_source_update(
            set={"amount": "s.amount"}), "amount"),
        ("syntax error", lambda: merge(path, source).when_matched_delete(predicate="t.amount >"), None),
    ]
    for what, build, name in cases:
        with pytest.raises(InvalidArgumentError) as e:
            build().execute()
        if name:
            assert re.search(rf"\b{name}\b", str(e.value)), f"{what}: {e.value}"
    unchanged(path, 0, data, "a failed MERGE commits nothing")


@needs_strata_merge
def test_alias_qualifier_wins_over_a_column_named_like_the_alias(tmp_path):
    """A target column named `s` (a string) does not make `s.id` ambiguous: a qualifier naming
    an alias resolves to that side (Delta Spark 3.3.2 and delta-rs both resolve it so)."""
    data = pa.table({"id": pa.array([1, 2], pa.int64()), "s": ["a", "b"]})
    path = new_table(str(tmp_path / "t"), data)
    source = pa.table({"id": pa.array([2, 3], pa.int64()), "s": ["x", "y"]})
    m = (merge(path, source).when_matched_update(set={"s": "s.s"})
         .when_not_matched_insert(values={"id": "s.id", "s": "s.s"}).execute())
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (1, 1)
    assert_same_rows(strata.Table(path).to_arrow(),
                     pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": ["a", "x", "y"]}))


@needs_strata_merge
def test_no_change_means_no_commit(tmp_path):
    data = people(range(5))
    path = new_table(str(tmp_path / "t"), data)
    m = merge(path, people([]).slice(0, 0)).when_matched_update_all().when_not_matched_insert_all().execute()
    assert (m["version"], m["num_source_rows"], m["num_target_rows_inserted"]) == (-1, 0, 0)
    m = merge(path, people([1, 2])).when_matched_delete(predicate="s.v > 100").execute()  # matches, no action
    assert m["version"] == -1 and m["num_target_rows_deleted"] == 0
    m = merge(path, people([100])).when_matched_delete().execute()  # nothing matches
    assert m["version"] == -1
    unchanged(path, 0, data)
    assert len(strata.Table(path).history()) == 1


@needs_strata_merge
def test_deletion_vectors_instead_of_rewrites(tmp_path):
    data = people(range(200))
    path = new_table(str(tmp_path / "t"), data, configuration={"delta.enableDeletionVectors": "true"})
    [original] = [f["path"] for f in strata.Table(path).files()]

    def dv_of_original():
        return {f["path"]: f["deletion_vector_cardinality"] for f in strata.Table(path).files()}.get(original, "gone")

    m = merge(path, people([5, 6, 7, 300], v=lambda i: -1.0)).when_matched_update_all() \
        .when_not_matched_insert_all().execute()
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (3, 1)
    assert m["num_deletion_vectors_added"] == 1, m
    assert dv_of_original() == 3, "the file is kept, with the 3 old row versions marked deleted"
    want = pa.concat_tables([people([i for i in range(200) if i not in (5, 6, 7)]),
                             people([5, 6, 7, 300], v=lambda i: -1.0)])
    assert_same_rows(strata.Table(path).to_arrow(), want)
    assert_same_rows(deltars_read(path), want)
    # a second MERGE on the file that already has a deletion vector
    m = merge(path, people([8, 9])).when_matched_delete().execute()
    assert m["num_target_rows_deleted"] == 2
    assert dv_of_original() == 5, "the file's deletion vector grows"
    want = want.filter(pc.invert(pc.is_in(want["id"], pa.array([8, 9], pa.int64()))))
    assert_same_rows(strata.Table(path).to_arrow(), want)
    assert_same_rows(deltars_read(path), want)
    assert_same_rows(deltars_read(path, 1), pa.concat_tables([
        people([i for i in range(200) if i not in (5, 6, 7)]), people([5, 6, 7, 300], v=lambda i: -1.0)]))


@needs_strata_merge
def test_source_is_any_arrow_stream(tmp_path):
    """The source may be a RecordBatchReader, a DuckDB result or another strata table."""
    path = new_table(str(tmp_path / "t"), people(range(5)))
    other = new_table(str(tmp_path / "other"), people([3, 4, 5], name="other"))
    m = merge(path, strata.Table(other)).when_matched_update_all().when_not_matched_insert_all().execute()
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (2, 1)
    reader = pa.RecordBatchReader.from_batches(people([6]).schema, people([6]).to_batches())
    merge(path, reader).when_not_matched_insert_all().execute()
    con = duckdb.connect()
    duck = con.sql("SELECT 7::BIGINT AS id, 7.0::DOUBLE AS v, 'duck' AS name")
    merge(path, duck).when_not_matched_insert_all().execute()
    want = pa.concat_tables([people(range(3)), people([3, 4, 5], name="other"), people([6]), people([7], name="duck")])
    assert_same_rows(strata.Table(path).to_arrow(), want)
