"""The feature store: `FeatureStore(repo)` over a feature repository (strata.yaml + definitions)."""

from strata.features.store import (
    ApplyResult,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    OnDemandFeatureView,
    Registry,
    Source,
)

__all__ = [
    "ApplyResult",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "OnDemandFeatureView",
    "Registry",
    "Source",
]
