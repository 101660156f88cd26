"""MongoDB-style queries over documents held in memory, column by column.

The OPTIMADE server turns a filter into a MongoDB query (optimade-python-tools'
``MongoTransformer``); this module answers such queries over a list of plain
documents without a database. mongomock, the library's own in-process backend,
evaluates every query document by document and copies each one, about two
seconds a query over 10,000 structures; here the common operators run on
per-field columns (numpy arrays and inverted indexes built on first use), a few
milliseconds over the same documents. Operators without a column form
(``$regex``, ``$elemMatch``, dotted paths, comparisons of strings or dates)
are evaluated document by document with MongoDB's rules.

MongoDB's rules kept here: a query on an array field matches when the array or
any of its elements matches; ``{"f": None}`` matches a missing field; ``$ne``,
``$nin`` and ``$not`` match documents without the field; comparisons match
values of the same type bracket only (numbers with numbers, never booleans);
sorting puts missing and null first, ascending, and compares arrays by their
smallest (ascending) or largest (descending) element.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

_MISSING = object()
"""A field absent from a document."""

_COMPARISONS = {"$gt", "$gte", "$lt", "$lte"}


class UnsupportedQueryError(ValueError):
    """The query uses an operator this engine does not implement."""


# -- values ---------------------------------------------------------------------
def _bracket(value: Any) -> int:
    """Return MongoDB's sort rank of a value's type (null first)."""
    if value is None or value is _MISSING:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, Mapping):
        return 4
    if isinstance(value, list | tuple):
        return 5
    if isinstance(value, datetime):
        return 9
    return 10


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _equal(x: Any, y: Any) -> bool:
    """Return whether two values are equal by MongoDB's rules."""
    bx, by = _bracket(x), _bracket(y)
    if bx != by:
        return False
    if bx == 9:
        return _utc(x) == _utc(y)
    if bx == 5:
        return len(x) == len(y) and all(_equal(a, b) for a, b in zip(x, y, strict=True))
    if bx == 4:
        return set(x) == set(y) and all(_equal(x[k], y[k]) for k in x)
    return bool(x == y)


def _compare(x: Any, op: str, y: Any) -> bool:
    """Return ``x op y`` for one comparison operator, same type bracket only."""
    if y is None:  # only $gte / $lte null match a null
        return op in {"$gte", "$lte"} and x is None
    bx = _bracket(x)
    if bx != _bracket(y) or bx not in {2, 3, 8, 9}:
        return False
    if bx == 9:
        x, y = _utc(x), _utc(y)
    if op == "$gt":
        return x > y
    if op == "$gte":
        return x >= y
    if op == "$lt":
        return x < y
    return x <= y


def _key(value: Any) -> tuple[str, Any] | None:
    """Return a hashable key under which equal values meet, or None."""
    if value is None:
        return ("z", None)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value)) if not math.isnan(value) else ("nan", None)
    if isinstance(value, str):
        return ("s", value)
    return None


def _resolve(doc: Mapping[str, Any], path: str) -> list[Any]:
    """Return the values a dotted path reaches in a document (empty: missing)."""
    reached: list[Any] = [doc]
    for part in path.split("."):
        nxt: list[Any] = []
        for value in reached:
            if isinstance(value, Mapping):
                if part in value:
                    nxt.append(value[part])
            elif isinstance(value, list):
                if part.isdigit():
                    index = int(part)
                    if index < len(value):
                        nxt.append(value[index])
                else:
                    nxt.extend(
                        e[part] for e in value if isinstance(e, Mapping) and part in e
                    )
        reached = nxt
    return reached


def _expanded(reached: Iterable[Any]) -> list[Any]:
    """Return the reached values and the elements of those that are arrays."""
    out: list[Any] = []
    for value in reached:
        out.append(value)
        if isinstance(value, list):
            out.extend(value)
    return out


# -- document-by-document evaluation (the reference) ----------------------------
def _is_operator_dict(cond: Any) -> bool:
    return (
        isinstance(cond, Mapping)
        and bool(cond)
        and all(isinstance(k, str) and k.startswith("$") for k in cond)
    )


def _value_matches(value: Any, cond: Any) -> bool:
    """Return whether one value (an array element) satisfies a condition."""
    if isinstance(cond, Mapping) and not _is_operator_dict(cond):
        return isinstance(value, Mapping) and match_document(value, cond)
    if not _is_operator_dict(cond):
        return _equal(value, cond)
    return all(_op_matches([value], op, arg) for op, arg in cond.items())


def _eq_op(reached: list[Any], arg: Any) -> bool:
    if arg is None and not reached:
        return True
    return any(_equal(v, arg) for v in _expanded(reached))


def _in_op(reached: list[Any], arg: Any) -> bool:
    return any(_eq_op(reached, a) for a in arg)


def _all_op(reached: list[Any], arg: Any) -> bool:
    return bool(arg) and all(_eq_op(reached, a) for a in arg)


def _regex_op(reached: list[Any], arg: Any) -> bool:
    pattern = re.compile(arg)
    return any(
        isinstance(v, str) and pattern.search(v) is not None for v in _expanded(reached)
    )


def _elem_match_op(reached: list[Any], arg: Any) -> bool:
    return any(
        isinstance(v, list) and any(_value_matches(e, arg) for e in v) for v in reached
    )


def _comparison(op: str) -> Any:
    def compare(reached: list[Any], arg: Any) -> bool:
        if arg is None and not reached:
            return op in {"$gte", "$lte"}
        return any(_compare(v, op, arg) for v in _expanded(reached))

    return compare


_OPERATORS = {
    "$exists": lambda reached, arg: bool(reached) == bool(arg),
    "$eq": _eq_op,
    "$ne": lambda reached, arg: not _eq_op(reached, arg),
    "$in": _in_op,
    "$nin": lambda reached, arg: not _in_op(reached, arg),
    "$size": lambda reached, arg: any(
        isinstance(v, list) and len(v) == arg for v in reached
    ),
    "$all": _all_op,
    "$regex": _regex_op,
    "$elemMatch": _elem_match_op,
    "$not": lambda reached, arg: not _field_matches(reached, arg),
    **{op: _comparison(op) for op in _COMPARISONS},
}
"""Operator -> test of a field's reached values against the operator's argument."""


def _op_matches(reached: list[Any], op: str, arg: Any) -> bool:
    """Return whether a field's reached values satisfy one operator."""
    test = _OPERATORS.get(op)
    if test is None:
        raise UnsupportedQueryError(f"query operator {op} is not supported")
    return bool(test(reached, arg))


def _field_matches(reached: list[Any], cond: Any) -> bool:
    if not _is_operator_dict(cond):
        return _op_matches(reached, "$eq", cond)
    return all(_op_matches(reached, op, arg) for op, arg in cond.items())


def match_document(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Return whether a document matches a MongoDB query (document by document).

    Parameters
    ----------
    doc
        A plain document.
    query
        A MongoDB query with the operators OPTIMADE filters produce.

    Raises
    ------
    UnsupportedQueryError
        If the query uses another operator.
    """
    for key, cond in query.items():
        if key == "$and":
            if not all(match_document(doc, q) for q in cond):
                return False
        elif key == "$or":
            if not any(match_document(doc, q) for q in cond):
                return False
        elif key == "$nor":
            if any(match_document(doc, q) for q in cond):
                return False
        elif key.startswith("$"):
            raise UnsupportedQueryError(f"query operator {key} is not supported")
        elif not _field_matches(_resolve(doc, key), cond):
            return False
    return True


# -- columns ----------------------------------------------------------------------
@dataclass
class _Column:
    """One top-level field of every document, in forms that answer fast."""

    values: list[Any]
    present: np.ndarray
    has_lists: bool
    numbers: np.ndarray  # float, NaN where the value is not a number
    lengths: np.ndarray  # array length, -1 where the value is not an array
    only_numbers: bool  # every value a number, null or missing
    postings: dict[tuple[str, Any], np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, docs: Sequence[Mapping[str, Any]], name: str) -> _Column:
        values = [d.get(name, _MISSING) for d in docs]
        n = len(values)
        present = np.fromiter((v is not _MISSING for v in values), bool, n)
        numbers = np.fromiter(
            (
                float(v)
                if isinstance(v, int | float) and not isinstance(v, bool)
                else math.nan
                for v in values
            ),
            float,
            n,
        )
        lengths = np.fromiter(
            (len(v) if isinstance(v, list) else -1 for v in values), int, n
        )
        nulls = sum(v is None or v is _MISSING for v in values)
        postings: dict[tuple[str, Any], list[int]] = {}
        for i, value in enumerate(values):
            if value is _MISSING:
                continue
            items = [value, *value] if isinstance(value, list) else [value]
            for item in items:
                key = _key(item)
                if key is not None:
                    rows = postings.setdefault(key, [])
                    if not rows or rows[-1] != i:
                        rows.append(i)
        masks = {}
        for key, rows in postings.items():
            mask = np.zeros(n, bool)
            mask[rows] = True
            masks[key] = mask
        return cls(
            values=values,
            present=present,
            has_lists=bool((lengths >= 0).any()),
            numbers=numbers,
            lengths=lengths,
            only_numbers=int(np.isnan(numbers).sum()) == nulls,
            postings=masks,
        )

    def equal(self, arg: Any) -> np.ndarray | None:
        """Mask of documents whose field equals ``arg`` (None: no fast form)."""
        key = _key(arg)
        if key is None or key[0] == "nan":
            return None
        mask = self.postings.get(key)
        mask = np.zeros(len(self.values), bool) if mask is None else mask.copy()
        if arg is None:
            mask |= ~self.present
        return mask

    def compare(self, op: str, arg: Any) -> np.ndarray | None:
        """Mask of documents whose number satisfies ``op arg`` (None: no fast form)."""
        if self.has_lists or isinstance(arg, bool) or not isinstance(arg, int | float):
            return None
        with np.errstate(invalid="ignore"):
            if op == "$gt":
                return self.numbers > arg
            if op == "$gte":
                return self.numbers >= arg
            if op == "$lt":
                return self.numbers < arg
            return self.numbers <= arg


# -- the engine -------------------------------------------------------------------
class MemoryQueryEngine:
    """Answer MongoDB-style queries over documents held in memory.

    Parameters
    ----------
    docs
        The documents (plain dicts; ``_id`` is dropped). They are not copied
        and must not change while the engine serves them.
    """

    def __init__(self, docs: Iterable[Mapping[str, Any]]) -> None:
        self._docs: list[dict[str, Any]] = [
            {k: v for k, v in d.items() if k != "_id"} for d in docs
        ]
        self._columns: dict[str, _Column] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def extend(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Add documents (the columns are rebuilt on the next query)."""
        self._docs.extend({k: v for k, v in d.items() if k != "_id"} for d in docs)
        self._columns.clear()

    def _column(self, name: str) -> _Column:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = _Column.build(self._docs, name)
        return column

    # -- filtering ---------------------------------------------------------
    def _slow(self, path: str, cond: Any) -> np.ndarray:
        return np.fromiter(
            (_field_matches(_resolve(d, path), cond) for d in self._docs),
            bool,
            len(self._docs),
        )

    def _op_mask(self, path: str, op: str, arg: Any) -> np.ndarray:
        fast: np.ndarray | None = None
        if "." not in path:
            column = self._column(path)
            if op == "$exists":
                fast = column.present.copy() if arg else ~column.present
            elif op == "$eq":
                fast = column.equal(arg)
            elif op == "$ne":
                eq = column.equal(arg)
                fast = None if eq is None else ~eq
            elif op in {"$in", "$nin", "$all"} and isinstance(arg, list):
                masks = [column.equal(a) for a in arg]
                if all(m is not None for m in masks):
                    n = len(self._docs)
                    if op == "$all":
                        fast = (
                            np.zeros(n, bool)
                            if not masks
                            else np.logical_and.reduce(masks)
                        )
                    else:
                        found = (
                            np.logical_or.reduce(masks) if masks else np.zeros(n, bool)
                        )
                        fast = found if op == "$in" else ~found
            elif op in _COMPARISONS:
                fast = column.compare(op, arg)
            elif op == "$size" and isinstance(arg, int) and not isinstance(arg, bool):
                fast = column.lengths == arg
            elif op == "$not":
                fast = ~self._field_mask(path, arg)
        if fast is not None:
            return fast
        return self._slow(path, {op: arg})

    def _field_mask(self, path: str, cond: Any) -> np.ndarray:
        if not _is_operator_dict(cond):
            return self._op_mask(path, "$eq", cond)
        mask = np.ones(len(self._docs), bool)
        for op, arg in cond.items():
            mask &= self._op_mask(path, op, arg)
        return mask

    def mask(self, query: Mapping[str, Any]) -> np.ndarray:
        """Return the boolean mask of the documents a query matches.

        Raises
        ------
        UnsupportedQueryError
            If the query uses an operator this engine does not implement.
        """
        n = len(self._docs)
        mask = np.ones(n, bool)
        for key, cond in query.items():
            if key == "$and":
                for q in cond:
                    mask &= self.mask(q)
            elif key in {"$or", "$nor"}:
                found = np.zeros(n, bool)
                for q in cond:
                    found |= self.mask(q)
                mask &= found if key == "$or" else ~found
            elif key.startswith("$"):
                raise UnsupportedQueryError(f"query operator {key} is not supported")
            else:
                mask &= self._field_mask(key, cond)
        return mask

    def count(self, query: Mapping[str, Any] | None = None) -> int:
        """Return how many documents a query matches."""
        if not query:
            return len(self._docs)
        return int(self.mask(query).sum())

    # -- sorting and paging ------------------------------------------------
    def _sort_key(self, value: Any, descending: bool) -> tuple[int, Any]:
        if isinstance(value, list):
            if not value:
                return (0, 0)
            keys = [self._sort_key(v, descending) for v in value]
            return max(keys) if descending else min(keys)
        bracket = _bracket(value)
        if bracket == 1:
            return (1, 0)
        if bracket == 9:
            return (9, _utc(value).timestamp())
        if bracket in {2, 3, 8}:
            return (bracket, value)
        return (bracket, repr(value))

    def _order(self, rows: np.ndarray, sort: Sequence[tuple[str, int]]) -> np.ndarray:
        """Return the matching rows in sort order (stable: ties keep their order)."""
        if all("." not in name for name, _ in sort):
            columns = [(self._column(name), direction) for name, direction in sort]
            if all(c.only_numbers for c, _ in columns):
                # numbers and nulls only: numpy's lexsort (last key first)
                keys = []
                for column, direction in reversed(columns):
                    values = column.numbers[rows]
                    null = np.isnan(values)
                    values = np.where(null, 0.0, values)
                    rank = np.where(null, 0, 1)
                    if direction < 0:
                        values, rank = -values, -rank
                    keys += [values, rank]
                return rows[np.lexsort(keys)]
        order = list(rows)
        for name, direction in reversed(sort):
            descending = direction < 0

            def key(i: int, name: str = name, descending: bool = descending) -> Any:
                reached = _resolve(self._docs[i], name)
                value = reached[0] if len(reached) == 1 else (reached or None)
                return self._sort_key(value, descending)

            order.sort(key=key, reverse=descending)
        return np.asarray(order, dtype=int)

    def find(
        self,
        query: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> list[dict[str, Any]]:
        """Return the matching documents, sorted, paged and projected.

        Parameters
        ----------
        query
            A MongoDB query (None or empty: every document).
        projection
            ``{field: True}`` of the top-level fields to return (None: all).
        sort
            ``[(field, 1 or -1), ...]``, most significant first.
        skip, limit
            Documents to skip, and the most to return (0: no limit).

        Returns
        -------
        list of dict
            Shallow copies of the documents.
        """
        return self.find_counted(query, projection, sort, skip, limit)[0]

    def find_counted(
        self,
        query: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Return :meth:`find`'s documents and how many match in all."""
        n = len(self._docs)
        rows = np.flatnonzero(self.mask(query)) if query else np.arange(n)
        total = len(rows)
        if sort:
            rows = self._order(rows, sort)
        rows = rows[skip:] if skip else rows
        if limit:
            rows = rows[:limit]
        keep = None
        if projection:
            keep = [k for k, v in projection.items() if v and k != "_id"]
        out = []
        for i in rows:
            doc = self._docs[int(i)]
            if keep is None:
                out.append(dict(doc))
            else:
                out.append({k: doc[k] for k in keep if k in doc})
        return out, total
