"""Pieces shared by every document: structures, build metadata, time stamps."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer
from pymatgen.core import Structure

from matforge import __version__

_TRACKED_PACKAGES = ("pymatgen", "maggma", "jobflow", "pydantic", "numpy")


def _to_structure(value: Any) -> Structure:
    if isinstance(value, Structure):
        return value
    if isinstance(value, dict):
        return Structure.from_dict(value)
    raise TypeError(f"expected a pymatgen Structure or its dict, got {type(value)}")


StructureType = Annotated[
    Structure,
    BeforeValidator(_to_structure),
    PlainSerializer(lambda s: s.as_dict(), return_type=dict),
]
"""A pymatgen ``Structure`` stored as its ``as_dict()``."""


def utcnow() -> datetime:
    """Return the current time in UTC (the time stamp of every document)."""
    return datetime.now(UTC)


@cache
def _versions(extra: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    versions = {"matforge": __version__, "python": platform.python_version()}
    for name in (*_TRACKED_PACKAGES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(versions.items())


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Return the versions of matforge and the packages that shape its results."""
    return dict(_versions(tuple(extra)))


def content_hash(payload: Any) -> str:
    """Return a stable SHA-1 of a JSON-able payload (sorted keys)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class BuildMeta(BaseModel):
    """How a document was made: code versions, inputs, settings and date."""

    versions: dict[str, str] = Field(
        default_factory=package_versions,
        description="Versions of matforge, Python and the packages behind the result.",
    )
    inputs: list[str] = Field(
        default_factory=list,
        description="Where the inputs came from (files, API endpoints, collections).",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="The settings that shaped the result (secrets never included).",
    )
    created_at: datetime = Field(
        default_factory=utcnow, description="When the document was made (UTC)."
    )
