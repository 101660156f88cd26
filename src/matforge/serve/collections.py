"""The structures collection the OPTIMADE server reads: in memory or on MongoDB.

Both are optimade-python-tools ``EntryCollection``s, so the library's routers,
filter grammar, response models and error handling serve them unchanged. What
they add:

- the translation of a filter (the grammar's Earley parse, about 6 ms) is
  kept per filter text, so a repeated query is not parsed again; and the parse
  tree is kept per filter *shape* (the text with its string and number
  literals taken out, :func:`filter_shape`), so ``score > 0.012`` after
  ``score > 0.011`` reuses the tree with the new number put in. Filters whose
  translation warns are translated afresh each time, so the warning reaches
  every response;
- boolean values (``_matforge_is_novel = TRUE``): the v1.2 grammar has them,
  but the library's transformer has no rule for them (its parse drops the
  TRUE / FALSE token); :class:`BooleanParser` puts the value back;
- an id that no entry has gets OPTIMADE's 404 error response instead of an
  empty ``data``;
- :meth:`entry` returns one stored entry by id for the page's downloads.

:class:`MemoryStructures` answers from documents held in memory through
:class:`~matforge.serve.memory.MemoryQueryEngine` (the embedded and memory
stores); :class:`MongoStructures` queries the matforge database's
``optimade_structures`` collection on a MongoDB server directly.
"""

from __future__ import annotations

import copy
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lark import Lark, Token, Tree
from optimade.exceptions import NotFound
from optimade.filterparser import LarkParser
from optimade.filterparser.lark_parser import AVAILABLE_PARSERS
from optimade.filtertransformers.mongo import MongoTransformer
from optimade.server.entry_collections import EntryCollection
from optimade.server.entry_collections.mongo import MongoCollection
from optimade.server.query_params import SingleEntryQueryParams

from matforge.serve.memory import MemoryQueryEngine

if TYPE_CHECKING:
    from optimade.models import EntryResource
    from optimade.server.config import ServerConfig
    from optimade.server.mappers import BaseResourceMapper
    from pymongo.collection import Collection

_CACHED_FILTERS = 512
_SINGLE_ID = re.compile(r'^id="(?P<id>.*)"$', re.DOTALL)
_LITERAL = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # a string, escapes included
    r"|(?<![\w.])[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.])"  # a number
)
_LITERAL_TOKENS = {"ESCAPED_STRING": "s", "SIGNED_FLOAT": "f", "SIGNED_INT": "i"}


def _literal_kind(literal: str) -> str:
    if literal.startswith('"'):
        return "s"
    return "f" if any(c in literal for c in ".eE") else "i"


def filter_shape(text: str) -> tuple[str, list[str]]:
    """Return a filter with its literals taken out, and the literals in order.

    ``_matforge_storage_score > 0.01 AND elements HAS "H"`` has the shape
    ``_matforge_storage_score > <f> AND elements HAS <s>`` and the literals
    ``["0.01", '"H"']``. Digits inside names (``_matforge_x1``) are not
    literals. Two filters of one shape parse into the same tree but for the
    literal tokens.
    """
    literals: list[str] = []

    def mark(match: re.Match[str]) -> str:
        literals.append(match.group(0))
        return f"\x00{_literal_kind(match.group(0))}"

    return _LITERAL.sub(mark, text), literals


def _literal_tokens(tree: Any) -> list[Token]:
    """Return the string and number tokens of a parse tree, in text order."""
    out: list[Token] = []
    if isinstance(tree, Token):
        if tree.type in _LITERAL_TOKENS:
            out.append(tree)
    elif isinstance(tree, Tree):
        for child in tree.children:
            out.extend(_literal_tokens(child))
    return out


def _with_literals(tree: Any, literals: list[str]) -> Any:
    """Return a copy of ``tree`` whose literal tokens hold ``literals``."""
    values = iter(literals)

    def copy_of(node: Any) -> Any:
        if isinstance(node, Token):
            if node.type in _LITERAL_TOKENS:
                return Token(node.type, next(values))
            return node
        if isinstance(node, Tree):
            return Tree(node.data, [copy_of(c) for c in node.children], node._meta)
        return node

    return copy_of(tree)


class BooleanParser(LarkParser):
    """optimade's filter parser, with TRUE and FALSE read into Python booleans.

    The grammar's ``bool`` rule matches anonymous tokens, which the parse tree
    drops; parsed with positions, each ``bool`` node is replaced by the value
    its text spells, which the transformer's ``value`` rule passes on.
    """

    def __init__(self) -> None:
        super().__init__()
        grammar = Path(AVAILABLE_PARSERS[self.version][self.variant])
        with grammar.open(encoding="utf-8") as handle:
            self.lark = Lark(handle, maybe_placeholders=False, propagate_positions=True)

    def parse(self, filter_: str) -> Tree:
        """Parse a filter; raise optimade's BadRequest if it is malformed."""
        tree = super().parse(filter_)
        self._booleans(tree, filter_)
        return tree

    @classmethod
    def _booleans(cls, tree: Tree, text: str) -> None:
        for i, child in enumerate(tree.children):
            if not isinstance(child, Tree):
                continue
            if child.data == "bool":
                spelled = text[child.meta.start_pos : child.meta.end_pos]
                tree.children[i] = spelled.strip() == "TRUE"
            else:
                cls._booleans(child, text)


class _Served:
    """What both structures collections add to optimade's collections."""

    parser: Any
    transformer: Any

    def _init_cache(self) -> None:
        self.parser = BooleanParser()
        self._filters: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._shapes: OrderedDict[str, Tree] = OrderedDict()
        self._lock = threading.Lock()

    def _tree_of_shape(self, shape: str, literals: list[str]) -> Tree | None:
        with self._lock:
            template = self._shapes.get(shape)
            if template is None:
                return None
            self._shapes.move_to_end(shape)
        return _with_literals(template, literals)

    def _keep_shape(self, shape: str, literals: list[str], tree: Tree) -> None:
        """Keep a parse tree as its shape's template if its literals line up."""
        tokens = _literal_tokens(tree)
        if [t.value for t in tokens] != literals or any(
            _LITERAL_TOKENS[t.type] != _literal_kind(t.value) for t in tokens
        ):
            return  # the scan and the grammar disagree: parse such filters anew
        with self._lock:
            self._shapes[shape] = tree
            while len(self._shapes) > _CACHED_FILTERS:
                self._shapes.popitem(last=False)

    def _translate(self, text: str) -> dict[str, Any]:
        """Return the MongoDB query of an OPTIMADE filter, parsed once per shape."""
        with self._lock:
            query = self._filters.get(text)
            if query is not None:
                self._filters.move_to_end(text)
                return copy.deepcopy(query)
        shape, literals = filter_shape(text)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tree = self._tree_of_shape(shape, literals)
            parsed = tree is None
            if tree is None:
                tree = self.parser.parse(text)
            query = self.transformer.transform(tree)
        for w in caught:  # hand them on to the response's meta.warnings
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if not caught:
            if parsed:
                self._keep_shape(shape, literals, tree)
            with self._lock:
                self._filters[text] = copy.deepcopy(query)
                while len(self._filters) > _CACHED_FILTERS:
                    self._filters.popitem(last=False)
        return query

    def handle_query_params(self, params: Any) -> dict[str, Any]:
        """Turn the query parameters into a query, reusing known filters."""
        text = getattr(params, "filter", None)
        if not text:
            return super().handle_query_params(params)  # type: ignore[misc]
        query = self._translate(text)
        unfiltered = copy.copy(params)
        unfiltered.filter = ""
        criteria = super().handle_query_params(unfiltered)  # type: ignore[misc]
        criteria["filter"] = query
        return criteria

    def find(self, params: Any) -> Any:
        """Run a query; an id no entry has is OPTIMADE's 404 Not Found."""
        found = super().find(params)  # type: ignore[misc]
        if isinstance(params, SingleEntryQueryParams) and found[0] is None:
            match = _SINGLE_ID.match(getattr(params, "filter", "") or "")
            what = f"id {match['id']!r}" if match else "this id"
            raise NotFound(detail=f"no structures entry has {what}")
        return found


def _utc(doc: dict[str, Any]) -> dict[str, Any]:
    when = doc.get("last_modified")
    if isinstance(when, datetime) and when.tzinfo is None:
        doc["last_modified"] = when.replace(tzinfo=UTC)
    return doc


class MemoryStructures(_Served, EntryCollection):
    """OPTIMADE structures served from documents held in memory (read-only).

    Parameters
    ----------
    docs
        The entries, as the ``optimade_structures`` collection stores them.
    resource_cls, resource_mapper, config
        As optimade-python-tools' collections take them.
    """

    def __init__(
        self,
        docs: Iterable[Mapping[str, Any]],
        resource_cls: type[EntryResource],
        resource_mapper: BaseResourceMapper,
        config: ServerConfig,
    ) -> None:
        super().__init__(
            resource_cls,
            resource_mapper,
            MongoTransformer(mapper=resource_mapper),
            config,
        )
        self._init_cache()
        self.engine = MemoryQueryEngine(_utc(dict(d)) for d in docs)
        self._by_id = {d["id"]: i for i, d in enumerate(self.engine.find())}

    def __len__(self) -> int:
        return len(self.engine)

    def insert(self, data: list[Any]) -> None:
        """Add entries (optimade's test-data loader; matforge never calls it)."""
        self.engine.extend(_utc(dict(d)) for d in data)
        self._by_id = {d["id"]: i for i, d in enumerate(self.engine.find())}

    def count(self, **kwargs: Any) -> int:
        """Return the number of entries a ``filter`` matches."""
        return self.engine.count(kwargs.get("filter"))

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        """Return the stored entry with this id, or None."""
        if entry_id not in self._by_id:
            return None
        return self.engine.find({"id": entry_id}, limit=1)[0]

    def _run_db_query(
        self, criteria: dict[str, Any], single_entry: bool = False
    ) -> tuple[list[dict[str, Any]], int | None, bool]:
        if "page_above" in criteria:
            raise NotImplementedError("`page_above` is not implemented here.")
        query = criteria.get("filter") or {}
        skip = int(criteria.get("skip") or 0)
        limit = int(criteria.get("limit") or 0)
        results, returned = self.engine.find_counted(
            query,
            projection=criteria.get("projection"),
            sort=list(criteria.get("sort") or []),
            skip=skip,
            limit=limit,
        )
        if single_entry:
            return results, len(results), False
        return results, returned, skip + len(results) < returned


class MongoStructures(_Served, MongoCollection):
    """OPTIMADE structures served from a MongoDB collection (read-only).

    Parameters
    ----------
    collection
        The pymongo collection of the entries (matforge's store factory makes
        the client: credentials and timeouts are its settings).
    resource_cls, resource_mapper, config
        As optimade-python-tools' collections take them.
    """

    def __init__(
        self,
        collection: Collection,
        resource_cls: type[EntryResource],
        resource_mapper: BaseResourceMapper,
        config: ServerConfig,
    ) -> None:
        # MongoCollection.__init__ would open a client of its own from a URI in
        # the config; the collection here comes from matforge's store factory
        EntryCollection.__init__(
            self,
            resource_cls,
            resource_mapper,
            MongoTransformer(mapper=resource_mapper),
            config,
        )
        self._init_cache()
        self.collection = collection

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        """Return the stored entry with this id, or None."""
        doc = self.collection.find_one({"id": entry_id}, {"_id": 0})
        return None if doc is None else _utc(doc)

    def _run_db_query(
        self, criteria: dict[str, Any], single_entry: bool = False
    ) -> tuple[list[dict[str, Any]], int | None, bool]:
        results, returned, more = super()._run_db_query(criteria, single_entry)
        # pymongo gives naive datetimes back: they are UTC
        return [_utc(doc) for doc in results], returned, more
