"""What the database holds: documents per collection and their breakdowns."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from matforge.stores.queries import provenance_report, scan_documents

if TYPE_CHECKING:
    from matforge.stores.factory import StoreFactory


def database_stats(factory: StoreFactory) -> dict[str, Any]:
    """Return the counts of every collection, hydrides by source, rejects by stage.

    Computed hydrides and failed relaxations must be visible at a glance, and
    curators see per source how many entries have energies and scores and
    which of their files gave which rejects (``provenance``).
    """
    by_source = Counter(
        d.get("source") for d in scan_documents(factory.store("hydrides"), ["source"])
    )
    by_stage = Counter(
        d.get("stage") for d in scan_documents(factory.store("rejects"), ["stage"])
    )
    return {
        "backend": factory.backend,
        "location": factory.location,
        "counts": factory.counts(),
        "hydrides_by_source": dict(sorted(by_source.items(), key=_key)),
        "rejects_by_stage": dict(sorted(by_stage.items(), key=_key)),
        "provenance": provenance_report(
            factory.store("hydrides"), factory.store("rejects")
        ),
    }


def _key(item: tuple[Any, int]) -> str:
    return str(item[0])
