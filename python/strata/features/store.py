"""FeatureStore: a feature repository (strata.yaml + definition YAML files) and the offline and
online stores it describes. Thin: the registry, the point-in-time join, materialization and online
retrieval are the engine's (cpp/src/strata/features, exec/asof_join)."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from strata import _strata
from strata.errors import InvalidArgumentError
from strata.table import Table, _Stream, _as_stream_capsule, write_table

LINEAGE_KEY = b"strata.lineage"
_TYPES = {
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "float_list": pa.list_(pa.float32()),
}


# --- definitions (read-only views of the applied registry) -----------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class Entity:
    name: str
    join_keys: list[Field]
    description: str = ""
    location: str = ""


@dataclass(frozen=True)
class Source:
    name: str
    table: Optional[str]
    timestamp_field: str
    created_timestamp_field: Optional[str] = None
    kafka: Optional[dict] = None
    description: str = ""
    location: str = ""


@dataclass(frozen=True)
class FeatureView:
    name: str
    entities: list[str]
    source: str
    features: list[Field]
    ttl: Optional[_dt.timedelta] = None
    online: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    description: str = ""
    location: str = ""


@dataclass(frozen=True)
class OnDemandFeatureView:
    name: str
    sources: list[str]
    request: list[Field]
    features: list[dict]  # {name, type, expression}
    description: str = ""
    location: str = ""


@dataclass(frozen=True)
class FeatureService:
    name: str
    features: list[str]
    owner: str = ""
    description: str = ""
    location: str = ""


def _fields(items: Iterable[dict]) -> list[Field]:
    return [Field(f["name"], f["type"], f.get("description", "")) for f in items or []]


def _ttl(text: Optional[str]) -> Optional[_dt.timedelta]:
    if not text:
        return None
    assert text.endswith("us"), text
    return _dt.timedelta(microseconds=int(text[:-2]))


class Registry:
    """A parsed registry (the canonical JSON the engine stores on apply)."""

    def __init__(self, doc: dict, version: Optional[int] = None):
        self.doc = doc
        self.version = version
        self.project: str = doc["project"]
        self.online: dict = doc["online"]
        self.entities = {e["name"]: Entity(e["name"], _fields(e["join_keys"]), e.get("description", ""),
                                           e.get("_location", "")) for e in doc["entities"]}
        self.sources = {s["name"]: Source(s["name"], s.get("table"), s["timestamp_field"],
                                          s.get("created_timestamp_field"), s.get("kafka"),
                                          s.get("description", ""), s.get("_location", "")) for s in doc["sources"]}
        self.feature_views = {v["name"]: FeatureView(v["name"], list(v["entities"]), v["source"], _fields(v["features"]),
                                                     _ttl(v.get("ttl")), v.get("online", True), dict(v.get("tags", {})),
                                                     v.get("owner", ""), v.get("description", ""),
                                                     v.get("_location", "")) for v in doc["feature_views"]}
        self.on_demand_views = {v["name"]: OnDemandFeatureView(v["name"], list(v["sources"]), _fields(v["request"]),
                                                               list(v["features"]), v.get("description", ""),
                                                               v.get("_location", ""))
                                for v in doc["on_demand_feature_views"]}
        self.feature_services = {s["name"]: FeatureService(s["name"], list(s["features"]), s.get("owner", ""),
                                                           s.get("description", ""), s.get("_location", ""))
                                 for s in doc["feature_services"]}

    def join_keys(self, view: FeatureView) -> list[Field]:
        return [k for e in view.entities for k in self.entities[e].join_keys]

    def resolve(self, features: Optional[Sequence[str]], feature_service: Optional[str]) -> list[tuple[str, str]]:
        """(view, feature) pairs for references "view:feature" / "view", or a service's."""
        if feature_service is not None:
            if features:
                raise InvalidArgumentError("pass features or feature_service, not both")
            if feature_service not in self.feature_services:
                raise InvalidArgumentError(f"unknown feature service '{feature_service}' "
                                           f"(services: {', '.join(sorted(self.feature_services)) or 'none'})")
            features = self.feature_services[feature_service].features
        if not features:
            raise InvalidArgumentError("no features requested: pass features=[\"view:feature\", ...] or feature_service=")
        if isinstance(features, str):
            features = [features]
        out: list[tuple[str, str]] = []
        for ref in features:
            view, _, feat = ref.partition(":")
            if view in self.feature_views:
                names = [f.name for f in self.feature_views[view].features]
            elif view in self.on_demand_views:
                names = [f["name"] for f in self.on_demand_views[view].features]
            else:
                known = sorted(self.feature_views) + sorted(self.on_demand_views)
                raise InvalidArgumentError(f"unknown feature view '{view}' in '{ref}' (views: {', '.join(known)})")
            chosen = names if feat in ("", "*") else [feat]
            if feat not in ("", "*") and feat not in names:
                raise InvalidArgumentError(f"unknown feature '{feat}' of view '{view}' (features: {', '.join(names)})")
            for f in chosen:
                if (view, f) not in out:
                    out.append((view, f))
        return out


@dataclass
class ApplyResult:
    plan: list[str]
    version: Optional[int]  # None when nothing changed (or a dry run)

    @property
    def changed(self) -> bool:
        return self.version is not None


def _to_us(t: Any) -> int:
    """Microseconds since the epoch from a datetime (naive = UTC), date, ISO string or number (s)."""
    if isinstance(t, str):
        t = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return (t - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)) // _dt.timedelta(microseconds=1)
    if isinstance(t, _dt.date):
        return _to_us(_dt.datetime(t.year, t.month, t.day))
    if isinstance(t, (int, float)):
        return int(t * 1_000_000)
    if hasattr(t, "to_pydatetime"):
        return _to_us(t.to_pydatetime())
    raise InvalidArgumentError(f"not a timestamp: {t!r}")


def _from_us(us: Optional[int]) -> Optional[_dt.datetime]:
    if us is None:
        return None
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=us)


def _default_budget() -> int:
    """Feature rows held in memory before the join spills: a quarter of physical memory (at least
    512 MiB). Training-set retrieval usually owns the machine; spilling costs ~2x in time."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        total = 0
    return max(512 << 20, total // 4)


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    return pa.RecordBatchReader.from_stream(_Stream(_as_stream_capsule(data))).read_all()


class FeatureStore:
    """A feature repository: `FeatureStore("path/to/repo")` (a folder with strata.yaml)."""

    def __init__(self, repo_path: str = "."):
        self.repo_path = os.path.abspath(repo_path)
        if not os.path.isfile(os.path.join(self.repo_path, "strata.yaml")) and not os.path.isfile(
                os.path.join(self.repo_path, "strata.yml")):
            raise InvalidArgumentError(f"{repo_path} is not a feature repository (no strata.yaml)")
        self._serving = None
        self._serving_version = None

    # --- registry ----------------------------------------------------------------------------------
    def plan(self) -> list[str]:
        """What `apply()` would change (validates the repository against its tables)."""
        return list(_strata.registry_apply(self.repo_path, True)["plan"])

    def apply(self, dry_run: bool = False) -> ApplyResult:
        """Validates the repository (errors name file and line), stores it as a new registry version
        when anything changed, and returns the plan."""
        r = _strata.registry_apply(self.repo_path, dry_run)
        return ApplyResult(list(r["plan"]), None if r["version"] < 0 else int(r["version"]))

    def registry(self, version: Optional[int] = None) -> Registry:
        """The applied registry (the latest, or `version`)."""
        d = _strata.registry_get(self.repo_path, version)
        if d is None:
            raise InvalidArgumentError(f"no registry applied in {self.repo_path} yet: call apply() (or `strata apply`)")
        return Registry(json.loads(d["registry_json"]), d["version"])

    def registry_history(self) -> list[dict[str, Any]]:
        """Every applied version: version, applied_at (datetime), project, plan."""
        return [{"version": h["version"], "applied_at": _from_us(h["applied_at_us"]), "project": h["project"],
                 "plan": list(h["plan"])} for h in _strata.registry_history(self.repo_path)]

    @property
    def project(self) -> str:
        return self.registry().project

    def list_entities(self) -> list[Entity]:
        return list(self.registry().entities.values())

    def list_sources(self) -> list[Source]:
        return list(self.registry().sources.values())

    def list_feature_views(self) -> list[FeatureView]:
        return list(self.registry().feature_views.values())

    def list_on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return list(self.registry().on_demand_views.values())

    def list_feature_services(self) -> list[FeatureService]:
        return list(self.registry().feature_services.values())

    def get_feature_view(self, name: str) -> FeatureView:
        reg = self.registry()
        if name not in reg.feature_views:
            raise InvalidArgumentError(f"unknown feature view '{name}' (views: {', '.join(sorted(reg.feature_views))})")
        return reg.feature_views[name]

    def get_feature_service(self, name: str) -> FeatureService:
        reg = self.registry()
        if name not in reg.feature_services:
            raise InvalidArgumentError(f"unknown feature service '{name}'")
        return reg.feature_services[name]

    def _source_path(self, src: Source) -> str:
        if src.table is None:
            raise InvalidArgumentError(f"source '{src.name}' has no table")
        if "://" in src.table or os.path.isabs(src.table):
            return src.table
        return os.path.normpath(os.path.join(self.repo_path, src.table))

    # --- offline -----------------------------------------------------------------------------------
    def get_historical_features(self, entity_df: Any = None, features: Optional[Sequence[str]] = None,
                                feature_service: Optional[str] = None, full_feature_names: bool = False,
                                as_of_versions: Optional[Mapping[str, int]] = None, dataset: Optional[str] = None,
                                engine: str = "strata", memory_budget_bytes: Optional[int] = None,
                                spill_dir: Optional[str] = None, spark: Any = None) -> pa.Table:
        """A point-in-time correct training set: for each entity row (join keys + event_timestamp,
        other columns kept), each view's latest feature row at or before the row's timestamp and
        within the view's TTL (ties broken by the created timestamp); no match gives nulls.

        The result's schema metadata `strata.lineage` records the registry version and the table
        version of every source read; pass those versions back as `as_of_versions={source: version}`
        (or `dataset=` a name saved with save_dataset) to reproduce it exactly. Feature rows past
        `memory_budget_bytes` (default: a quarter of physical memory) spill to `spill_dir`. engine="spark" runs
        the same retrieval on Spark: `spark` is a SparkSession with Delta Lake (default: the active
        one)."""
        reg = self.registry()
        versions: dict[str, int] = dict(as_of_versions or {})
        if dataset is not None:
            saved = self.get_dataset(dataset)
            lineage = json.loads(saved.schema.metadata[LINEAGE_KEY])
            if entity_df is None:
                entity_df = saved.select(lineage["entity_columns"])
            features = lineage["features"]
            feature_service = None
            full_feature_names = lineage["full_feature_names"]
            versions = {k: v["version"] for k, v in lineage["sources"].items()}
            if lineage.get("registry_version") is not None:
                reg = self.registry(lineage["registry_version"])
        if entity_df is None:
            raise InvalidArgumentError("entity_df is required (join keys + event_timestamp)")
        refs = reg.resolve(features, feature_service)
        entity = _as_table(entity_df)
        if "event_timestamp" not in entity.column_names:
            raise InvalidArgumentError(f"entity_df needs an 'event_timestamp' column (has {entity.column_names})")

        # Plain views, plus the inputs of requested on-demand features (hidden unless requested).
        wanted: dict[str, list[str]] = {}
        for view, feat in refs:
            if view in reg.feature_views:
                wanted.setdefault(view, [])
                if feat not in wanted[view]:
                    wanted[view].append(feat)
        hidden: list[tuple[str, str]] = []
        for view, _ in refs:
            if view in reg.on_demand_views:
                for src in reg.on_demand_views[view].sources:
                    for f in reg.feature_views[src].features:
                        if f.name not in wanted.setdefault(src, []):
                            wanted[src].append(f.name)
                            hidden.append((src, f.name))
        order = list(wanted)
        for view in order:
            for k in reg.join_keys(reg.feature_views[view]):
                if k.name not in entity.column_names:
                    raise InvalidArgumentError(f"entity_df lacks join key '{k.name}' of feature view '{view}'")

        lineage_sources: dict[str, dict] = {}
        specs = []
        for view in order:
            fv = reg.feature_views[view]
            src = reg.sources[fv.source]
            path = self._source_path(src)
            t = Table(path, version=versions.get(src.name))
            lineage_sources[src.name] = {"table": src.table, "version": t.version}
            keys = [k.name for k in reg.join_keys(fv)]
            cols = keys + [src.timestamp_field] + ([src.created_timestamp_field] if src.created_timestamp_field else [])
            cols += [f for f in wanted[view] if f not in cols]
            specs.append((fv, src, t, keys, cols))
        out_name = {}
        for fv, _, _, _, _ in specs:
            for f in wanted[fv.name]:
                out_name[(fv.name, f)] = f"{fv.name}__{f}" if full_feature_names else f
        for (view, feat), name in out_name.items():
            if list(out_name.values()).count(name) > 1 or name in entity.column_names:
                raise InvalidArgumentError(f"feature name '{name}' is ambiguous (several views, or an entity column); "
                                           "use full_feature_names=True")

        if engine == "spark":
            from strata.features import spark_retrieval  # noqa: PLC0415

            views, fields = [], list(entity.schema)
            for fv, src, t, keys, cols in specs:
                views.append({
                    "name": fv.name, "table": t.path, "version": t.version, "join_keys": keys,
                    "timestamp": src.timestamp_field, "created": src.created_timestamp_field,
                    "ttl_us": None if fv.ttl is None else fv.ttl // _dt.timedelta(microseconds=1),
                    "features": wanted[fv.name],
                    "output_names": [out_name[(fv.name, f)] for f in wanted[fv.name]],
                })
                fields += [pa.field(out_name[(fv.name, f)], t.schema.field(f).type) for f in wanted[fv.name]]
            result = spark_retrieval.historical(entity, views, pa.schema(fields), spark)
        elif engine == "strata":
            views = []
            for fv, src, t, keys, cols in specs:
                views.append({
                    "name": fv.name, "data": t.to_reader(columns=cols), "join_keys": keys,
                    "timestamp_column": src.timestamp_field,
                    "created_timestamp_column": src.created_timestamp_field or None,
                    "ttl_us": None if fv.ttl is None else fv.ttl // _dt.timedelta(microseconds=1),
                    "features": wanted[fv.name],
                    "output_names": [out_name[(fv.name, f)] for f in wanted[fv.name]],
                })
            capsule = _strata.point_in_time_join(entity, views, entity_timestamp_column="event_timestamp",
                                                 full_feature_names=full_feature_names,
                                                 memory_budget_bytes=memory_budget_bytes or _default_budget(),
                                                 spill_dir=spill_dir)
            result = pa.RecordBatchReader.from_stream(_Stream(capsule)).read_all()
        else:
            raise InvalidArgumentError(f"engine must be 'strata' or 'spark', not {engine!r}")

        # On-demand features, computed over the joined rows.
        for view, feat in refs:
            if view not in reg.on_demand_views:
                continue
            od = reg.on_demand_views[view]
            spec = next(f for f in od.features if f["name"] == feat)
            result = result.append_column(f"{view}__{feat}" if full_feature_names else feat,
                                          self._evaluate_on_demand(result, od, spec, reg, out_name))
        keep = entity.column_names + [out_name[(v, f)] if v in reg.feature_views else
                                      (f"{v}__{f}" if full_feature_names else f) for v, f in refs]
        result = result.select(keep)
        meta = dict(result.schema.metadata or {})
        meta[LINEAGE_KEY] = json.dumps({
            "project": reg.project, "registry_version": reg.version, "sources": lineage_sources,
            "features": [f"{v}:{f}" for v, f in refs], "full_feature_names": full_feature_names,
            "entity_columns": entity.column_names, "engine": engine,
        }, sort_keys=True).encode()
        return result.replace_schema_metadata(meta)

    @staticmethod
    def _evaluate_on_demand(result: pa.Table, od: OnDemandFeatureView, spec: dict, reg: Registry,
                            out_name: Mapping[tuple[str, str], str]) -> pa.ChunkedArray:
        cols, names = [], []
        for r in od.request:
            if r.name not in result.column_names:
                raise InvalidArgumentError(f"on-demand view '{od.name}' needs request field '{r.name}' in entity_df")
            cols.append(result[r.name])
            names.append(r.name)
        for src in od.sources:
            for f in reg.feature_views[src].features:
                c = result[out_name[(src, f.name)]]
                for n in (f.name, f"{src}__{f.name}"):
                    if n not in names:
                        cols.append(c)
                        names.append(n)
        inputs = pa.table(cols, names=names) if cols else pa.table({"_": pa.nulls(result.num_rows)})
        if inputs.num_rows == 0:
            return pa.chunked_array([], type=_TYPES[spec["type"]])
        capsule = _strata.evaluate_expression(spec["expression"], inputs)
        values = pa.RecordBatchReader.from_stream(_Stream(capsule)).read_all()["value"]
        return values.cast(_TYPES[spec["type"]], safe=False)

    def save_dataset(self, name: str, training_set: pa.Table, overwrite: bool = False) -> str:
        """Stores a training set (with its lineage) as a strata table under .strata/datasets/NAME."""
        if LINEAGE_KEY not in (training_set.schema.metadata or {}):
            raise InvalidArgumentError("save_dataset expects a result of get_historical_features (it carries lineage)")
        path = os.path.join(self.repo_path, ".strata", "datasets", name)
        lineage = training_set.schema.metadata[LINEAGE_KEY].decode()
        write_table(path, training_set, mode="overwrite" if overwrite else "error",
                    configuration={"strata.lineage": lineage})
        return path

    def get_dataset(self, name: str) -> pa.Table:
        """A saved training set, with its lineage in the schema metadata."""
        path = os.path.join(self.repo_path, ".strata", "datasets", name)
        if not os.path.isdir(path):
            raise InvalidArgumentError(f"no saved dataset '{name}' in {self.repo_path}")
        t = Table(path)
        data = t.to_arrow()
        meta = dict(data.schema.metadata or {})
        meta[LINEAGE_KEY] = t.properties["strata.lineage"].encode()
        return data.replace_schema_metadata(meta)

    # --- online ------------------------------------------------------------------------------------
    def materialize(self, start: Any, end: Any, views: Optional[Sequence[str]] = None,
                    progress: Optional[Callable[[str, int, int], None]] = None) -> list[dict[str, Any]]:
        """Writes the latest value per entity with event time in [start, end] of every online view
        (or `views`) into the online store; one dict per view (rows read/written, seconds, ...)."""
        return _strata.materialize(self.repo_path, list(views or []), None if start is None else _to_us(start),
                                   _to_us(end), False, progress)

    def materialize_incremental(self, end: Any, views: Optional[Sequence[str]] = None,
                                progress: Optional[Callable[[str, int, int], None]] = None) -> list[dict[str, Any]]:
        """Like materialize, from each view's last watermark to `end`; with the source's change data
        feed on, reads only the changes committed since the last run."""
        return _strata.materialize(self.repo_path, list(views or []), None, _to_us(end), True, progress)

    def materialization_history(self) -> list[dict[str, Any]]:
        return list(_strata.materialization_history(self.repo_path))

    def _online(self):
        reg_version = _strata.registry_get(self.repo_path, None)
        if reg_version is None:
            raise InvalidArgumentError(f"no registry applied in {self.repo_path} yet: call apply() first")
        if self._serving is None or self._serving_version != reg_version["version"]:
            if self._serving is not None:
                self._serving.close()
            self._serving = _strata.OnlineServing.open(self.repo_path, True)
            self._serving_version = reg_version["version"]
        else:
            self._serving.refresh()
        return self._serving

    def get_online_features(self, features: Optional[Sequence[str]] = None,
                            entity_rows: Optional[Sequence[Mapping[str, Any]]] = None,
                            feature_service: Optional[str] = None, full_feature_names: bool = False,
                            entities: Optional[Mapping[str, Sequence[Any]]] = None,
                            request_data: Optional[Mapping[str, Sequence[Any]]] = None,
                            with_status: bool = False) -> dict[str, list]:
        """The latest online values: {"driver_id": [1001], "conv_rate": [0.52], ...}. Pass
        entity_rows=[{"driver_id": 1001}, ...] (or entities={"driver_id": [...]}); with_status adds
        "__status__"/"__event_timestamp__" maps per feature. Expired values (TTL) are None with status
        OUTSIDE_MAX_AGE."""
        if entities is None:
            if not entity_rows:
                raise InvalidArgumentError("pass entity_rows=[{...}, ...] or entities={key: [...]}")
            keys = list(entity_rows[0])
            entities = {k: [] for k in keys}
            for i, row in enumerate(entity_rows):
                if set(row) != set(keys):
                    raise InvalidArgumentError(f"entity_rows[{i}] has keys {sorted(row)}, expected {sorted(keys)}")
                for k in keys:
                    entities[k].append(row[k])
        # Request fields given inside entity rows go to request_data.
        if isinstance(features, str):
            features = [features]
        res = self._online().get(list(features) if features else None, feature_service, dict(entities),
                                 dict(request_data) if request_data else None, full_feature_names, None)
        out: dict[str, list] = {}
        status: dict[str, list] = {}
        stamps: dict[str, list] = {}
        for name, values, st, ts in zip(res["feature_names"], res["values"], res["statuses"],
                                        res["event_timestamps"]):
            out[name] = list(values)
            status[name] = list(st)
            stamps[name] = [_from_us(t) if t else None for t in ts]
        if with_status:
            out["__status__"] = status  # type: ignore[assignment]
            out["__event_timestamp__"] = stamps  # type: ignore[assignment]
        return out

    def close(self) -> None:
        if self._serving is not None:
            self._serving.close()
            self._serving = None

    def __repr__(self) -> str:
        return f"FeatureStore({self.repo_path!r})"
