"""The read-only OPTIMADE API and web page over the derived collections.

:func:`matforge.serve.app.create_app` builds the application (the OPTIMADE
server of optimade-python-tools over ``optimade_structures``, plus the page at
``/``); :func:`matforge.serve.app.serve` runs it with uvicorn.
"""

import logging

# optimade-python-tools builds its logger when imported, with a file handler
# under /var/log/optimade and one on stdout, unless the logger has a handler
# already: with this one its records go up the logging tree like matforge's.
logging.getLogger("optimade").addHandler(logging.NullHandler())
