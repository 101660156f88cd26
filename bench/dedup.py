"""Time the candidates builder on 1,000 relaxations, against naive all-pairs matching.

Makes N synthetic relaxed documents (TEST DATA from ``tests/builders/
synthetic.py``: seed hydrides and metal-substituted copies, perturbed,
strained, rotated, doubled or rattled, with made-up energies), loads the
offline references (3,953 Materials Project binaries) and the seed hydrides
as known materials, and times on a fresh store:

1. the first build of ``candidates`` (validity, duplicates, novelty, writes);
2. a second build, which must change nothing;
3. a build after ADD more relaxations, which must judge only those.

Then it compares the duplicate groups with naive all-pairs ``StructureMatcher``
(``fit`` on every pair of the valid relaxed structures, smaller id first,
connected components) on the same input, and prints both times and their
ratio. It exits non-zero when the groups differ; timings are only printed.

    python bench/dedup.py [--n 1000] [--add 100] [--backend embedded|memory]
                          [--rattled 0.1] [--skip-naive]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from pymatgen.core import Structure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "builders"))

from synthetic import synthetic_relaxed  # noqa: E402

from matforge.builders.candidates import build_candidates  # noqa: E402
from matforge.core.dedup import duplicate_groups  # noqa: E402
from matforge.core.novelty import MatchEntry, make_matcher  # noqa: E402
from matforge.data.ingest import ingest_records  # noqa: E402
from matforge.data.offline import offline_records  # noqa: E402
from matforge.data.references import ensure_references  # noqa: E402
from matforge.settings import load_settings  # noqa: E402
from matforge.stores import StoreFactory, upsert_documents  # noqa: E402


def naive_groups(
    structures: dict[str, Structure], matcher
) -> tuple[set[frozenset[str]], int]:
    ids = sorted(structures)
    parent = {i: i for i in ids}

    def find(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = 0
    for a, b in itertools.combinations(ids, 2):
        pairs += 1
        if matcher.fit(structures[a], structures[b]):
            parent[find(b)] = find(a)
    groups: dict[str, set[str]] = {}
    for i in ids:
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values()}, pairs


def builder_groups(factory: StoreFactory) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for doc in factory.store("candidates")._collection.find(
        {"status": {"$in": ["candidate", "duplicate"]}},
        {"_id": 0, "candidate_id": 1, "duplicate_of": 1},
    ):
        rep = doc.get("duplicate_of") or doc["candidate_id"]
        groups.setdefault(rep, set()).add(doc["candidate_id"])
    return groups


def timed_build(factory: StoreFactory, label: str) -> float:
    start = time.perf_counter()
    summary = build_candidates(factory)
    elapsed = time.perf_counter() - start
    print(
        f"{label}: {elapsed:.2f} s; judged {summary.processed} relaxations in "
        f"{summary.groups} reduced formulas; {summary.inserted} inserted, "
        f"{summary.updated} updated, {summary.removed} removed; "
        f"{summary.pairs_compared} structure comparisons "
        f"({summary.pairs_in_buckets} pairs in buckets)"
    )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--add", type=int, default=100)
    parser.add_argument("--backend", choices=["embedded", "memory"], default="embedded")
    parser.add_argument(
        "--rattled",
        type=float,
        default=0.1,
        help="share of relaxations rattled into crystals of their own",
    )
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        overrides = (
            {"home": home}
            if args.backend == "embedded"
            else {"store": {"uri": f"memory://{uuid.uuid4().hex}"}}
        )
        settings = load_settings(**overrides)
        with StoreFactory(settings) as factory:
            shared = settings.shared_data_dir()
            start = time.perf_counter()
            ingest_records(offline_records(shared), factory, "offline", [])
            ensure_references(factory)
            print(
                f"known materials: {factory.store('hydrides').count()} hydrides, "
                f"{factory.store('references').count()} references, loaded in "
                f"{time.perf_counter() - start:.1f} s ({factory.location})"
            )
            start = time.perf_counter()
            docs = synthetic_relaxed(shared, args.n, rattled=args.rattled)
            upsert_documents(
                factory.store("relaxed"), [d.model_dump() for d in docs], "relaxed_id"
            )
            print(
                f"{args.n} synthetic relaxations written in "
                f"{time.perf_counter() - start:.1f} s"
            )

            build_s = timed_build(factory, f"first build ({args.n})")
            statuses = Counter(
                d["status"]
                for d in factory.store("candidates")._collection.find(
                    {}, {"_id": 0, "status": 1}
                )
            )
            print(f"verdicts: {dict(statuses)}")
            groups = builder_groups(factory)
            timed_build(factory, "second build (nothing new)")

            valid = {
                d.relaxed_id: d.structure
                for d in docs
                if any(d.relaxed_id in g for g in groups.values())
            }
            matcher = make_matcher()
            entries = [MatchEntry(i, s) for i, s in sorted(valid.items())]
            start = time.perf_counter()
            grouped, stats = duplicate_groups(entries, matcher)
            dedup_s = time.perf_counter() - start
            print(
                f"duplicate search alone on the {len(valid)} valid structures: "
                f"{dedup_s:.2f} s, {stats.pairs_compared} comparisons, "
                f"{len(grouped)} groups"
            )

            found = {frozenset(g) for g in groups.values()}
            same = True
            if not args.skip_naive:
                start = time.perf_counter()
                naive, pairs = naive_groups(valid, matcher)
                naive_s = time.perf_counter() - start
                same = naive == found
                print(
                    f"naive all-pairs StructureMatcher: {naive_s:.1f} s for {pairs} "
                    f"pairs, {len(naive)} groups; identical groups: "
                    f"{'yes' if same else 'NO'}"
                )
                print(
                    f"ratio naive / duplicate search: {naive_s / dedup_s:.0f}x; "
                    f"naive / whole first build: {naive_s / build_s:.1f}x"
                )

            more = synthetic_relaxed(
                shared, args.add, seed=1, start=args.n, rattled=args.rattled
            )
            upsert_documents(
                factory.store("relaxed"), [d.model_dump() for d in more], "relaxed_id"
            )
            timed_build(factory, f"after adding {args.add}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
