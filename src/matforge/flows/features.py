"""The features stage: the hydrides' features and storage scores, summarised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from matforge.flows.stage import StageMaker, execute_stage, stage_job
from matforge.stores.queries import scan_documents

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory


def features_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Summarise the hydrides' features and storage scores (the dataset)."""
    docs = list(
        scan_documents(
            factory.store("hydrides"), ["material_id", "storage_score", "features"]
        )
    )
    scores = np.array(
        [d["storage_score"] for d in docs if d.get("storage_score") is not None]
    )
    out: dict[str, Any] = {
        "hydrides": len(docs),
        "with_features": sum(1 for d in docs if d.get("features")),
        "with_score": len(scores),
    }
    if len(scores):
        out |= {
            "score_mean": float(scores.mean()),
            "score_max": float(scores.max()),
            "score_median": float(np.median(scores)),
        }
    return out


@dataclass
class FeaturesScoreMaker(StageMaker):
    """Check the features and storage score of every hydride and summarise them."""

    name: str = "features and score"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "features",
            lambda s: {"score": s.score.model_dump()},
            features_stage,
            upstream,
        )
