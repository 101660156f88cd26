"""Open structure files: compressed or not, UTF-8 or Latin-1, text or refused."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path
from typing import IO

OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
"""Openers of compressed files, by suffix."""
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)
"""What reading a broken (compressed) file raises."""


def compression(path: Path) -> str | None:
    """Return the compression suffix of a file (``.gz``, ``.bz2``, ``.xz``) or None."""
    suffix = path.suffix.lower()
    return suffix if suffix in OPENERS else None


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing by its suffix."""
    kind = compression(path)
    if kind is None:
        return path.open("rb")
    return OPENERS[kind](path, "rb")  # type: ignore[operator]


def decode(data: bytes) -> tuple[str | None, str | None]:
    """Return (text, None) or (None, reason) for the bytes of a text file."""
    if not data.strip():
        return None, "the file is empty" if not data else "the file holds only blanks"
    if b"\x00" in data[:8192]:
        return None, "binary file: not a structure text file"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    # Older CIFs (ICSD exports, ...) are Latin-1 text: read them unless the
    # bytes hold many control characters, the mark of a binary file.
    text = data.decode("latin-1")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    controls += sum(1 for c in text if 0x7F <= ord(c) < 0xA0)
    if controls > 0.01 * len(text):
        return None, "binary file: not a structure text file"
    return text, None


def compression_problem(path: Path, exc: BaseException) -> str:
    """Return the reason a compressed file cannot be read."""
    kind = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}.get(
        compression(path) or "", "compressed"
    )
    return f"not a valid {kind} file ({exc})"


def open_text(path: Path) -> tuple[str | None, str | None]:
    """Return the whole text of a (possibly compressed) file, or the reason not."""
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except DECOMPRESS_ERRORS as exc:
        if compression(path) is None:
            return None, f"cannot read the file: {exc}"
        return None, compression_problem(path, exc)
    return decode(data)
