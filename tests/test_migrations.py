"""Migrations: one head, files in chain order, a clean up/down/up, and models that agree with the schema."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from server.app import create_app
from server.db import db
from server.extensions import MIGRATIONS_DIR
from tests.conftest import base_config

VERSIONS_DIR = Path(MIGRATIONS_DIR) / "versions"


def scripts() -> ScriptDirectory:
    return ScriptDirectory(MIGRATIONS_DIR)


def version_files() -> list[Path]:
    return sorted(p for p in VERSIONS_DIR.glob("*.py") if p.name != "__init__.py")


# alembic.ini's file_template: YYYYMMDD_HHMM_<rev>_<slug>.py
VERSION_FILE_NAME = re.compile(r"^(\d{8}_\d{4})_[0-9a-f]+_\w+\.py$")


def test_there_is_exactly_one_head():
    assert len(scripts().get_heads()) == 1


def test_every_version_file_is_one_revision_of_the_chain():
    revisions = list(scripts().walk_revisions())
    assert len(revisions) == len(version_files())
    assert [r for r in revisions if r.down_revision is None] == [revisions[-1]]


@pytest.mark.parametrize("path", version_files(), ids=lambda p: p.name)
def test_every_version_file_is_named_by_its_creation_time(path):
    match = VERSION_FILE_NAME.match(path.name)
    assert match, f"{path.name} is not YYYYMMDD_HHMM_<rev>_<slug>.py"
    datetime.strptime(match.group(1), "%Y%m%d_%H%M").replace(tzinfo=UTC)  # a real date and time, not digits


def test_the_version_files_sort_in_the_order_the_chain_runs():
    chain = [Path(r.path).name for r in reversed(list(scripts().walk_revisions()))]  # base → head
    assert [p.name for p in version_files()] == chain


def test_every_revision_lives_in_a_file_named_after_it():
    for revision in scripts().walk_revisions():
        assert revision.revision in Path(revision.path).name


@contextmanager
def app_on(database_url: str, wechat_url: str) -> Iterator[Flask]:
    """An app of its own on ``database_url``, inside its app context; closed afterwards."""
    flask_app = create_app(base_config(database_url, wechat_url))
    try:
        with flask_app.app_context():
            yield flask_app
            db.session.remove()
            db.engine.dispose()
    finally:
        flask_app.extensions["linli_wechat"].close()
        redis_client = flask_app.extensions.get("linli_redis")
        if redis_client is not None:
            redis_client.close()


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def schema_differences() -> list[Any]:
    """What autogenerate would put into a new migration: nothing, when models and migrations agree."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, db.metadata)  # alembic's diff tuples, untyped
        return differences


def assert_up_down_up() -> None:
    model_tables = set(db.metadata.tables)
    assert table_names() == set()
    upgrade()
    assert table_names() == model_tables
    downgrade(revision="base")
    assert table_names() == set()
    upgrade()
    assert table_names() == model_tables
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == tuple(scripts().get_heads())


@pytest.mark.postgres
def test_upgrade_downgrade_upgrade_on_a_fresh_postgresql_database(make_database, wechat_fake):
    with app_on(make_database("migrations"), wechat_fake.url):
        assert db.engine.dialect.name == "postgresql"
        assert_up_down_up()


@pytest.mark.postgres
def test_the_models_and_the_migrations_agree_on_postgresql(make_database, wechat_fake):
    with app_on(make_database("migrations_compare"), wechat_fake.url):
        upgrade()
        assert schema_differences() == []


def test_upgrade_downgrade_upgrade_on_a_fresh_sqlite_file(tmp_path, wechat_fake):
    with app_on(f"sqlite:///{tmp_path / 'migrations.sqlite3'}", wechat_fake.url):
        assert_up_down_up()


def test_the_models_and_the_migrations_agree_on_sqlite(tmp_path, wechat_fake):
    with app_on(f"sqlite:///{tmp_path / 'compare.sqlite3'}", wechat_fake.url):
        upgrade()
        assert schema_differences() == []
