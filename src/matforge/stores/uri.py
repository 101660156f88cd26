"""Database URIs: which backend, credentials in, passwords out of messages."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

Backend = Literal["embedded", "mongodb", "memory"]

_PASSWORD = re.compile(r"(?P<scheme>[a-z+]+://)(?P<user>[^:/@]+):(?P<password>[^@]*)@")


def backend_of(uri: str | None) -> Backend:
    """Return the backend a URI selects (None selects the embedded database)."""
    if uri is None or uri == "":
        return "embedded"
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        return "mongodb"
    if uri.startswith("memory://"):
        return "memory"
    raise ValueError(
        f"unsupported database URI {mask_uri(uri)!r}: use mongodb://, "
        "mongodb+srv://, memory://, or leave it unset for the embedded database"
    )


def mask_uri(uri: str) -> str:
    """Replace the password of a URI (and of any URI inside a text) with ****."""
    return _PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:****@", uri)


def hosts_of(uri: str) -> str:
    """Return the host list of a MongoDB URI, without credentials."""
    netloc = urlsplit(uri).netloc
    return netloc.rsplit("@", 1)[-1] or "localhost"


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """Return the URI without credentials, and its user name and password.

    Stores keep the bare URI (maggma prints a store's URI as its name) and hand
    the credentials to the client separately, so they never reach a log.
    """
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, None, None
    auth, hosts = parts.netloc.rsplit("@", 1)
    user, _, password = auth.partition(":")
    bare = urlunsplit(parts._replace(netloc=hosts))
    return bare, unquote(user) or None, unquote(password) if password else None


def with_credentials(uri: str, username: str | None, password: str | None) -> str:
    """Return a MongoDB URI carrying a user name and password, when it has none."""
    parts = urlsplit(uri)
    if username is None or "@" in parts.netloc:
        return uri
    auth = quote(username, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))
