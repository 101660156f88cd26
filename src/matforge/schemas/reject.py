"""A record that could not be ingested, and why."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from matforge.schemas.common import content_hash, utcnow

SNIPPET_LENGTH = 200


class RejectDoc(BaseModel):
    """An input that was not ingested, with a reason a person understands."""

    reject_id: str = Field(
        description="Stable id from the input and the reason; re-ingesting the same "
        "bad input updates this document instead of adding another."
    )
    input: str = Field(
        description="The input: a file path, with the record inside it where the "
        "file holds several (`file.json[3]`, `train.csv:row 7`)."
    )
    reason: str = Field(description="Why the input was rejected.")
    file: str | None = Field(
        default=None,
        description="The file the input came from (None for inputs that are not "
        "files, e.g. the Materials Project API or a proposal).",
    )
    snippet: str = Field(
        default="",
        description=f"The first {SNIPPET_LENGTH} characters of the offending input.",
    )
    source: str = Field(
        default="files", description="The ingest source (files, mp, ...)."
    )
    stage: str = Field(
        default="ingest", description="The stage that rejected it (ingest, relax, ...)."
    )
    time: datetime = Field(
        default_factory=utcnow, description="When it was rejected (UTC)."
    )

    @classmethod
    def from_input(
        cls,
        input: str,
        reason: str,
        snippet: str = "",
        source: str = "files",
        stage: str = "ingest",
        file: str | None = None,
    ) -> RejectDoc:
        """Build a reject whose id is derived from the input, reason and stage."""
        text = snippet if isinstance(snippet, str) else repr(snippet)
        text = text[:SNIPPET_LENGTH]
        return cls(
            reject_id=content_hash([stage, input, reason])[:16],
            input=input,
            reason=reason,
            snippet=text,
            source=source,
            stage=stage,
            file=file,
        )
