"""The WSGI application: ``flask run`` (via ``.flaskenv``) and ``gunicorn example_petstore.app:app`` serve it.

The environment comes from ``FLASK_ENV`` (default ``local``), so ``FLASK_ENV=prod`` with the production variables
set serves production settings.
"""

from __future__ import annotations

import os

from example_petstore import create_app

app = create_app(os.environ.get("FLASK_ENV", "local"))
