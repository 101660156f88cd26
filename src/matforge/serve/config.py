"""The OPTIMADE server's configuration, from matforge's settings alone.

optimade-python-tools reads its ``ServerConfig`` from keyword arguments,
``OPTIMADE_*`` environment variables and a JSON/YAML file
(``OPTIMADE_CONFIG_FILE``, default ``~/.optimade.json``). matforge's server is
configured by matforge's settings only: the configuration class of
:func:`~matforge.schemas.optimade.arguments_config_class` keeps the keyword
arguments and ignores the environment and the file, so a stray
``~/.optimade.json`` cannot change what is served.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from matforge import __version__
from matforge.schemas.optimade import PROVIDER, arguments_config_class, provider_fields

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings

STRUCTURES_COLLECTION = "optimade_structures"


def server_config(settings: MatforgeSettings, base_url: str | None = None) -> Any:
    """Return the OPTIMADE ``ServerConfig`` of matforge's server.

    The configured backend is optimade's in-process mongomock, in a database
    of its own: it holds the (empty) links and references; the structures are
    served by matforge's collection (:mod:`matforge.serve.collections`) that
    :func:`~matforge.serve.app.create_app` puts in its place.

    Parameters
    ----------
    settings
        matforge's settings (``serve`` section: largest page, base URL). A
        query without ``page_limit`` gets 20 entries: optimade-python-tools'
        query parameters fix that default.
    base_url
        Public base URL, overriding ``settings.serve.base_url``.
    """
    serve = settings.serve
    url = base_url if base_url is not None else serve.base_url
    return arguments_config_class()(
        debug=False,
        insert_test_data=False,
        database_backend="mongomock",
        mongo_database=f"matforge-serve-{uuid.uuid4().hex}",
        structures_collection=STRUCTURES_COLLECTION,
        page_limit_max=serve.page_limit_max,
        base_url=url.rstrip("/") if url else None,
        provider=PROVIDER,
        implementation={
            "name": "matforge",
            "version": __version__,
            "source_url": None,
            "maintainer": None,
            "issue_tracker": None,
            "homepage": None,
        },
        provider_fields={"structures": provider_fields()},
        # unused while optimade's logger has matforge.serve's handler; were
        # it to write files, they would go under home, not /var/log
        log_dir=settings.home_dir / "logs",
        validate_query_parameters=True,
        validate_api_response=True,
    )
