"""A private PostgreSQL cluster for the test suite: Debian's binaries, a temporary directory and a loopback port.

PostgreSQL refuses to run as root, and CI runs the tests as root: there the cluster belongs to the unprivileged
``postgres`` user (which Debian's package creates), and only the server processes run as that user. A developer
running the tests as themselves owns the cluster directly. Connections go over TCP to 127.0.0.1 with ``trust``
authentication, which is safe because only this machine can reach the port and the cluster lives as long as the
test session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from psycopg.abc import Query

#: Where Debian installs each PostgreSQL version's server binaries.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
#: The superuser of the test cluster; it needs no password (``trust`` on 127.0.0.1).
SUPERUSER = "postgres"
#: Settings that trade durability for speed: the cluster is thrown away after the session.
_SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
    "-c listen_addresses=127.0.0.1"
)
_TIMEOUT = 60
_PREFIX = "flask-ligand-pg-"
#: File naming the process (the test session) a cluster belongs to.
_OWNER = "owner.pid"


def find_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: the newest Debian version, else the ``PATH``; ``None`` if absent."""
    debian = sorted(glob.glob(DEBIAN_BINDIRS), key=lambda path: _version_key(Path(path).parent.name))
    for candidate in reversed(debian):
        if Path(candidate, "initdb").is_file() and Path(candidate, "pg_ctl").is_file():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


class Cluster:
    """A running PostgreSQL cluster on 127.0.0.1; ``database()`` hands out a fresh, empty database."""

    def __init__(self, bindir: Path, datadir: Path, port: int, user: str | None) -> None:
        self.bindir = bindir
        self.datadir = datadir
        self.port = port
        self._user = user
        self._names = itertools.count(1)

    def uri(self, dbname: str, driver: str = "postgresql+psycopg") -> str:
        """The SQLAlchemy URL of database ``dbname``."""
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    @contextmanager
    def database(self) -> Iterator[str]:
        """Create an empty database of its own for the caller, yield its URL and drop it (closing its connections)."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        try:
            yield self.uri(name)
        finally:
            self.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

    def execute(self, statement: Query) -> None:
        """Run one statement as the superuser in the ``postgres`` database, outside a transaction."""
        conninfo = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres connect_timeout=10"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(statement)

    def stop(self) -> None:
        """Stop the server at once (nothing in it is worth a clean shutdown) and delete its files."""
        try:
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w", "-t", str(_TIMEOUT))
        finally:
            shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        _run_as(self._user, [str(self.bindir / program), *args])


def start_cluster(bindir: Path) -> Cluster:
    """Create a cluster in a new temporary directory and start it on a free port of 127.0.0.1.

    Raises:
        RuntimeError: ``initdb`` or ``pg_ctl`` failed; the message has their output and the server log.
    """
    user = _unprivileged_user()
    _stop_abandoned_clusters(bindir, user)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    (root / _OWNER).write_text(str(os.getpid()))
    datadir, log = root / "data", root / "server.log"
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(root, account.pw_uid, account.pw_gid)
    cluster = Cluster(bindir, datadir, _free_port(), user)
    try:
        cluster._run("initdb", "-D", str(datadir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        cluster._run(
            "pg_ctl",
            "start",
            "-D",
            str(datadir),
            "-l",
            str(log),
            "-w",
            "-t",
            str(_TIMEOUT),
            "-o",
            f"-p {cluster.port} -k {root} {_SERVER_OPTIONS}",
        )
    except RuntimeError as exc:
        server_log = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"{exc}\nServer log:\n{server_log}") from exc
    return cluster


def _stop_abandoned_clusters(bindir: Path, user: str | None) -> None:
    """Stop and delete the clusters of test sessions that were killed before their teardown could do it."""
    for owner_file in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*/{_OWNER}"):
        try:
            owner = int(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _is_alive(owner):
            continue
        abandoned = Cluster(bindir, owner_file.parent / "data", 0, user)
        try:
            if (abandoned.datadir / "postmaster.pid").exists():
                abandoned._run("pg_ctl", "stop", "-D", str(abandoned.datadir), "-m", "immediate", "-w")
        except RuntimeError:
            continue  # not ours to stop after all (another user's); leave it
        shutil.rmtree(owner_file.parent, ignore_errors=True)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unprivileged_user() -> str | None:
    """The user to run PostgreSQL as: ``postgres`` when we are root (it refuses root), else ourselves (``None``)."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("Running as root, but there is no 'postgres' or 'nobody' user to run PostgreSQL as.")


def _run_as(user: str | None, command: list[str]) -> None:
    kwargs: dict[str, Any] = {}
    if user is not None:
        account = pwd.getpwnam(user)
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    # The working directory of a test (its tmp_path) is not readable by the unprivileged user.
    result = subprocess.run(
        command,
        cwd=tempfile.gettempdir(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT + 10,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())
