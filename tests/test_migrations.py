"""The petstore's Alembic history, run through the real ``flask db`` commands on a fresh SQLite file and PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import Result
from flask import Flask
from flask_jwt_extended import create_access_token

import example_petstore
from example_petstore.models import Pet
from flask_ligand.extensions.database import DB
from flask_ligand.logging import kept_logging_configuration
from flask_ligand.testing import created_app, json_body
from tests import pg
from tests.conftest import MIGRATIONS_DIR, HeadersFactory
from tests.servers import run_flask

#: The revision that creates the pet table, before pets had a version.
FIRST_REVISION = "59af50ffd2a5"
LEGACY_PET_ID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
LEGACY_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo the ``fileConfig`` of ``env.py``, which points the root logger at the CLI runner's stderr and, in the one
    ``flask db init`` writes, disables every logger it does not name."""
    with kept_logging_configuration():
        yield


def migrating_app(database_uri: str, **settings: Any) -> AbstractContextManager[Flask]:
    """The petstore in ``testing`` on the database at ``database_uri``, whose schema is left to the migrations."""
    return created_app(
        example_petstore.create_app,
        create_tables=False,
        SQLALCHEMY_DATABASE_URI=database_uri,
        **{"DB_MIGRATION_DIR": str(MIGRATIONS_DIR), **settings},
    )


@pytest.fixture
def app(database_uri: str) -> Iterator[Flask]:
    """The petstore in ``testing`` on an empty database: the schema is left to the migrations."""
    with migrating_app(database_uri) as app:
        yield app


def flask_db(app: Flask, *args: str, exit_code: int = 0) -> Result:
    """Run ``flask db <args>`` on ``app`` and check its exit code, showing its output when it differs."""
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == exit_code, f"flask db {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result


def table_names(app: Flask) -> set[str]:
    with app.app_context():
        return set(sa.inspect(DB.engine).get_table_names())


def pending_changes(app: Flask) -> list[Any]:
    """What ``flask db migrate`` would put in a new revision: the differences between the models and the database."""
    with app.app_context(), DB.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, DB.metadata))


def test_upgrade_downgrade_upgrade_creates_drops_and_recreates_the_pet_table(app: Flask) -> None:
    """``db upgrade`` creates the pet table, ``db downgrade base`` drops it and a second ``db upgrade`` restores it."""
    assert "pet" not in table_names(app)

    flask_db(app, "upgrade")
    assert "pet" in table_names(app)

    flask_db(app, "downgrade", "base")
    assert "pet" not in table_names(app)

    flask_db(app, "upgrade")
    assert "pet" in table_names(app)


def test_upgraded_pet_table_has_the_model_columns(app: Flask) -> None:
    """After ``db upgrade`` the pet table has exactly the model's columns, with ``id`` as primary key."""
    flask_db(app, "upgrade")

    with app.app_context():
        inspector = sa.inspect(DB.engine)
        columns = {column["name"]: column for column in inspector.get_columns("pet")}
        primary_key = inspector.get_pk_constraint("pet")["constrained_columns"]

    assert set(columns) == {"id", "name", "description", "created_at", "updated_at", "version_id"}
    assert primary_key == ["id"]
    assert not columns["name"]["nullable"]


def _pet_indexes(app: Flask) -> dict[str | None, list[str | None]]:
    with app.app_context():
        return {index["name"]: index["column_names"] for index in sa.inspect(DB.engine).get_indexes("pet")}


def test_sort_indexes_are_created_even_when_some_were_made_beforehand_and_dropped_on_downgrade(app: Flask) -> None:
    """The index revision creates one index per allowed sort, keeps one an operator made beforehand (as with
    ``CREATE INDEX CONCURRENTLY`` on a large table), and its downgrade drops them all."""
    expected = {
        "ix_pet_name_id": ["name", "id"],
        "ix_pet_created_at_id": ["created_at", "id"],
        "ix_pet_updated_at_id": ["updated_at", "id"],
    }
    flask_db(app, "upgrade", "121a121b2ef0")
    with app.app_context(), DB.engine.begin() as connection:
        connection.execute(sa.text("CREATE INDEX ix_pet_name_id ON pet (name, id)"))

    flask_db(app, "upgrade")
    assert _pet_indexes(app) == expected

    flask_db(app, "downgrade", "121a121b2ef0")
    assert _pet_indexes(app) == {}


def test_upgrade_writes_its_sql_offline_for_a_dba_to_run(postgresql_cluster: pg.Cluster) -> None:
    """``flask db upgrade --sql`` prints every revision's PostgreSQL without touching the database, indexes included.

    PostgreSQL only: on SQLite, alembic's batch mode (the version column's revision) needs a live database.
    """
    with postgresql_cluster.database() as uri, migrating_app(uri) as app:
        result = flask_db(app, "upgrade", "--sql")
        assert "pet" not in table_names(app)

    assert "CREATE TABLE pet" in result.output
    assert "CREATE INDEX IF NOT EXISTS ix_pet_name_id ON pet (name, id)" in result.output
    assert "UPDATE alembic_version SET version_num='97c69761fce0'" in result.output


def test_autogenerate_finds_no_pending_change_after_upgrade(app: Flask) -> None:
    """After ``db upgrade`` the models and the migrated schema agree, column types included."""
    flask_db(app, "upgrade")

    assert pending_changes(app) == []


def test_autogenerate_reports_the_pet_table_missing_from_an_empty_database(app: Flask) -> None:
    """The comparison is not vacuous: against an empty database it reports the pet table, and its indexes, to add."""
    changes = pending_changes(app)

    assert sorted((change[0], change[1].name) for change in changes) == [
        ("add_index", "ix_pet_created_at_id"),
        ("add_index", "ix_pet_name_id"),
        ("add_index", "ix_pet_updated_at_id"),
        ("add_table", "pet"),
    ]


def test_db_check_passes_after_upgrade(app: Flask) -> None:
    """``flask db check`` exits 0 on a database upgraded to head: no migration is missing."""
    flask_db(app, "upgrade")

    flask_db(app, "check", exit_code=0)


def test_db_check_fails_when_a_model_table_has_no_migration(app: Flask) -> None:
    """``flask db check`` exits 1 and names the table when the database is at head but lacks a model's table."""
    flask_db(app, "stamp", "head")

    result = flask_db(app, "check", exit_code=1)

    assert "New upgrade operations detected" in result.output
    assert "add_table" in result.output
    assert "'pet'" in result.output


def test_db_check_fails_on_a_database_behind_head(app: Flask) -> None:
    """``flask db check`` exits 1 on a database that has not been upgraded."""
    result = flask_db(app, "check", exit_code=1)

    assert "Target database is not up to date" in result.output


def test_api_stores_and_serves_pets_on_a_migrated_database(app: Flask) -> None:
    """On a schema made by ``db upgrade`` alone (no ``create_all``), a pet is created, listed and read back."""
    flask_db(app, "upgrade")
    with app.app_context():
        token = create_access_token("tester", additional_claims={"realm_access": {"roles": ["user"]}})
    client = app.test_client()

    created = client.post(
        "/pets/",
        json={"name": "Rex", "description": "A good dog."},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.json

    fetched = client.get(created.headers["Location"])
    assert fetched.status_code == 200, fetched.json
    assert json_body(fetched)["name"] == "Rex"
    assert json_body(fetched)["description"] == "A good dog."

    listed = client.get("/pets/")
    assert [pet["id"] for pet in json_body(listed)] == [json_body(created)["id"]]

    with app.app_context():
        rows = DB.session.execute(sa.text("SELECT name FROM pet")).scalars().all()
    assert rows == ["Rex"]


def test_pets_stored_before_versioning_keep_their_data_and_can_be_replaced(
    app: Flask, auth_headers: HeadersFactory
) -> None:
    """Upgrading a table with pets adds version '0' to each, and a client replaces a pet with that ETag."""
    flask_db(app, "upgrade", FIRST_REVISION)
    with app.app_context(), DB.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO pet (id, name, description, created_at, updated_at) "
                "VALUES (:id, 'Rex', 'Old dog.', :now, :now)"
            ),
            {"id": LEGACY_PET_ID.hex if DB.engine.dialect.name == "sqlite" else str(LEGACY_PET_ID), "now": LEGACY_TIME},
        )

    flask_db(app, "upgrade")

    client = app.test_client()
    fetched = client.get(f"/pets/{LEGACY_PET_ID}")
    assert fetched.status_code == 200, fetched.json
    assert json_body(fetched)["name"] == "Rex"
    assert fetched.headers["ETag"] == '"0"'
    replaced = client.put(
        f"/pets/{LEGACY_PET_ID}",
        json={"name": "Rex", "description": "Still a good dog."},
        headers=auth_headers("user", **{"If-Match": '"0"'}),
    )
    assert replaced.status_code == 200, replaced.json
    assert replaced.headers["ETag"] not in ('"0"', fetched.headers["ETag"])


def test_downgrading_the_version_column_keeps_the_pets(app: Flask, auth_headers: HeadersFactory) -> None:
    """``db downgrade`` of the version revision drops only the column: the pets stay, and upgrading again works."""
    flask_db(app, "upgrade")
    created = app.test_client().post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))
    assert created.status_code == 201, created.json

    flask_db(app, "downgrade", FIRST_REVISION)
    with app.app_context():
        columns = {column["name"] for column in sa.inspect(DB.engine).get_columns("pet")}
        names = DB.session.execute(sa.text("SELECT name FROM pet")).scalars().all()
    assert "version_id" not in columns
    assert names == ["Rex"]

    flask_db(app, "upgrade")
    assert json_body(app.test_client().get(created.headers["Location"]))["name"] == "Rex"
    assert pending_changes(app) == []


#: A service's own command line, made with Flask's ``FlaskGroup`` as Flask documents custom scripts.
_MANAGE_SCRIPT = """
from flask.cli import FlaskGroup

import example_petstore

cli = FlaskGroup(create_app=lambda: example_petstore.create_app("local"))
cli()
"""


@pytest.mark.parametrize("command", ["flask", "own-script"])
def test_flask_db_commands_in_local_do_not_upgrade_first(tmp_path: Path, command: str) -> None:
    """In ``local`` (``DB_AUTO_UPGRADE`` on), ``flask db downgrade`` stays downgraded: the next ``flask db`` command
    does not upgrade on start-up, while a command that serves the app does. So too with a service's own script."""
    database = tmp_path / "local.db"
    script = tmp_path / "manage.py"
    script.write_text(_MANAGE_SCRIPT)
    program = () if command == "flask" else (sys.executable, str(script))
    environment = {
        "FLASK_APP": "example_petstore.app",
        "FLASK_ENV": "local",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "DB_MIGRATION_DIR": str(MIGRATIONS_DIR),
    }

    def flask(*args: str) -> str:
        result = run_flask(*args, environ=environment, cwd=MIGRATIONS_DIR.parent, program=program)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    flask("db", "upgrade")
    flask("db", "downgrade", FIRST_REVISION)
    current = flask("db", "current")
    assert FIRST_REVISION in current
    assert "(head)" not in current

    flask("routes")  # any other command makes the app as a service would, upgrading it

    assert "(head)" in flask("db", "current")


def _readiness(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/health/ready")
    assert response.json is not None
    return response.status_code, response.json["checks"]


def test_readiness_fails_until_the_schema_has_every_migration_of_the_release(database_uri: str) -> None:
    """With ``HEALTH_MIGRATIONS``, ``/health/ready`` is a 503 naming the missing revision until ``db upgrade`` ran:
    a release whose code needs the new columns takes no traffic before its migrations."""
    with migrating_app(database_uri, HEALTH_MIGRATIONS=True) as app:
        status, checks = _readiness(app)
        assert status == 503
        assert checks["database"]["status"] == "pass"
        assert checks["migrations"]["status"] == "fail"
        assert checks["migrations"]["output"] == (
            "The database schema lacks this release's migration 97c69761fce0 (it has none applied): run "
            "'flask db upgrade'."
        )

        flask_db(app, "upgrade", "121a121b2ef0")
        status, checks = _readiness(app)
        assert status == 503
        assert checks["migrations"]["output"] == (
            "The database schema lacks this release's migration 97c69761fce0 (it is at 121a121b2ef0): run "
            "'flask db upgrade'."
        )

        flask_db(app, "upgrade")
        status, checks = _readiness(app)
        assert status == 200
        assert checks["migrations"]["status"] == "pass"


def test_readiness_passes_on_a_schema_a_later_release_migrated(database_uri: str) -> None:
    """A revision this release does not know was written by a later one (a rolling deploy): the schema is ahead."""
    with migrating_app(database_uri, HEALTH_MIGRATIONS=True) as app:
        flask_db(app, "upgrade")
        with app.app_context(), DB.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'"))

        status, checks = _readiness(app)

    assert status == 200
    assert checks["migrations"]["status"] == "pass"


def test_readiness_leaves_the_migrations_alone_when_off_or_without_a_migrations_folder(
    database_uri: str, tmp_path: Path
) -> None:
    """``testing`` turns the check off (its tables come from the models); a service without migrations has none."""
    with migrating_app(database_uri) as app:
        assert app.config["HEALTH_MIGRATIONS"] is False
        assert set(_readiness(app)[1]) == {"database"}
    with migrating_app(database_uri, HEALTH_MIGRATIONS=True, DB_MIGRATION_DIR=str(tmp_path / "none")) as app:
        assert set(_readiness(app)[1]) == {"database"}


def test_migrations_keep_the_rows_referring_to_a_table_they_copy(app: Flask, ligand_database_backend: str) -> None:
    """Foreign keys are enforced on SQLite too, but not while Alembic migrates: batch mode copies the pet table and
    drops the old one (the downgrade dropping ``version_id``), which would otherwise delete the rows referring to
    it with ``ON DELETE CASCADE``. After migrating, in the same process, references are enforced again."""
    key_type = "UUID" if ligand_database_backend == "postgresql" else "CHAR(32)"
    flask_db(app, "upgrade")
    with app.app_context():
        DB.session.add(Pet(name="Rex"))
        DB.session.commit()
        with DB.engine.begin() as connection:
            connection.execute(
                sa.text(f"CREATE TABLE pet_tag (pet_id {key_type} NOT NULL REFERENCES pet (id) ON DELETE CASCADE)")
            )
            connection.execute(sa.text("INSERT INTO pet_tag (pet_id) SELECT id FROM pet"))

    flask_db(app, "downgrade", FIRST_REVISION)
    flask_db(app, "upgrade")

    with app.app_context():
        assert DB.session.scalar(sa.text("SELECT count(*) FROM pet_tag")) == 1
        with pytest.raises(sa.exc.IntegrityError):
            DB.session.execute(sa.text("INSERT INTO pet_tag (pet_id) VALUES (:id)"), {"id": uuid.uuid4().hex})
            DB.session.commit()
        DB.session.rollback()


# The env.py of ``flask db init`` tries Flask-SQLAlchemy's deprecated ``get_engine`` first, as in a user's service.
@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_a_migration_autogenerated_in_a_new_folder_imports_its_column_types(database_uri: str, tmp_path: Path) -> None:
    """With the migrations folder ``flask db init`` writes, a generated migration of the pet table, whose id is
    sqlalchemy-utils' ``UUIDType``, imports that type's module, so ``flask db upgrade`` runs it."""
    folder = tmp_path / "migrations"
    with migrating_app(database_uri, DB_MIGRATION_DIR=str(folder)) as app:
        flask_db(app, "init")
        flask_db(app, "migrate", "-m", "Add the pet table")
        (script,) = (folder / "versions").glob("*_add_the_pet_table.py")

        flask_db(app, "upgrade")

        assert "import sqlalchemy_utils.types.uuid\n" in script.read_text()
        assert "pet" in table_names(app)
