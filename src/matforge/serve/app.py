"""The application of ``matforge serve``: the OPTIMADE API and the page.

:func:`create_app` builds one FastAPI application: the page and its files under
``/`` and ``/extensions/matforge/`` (see :mod:`matforge.serve.page`), and
optimade-python-tools' OPTIMADE server mounted beneath for everything else
(``/info``, ``/structures``, ``/v1/...``). The OPTIMADE part serves the
``optimade_structures`` collection: straight from MongoDB when the store is a
MongoDB server, otherwise from the documents loaded into memory when the
application is made (restart the server to serve a rebuilt collection).
Nothing in it writes to the database.

:func:`serve` runs the application with uvicorn on a socket it binds first, so
that a port in use is one clear error.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from matforge.errors import MatforgeError
from matforge.schemas.optimade import UNSERVED_FIELDS, OptimadeStructureDoc
from matforge.serve.config import STRUCTURES_COLLECTION, server_config
from matforge.stores.queries import mongo_collection, scan_documents

if TYPE_CHECKING:
    from fastapi import FastAPI

    from matforge.settings import MatforgeSettings
    from matforge.stores.factory import StoreFactory

logger = logging.getLogger(__name__)

SERVED_FIELDS = tuple(
    name for name in OptimadeStructureDoc.model_fields if name not in UNSERVED_FIELDS
)
"""The stored fields of an entry that the server reads."""


def _structures(factory: StoreFactory, config: Any, mapper: Any) -> Any:
    from optimade.models import StructureResource

    from matforge.serve.collections import MemoryStructures, MongoStructures

    store = factory.store(STRUCTURES_COLLECTION)
    if factory.backend == "mongodb":
        return MongoStructures(
            mongo_collection(store), StructureResource, mapper, config
        )
    docs = list(scan_documents(store, SERVED_FIELDS))
    return MemoryStructures(docs, StructureResource, mapper, config)


class _AnsweredErrors:
    """Let a request end quietly when the OPTIMADE app has answered its error.

    An error raised in optimade's middleware (a wrongly versioned URL gets its
    553) is answered by Starlette's outermost error handler, which then raises
    it again so that the server logs it: a traceback per bad URL. Here an error
    whose answer is already sent is logged in one line, a client's at debug
    level; one raised before any answer goes on as before.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from optimade.exceptions import OptimadeHTTPException

        answered = False

        async def watched(message: Any) -> None:
            nonlocal answered
            if message.get("type") == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if not answered:
                raise
            path = scope.get("path")
            if isinstance(exc, OptimadeHTTPException) and exc.status_code != 500:
                logger.debug("answered %s with %s: %s", path, exc.status_code, exc)
            else:
                logger.error("error answered on %s: %r", path, exc, exc_info=exc)


def _bad_parameters_are_400(api: FastAPI) -> None:
    """Answer a query parameter of the wrong type (page_limit=-5) with 400.

    optimade-python-tools hands FastAPI's RequestValidationError to its general
    handler, whose default status is 500; the request is what is wrong.
    """
    from fastapi.exceptions import RequestValidationError
    from optimade.server.exception_handlers import general_exception

    def handler(request: Any, exc: Exception) -> Any:
        return general_exception(request, exc, status_code=400)

    api.add_exception_handler(RequestValidationError, handler)


def _structures_unvalidated(api: FastAPI) -> None:
    """Serve ``/structures`` without checking each response against its model.

    optimade-python-tools picks the response model of its structures routes
    when its routers are imported, from a configuration it reads from the
    environment, so the application's own configuration cannot turn the check
    off. The same two endpoints are put in front of its routes here, at every
    base URL, with plain dictionaries as their response model. The check
    they skip costs about a third of a request and catches little: in
    optimade's response models an entry that fails ``StructureResource`` falls
    back to a plain dictionary. The entries are validated when the collection
    is built (:func:`~matforge.schemas.optimade.served_entry`), and the links
    and meta are optimade's own models either way.
    """
    from fastapi import APIRouter
    from optimade.server.routers import structures as library
    from optimade.server.routers.utils import BASE_URL_PREFIXES
    from optimade.server.schemas import ERROR_RESPONSES

    router = APIRouter(redirect_slashes=True)
    for path, endpoint in (
        ("/structures", library.get_structures),
        ("/structures/{entry_id:path}", library.get_single_structure),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            response_model=dict[str, Any],
            response_model_exclude_unset=True,
            responses=ERROR_RESPONSES,
            include_in_schema=False,
        )
    routes = api.router.routes
    before = len(routes)
    for prefix in ("", *BASE_URL_PREFIXES.values()):
        api.include_router(router, prefix=prefix, include_in_schema=False)
    routes[:] = routes[before:] + routes[:before]


def create_app(
    settings: MatforgeSettings,
    factory: StoreFactory | None = None,
    base_url: str | None = None,
) -> FastAPI:
    """Return the application: the OPTIMADE API over the entries, and the page.

    Parameters
    ----------
    settings
        matforge's settings (the store, the ``serve`` section, the home folder
        whose ``reports/`` the page links to).
    factory
        The store factory to read from; a new one on ``settings`` when None.
    base_url
        Public base URL, overriding ``settings.serve.base_url``.

    Returns
    -------
    fastapi.FastAPI
        The application (an ASGI app for uvicorn or a test client).
    """
    from fastapi import FastAPI
    from optimade.server.create_app import create_app as create_optimade_app

    from matforge.serve.page import page_router, static_files

    if factory is None:
        from matforge.stores.factory import StoreFactory

        factory = StoreFactory(settings)
    config = server_config(settings, base_url)
    quiet = logging.getLogger("optimade")
    quiet.disabled = True  # its start-up lines name a config file it did not read
    try:
        api = create_optimade_app(config)
    finally:
        quiet.disabled = False
    _bad_parameters_are_400(api)
    if not settings.serve.validate_responses:
        _structures_unvalidated(api)
    # optimade sets its logger to DEBUG; leave the level to the logging set-up
    logging.getLogger("optimade").setLevel(logging.NOTSET)
    default = api.state.entry_collections["structures"]
    structures = _structures(factory, config, default.resource_mapper)
    api.state.entry_collections["structures"] = structures

    app = FastAPI(
        title="matforge",
        description="Metal-hydride candidates for hydrogen storage, over OPTIMADE.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.structures = structures
    app.state.settings = settings
    app.state.reports_dir = settings.home_dir / "reports"
    app.include_router(page_router())
    for path, files, name in static_files(app.state.reports_dir):
        app.mount(path, files, name=name)
    app.mount("/", _AnsweredErrors(api), name="optimade")
    logger.debug(
        "serving %d OPTIMADE structures from %s", len(structures), factory.location
    )
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on ``host:port``.

    Raises
    ------
    MatforgeError
        If the port is in use, or the address cannot be bound (one line that
        names the host and port).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MatforgeError(f"cannot serve on host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MatforgeError(
                f"port {port} on {host} is already in use; stop what listens there "
                "or choose another port with --port"
            ) from None
        raise MatforgeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(
    settings: MatforgeSettings,
    host: str | None = None,
    port: int | None = None,
    base_url: str | None = None,
    factory: StoreFactory | None = None,
    log_level: str = "info",
    access_log: bool = True,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the OPTIMADE API and the page until interrupted (Ctrl-C).

    Parameters
    ----------
    settings
        matforge's settings.
    host, port, base_url
        Override ``settings.serve.host`` / ``port`` / ``base_url``.
    factory
        The store factory to read from; a new one on ``settings`` (closed on
        return) when None.
    log_level, access_log
        uvicorn's log level, and whether it logs every request.
    announce
        Called with one line (what is served, where) once the entries are
        loaded, e.g. ``click.echo``; the line is logged when None.

    Raises
    ------
    MatforgeError
        If the port is in use or the address cannot be bound.
    """
    import uvicorn

    from matforge.stores.factory import StoreFactory

    host = host or settings.serve.host
    port = settings.serve.port if port is None else port
    url = base_url if base_url is not None else settings.serve.base_url
    sock = bind_socket(host, port)  # before loading anything: fail fast
    own = factory is None
    factory = factory if factory is not None else StoreFactory(settings)
    try:
        app = create_app(settings, factory, url)
        count = len(app.state.structures)
        if count == 0:
            logger.warning(
                "optimade_structures is empty: run `matforge build optimade` first"
            )
        shown = (url or f"http://{host}:{port}").rstrip("/")
        line = (
            f"serving {count} OPTIMADE structures from {factory.location}: "
            f"page {shown}/, API {shown}/v1/info (Ctrl-C stops)"
        )
        (announce or logger.info)(line)
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=access_log,
            root_path=urlparse(url).path.rstrip("/") if url else "",
            lifespan="off",
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on
            logger.info("stopped")
    finally:
        sock.close()
        if own:
            factory.close()
