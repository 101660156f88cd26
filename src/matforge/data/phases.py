"""Reference phases: the competing phases of every hull (offline file, mp-api).

Two sources, one scale (MP2020, see :mod:`matforge.core.phases`):

* **offline** (``mp_formation_energies.csv.gz``): 84,295 MP compositions, one
  per reduced formula, with legacy-corrected formation energies; and the MP-20
  sample (``mp20_sample/*.csv``, MP2020 values of 1,112 MP ids, all
  chemistries), which replaces the moved value of an id both hold and adds 158
  formulas the main file lacks. The main file lacks about a fifth of MP's binary
  compounds (598 of the 3,141 reduced formulas of ``mp_binaries_reference``,
  among them MgO, MgF2, CaO, NiO, Fe2O3, TiO2, NaCl, LiF, Tm2O3), so a hull built
  from it can sit too high: a crystal stable against it is "not disproven", not
  proven stable. :func:`read_offline_rows` streams the file (a bad row becomes a
  :class:`~matforge.schemas.reject.RejectDoc`, the rows next to it are kept);
  :class:`OfflinePhases` holds the rows once, indexed by chemical system and by
  reduced formula, and moves the rows of a chemical system to MP2020 when that
  system is first asked for (the move needs pymatgen's oxidation-state guesses,
  tens of milliseconds for some compositions: the whole file takes tens of
  minutes, a campaign's systems seconds). :func:`offline_phases` reads a file
  once per process.
* **mp-api** (a key set): ``MPRester.get_entries_in_chemsys(...,
  compatible_only=True)`` with the GGA/GGA+U thermo type (MP2020-corrected; the
  scale of the ML potentials, which learned GGA/GGA+U energies; the default
  mixed r2SCAN hull is another scale). Formation energies come from the phase
  diagram of the returned entries. :class:`MPPhaseCache` keeps the answer per
  chemical system (in memory and, optionally, as JSON files), and serves a
  sub-system from a cached larger one without asking again.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pymatgen.core import Composition, Element, Structure

from matforge.core.hull import (
    HullCalculator,
    Phase,
    PhaseIndex,
    chemsys_of,
    subsystems,
)
from matforge.core.phases import GAS_ELEMENTS, LEGACY, MP2020
from matforge.errors import DataNotFoundError, MatforgeError
from matforge.schemas.common import BuildMeta
from matforge.schemas.phase import PhaseDoc
from matforge.schemas.reject import RejectDoc

logger = logging.getLogger(__name__)

OFFLINE_FILE = "mp_formation_energies.csv.gz"
ELEMENTAL_REFERENCES_FILE = "mp_elemental_references.json.gz"
COLUMNS = ("task_id", "composition", "formation_energy_per_atom")
MP20_FILES = ("mp20_sample/train.csv", "mp20_sample/val.csv", "mp20_sample/test.csv")
MP20_COLUMNS = ("material_id", "pretty_formula", "formation_energy_per_atom")
HYDRIDE_FORMULAS_FILE = "mp_metal_hydride_formulas.txt"
"""MP2020 formation energies of MP's hydride formulas: they price the legacy
rows of the same formula that cannot be moved from their composition (PdH,
Pd3H4, RhH, IrH, WH: H and the metal are equally electronegative, and the
hydride correction may or may not apply)."""
REJECT_SOURCE = "mp-offline"
REJECT_STAGE = "phases"
MP_THERMO_TYPE = "GGA_GGA+U"
"""The Materials Project thermo type asked for: MP2020-corrected GGA/GGA+U."""
MAX_MP_ELEMENTS = 9
"""mp-api refuses chemical systems of more elements."""
_ENTRY_ID = re.compile(r"^([a-z]+-\d+)(?:-.+)?$")


class PhaseDataError(MatforgeError):
    """A reference-phases file cannot be used (missing columns, no gas energies)."""


def read_gas_references(path: str | Path) -> dict[str, float]:
    """Return MP's raw GGA energy per atom of H, N, F and Cl (eV/atom).

    Parameters
    ----------
    path
        ``mp_elemental_references.json.gz``: per element, ``energy_per_atom`` of
        its lowest-energy MP GGA structure (uncorrected; MP2020's reference).

    Returns
    -------
    dict
        Symbol to energy per atom, for the gas elements.

    Raises
    ------
    DataNotFoundError
        If the file does not exist.
    PhaseDataError
        If a gas element or its energy is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"elemental references file {path} not found")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    energies = {}
    for symbol in GAS_ELEMENTS:
        try:
            energies[symbol] = float(raw[symbol]["energy_per_atom"])
        except (KeyError, TypeError, ValueError):
            raise PhaseDataError(
                f"{path.name} holds no energy_per_atom for {symbol}, needed to "
                "move legacy MP formation energies to MP2020"
            ) from None
    return energies


@dataclass(frozen=True)
class OfflineRow:
    """One offline row: an MP id, a composition, a formation energy and its scheme."""

    material_id: str
    composition: Composition
    formation_energy_per_atom: float
    scheme: str = LEGACY

    @property
    def chemsys(self) -> str:
        """Its chemical system."""
        return chemsys_of(self.composition)


def _parse_row(
    material_id: str | None, formula: str | None, energy: str | None, scheme: str
) -> tuple[str, OfflineRow | None]:
    """Return a parsed row, or the reason it cannot be parsed."""
    material_id = (material_id or "").strip()
    if not material_id:
        return "no MP id", None
    text = (formula or "").strip()
    try:
        composition = Composition(text)
    except Exception as exc:  # pymatgen raises several types
        return f"unreadable composition {text!r} ({type(exc).__name__})", None
    if composition.num_atoms <= 0:
        return f"empty composition {text!r}", None
    odd = [str(sp) for sp in composition if not isinstance(sp, Element)]
    if odd:
        return f"composition {text!r} holds non-elements: {', '.join(odd)}", None
    try:
        value = float(energy or "nan")
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return f"formation_energy_per_atom {energy!r} is not a finite number", None
    return "", OfflineRow(material_id, composition, value, scheme)


def _read_csv_rows(
    path: str | Path, columns: tuple[str, str, str], scheme: str
) -> Iterator[OfflineRow | RejectDoc]:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"reference phases file {path} not found")
    opener = gzip.open if path.suffix == ".gz" else open
    seen: set[str] = set()
    id_column, formula_column, energy_column = columns
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise PhaseDataError(
                f"{path.name} lacks the column(s) {', '.join(missing)} "
                f"(expected {', '.join(columns)})"
            )
        for number, row in enumerate(reader, start=1):
            problem, parsed = _parse_row(
                row.get(id_column),
                row.get(formula_column),
                row.get(energy_column),
                scheme,
            )
            if parsed is not None and parsed.material_id in seen:
                problem, parsed = f"duplicate id {parsed.material_id}", None
            if parsed is None:
                snippet = ",".join(str(row.get(c)) for c in columns)
                yield RejectDoc.from_input(
                    f"{path.name}:row {number}",
                    problem,
                    snippet,
                    source=REJECT_SOURCE,
                    stage=REJECT_STAGE,
                )
                continue
            seen.add(parsed.material_id)
            yield parsed


def read_offline_rows(path: str | Path) -> Iterator[OfflineRow | RejectDoc]:
    """Stream the rows of the offline file; a bad row becomes a reject.

    Parameters
    ----------
    path
        ``mp_formation_energies.csv.gz`` (or a plain CSV) with the columns
        ``task_id, composition, formation_energy_per_atom`` (MP legacy).

    Yields
    ------
    OfflineRow or RejectDoc
        A row, or the reject of an unreadable row (no id, an unreadable or empty
        composition, a non-finite energy, an id seen before), input
        ``<file>:row <n>`` (n counts data rows from 1).

    Raises
    ------
    DataNotFoundError
        If the file does not exist.
    PhaseDataError
        If a column is missing.
    """
    return _read_csv_rows(path, COLUMNS, LEGACY)


def read_mp20_rows(path: str | Path) -> Iterator[OfflineRow | RejectDoc]:
    """Stream the rows of an MP-20 CSV (MP2020 formation energies, all chemistries).

    Parameters
    ----------
    path
        ``mp20_sample/{train,val,test}.csv``: ``material_id``, ``pretty_formula``,
        ``formation_energy_per_atom`` are used.

    Yields
    ------
    OfflineRow or RejectDoc
        As :func:`read_offline_rows`, the rows on the MP2020 scale.
    """
    return _read_csv_rows(path, MP20_COLUMNS, MP2020)


def read_mp2020_formulas(path: str | Path) -> dict[str, float]:
    """Return the lowest MP2020 formation energy of each reduced formula of a file.

    The file (``mp_metal_hydride_formulas.txt``) holds a header line and then
    ``formula formation_energy_per_atom`` per line, one line per MP polymorph.
    Lines that cannot be read are skipped with a warning naming the first.
    """
    lowest: dict[str, float] = {}
    bad: list[str] = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if not parts:
            continue
        try:
            formula = Composition(parts[0]).reduced_formula
            value = float(parts[1])
            if len(parts) != 2 or not math.isfinite(value):
                raise ValueError("not a formula and one finite number")
        except (ValueError, IndexError) as exc:
            bad.append(f"line {number}: {exc}")
            continue
        lowest[formula] = min(value, lowest.get(formula, math.inf))
    if bad:
        logger.warning("%d unreadable lines in %s (first: %s)", len(bad), path, bad[0])
    return lowest


class OfflinePhases:
    """The offline compositions, held once; moved to MP2020 per chemical system.

    Parameters
    ----------
    rows
        The offline rows (legacy rows are moved, MP2020 rows kept). Where an id
        comes twice, an MP2020 row wins over a legacy one, else the first.
    gas_references
        MP's raw GGA energies per atom of H, N, F, Cl (:func:`read_gas_references`).
    inputs
        The files read, for the build metadata.
    rejects
        The rejects of the read, kept for the caller.
    mp2020_formulas
        Reduced formula -> MP2020 formation energy (its lowest polymorph): a
        legacy row that cannot be moved takes the value of its formula
        (:data:`HYDRIDE_FORMULAS_FILE`).
    """

    def __init__(
        self,
        rows: Iterable[OfflineRow],
        gas_references: Mapping[str, float],
        inputs: Iterable[str] = (OFFLINE_FILE,),
        rejects: Iterable[RejectDoc] = (),
        mp2020_formulas: Mapping[str, float] | None = None,
    ) -> None:
        self.gas_references = dict(gas_references)
        self.mp2020_formulas = dict(mp2020_formulas or {})
        self.rejects = list(rejects)
        chosen: dict[str, OfflineRow] = {}
        for row in rows:
            old = chosen.get(row.material_id)
            if old is None or (old.scheme != MP2020 and row.scheme == MP2020):
                chosen[row.material_id] = row
        self._by_system: dict[str, list[OfflineRow]] = defaultdict(list)
        self._by_formula: dict[str, list[str]] = defaultdict(list)
        with warnings.catch_warnings():  # He, Ne, Ar: no electronegativity
            warnings.simplefilter("ignore")
            for row in chosen.values():
                formula = row.composition.reduced_formula
                self._by_system[row.chemsys].append(row)
                self._by_formula[formula].append(row.material_id)
        self.count = len(chosen)
        self._moved: dict[str, list[PhaseDoc]] = {}
        self._build = BuildMeta(
            inputs=[*inputs, ELEMENTAL_REFERENCES_FILE],
            settings={"scale": "MP2020; legacy rows moved by matforge.core.phases"},
        )

    @classmethod
    def from_files(
        cls,
        phases_file: str | Path,
        references_file: str | Path,
        mp2020_files: Iterable[str | Path] = (),
        formulas_file: str | Path | None = None,
    ) -> OfflinePhases:
        """Read the offline files (streaming) and the gas references.

        Parameters
        ----------
        phases_file
            ``mp_formation_energies.csv.gz`` (legacy).
        references_file
            ``mp_elemental_references.json.gz``.
        mp2020_files
            MP-20 CSVs (MP2020 values; they fill formulas the first file lacks
            and replace its values for the same ids).
        formulas_file
            ``mp_metal_hydride_formulas.txt`` (MP2020 values by formula), or None.
        """
        gas = read_gas_references(references_file)
        rows: list[OfflineRow] = []
        rejects: list[RejectDoc] = []
        paths = [Path(phases_file), *(Path(p) for p in mp2020_files)]
        for index, path in enumerate(paths):
            reader = read_offline_rows if index == 0 else read_mp20_rows
            for item in reader(path):
                (rows if isinstance(item, OfflineRow) else rejects).append(item)
        if rejects:
            logger.warning(
                "%d unreadable rows in the reference phases (first: %s: %s)",
                len(rejects),
                rejects[0].input,
                rejects[0].reason,
            )
        formulas = read_mp2020_formulas(formulas_file) if formulas_file else {}
        names = [p.name for p in paths]
        if formulas_file:
            names.append(Path(formulas_file).name)
        return cls(rows, gas, names, rejects, formulas)

    def __len__(self) -> int:
        return self.count

    def systems(self) -> set[str]:
        """Return the chemical systems the rows hold."""
        return set(self._by_system)

    def ids_with_formula(self, reduced_formula: str) -> tuple[str, ...]:
        """Return the MP ids of a reduced formula (same ratio)."""
        return tuple(self._by_formula.get(reduced_formula, ()))

    def known_formulas(self) -> set[str]:
        """Return every reduced formula of the rows."""
        return set(self._by_formula)

    def _moved_system(self, system: str) -> list[PhaseDoc]:
        docs = self._moved.get(system)
        if docs is None:
            docs = [self._doc(row) for row in self._by_system.get(system, ())]
            self._moved[system] = docs
        return docs

    def _doc(self, row: OfflineRow) -> PhaseDoc:
        if row.scheme == MP2020:
            return PhaseDoc.from_mp2020(
                row.material_id,
                row.composition,
                row.formation_energy_per_atom,
                "mp-offline",
                self._build,
            )
        doc = PhaseDoc.from_legacy(
            row.material_id,
            row.composition,
            row.formation_energy_per_atom,
            self.gas_references,
            self._build,
        )
        value = self.mp2020_formulas.get(row.composition.reduced_formula)
        if doc.usable or value is None:
            return doc
        return PhaseDoc.from_mp2020(
            row.material_id, row.composition, value, "mp-offline", self._build
        )

    def docs_in(self, chemsys: str) -> list[PhaseDoc]:
        """Return the phases of a chemical system and its sub-systems, moved.

        Excluded phases (not movable) are included, with their reason.
        """
        return [doc for s in subsystems(chemsys) for doc in self._moved_system(s)]

    def phases_in(self, chemsys: str) -> list[Phase]:
        """Return the hull phases (MP2020) of a system and its sub-systems."""
        return [doc.as_phase() for doc in self.docs_in(chemsys) if doc.usable]

    def index_for(self, systems: Iterable[str]) -> PhaseIndex:
        """Return a phase index of every phase some chemical systems need."""
        wanted = {s for chemsys in systems for s in subsystems(chemsys)}
        index = PhaseIndex()
        for system in sorted(wanted):
            index.add(
                doc.as_phase() for doc in self._moved_system(system) if doc.usable
            )
        return index

    def all_docs(
        self, progress: Callable[[int], None] | None = None
    ) -> Iterator[PhaseDoc]:
        """Yield every phase document, moving each system once (slow: see module).

        Parameters
        ----------
        progress
            Called with the number of rows moved after each chemical system.
        """
        for system in sorted(self._by_system):
            docs = self._moved_system(system)
            yield from docs
            if progress is not None:
                progress(len(docs))


@lru_cache(maxsize=4)
def _offline_phases(
    phases_file: str,
    references_file: str,
    mp2020_files: tuple[str, ...],
    formulas_file: str | None,
    stamp: tuple,
) -> OfflinePhases:
    return OfflinePhases.from_files(
        phases_file, references_file, mp2020_files, formulas_file
    )


def offline_phases(shared_dir: str | Path, include_mp20: bool = True) -> OfflinePhases:
    """Return the offline phases of a shared data folder, read once per process.

    Parameters
    ----------
    shared_dir
        The offline data folder.
    include_mp20
        Also read the MP-20 sample (MP2020 values for 1,112 MP ids; 158 of its
        formulas are not in the main file, which lacks about a fifth of MP's
        binaries, MgO and NiO among them).

    A file changed on disk (size or modification time) is read again.

    Raises
    ------
    DataNotFoundError
        If a file is missing.
    """
    folder = Path(shared_dir)
    phases = folder / OFFLINE_FILE
    references = folder / ELEMENTAL_REFERENCES_FILE
    extra = [folder / name for name in MP20_FILES] if include_mp20 else []
    paths = [phases, references, *extra]
    for path in paths:
        if not path.is_file():
            raise DataNotFoundError(f"reference phases data {path} not found")
    formulas = folder / HYDRIDE_FORMULAS_FILE
    formulas_file = str(formulas) if formulas.is_file() else None
    if formulas_file is not None:
        paths.append(formulas)
    stamp = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return _offline_phases(
        str(phases),
        str(references),
        tuple(str(p) for p in extra),
        formulas_file,
        stamp,
    )


def hydride_phases(
    records: Iterable[Mapping[str, Any]], build: BuildMeta | None = None
) -> list[PhaseDoc]:
    """Return the stored hydrides with a formation energy as MP2020 phases.

    Parameters
    ----------
    records
        Hydride documents (``material_id``, ``structure`` or ``formula``,
        ``formation_energy_per_atom``; MP2020 scale: MP, WBM or matforge's ML
        recipe). Those without a finite energy are skipped.
    build
        Build metadata shared by the documents.
    """
    docs = []
    for record in records:
        value = record.get("formation_energy_per_atom")
        if value is None or not math.isfinite(float(value)):
            continue
        structure = record.get("structure")
        if isinstance(structure, Structure):
            composition = structure.composition
        elif isinstance(structure, Mapping) and "sites" in structure:
            composition = _composition_of_sites(structure["sites"])
        else:
            composition = Composition(record["formula"])
        docs.append(
            PhaseDoc.from_mp2020(
                str(record["material_id"]), composition, float(value), "hydrides", build
            )
        )
    return docs


def _composition_of_sites(sites: Iterable[Mapping[str, Any]]) -> Composition:
    amounts: dict[str, float] = defaultdict(float)
    for site in sites:
        for species in site["species"]:
            amounts[species["element"]] += float(species.get("occu", 1.0))
    return Composition(amounts)


def _normal_chemsys(chemsys: str | Iterable[str]) -> str:
    elements = chemsys.split("-") if isinstance(chemsys, str) else list(chemsys)
    symbols = sorted({e.strip() for e in elements if e.strip()})
    if not symbols:
        raise ValueError("empty chemical system")
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            raise ValueError(
                f"{symbol!r} is not an element (chemical system {chemsys!r})"
            )
    return "-".join(symbols)


def _entry_material_id(entry: Any) -> str:
    """Return an entry's MP id (``mp-23710`` of ``mp-23710-GGA``)."""
    data = getattr(entry, "data", None) or {}
    if data.get("material_id"):
        return str(data["material_id"])
    entry_id = str(entry.entry_id or "")
    match = _ENTRY_ID.match(entry_id)
    return match.group(1) if match else entry_id


def phases_from_entries(
    entries: Iterable[Any], build: BuildMeta | None = None
) -> list[PhaseDoc]:
    """Return MP2020 phases of Materials Project entries of one chemical system.

    Formation energies are taken from the phase diagram of the entries (MP's
    own elemental references: the lowest-energy entry of each element).

    Parameters
    ----------
    entries
        ``ComputedStructureEntry`` objects, MP2020-corrected, covering every
        element of the system.
    build
        Build metadata shared by the documents.

    Raises
    ------
    MaterialsProjectError
        If an element of the entries has no elemental entry.
    """
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    from matforge.data.mp import MaterialsProjectError

    entries = list(entries)
    if not entries:
        return []
    try:
        diagram = PhaseDiagram(entries)
    except ValueError as exc:
        raise MaterialsProjectError(
            f"the Materials Project entries cannot make a phase diagram: {exc}"
        ) from None
    docs = []
    for entry in entries:
        docs.append(
            PhaseDoc.from_mp2020(
                _entry_material_id(entry),
                entry.composition,
                float(diagram.get_form_energy_per_atom(entry)),
                "mp-api",
                build,
            )
        )
    return docs


def fetch_mp_phases(api_key: str, chemsys: str | Iterable[str]) -> list[PhaseDoc]:
    """Ask the Materials Project for the phases of a chemical system (and subsystems).

    Parameters
    ----------
    api_key
        The Materials Project API key (sent in a header, never written out).
    chemsys
        Elements joined by '-' (any order) or a list of symbols; at most 9.

    Returns
    -------
    list of PhaseDoc
        One per entry (polymorphs included), source ``mp-api``, MP2020 scale.

    Raises
    ------
    ValueError
        If the chemical system is empty, names a non-element or has more than
        nine elements.
    MaterialsProjectAuthError
        No, a malformed or a rejected key.
    MaterialsProjectUnreachableError
        The API cannot be reached.
    MaterialsProjectError
        Any other error answer.
    """
    from urllib.parse import urlsplit

    import requests

    from matforge.data.mp import (
        KEY_HINT,
        TIMEOUT,
        MaterialsProjectAuthError,
        _explain,
    )

    system = _normal_chemsys(chemsys)
    if system.count("-") + 1 > MAX_MP_ELEMENTS:
        raise ValueError(
            f"chemical system {system} has more than {MAX_MP_ELEMENTS} elements, "
            "which the Materials Project API refuses"
        )
    key = (api_key or "").strip()
    if not key:
        raise MaterialsProjectAuthError(f"no Materials Project API key: {KEY_HINT}")
    from mp_api.client import MPRester
    from mp_api.client.core import MPRestError
    from mp_api.client.core.settings import MAPI_CLIENT_SETTINGS
    from mp_api.client.core.utils import validate_api_key

    endpoint = MAPI_CLIENT_SETTINGS.ENDPOINT
    host = urlsplit(endpoint).hostname or endpoint
    try:
        validate_api_key(key)
        requests.get(f"{endpoint.rstrip('/')}/heartbeat", timeout=TIMEOUT).close()
        with (
            MPRester(key, mute_progress_bars=True, use_document_model=False) as mpr,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            entries = mpr.get_entries_in_chemsys(
                system.split("-"),
                compatible_only=True,
                additional_criteria={"thermo_types": [MP_THERMO_TYPE]},
            )
    except (MPRestError, requests.RequestException, KeyError, ValueError) as exc:
        raise _explain(exc, host, key) from None
    build = BuildMeta(
        inputs=[f"{endpoint} materials/thermo chemsys={system}"],
        settings={"thermo_type": MP_THERMO_TYPE, "compatible_only": True},
    )
    return phases_from_entries(entries, build)


class MPPhaseCache:
    """The Materials Project phases of chemical systems, asked for once each.

    Parameters
    ----------
    fetch
        ``fetch(chemsys) -> list[PhaseDoc]`` (e.g. a :func:`fetch_mp_phases`
        with the key bound).
    folder
        Where to keep each answer as ``<chemsys>.json`` across processes; None
        keeps them in memory only.
    """

    def __init__(
        self,
        fetch: Callable[[str], list[PhaseDoc]],
        folder: str | Path | None = None,
    ) -> None:
        self._fetch = fetch
        self.folder = Path(folder) if folder is not None else None
        self._systems: dict[str, list[PhaseDoc]] = {}
        self.requests = 0
        """How many chemical systems were asked of the API."""

    def _from_disk(self, system: str) -> list[PhaseDoc] | None:
        if self.folder is None:
            return None
        path = self.folder / f"{system}.json"
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return [PhaseDoc.model_validate(d) for d in raw["phases"]]
        except Exception as exc:  # a damaged cache file is asked again
            logger.warning("ignored the unreadable cache file %s (%s)", path, exc)
            return None

    def _to_disk(self, system: str, docs: list[PhaseDoc]) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{system}.json"
        partial = path.with_suffix(".json.partial")
        payload = {
            "chemsys": system,
            "phases": [d.model_dump(mode="json") for d in docs],
        }
        partial.write_text(json.dumps(payload), encoding="utf-8")
        partial.replace(path)

    def _covering(self, system: str) -> list[PhaseDoc] | None:
        wanted = set(system.split("-"))
        for cached, docs in self._systems.items():
            if wanted <= set(cached.split("-")):
                return [d for d in docs if set(d.elements) <= wanted]
        return None

    def docs_in(self, chemsys: str | Iterable[str]) -> list[PhaseDoc]:
        """Return the phases of a chemical system and its sub-systems.

        Served from memory (this system or a larger one asked before), then from
        the folder, then from the API.
        """
        system = _normal_chemsys(chemsys)
        docs = self._covering(system)
        if docs is not None:
            return docs
        docs = self._from_disk(system)
        if docs is None:
            docs = self._fetch(system)
            self.requests += 1
            self._to_disk(system, docs)
        self._systems[system] = docs
        return docs

    def phases_in(self, chemsys: str | Iterable[str]) -> list[Phase]:
        """Return the hull phases of a chemical system and its sub-systems."""
        return [d.as_phase() for d in self.docs_in(chemsys)]


def reference_hull(
    systems: Iterable[str],
    *,
    stable_tolerance: float,
    metastable_threshold: float,
    offline: OfflinePhases | None = None,
    hydrides: Iterable[Mapping[str, Any]] = (),
    mp: MPPhaseCache | None = None,
    computed: Iterable[PhaseDoc] = (),
) -> HullCalculator:
    """Return the hull calculator of some chemical systems from every source.

    Phases are added in this order, a later one replacing an earlier one of the
    same id: the offline phases (moved to MP2020), the known materials priced
    with the ML potential where the offline file has no energy for them, the
    stored hydrides with a formation energy, the Materials Project's answer
    (when a cache is given).

    Parameters
    ----------
    systems
        The chemical systems of the crystals to judge (sub-systems follow).
    stable_tolerance, metastable_threshold
        As :class:`~matforge.core.hull.HullCalculator` (``candidates.
        stable_e_above_hull`` and ``candidates.max_e_above_hull``).
    offline
        The offline phases (:func:`offline_phases`).
    hydrides
        Hydride documents (``material_id``, ``structure`` or ``formula``,
        ``formation_energy_per_atom``).
    mp
        The Materials Project phases (needs a key).
    computed
        Phases priced with the ML potential (``computed_phases``).
    """
    wanted = sorted(set(systems))
    index = offline.index_for(wanted) if offline is not None else PhaseIndex()
    index.add(doc.as_phase() for doc in computed if doc.usable)
    index.add(doc.as_phase() for doc in hydride_phases(hydrides))
    if mp is not None:
        for system in wanted:
            index.add(mp.phases_in(system))
    return HullCalculator(
        index,
        stable_tolerance=stable_tolerance,
        metastable_threshold=metastable_threshold,
    )
