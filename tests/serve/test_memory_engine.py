"""The in-memory query engine answers as MongoDB would (mongomock as the judge)."""

from __future__ import annotations

import mongomock
import pytest
from optimade.filtertransformers.mongo import MongoTransformer
from serve_helpers import candidate_docs, hydride_docs, shared_dir

from matforge.builders.optimade import candidate_to_optimade, hydride_to_optimade
from matforge.serve.collections import BooleanParser
from matforge.serve.memory import (
    MemoryQueryEngine,
    UnsupportedQueryError,
    match_document,
)

FILTERS = [
    'elements HAS "H"',
    'elements HAS ALL "H","Li"',
    'elements HAS ANY "Mg","Ti","Zr"',
    'elements HAS ONLY "H","Li","Mg","Na"',
    'NOT elements HAS "Mg"',
    "nelements >= 3",
    "nelements = 2 OR _matforge_storage_score < 0.01",
    "elements LENGTH 2",
    "elements LENGTH > 2",
    "nsites <= 6 AND NOT nsites = 4",
    "_matforge_storage_score > 0.01",
    'elements HAS "H" AND _matforge_storage_score > 0.01',
    "_matforge_storage_score != 0.02",
    "_matforge_e_above_hull IS KNOWN",
    "_matforge_e_above_hull IS UNKNOWN",
    "_matforge_formation_energy_dft_per_atom IS UNKNOWN",
    "NOT _matforge_e_above_hull <= 0.02",
    "_matforge_is_novel = TRUE",
    "_matforge_is_novel = FALSE",
    "_matforge_is_stable != TRUE",
    '_matforge_kind = "hydride"',
    '_matforge_kind = "candidate" AND _matforge_is_stable = TRUE',
    'chemical_formula_reduced STARTS WITH "H"',
    'chemical_formula_reduced CONTAINS "Mg"',
    'chemical_formula_anonymous = "A2B"',
    'id = "mp-38011"',
    '_matforge_known_id IS KNOWN AND _matforge_kind = "candidate"',
    'species_at_sites HAS "H" AND nelements < 4',
    'last_modified > "2025-03-01T12:05:00Z"',
    '(elements HAS "Li" OR elements HAS "Na") AND NOT _matforge_is_novel = TRUE',
]

SORTS = [
    [("storage_score", -1)],
    [("storage_score", 1)],
    [("e_above_hull", 1), ("storage_score", -1)],
    [("nelements", 1), ("nsites", -1)],
    [("chemical_formula_reduced", 1)],
    [("is_novel", -1), ("id", 1)],
    [("last_modified", -1)],
]


@pytest.fixture(scope="module")
def entries():
    shared = shared_dir()
    docs = [
        candidate_to_optimade(d)
        for d in candidate_docs(shared, 60)
        if d["status"] == "candidate"
    ]
    docs += [hydride_to_optimade(d) for d in hydride_docs(shared, 40)]
    return docs


@pytest.fixture(scope="module")
def translate():
    from optimade.server.mappers import StructureMapper

    from matforge.serve.config import server_config
    from matforge.settings import load_settings

    mapper = StructureMapper(server_config(load_settings()))
    parser, transformer = BooleanParser(), MongoTransformer(mapper=mapper)
    return lambda text: transformer.transform(parser.parse(text))


@pytest.fixture(scope="module")
def judge(entries):
    collection = mongomock.MongoClient().db.entries
    collection.insert_many([dict(d) for d in entries])
    return collection


@pytest.mark.parametrize("text", FILTERS)
def test_filters_match_what_mongodb_matches(text, entries, translate, judge):
    query = translate(text)
    engine = MemoryQueryEngine(entries)
    expected = [d["id"] for d in judge.find(query)]
    assert [d["id"] for d in engine.find(query)] == expected
    assert engine.count(query) == len(expected)
    # the document-by-document reference agrees too
    assert [d["id"] for d in entries if match_document(d, query)] == expected


def test_some_filters_select_something_and_some_not_everything(entries, translate):
    engine = MemoryQueryEngine(entries)
    counts = [engine.count(translate(t)) for t in FILTERS]
    assert sum(0 < c < len(entries) for c in counts) > len(FILTERS) // 2


@pytest.mark.parametrize("sort", SORTS)
def test_sorts_match_mongodb_on_scalar_fields(sort, entries, judge):
    engine = MemoryQueryEngine(entries)
    got = [d["id"] for d in engine.find({}, sort=sort)]
    key_fields = [name for name, _ in sort]

    def keys(ids):
        by_id = {d["id"]: d for d in entries}
        return [tuple(by_id[i].get(f) for f in key_fields) for i in ids]

    expected = [d["id"] for d in judge.find({}, sort=sort)]
    # ties may come in any order: the sequences of sort keys must agree
    assert keys(got) == keys(expected)


def test_arrays_sort_by_their_smallest_or_largest_element():
    docs = [{"id": "a", "v": [5, 1]}, {"id": "b", "v": [3]}, {"id": "c", "v": [2, 9]}]
    engine = MemoryQueryEngine(docs)
    assert [d["id"] for d in engine.find({}, sort=[("v", 1)])] == ["a", "c", "b"]
    assert [d["id"] for d in engine.find({}, sort=[("v", -1)])] == ["c", "a", "b"]


def test_projection_skip_and_limit(entries):
    engine = MemoryQueryEngine(entries)
    page = engine.find(
        {},
        projection={"id": True, "nsites": True, "_id": False},
        sort=[("id", 1)],
        skip=3,
        limit=4,
    )
    ids = sorted(d["id"] for d in entries)
    assert [d["id"] for d in page] == ids[3:7]
    assert all(set(d) == {"id", "nsites"} for d in page)


def test_results_are_copies(entries):
    engine = MemoryQueryEngine(entries)
    first = engine.find({}, limit=1)[0]
    first["id"] = "changed"
    assert engine.find({}, limit=1)[0]["id"] != "changed"


def test_booleans_are_not_numbers():
    engine = MemoryQueryEngine([{"id": "t", "x": True}, {"id": "one", "x": 1}])
    assert [d["id"] for d in engine.find({"x": True})] == ["t"]
    assert [d["id"] for d in engine.find({"x": 1})] == ["one"]
    assert [d["id"] for d in engine.find({"x": {"$gte": 0}})] == ["one"]


def test_an_unknown_operator_is_refused():
    engine = MemoryQueryEngine([{"id": "a", "x": 1}])
    with pytest.raises(UnsupportedQueryError, match=r"\$where"):
        engine.find({"$where": "1"})
    with pytest.raises(UnsupportedQueryError, match=r"\$mod"):
        engine.find({"x": {"$mod": [2, 0]}})


def _shifted(text: str) -> str:
    """The same filter with other literals: numbers moved, strings renamed."""
    import re

    from matforge.serve.collections import filter_shape

    _, literals = filter_shape(text)
    values = iter(literals)

    def other(match: re.Match[str]) -> str:
        old = next(values)
        if old.startswith('"2025-'):  # a time stamp stays one
            return old.replace("-01T", "-02T")
        if old.startswith('"'):
            return '"Zr"' if old != '"Zr"' else '"Li"'
        if any(c in old for c in ".eE"):
            return repr(float(old) + 0.005)
        return str(int(old) + 1)

    from matforge.serve.collections import _LITERAL

    return _LITERAL.sub(other, text)


def test_a_filter_of_a_known_shape_is_not_parsed_again(translate):
    from optimade.models import StructureResource
    from optimade.server.mappers import StructureMapper

    from matforge.serve.collections import MemoryStructures
    from matforge.serve.config import server_config
    from matforge.settings import load_settings

    config = server_config(load_settings())
    served = MemoryStructures([], StructureResource, StructureMapper(config), config)
    parses = []
    parse = served.parser.parse
    served.parser.parse = lambda text: parses.append(text) or parse(text)
    extra = ["nelements=-2 OR nsites>1e1", '_matforge_kind="x\\"1.5"']
    for text in [*FILTERS, *extra]:
        again = _shifted(text)
        assert served._translate(text) == translate(text), text
        assert served._translate(again) == translate(again), again
        if again != text:  # (one without literals is its own, cached, text)
            assert again not in parses, again  # its shape's tree was reused
    assert len(parses) == len(FILTERS) + len(extra)
    assert (
        _shifted("_matforge_storage_score > 0.01") == "_matforge_storage_score > 0.015"
    )
