"""Reader of the amorphous Li-diffusivity table (the second campaign's seed).

The file (``amorphous_li_diffusivity/feature_target.dat``, 792 rows) is
space-separated with a header: the index column ``"Unnamed: 0"``, ``formula``,
the target ``diff_coeff_mul_thousand``, ``temperature`` (K) and 42 descriptors
(:data:`~matforge.schemas.amorphous.DESCRIPTOR_DESCRIPTIONS`). The README's
"45 descriptors" counts every column but the target.

Unit of D
---------
``diff_coeff_mul_thousand`` is taken as the Li self-diffusion coefficient in
cm^2/s multiplied by 1000: D = value x 1e-3 cm^2/s. The README gives no unit;
the evidence:

- the name says D times a thousand, and the authors' pipeline (MPMorph,
  whose ``Diffusion`` analysis and pymatgen's ``DiffusionAnalyzer`` both report
  cm^2/s) gives D in cm^2/s, values of 1e-5 to 1e-3 that a factor 1000 brings
  to order one;
- the values span 5e-6 to 3e-3 cm^2/s; Arrhenius fits of the 205 compositions
  with three or more temperatures give Ea of 0.04-1.15 eV (median 0.35) and a
  median prefactor D0 of 6e-3 cm^2/s, the usual 1e-3 to 1e-2 cm^2/s;
- 33 compositions have no 1000 K row; the slowest kept at 1000 K (0.012-0.02)
  mean MSDs of 15-25 Å^2 over a 20 ps AIMD run in cm^2/s x 1e3, a few Li hops,
  but only 1.5-2.5 Å^2, hardly past the vibrations, in Å^2/ps;
- Li-rich liquids (Na2Li9, RbLi2) read 4-7e-4 cm^2/s at 1000 K, two to three
  times liquid Li extrapolated from its measured ~6e-5 cm^2/s at the melting
  point; in Å^2/ps they would be no faster at 1000 K than liquid Li at 453 K.

The other reading the name allows, D in Å^2/fs x 1000 (= Å^2/ps = 1e-4
cm^2/s), is ten times smaller. It is not excluded: SevenNet-0 surrogate MD
(``bench/amorphous_md.py``) gives, for Li4Zr and Na2Li9 at 1000-2500 K, 0.2-0.3
times the table's D read as cm^2/s x 1e3 and 2-3 times read as Å^2/ps, and ML
potentials fitted to PBE usually run somewhat *faster* than PBE AIMD.

Bad rows become :class:`~matforge.schemas.reject.RejectDoc` s naming the row
and the reason; good rows next to them are kept.
"""

from __future__ import annotations

import itertools
import math
import re
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pymatgen.core import Composition, Element

from matforge.errors import DataNotFoundError
from matforge.schemas.amorphous import (
    DESCRIPTOR_NAMES,
    TABLE_D_FACTOR,
    AmorphousDiffusivityDoc,
)
from matforge.schemas.common import content_hash
from matforge.schemas.reject import RejectDoc

TABLE_FILE = "amorphous_li_diffusivity/feature_target.dat"
"""The table's path inside the shared data folder."""

SOURCE = "amorphous"
INDEX, FORMULA, TARGET, TEMPERATURE = (
    "Unnamed: 0",
    "formula",
    "diff_coeff_mul_thousand",
    "temperature",
)
COLUMNS = (INDEX, FORMULA, TARGET, TEMPERATURE, *DESCRIPTOR_NAMES)
"""The header the reader expects, in order."""

_LOOKALIKE = {"s": "5", "l": "1", "b": "6", "g": "9", "z": "2"}
"""Lower-case letters that a transcription may have made from digits."""

KnownFormula = Callable[[str], bool]


@dataclass
class TableRead:
    """What the reader found: documents, rejects and the file it read."""

    path: str
    docs: list[AmorphousDiffusivityDoc] = field(default_factory=list)
    rejects: list[RejectDoc] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Data rows read (accepted and rejected)."""
        return len(self.docs) + len(self.rejects)


def _real_elements(formula: str) -> Composition | None:
    """Return the composition when every symbol is a real element."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = Composition(formula)
    except (ValueError, KeyError):
        return None
    if not all(isinstance(el, Element) for el in comp.elements):
        return None
    return comp


def _charge_balanced(comp: Composition) -> bool:
    reduced = comp.reduced_composition
    elements = list(reduced.elements)
    options = [el.common_oxidation_states or (0,) for el in elements]
    return any(
        abs(sum(o * reduced[el] for o, el in zip(combo, elements, strict=True))) < 1e-6
        for combo in itertools.product(*options)
    )


def lookalike_formulas(formula: str) -> list[str]:
    """Return readings of ``formula`` with one digit-like letter made a digit.

    Only the second letter of a two-letter symbol is changed, and only where a
    digit would end the formula or precede the next symbol (``Li2Si2Os`` ->
    ``Li2Si2O5``); readings that pymatgen cannot parse are dropped.
    """
    readings = []
    for match in re.finditer(r"(?<=[A-Z])[slbgz](?![0-9a-z])", formula):
        i = match.start()
        alt = formula[:i] + _LOOKALIKE[formula[i]] + formula[i + 1 :]
        if _real_elements(alt) is not None:
            readings.append(alt)
    return readings


def suspected_transcription(
    formula: str, comp: Composition, is_known: KnownFormula
) -> str | None:
    """Explain why ``formula`` looks mistyped, or return None.

    A reading of :func:`lookalike_formulas` is suspected when it is a known
    composition that is charge-balanced while the formula is neither.
    Charge balance alone is not enough: it would also flag intermetallics such
    as ``Li8SnSb`` (read as ``Li8SnS6``), which the table holds many of.
    """
    if _charge_balanced(comp) or is_known(formula):
        return None
    for alt in lookalike_formulas(formula):
        alt_comp = Composition(alt)
        if not (_charge_balanced(alt_comp) and is_known(alt)):
            continue
        return (
            f"formula {formula!r} looks like a transcription of {alt} (a digit "
            f"read as a letter): {alt} is a known, charge-balanced composition, "
            f"{formula} is neither. Not corrected: the row's composition "
            f"descriptors were computed for {formula} (Li fraction "
            f"{comp.get_atomic_fraction('Li'):.3f}; {alt} has "
            f"{alt_comp.get_atomic_fraction('Li'):.3f}), so which chemistry the "
            "AIMD cell held is unknown"
        )
    return None


def known_formula_checker(path: Path) -> KnownFormula:
    """Return ``is_known(formula)`` over the compositions of a CSV file.

    Parameters
    ----------
    path
        A CSV with a ``composition`` column, e.g. the shared data's
        ``mp_formation_energies.csv.gz`` (84,295 Materials Project formulas).

    Returns
    -------
    Callable[[str], bool]
        True when a composition of the file has the formula's reduced formula.
    """
    import csv
    import gzip

    if not path.is_file():
        raise DataNotFoundError(f"no composition list at {path}")
    symbols = re.compile(r"[A-Z][a-z]?")
    by_elements: dict[frozenset[str], list[str]] = {}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = row.get("composition") or ""
            by_elements.setdefault(frozenset(symbols.findall(text)), []).append(text)

    def is_known(formula: str) -> bool:
        reduced = Composition(formula).reduced_formula
        for text in by_elements.get(frozenset(symbols.findall(formula)), []):
            try:
                if Composition(text).reduced_formula == reduced:
                    return True
            except (ValueError, KeyError):
                continue
        return False

    return is_known


def _composition_problem(formula: str) -> tuple[Composition | None, str | None]:
    if not re.fullmatch(r"[A-Za-z0-9().]+", formula):
        return None, f"formula {formula!r} has characters no formula has"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = Composition(formula)
    except (ValueError, KeyError) as exc:
        return None, f"formula {formula!r} cannot be read: {exc}"
    unknown = [
        getattr(el, "symbol", str(el))
        for el in comp.elements
        if not isinstance(el, Element)
    ]
    if unknown:
        return None, f"formula {formula!r} has unknown element symbols {unknown}"
    if comp.num_atoms <= 0:
        return None, f"formula {formula!r} has no atoms"
    if "Li" not in {el.symbol for el in comp.elements}:
        return None, f"formula {formula!r} has no Li (the table is of Li diffusion)"
    return comp, None


def _numbers(names: list[str], texts: list[str]) -> tuple[dict[str, float], str]:
    values: dict[str, float] = {}
    bad, nan = [], []
    for name, text in zip(names, texts, strict=True):
        try:
            value = float(text)
        except ValueError:
            bad.append(f"{name}={text!r}")
            continue
        if not math.isfinite(value):
            nan.append(f"{name}={text}")
            continue
        values[name] = value
    problems = []
    if bad:
        problems.append("non-numeric " + ", ".join(bad))
    if nan:
        problems.append("NaN or infinite " + ", ".join(nan))
    return values, "; ".join(problems)


def _check_header(header: list[str], where: str) -> None:
    if tuple(header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        raise DataNotFoundError(
            f"{where}: unexpected header (missing {missing or 'none'}, "
            f"unknown {extra or 'none'}, or another order)"
        )


def row_document(
    fields: list[str], row: int, where: str, is_known: KnownFormula | None = None
) -> AmorphousDiffusivityDoc | str:
    """Turn the fields of one data row into a document, or say what is wrong.

    Parameters
    ----------
    fields
        The whitespace-separated fields of the row.
    row
        Data row number (1 = first row after the header).
    where
        The file, for the document's origin.
    is_known
        Check of a formula against known compositions; without it no
        transcription check.

    Returns
    -------
    AmorphousDiffusivityDoc or str
        The document, or every problem found (the duplicate check is the
        table's: :func:`read_table`).
    """
    if len(fields) != len(COLUMNS):
        return f"{len(fields)} columns, the header has {len(COLUMNS)}"
    formula = fields[1]
    comp, problem = _composition_problem(formula)
    numeric = [INDEX, TARGET, TEMPERATURE, *DESCRIPTOR_NAMES]
    values, number_problem = _numbers(numeric, [fields[0], *fields[2:]])
    problems = [p for p in (problem, number_problem) if p]
    d_value, temperature = values.get(TARGET), values.get(TEMPERATURE)
    if d_value is not None and d_value <= 0:
        kind = "negative" if d_value < 0 else "zero"
        problems.append(f"{kind} D ({TARGET}={fields[2]}): ln D is undefined")
    if temperature is not None and temperature <= 0:
        problems.append(f"temperature {fields[3]} K is not positive")
    if comp is not None and not problem:
        suspect = is_known and suspected_transcription(formula, comp, is_known)
        if suspect:
            problems.append(suspect)
        share = values.get("Li_percentage")
        li = comp.get_atomic_fraction("Li")
        if share is not None and abs(share - li) > 1e-3:
            problems.append(
                f"Li_percentage {share:.4f} disagrees with the Li fraction "
                f"{li:.4f} of {formula}: the descriptors are of another formula"
            )
    if problems or comp is None or d_value is None or temperature is None:
        return "; ".join(problems) or "incomplete row"
    index = values[INDEX]
    descriptors = {name: values[name] for name in DESCRIPTOR_NAMES}
    return AmorphousDiffusivityDoc(
        entry_id=AmorphousDiffusivityDoc.make_id(comp.reduced_formula, temperature),
        formula=formula,
        reduced_formula=comp.reduced_formula,
        elements=sorted(el.symbol for el in comp.elements),
        li_fraction=comp.get_atomic_fraction("Li"),
        temperature=temperature,
        diffusivity_cm2_s=d_value * TABLE_D_FACTOR,
        ln_diffusivity=math.log(d_value),
        table_value=d_value,
        descriptors=descriptors,
        row=row,
        source_index=int(index) if float(index).is_integer() else None,
        origin=f"{where}:row {row}",
        content_hash=content_hash([formula, temperature, d_value, descriptors, row]),
    )


def read_table(path: str | Path, is_known: KnownFormula | None = None) -> TableRead:
    """Read the diffusivity table into documents and rejects.

    Parameters
    ----------
    path
        The ``feature_target.dat`` file.
    is_known
        Check of formulas against known compositions
        (:func:`known_formula_checker`); without it the transcription check
        (:func:`suspected_transcription`) is skipped.

    Returns
    -------
    TableRead
        One document per composition and temperature; a reject per bad row,
        naming the row (``file:row N``) and every reason.

    Raises
    ------
    DataNotFoundError
        If the file is missing, empty or its header is not the table's.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no diffusivity table at {path}")
    where = path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise DataNotFoundError(f"{path} is empty")
    _check_header(shlex.split(lines[0]), str(path))
    out = TableRead(path=str(path))
    seen: dict[str, tuple[int, str]] = {}
    for row, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        fields = line.split()
        result = row_document(fields, row, where, is_known)
        if isinstance(result, AmorphousDiffusivityDoc):
            body = " ".join(fields[1:])
            first = seen.get(result.entry_id)
            if first is None:
                seen[result.entry_id] = (row, body)
                out.docs.append(result)
                continue
            same = (
                "identical to"
                if first[1] == body
                else "same composition and temperature as"
            )
            result = (
                f"duplicate: {same} row {first[0]} ({result.reduced_formula} at "
                f"{result.temperature:g} K); the first is kept"
            )
        out.rejects.append(
            RejectDoc.from_input(
                f"{where}:row {row}", result, line, source=SOURCE, stage="ingest"
            )
        )
    return out


KNOWN_FORMULAS_FILE = "mp_formation_energies.csv.gz"
"""Materials Project compositions of the shared data (the transcription check)."""


def read_shared_table(shared_dir: Path) -> TableRead:
    """Read the table of the shared data folder with its transcription check.

    Parameters
    ----------
    shared_dir
        The offline data folder (``settings.shared_data_dir()``).

    Returns
    -------
    TableRead
        As :func:`read_table`, formulas checked against the Materials Project
        compositions of ``mp_formation_energies.csv.gz`` when that file exists.
    """
    known = shared_dir / KNOWN_FORMULAS_FILE
    checker = known_formula_checker(known) if known.is_file() else None
    return read_table(shared_dir / TABLE_FILE, checker)
