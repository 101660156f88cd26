"""The counts every matforge builder keeps of one run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matforge.stores.writes import UpsertResult


@dataclass
class BuildSummary:
    """What one run of a builder wrote, and how long it took."""

    processed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def count_upsert(self, result: UpsertResult) -> None:
        """Add the documents an upsert inserted, updated or left unchanged."""
        self.inserted += len(result.inserted)
        self.updated += len(result.updated)
        self.unchanged += len(result.unchanged)

    def stop_clock(self) -> None:
        """Set ``seconds`` to the time since the summary was made."""
        self.seconds = time.perf_counter() - self._started

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain values."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}
