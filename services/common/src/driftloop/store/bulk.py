"""PostgreSQL bulk writes (psycopg 3): new rows by ``COPY``, each key stored once.

``COPY`` cannot skip a row whose key is already stored (it fails the whole load with a unique
violation), so :func:`copy_new_rows` makes the load idempotent around it:

1. the batch's own duplicates are dropped (an event redelivered within one batch), first one kept;
2. the keys already stored are looked up in one query (``key = ANY(%s)``, on the key's index) and
   those rows dropped (a batch redelivered after a crash: nothing is loaded);
3. the rest is ``COPY``-ed straight into the table, inside a savepoint;
4. only if that load meets a unique violation (a concurrent writer stored some of the same events
   between 2 and 3, e.g. two forwarders during a consumer-group rebalance) is the savepoint rolled
   back and the rows loaded the slow, always-safe way: ``COPY`` into a temporary staging table,
   then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` the keys it stored.

Either way the caller learns exactly which rows this transaction stored, which the rollups count.
Any other error (a value out of range, NUL in ``jsonb``) propagates with the driver's SQLSTATE for
store/failures.py to classify, and store/poison.py bisects the batch as it does for row inserts.
Loading straight into the table instead of through a staging table and an insert-select halves
the database's work per row (docs/benchmarks.md, "Bulk writes (issue 16)").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import errors, sql
from sqlalchemy import JSON, Connection, DateTime, Table
from sqlalchemy.dialects import postgresql

Row = dict[str, Any]


def available(connection: Connection) -> bool:
    """Whether the connection can bulk-write: PostgreSQL through psycopg 3 (SQLite keeps row inserts)."""
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def cursor_of(connection: Connection) -> psycopg.Cursor[Any]:
    """A psycopg cursor on the SQLAlchemy connection's own DBAPI connection: inside its transaction."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr, no-any-return]


def copy_new_rows(connection: Connection, table: Table, rows: list[Row], key: Sequence[str]) -> list[Row]:
    """Store the rows whose ``key`` is not stored yet; returns them (each key once), in batch order."""
    cursor = cursor_of(connection)
    unique = _first_of_each_key(rows, key)
    stored = _stored_keys(cursor, table, key, unique)
    fresh = [row for k, row in unique.items() if k not in stored]
    if not fresh:
        return []
    columns = [c.name for c in table.columns if c.name in fresh[0]]
    cursor.execute("SAVEPOINT driftloop_copy")
    try:
        _copy(cursor, sql.Identifier(table.name), columns, fresh, _encoders(table, columns))
    except errors.UniqueViolation:  # a concurrent writer stored some of them after the look-up
        cursor.execute("ROLLBACK TO SAVEPOINT driftloop_copy")
        inserted = _insert_through_staging(cursor, table, columns, fresh, key)
        return [row for row in fresh if tuple(row[k] for k in key) in inserted]
    cursor.execute("RELEASE SAVEPOINT driftloop_copy")
    return fresh


def _first_of_each_key(rows: list[Row], key: Sequence[str]) -> dict[tuple[Any, ...], Row]:
    unique: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        unique.setdefault(tuple(row[k] for k in key), row)
    return unique


def _stored_keys(
    cursor: psycopg.Cursor[Any], table: Table, key: Sequence[str], rows: dict[tuple[Any, ...], Row]
) -> set[tuple[Any, ...]]:
    """The keys among ``rows`` already in ``table``: one look-up by the key's first column (indexed)."""
    first = sorted({k[0] for k in rows})
    query = sql.SQL("SELECT {keys} FROM {table} WHERE {first} = ANY(%s)").format(
        keys=sql.SQL(", ").join(map(sql.Identifier, key)),
        table=sql.Identifier(table.name),
        first=sql.Identifier(key[0]),
    )
    cursor.execute(query, [first])
    return {tuple(found) for found in cursor.fetchall()}


def _insert_through_staging(
    cursor: psycopg.Cursor[Any], table: Table, columns: list[str], rows: list[Row], key: Sequence[str]
) -> set[tuple[Any, ...]]:
    """COPY into a temporary twin of the table (dropped at the commit), then insert what is new."""
    staging = sql.Identifier(f"driftloop_staging_{table.name}")
    target = sql.Identifier(table.name)
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    cursor.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(staging, target)
    )
    _copy(cursor, staging, columns, rows, _encoders(table, columns))
    cursor.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING RETURNING {}").format(
            target, names, names, staging, sql.SQL(", ").join(map(sql.Identifier, key))
        )
    )
    inserted = {tuple(found) for found in cursor.fetchall()}
    cursor.execute(sql.SQL("DROP TABLE {}").format(staging))  # a second fallback in this transaction
    return inserted


def unnest(table: Table, columns: Sequence[str], rows: list[Row], alias: str) -> tuple[sql.Composed, list[Any]]:
    """Rows as a relation in one statement: ``unnest(%s::type[], ...) AS alias(columns)``, one array per column.

    For the few rows of a rollup per batch, one parameterised statement is cheaper than a ``COPY``
    (which needs a staging table and a round trip of its own) and than a statement per row."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays, params = [], []
    for name, encode in zip(columns, _encoders(table, columns), strict=True):
        column_type = table.c[name].type.compile(dialect=dialect)
        # JSON and times travel as text (see _encoders) and are cast element by element.
        cast = f"::text[]::{column_type}[]" if encode is not None else f"::{column_type}[]"
        arrays.append(sql.SQL("%s" + cast))
        params.append([row[name] if encode is None else encode(row[name]) for row in rows])
    relation = sql.SQL("unnest({}) AS {}({})").format(
        sql.SQL(", ").join(arrays), sql.Identifier(alias), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    return relation, params


Encoder = Callable[[Any], Any] | None


def _encoders(table: Table, columns: Sequence[str]) -> list[Encoder]:
    """Per column, how a value is written: JSON columns as JSON text, times as ISO 8601 text, the rest
    as psycopg adapts them.

    A Python ``None`` in a JSON column is SQL NULL only where the column says so (``none_as_null``);
    elsewhere it is the JSON value ``null``, as SQLAlchemy's inserts write it on SQLite (a label or
    a prediction may be ``null``). Times are formatted here with ``isoformat()`` (which keeps the
    offset): psycopg's own dumper for an aware ``datetime`` spent ~23,000 more instructions per
    prediction row on its two time columns (callgrind, docs/benchmarks.md "Bulk writes")."""
    encoders: list[Encoder] = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, DateTime):
            encoders.append(lambda value: None if value is None else value.isoformat())
        elif not isinstance(kind, JSON):
            encoders.append(None)
        elif kind.none_as_null:
            encoders.append(lambda value: None if value is None else orjson.dumps(value).decode())
        else:
            encoders.append(lambda value: orjson.dumps(value).decode())
    return encoders


def _copy(
    cursor: psycopg.Cursor[Any], target: sql.Identifier, columns: list[str], rows: list[Row], encoders: list[Encoder]
) -> None:
    """COPY in text format: psycopg escapes tabs, newlines and backslashes, and writes None as NULL."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, sql.SQL(", ").join(map(sql.Identifier, columns)))
    pairs = list(zip(columns, encoders, strict=True))
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[name] if encode is None else encode(row[name]) for name, encode in pairs])
