"""Materials Project source: every metal hydride, through the mp-api client.

The summary endpoint is asked (server side) for the materials that contain
hydrogen; the ones without a metal are dropped here, silently. ``mp_api`` (slow
to import) is imported only when records are fetched; importing this module has
no side effects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from pymatgen.core import Composition, Structure

from matforge.core.chemistry import is_metal_hydride
from matforge.data.records import RawRecord
from matforge.errors import MatforgeError

PROVENANCE = "materials-project (mp-api)"
LICENCE = "CC-BY-4.0 (Materials Project)"
ENERGY_SOURCE = "Materials Project GGA/GGA+U, MP2020-corrected"
FIELDS = (
    "material_id",
    "formula_pretty",
    "structure",
    "formation_energy_per_atom",
    "energy_above_hull",
    "band_gap",
)
"""Fields asked for; the space group is computed here, like for every source."""
KEY_HINT = "set MP_API_KEY or MATFORGE_MP_API_KEY"
#: (connect, read) seconds for the reachability check; mp-api's own first
#: request (``/heartbeat``) has no timeout, so an unreachable host is found here.
TIMEOUT = (10.0, 30.0)


class MaterialsProjectError(MatforgeError):
    """The Materials Project API gave an error or an answer that makes no sense."""


class MaterialsProjectAuthError(MaterialsProjectError):
    """The API key is missing, malformed or rejected (HTTP 401/403)."""


class MaterialsProjectUnreachableError(MaterialsProjectError):
    """The Materials Project API could not be reached."""


def mp_records(
    api_key: str,
    page_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> Iterator[RawRecord]:
    """Yield every Materials Project material that holds H and at least one metal.

    The arguments are checked at once; the download starts when the first
    record is asked for, and all pages are fetched before the first is yielded
    (mp-api pages internally).

    Parameters
    ----------
    api_key
        The Materials Project API key (32 characters). It is sent in the
        ``x-api-key`` header and never written into a message.
    page_size
        Materials per request (mp-api's ``chunk_size``; the server allows 1000).
    progress
        Called with the number of materials received after each page, metal
        hydrides or not.

    Returns
    -------
    Iterator[RawRecord]
        One record per metal hydride, ``input`` being ``mp-api:<material_id>``;
        a material whose structure cannot be read is a failed record.

    Raises
    ------
    MaterialsProjectAuthError
        No key, a malformed key, or a key the API rejects.
    MaterialsProjectUnreachableError
        The API cannot be reached (no network, DNS, firewall, timeout).
    MaterialsProjectError
        Any other error answer of the API.
    """
    key = (api_key or "").strip()
    if not key:
        raise MaterialsProjectAuthError(f"no Materials Project API key: {KEY_HINT}")
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    return _records(key, page_size, progress)


def _records(
    api_key: str, page_size: int, progress: Callable[[int], None] | None
) -> Iterator[RawRecord]:
    for doc in _download(api_key, page_size, progress):
        record = _record(doc)
        if record is not None:
            yield record


def _download(
    api_key: str,
    page_size: int,
    progress: Callable[[int], None] | None,
    fields: tuple[str, ...] = FIELDS,
    **criteria: Any,
) -> list[dict[str, Any]]:
    """Return the summary documents that match (default: every material with H)."""
    import requests
    from mp_api.client import MPRester
    from mp_api.client.core import MPRestError
    from mp_api.client.core.settings import MAPI_CLIENT_SETTINGS
    from mp_api.client.core.utils import validate_api_key

    endpoint = MAPI_CLIENT_SETTINGS.ENDPOINT
    host = urlsplit(endpoint).hostname or endpoint
    try:
        validate_api_key(api_key)  # mp-api's own format check, offline
        requests.get(f"{endpoint.rstrip('/')}/heartbeat", timeout=TIMEOUT).close()
        with MPRester(
            api_key, mute_progress_bars=True, use_document_model=False
        ) as mpr:
            if progress is not None:
                mpr.session.hooks["response"].append(_page_counter(progress))
            return mpr.materials.summary.search(
                **(criteria or {"elements": ["H"]}),
                fields=list(fields),
                chunk_size=page_size,
            )
    except (MPRestError, requests.RequestException, KeyError, ValueError) as exc:
        raise _explain(exc, host, api_key) from None


def _page_counter(progress: Callable[[int], None]) -> Callable[..., None]:
    """Return a requests response hook that reports each page of summary docs."""

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.status_code == 200 and "/materials/summary" in response.url:
            progress(len(response.json().get("data") or []))

    return hook


def _explain(exc: BaseException, host: str, api_key: str) -> MaterialsProjectError:
    """Turn an mp-api or requests exception into one line for a person."""
    import requests
    from mp_api.client.core import MPRestError

    # mp-api re-raises a requests failure as MPRestError(str(failure))
    wrapped = isinstance(exc, MPRestError) and isinstance(exc.__context__, Exception)
    cause = exc.__context__ if wrapped else exc
    text = str(exc)
    status = re.search(r"status code (\d{3})", text)
    if "Valid API keys are 32 characters" in text:
        error: MaterialsProjectError = MaterialsProjectAuthError(
            f"malformed Materials Project API key (keys are 32 characters): {KEY_HINT}"
        )
    elif status and status.group(1) in {"401", "403"}:
        error = MaterialsProjectAuthError(
            f"the Materials Project API at {host} rejected the API key "
            f"(HTTP {status.group(1)}): check it, {KEY_HINT}"
        )
    elif status:
        detail = text.partition("with message:")[2].strip().splitlines()
        error = MaterialsProjectError(
            f"the Materials Project API at {host} answered HTTP {status.group(1)}"
            + (f": {detail[0][:200]}" if detail else "")
        )
    elif isinstance(
        cause, requests.exceptions.InvalidJSONError | ValueError | KeyError
    ):
        error = MaterialsProjectError(
            f"unexpected answer from the Materials Project API at {host} "
            f"({type(cause).__name__}); is a proxy or captive portal in the way?"
        )
    elif isinstance(cause, requests.RequestException):
        error = MaterialsProjectUnreachableError(
            f"cannot reach the Materials Project API at {host} ({_reason(cause)}); "
            "check the network connection"
        )
    else:
        first = (text.strip().splitlines() or [type(exc).__name__])[0]
        error = MaterialsProjectError(f"Materials Project API error: {first[:200]}")
    message = str(error).replace(api_key, "<API key>")
    return type(error)(message)


def _reason(exc: BaseException) -> str:
    """Say in a few words why a connection failed."""
    from requests import exceptions

    text = str(exc)
    if isinstance(exc, exceptions.Timeout) or "timed out" in text:
        return "timed out"
    if isinstance(exc, exceptions.SSLError):
        return "TLS/SSL error"
    if isinstance(exc, exceptions.ProxyError):
        return "proxy error"
    if "NameResolutionError" in text or "Failed to resolve" in text:
        return "its name could not be resolved"
    return "connection failed"


def _record(doc: dict[str, Any]) -> RawRecord | None:
    """Return the record of one summary document, or None for a non-hydride."""
    material_id = str(doc.get("material_id") or "unknown")
    label = f"mp-api:{material_id}"
    try:
        structure = Structure.from_dict(doc["structure"])
    except Exception as exc:  # from_dict raises many types
        if not _may_be_hydride(doc.get("formula_pretty")):
            return None
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return RawRecord.failed(
            label,
            f"unreadable structure in the Materials Project answer: {lines[0][:200]}",
            doc.get("structure"),
        )
    if not is_metal_hydride(structure.composition):
        return None
    return RawRecord(
        input=label,
        structure=structure,
        material_id=material_id,
        provenance=PROVENANCE,
        licence=LICENCE,
        formation_energy_per_atom=doc.get("formation_energy_per_atom"),
        energy_source=ENERGY_SOURCE,
        e_above_hull=doc.get("energy_above_hull"),
        band_gap=doc.get("band_gap"),
    )


def _may_be_hydride(formula: Any) -> bool:
    """Return whether a formula is a metal hydride, or cannot tell (no formula)."""
    try:
        return is_metal_hydride(Composition(str(formula)))
    except Exception:  # a missing or odd formula: keep the record
        return True
