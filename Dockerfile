# The petstore served by gunicorn; for your own service, copy your package instead of example_petstore and change
# FLASK_APP and the CMD. Build:  docker build -t petstore .
# Release step, once per deployment, before the new containers start (never at container start, where several
# replicas would race):  docker run --rm --env-file prod.env petstore flask db upgrade
# Run:  docker run --env-file prod.env -p 8000:8000 --stop-timeout 35 petstore
# (--stop-timeout above gunicorn's graceful_timeout of 25 s, so requests in progress finish on docker stop.)
# It listens on 0.0.0.0:$PORT (8000 unless PORT is set, as platforms such as Cloud Run do).
# PYTHON_IMAGE picks another Debian-based CPython 3.11+ base, e.g. a digest-pinned one or an internal mirror's.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY flask_ligand ./flask_ligand
COPY example_petstore ./example_petstore
# gunicorn, and psycopg for PostgreSQL (the production database; SQLite needs nothing more)
RUN python -m venv /venv && /venv/bin/pip install ".[serve,postgresql]"

FROM ${PYTHON_IMAGE}
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLASK_APP=example_petstore.app \
    FLASK_ENV=prod \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc \
    OPENAPI_CLIENT_CACHE_DIR=/tmp/openapi-clients \
    PORT=8000
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /venv /venv
# The image has no Java, so the client generation endpoints answer 503 naming what to install; generated clients
# would be cached in OPENAPI_CLIENT_CACHE_DIR (the instance folder, in the venv, is read-only for the service).
# Owned by root and read-only for the service: it can read its configuration and migrations, not change them.
COPY gunicorn.conf.py ./
COPY migrations ./migrations
USER app
EXPOSE 8000
# gunicorn's graceful shutdown: stop accepting, finish requests in progress, exit.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health/live', timeout=2)"]
# gunicorn binds 0.0.0.0:$PORT when PORT is set and no --bind is given.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "example_petstore.app:app"]
