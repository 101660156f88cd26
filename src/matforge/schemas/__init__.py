"""Pydantic documents, one per collection."""

from matforge.schemas.common import BuildMeta, StructureType
from matforge.schemas.features import HydrideFeatures
from matforge.schemas.hydride import HydrideDoc
from matforge.schemas.reject import RejectDoc

__all__ = ["BuildMeta", "HydrideDoc", "HydrideFeatures", "RejectDoc", "StructureType"]
