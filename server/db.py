"""The database: declarative base, naming convention, SQLite settings and the request transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from flask import Flask, Response, g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, Select, Table, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

from server import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Attach UTC to values read back without a zone."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every model; its metadata names constraints predictably for Alembic."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )

    if TYPE_CHECKING:
        # Every model maps one Table (none maps a join or a select), so Core statements take __table__.
        __table__: ClassVar[Table]


class TimestampMixin:
    """A creation time on every row that has one."""

    created_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())  # looked up at each insert


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    # Flask-SQLAlchemy builds ``db.Model`` at run time (a subclass of Base with a table-name default and
    # ``query``), so a type checker cannot see it; models subclass this alias and are typed as Base's.
    Model = Base
else:
    Model = db.Model


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so the "begin" hook below decides how to begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres() -> bool:
    """True when the bound database is PostgreSQL."""
    return db.engine.dialect.name == "postgresql"


T = TypeVar("T")


def paginate(query: Select[T], page: int, size: int) -> tuple[list[T], int]:
    """One page (from 1) of an ordered query's rows, and how many rows there are in all."""
    total = int(db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    return list(db.session.scalars(query.limit(size).offset((page - 1) * size))), total


def paginate_keyset(
    query: Select[T], order: list[Any], after: Any, page: int, size: int, id_column: Any
) -> tuple[list[T], int, int | None]:
    """A page of a list phones scroll: the rows in ``order`` (a total order, ending with the id), how many
    rows there are in all, and the ``before_id`` of the next page (None at the end). With ``after`` (the
    condition "after the cursor's row in this order") the page starts there, so rows added while a phone
    scrolls never repeat or shift one out; without it, ``page``."""
    total = int(db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    query = query.order_by(None).order_by(*order)
    query = query.where(after) if after is not None else query.offset((page - 1) * size)
    rows = list(db.session.scalars(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, total, (int(getattr(rows[-1], id_column.key)) if more and rows else None)


def paginate_newest_first(
    query: Select[T], id_column: Any, page: int, size: int, before_id: int | None
) -> tuple[list[T], int, int | None]:
    """``paginate_keyset`` newest first by id: ``before_id`` gives the rows of smaller ids."""
    after = id_column < before_id if before_id is not None else None
    return paginate_keyset(query, [id_column.desc()], after, page, size, id_column)


def page_count(total: int, size: int) -> int:
    """How many pages ``total`` rows fill (at least one, for an empty list)."""
    return max(1, -(-total // size))


def keep_changes_despite_error() -> None:
    """Ask the request boundary to commit even though the response is an error (e.g. a revocation)."""
    g.linli_keep_changes = True


def _finish_request(response: Response) -> Response:
    """Commit once for a successful response, roll back for an error one."""
    keep = response.status_code < 400 or g.pop("linli_keep_changes", False)
    if not keep:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return response


def init_app(app: Flask) -> None:
    """Bind the database to the app and install the one-transaction-per-request boundary."""
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)
    app.after_request(_finish_request)
