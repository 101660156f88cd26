"""Whether a DFT code is installed, and the error that says what to install.

Light on purpose: nothing here imports GPAW, atomate2 or ASE.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

from matforge.errors import MatforgeError

INSTALL_HINT = (
    "install the DFT extra: `./install.sh` in the matforge checkout, or "
    "`pip install gpaw gpaw-data` after Debian's libxc-dev libopenblas-dev "
    "liblapack-dev libopenmpi-dev build-essential"
)


class DftError(MatforgeError):
    """A DFT code is missing, or a calculation cannot be set up or run."""


def gpaw_available() -> bool:
    """Return True when GPAW and its PAW setups are installed (nothing imported)."""
    return all(importlib.util.find_spec(name) for name in ("gpaw", "gpaw_data"))


def gpaw_version() -> str:
    """Return the installed GPAW version, or ``missing``."""
    try:
        return metadata.version("gpaw")
    except metadata.PackageNotFoundError:
        return "missing"


def require_gpaw() -> None:
    """Raise a :class:`DftError` that says what to install when GPAW is missing."""
    if not gpaw_available():
        raise DftError(f"GPAW is not installed: {INSTALL_HINT}")
