"""Pydantic documents, one per collection."""

from matforge.schemas.common import BuildMeta, StructureType
from matforge.schemas.features import HydrideFeatures
from matforge.schemas.generator import GeneratedDoc, ModelDoc
from matforge.schemas.hydride import HydrideDoc
from matforge.schemas.reject import RejectDoc

__all__ = [
    "BuildMeta",
    "GeneratedDoc",
    "HydrideDoc",
    "HydrideFeatures",
    "ModelDoc",
    "RejectDoc",
    "StructureType",
]
