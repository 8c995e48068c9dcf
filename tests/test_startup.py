"""Start-up imports only what serving needs: Flask-Migrate (alembic), client generation and metrics come when used."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

import example_petstore
import flask_ligand
from flask_ligand.extensions import database
from flask_ligand.extensions.database import DB
from flask_ligand.logging import kept_logging_configuration
from flask_ligand.testing import created_app
from tests.conftest import MIGRATIONS_DIR, REPO_ROOT

PRODUCTION = (
    "SQLALCHEMY_DATABASE_URI='sqlite://', SERVICE_PUBLIC_URL='https://pets.example', "
    "SERVICE_PRIVATE_URL='https://pets.internal', ALLOWED_ROLES=['user'], "
    "OIDC_DISCOVERY_URL='https://idp.example/.well-known/openid-configuration'"
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this venv, with the repository importable; fail on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def unmade_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start the test as a fresh process does, before anything used ``MIGRATE`` (the suite may have made it)."""
    monkeypatch.delitem(vars(database), "MIGRATE", raising=False)


@pytest.fixture
def migrated_app(unmade_migrate: None, database_uri: str) -> Iterator[Flask]:
    """The petstore in ``testing`` on an empty database, created before ``MIGRATE`` was made."""
    # kept_logging_configuration: migrations/env.py's fileConfig points the root logger elsewhere
    with (
        kept_logging_configuration(),
        created_app(
            example_petstore.create_app,
            create_tables=False,
            SQLALCHEMY_DATABASE_URI=database_uri,
            DB_MIGRATION_DIR=str(MIGRATIONS_DIR),
        ) as app,
    ):
        yield app


def test_importing_flask_ligand_imports_no_framework() -> None:
    """``import flask_ligand.pytest_plugin`` (what pytest's entry point does) imports neither Flask nor SQLAlchemy."""
    result = run_python(
        "import sys, flask_ligand.pytest_plugin; print(sorted({'flask', 'sqlalchemy'} & {*sys.modules}))"
    )

    assert result.stdout.strip() == "[]"


def test_production_start_imports_no_migration_clientgen_or_metrics_library() -> None:
    """A ``prod`` app is created without importing alembic, Flask-Migrate, filelock, prometheus_client or dotenv."""
    result = run_python(
        "import sys, example_petstore\n"
        f"example_petstore.create_app('prod', {PRODUCTION})\n"
        "print(sorted({'alembic', 'flask_migrate', 'filelock', 'prometheus_client', 'dotenv'} & {*sys.modules}))"
    )

    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_migrate_used_after_start_logs_nothing() -> None:
    """Reading ``MIGRATE`` after the service configured logging adds no alembic lines to its log."""
    result = run_python(
        "import example_petstore\n"
        "example_petstore.create_app('testing', LOG_LEVEL='INFO')\n"
        "from flask_ligand import MIGRATE\n"
        "print(type(MIGRATE).__module__)"
    )

    assert result.stdout.strip() == "flask_migrate"
    assert "alembic" not in result.stderr


def test_flask_db_upgrade_runs_on_an_app_started_without_flask_migrate(migrated_app: Flask) -> None:
    """``flask db upgrade`` on an app created before ``MIGRATE`` was made creates the petstore's table."""
    result = migrated_app.test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    with migrated_app.app_context():
        assert "pet" in sa.inspect(DB.engine).get_table_names()


def test_flask_db_prints_to_the_commands_own_output(migrated_app: Flask) -> None:
    """``flask db check`` prints its verdict to the output of its invocation, whenever alembic was imported."""
    runner = migrated_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    result = runner.invoke(args=["db", "check"])

    assert result.exit_code == 0, result.output
    assert "No new upgrade operations detected." in result.output


def test_flask_migrate_functions_work_on_an_app_started_without_flask_migrate(migrated_app: Flask) -> None:
    """``flask_migrate.upgrade()`` called in the app context, as upstream's scripts do, upgrades the database."""
    import flask_migrate

    with migrated_app.app_context():
        flask_migrate.upgrade()

        assert "pet" in sa.inspect(DB.engine).get_table_names()


def test_flask_db_help_lists_flask_migrates_commands(migrated_app: Flask) -> None:
    """``flask db --help`` shows Flask-Migrate's own options and subcommands."""
    result = migrated_app.test_cli_runner().invoke(args=["db", "--help"])

    assert result.exit_code == 0, result.output
    assert "--directory" in result.output
    assert {"upgrade", "downgrade", "migrate", "history"} <= set(result.output.split())


def test_flask_help_describes_the_db_group(migrated_app: Flask) -> None:
    """``flask --help`` lists ``db`` with Flask-Migrate's description."""
    from flask.cli import FlaskGroup

    result = migrated_app.test_cli_runner().invoke(FlaskGroup(create_app=lambda: migrated_app), args=["--help"])

    assert "Perform database migrations." in result.output


def test_migration_scripts_read_the_database_from_the_app_before_flask_migrate(migrated_app: Flask) -> None:
    """``app.extensions["migrate"]`` gives migration scripts ``db``, ``directory`` and ``configure_args`` at once."""
    state = migrated_app.extensions["migrate"]

    assert (state.db, state.directory, state.metadata) == (DB, str(MIGRATIONS_DIR), DB.metadata)
    assert {"render_as_batch": True, "compare_type": True}.items() <= state.configure_args.items()
    assert callable(state.configure_args["render_item"])


def test_lazy_names_are_the_typed_reexports() -> None:
    """The names ``flask_ligand`` imports on first use are exactly those its type-checking imports re-export."""
    tree = ast.parse((REPO_ROOT / "flask_ligand" / "__init__.py").read_text())
    typed = {
        alias.asname: node.module
        for block in tree.body
        if isinstance(block, ast.If)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }

    assert typed == flask_ligand._EXPORTS
    assert set(typed) <= set(dir(flask_ligand))


MODULES = sorted(
    module.name
    for module in pkgutil.walk_packages(flask_ligand.__path__, "flask_ligand.")
    if module.name != "flask_ligand.__main__"
)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """Whichever module a program imports first (``from flask_ligand.schemas import ...``), it imports: no cycle."""
    run_python(f"import {module}")


def test_subpackage_resolves_by_attribute_after_a_bare_import() -> None:
    """``import flask_ligand`` then ``flask_ligand.extensions`` gives the subpackage, as the eager imports did."""
    result = run_python("import flask_ligand\nprint(flask_ligand.extensions.__name__)")

    assert result.stdout.strip() == "flask_ligand.extensions"


def test_star_import_gives_every_public_name() -> None:
    """``from flask_ligand import *`` binds each re-exported name, as the eager imports did."""
    result = run_python("from flask_ligand import *\nprint(create_app.__module__, DB.__class__.__name__, Blueprint)")

    assert result.stdout.split()[:2] == ["flask_ligand.app", "SQLAlchemy"]


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A name that is neither public nor a subpackage raises ``AttributeError``, so ``hasattr`` stays truthful."""
    assert not hasattr(flask_ligand, "no_such_name")
