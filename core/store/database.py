"""Where the results live and how to reach them: a SQLite file or a PostgreSQL URL, one engine.

``--db`` / ``$TWINBENCH_DB`` take either a file path (SQLite, the default
``$TWINBENCH_HOME/runs.sqlite``) or a URL (``postgresql://user:password@host:5432/name``, the
store a team or a hosted dashboard shares). Both go through SQLAlchemy Core, so the store's
queries are written once; what differs per backend is here: SQLite's write-ahead log, foreign
keys and write transactions that take the lock up front, PostgreSQL's psycopg driver.

The schema is the ``metadata`` below, versioned in the ``twinbench_schema`` table (files written
before that table existed carry their version in SQLite's ``user_version``); ``upgrade`` brings
an older database to ``SCHEMA_VERSION`` in one transaction, step by step, without losing a row.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from core.errors import BadInput
from core.paths import default_db_path, twinbench_home

SCHEMA_VERSION = 2
BUSY_TIMEOUT_SECONDS = 30.0
# Any fixed number: PostgreSQL's advisory lock that lets one process at a time create or upgrade the schema.
SCHEMA_LOCK_KEY = 7_305_104_115

metadata = MetaData()

comparisons = Table(
    "comparisons", metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", Double, nullable=False),
    Column("dataset", Text, nullable=False),
    Column("architecture", Text, nullable=False),
    Column("device", Text, nullable=False),
    Column("frameworks", Text, nullable=False),
    Column("settings_json", Text, nullable=False),
    Column("data_json", Text, nullable=False, server_default="{}"),
    # Version 2: the sweep a comparison belongs to, the visitor who made it (public mode), tags and a note.
    Column("sweep_id", Text),
    Column("owner", Text),
    Column("tags_json", Text, nullable=False, server_default="[]"),
    Column("note", Text, nullable=False, server_default=""),
)
Index("comparisons_by_sweep", comparisons.c.sweep_id)

runs = Table(
    "runs", metadata,
    Column("id", Text, primary_key=True),
    Column("comparison_id", Text, ForeignKey("comparisons.id", ondelete="CASCADE"), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("repeat", BigInteger, nullable=False),
    Column("framework", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("result_json", Text),
    Column("error_kind", Text),
    Column("error_message", Text),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    # Version 2: which machine and home trains it (``claimant``), so a runner fails only what it left behind.
    Column("claimed_by", Text),
)
Index("runs_by_comparison", runs.c.comparison_id, runs.c.position)

epochs = Table(
    "epochs", metadata,
    Column("run_id", Text, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("epoch", BigInteger, primary_key=True),
    *(Column(name, Double) for name in (
        "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds", "eval_seconds", "elapsed_seconds",
        "images_per_second", "step_ms_median", "step_ms_p90", "data_wait_fraction")),
)

step_samples = Table(
    "step_samples", metadata,
    Column("run_id", Text, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("epoch", BigInteger, primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("steps", BigInteger, nullable=False),
    Column("milliseconds", Double, nullable=False),
    Column("warmup", Integer, nullable=False),
)

jobs = Table(
    "jobs", metadata,
    Column("id", Text, primary_key=True),
    Column("comparison_id", Text, ForeignKey("comparisons.id", ondelete="CASCADE"), nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("cancel_requested", Integer, nullable=False, server_default="0"),
    Column("progress_json", Text),
    Column("message", Text),
    # Version 2: the runner that claimed it and when it last reported (see core.engine.jobs.recover_abandoned).
    Column("claimed_by", Text),
    Column("heartbeat_at", Double),
)
Index("jobs_by_status", jobs.c.status, jobs.c.created_at)

environments = Table(
    "environments", metadata,
    Column("run_id", Text, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("framework_version", Text),
    Column("device_name", Text),
    Column("driver", Text),
    Column("cpu", Text),
    Column("threads", BigInteger),
    Column("details_json", Text, nullable=False),
)

schema_versions = Table("twinbench_schema", metadata, Column("version", Integer, nullable=False))

TABLES = ("comparisons", "runs", "epochs", "step_samples", "environments", "jobs")


def column_names(table: Table, *, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A table's columns in their order, but those named in ``without``."""
    return tuple(column.name for column in table.columns if column.name not in without)


# What an export holds of each table and what callers read of it; a run's own rows name it by nesting.
# Not a comparison's owner (a visitor's browser session, see core/engine/public_mode.py), nor who claimed a run.
COMPARISON_COLUMNS = column_names(comparisons, without=("owner",))
RUN_COLUMNS = column_names(runs, without=("claimed_by",))
EPOCH_COLUMNS = column_names(epochs, without=("run_id",))
STEP_COLUMNS = column_names(step_samples, without=("run_id",))
ENVIRONMENT_COLUMNS = column_names(environments, without=("run_id",))

# What takes a database from version N-1 to N, in SQL that SQLite and PostgreSQL both run.
UPGRADES: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE comparisons ADD COLUMN sweep_id TEXT",
        "ALTER TABLE comparisons ADD COLUMN owner TEXT",
        "ALTER TABLE comparisons ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE comparisons ADD COLUMN note TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX IF NOT EXISTS comparisons_by_sweep ON comparisons (sweep_id)",
        "ALTER TABLE runs ADD COLUMN claimed_by TEXT",
        "ALTER TABLE jobs ADD COLUMN claimed_by TEXT",
        "ALTER TABLE jobs ADD COLUMN heartbeat_at DOUBLE PRECISION",
    ),
}


def default_location() -> str:
    """``$TWINBENCH_DB`` (a path or a URL), else ``$TWINBENCH_HOME/runs.sqlite``."""
    return os.environ.get("TWINBENCH_DB") or str(default_db_path())


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def database_url(location: str | Path) -> URL:
    """The SQLAlchemy URL for a path or a URL; PostgreSQL URLs get the psycopg (version 3) driver."""
    if not is_url(location):
        return URL.create("sqlite", database=str(Path(location).expanduser()))
    try:
        url = make_url(str(location))
    except ArgumentError:
        raise BadInput(f"{shown_location(str(location))} is not a database URL "
                       "(expected postgresql://user:password@host:5432/name)") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername == "sqlite" and url.database:
        return url
    raise BadInput(f"{shown_location(str(location))}: Twinbench stores results in a SQLite file or PostgreSQL "
                   "(postgresql://user:password@host:5432/name)")


def shown_location(location: str | Path) -> str:
    """A location as messages show it: a URL without its password."""
    if not is_url(location):
        return str(location)
    try:
        return make_url(str(location)).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL"


def claimant() -> str:
    """Who trains here: this machine and its Twinbench home, the scope of one device lock."""
    return f"{socket.gethostname()}:{twinbench_home()}"


def create_database_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        # pre_ping: a server restarted since the last query costs a reconnect, not an error on a page.
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except NoSuchModuleError:
        raise BadInput(f"no driver for {url.drivername}; install requirements.txt (psycopg)") from None


def _sqlite_connected(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Transactions are begun by _sqlite_begin, not by the sqlite3 module's guesswork.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(connection: Connection) -> None:
    # A write takes SQLite's write lock at BEGIN (waiting up to the busy timeout) rather than at its
    # first write, where a lock upgrade can fail at once with "database is locked". A read begins
    # a plain transaction: one consistent snapshot for all of its queries, next to any writer (WAL).
    writing = connection.get_execution_options().get("twinbench_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """All of a write or none of it: committed at the end of the block, rolled back on any error."""
    with engine.connect() as connection:
        connection.execution_options(twinbench_write=True)
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection, connection.begin():
        yield connection


def enable_write_ahead_log(engine: Engine) -> None:
    """SQLite only: readers never wait for the writer. Kept in the file once set."""
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is locked"
    # at once instead of waiting when another connection is opening the same file, so the busy
    # timeout does not cover it: retry until the timeout instead.
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    raw = engine.raw_connection()
    try:
        while True:
            try:
                raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        raw.close()


def stored_version(connection: Connection) -> int:
    """The schema version a database holds: 0 for an empty one."""
    tables = set(inspect(connection).get_table_names())
    if schema_versions.name in tables:
        return int(connection.execute(select(schema_versions.c.version)).scalar_one_or_none() or 0)
    if connection.dialect.name == "sqlite":
        # Files written before twinbench_schema existed (version 1) carry it in the file header.
        return int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())
    return 0


def upgrade(connection: Connection, version: int) -> None:
    """Create the schema in an empty database, or bring one at ``version`` up to SCHEMA_VERSION.

    Runs inside the caller's write transaction: on PostgreSQL (transactional DDL) and SQLite alike,
    an upgrade that fails part-way leaves the database as it was."""
    if version == 0:
        metadata.create_all(connection)
    else:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in UPGRADES[step]:
                connection.exec_driver_sql(statement)
        schema_versions.create(connection, checkfirst=True)
    connection.execute(schema_versions.delete())
    connection.execute(schema_versions.insert().values(version=SCHEMA_VERSION))
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")


def lock_schema(connection: Connection) -> None:
    """One process at a time creates or upgrades the schema (SQLite: BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


# What the database itself raises (damaged, unreachable, refused), as opposed to our code: through
# SQLAlchemy, or from the sqlite3 module directly (online backup, a raw connection).
DATABASE_ERRORS = (DBAPIError, sqlite3.DatabaseError)


def is_database_error(error: BaseException) -> bool:
    return isinstance(error, DATABASE_ERRORS)


def is_unreachable(error: BaseException) -> bool:
    """A database server that cannot be reached or refused us, as opposed to a damaged SQLite file."""
    return isinstance(error, OperationalError) and not isinstance(error.orig, sqlite3.DatabaseError)
