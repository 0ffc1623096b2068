"""Why a write failed: the data of an event, or the database itself (docs/telemetry.md, "Poison").

The forwarder dead-letters an event whose *data* the store refuses and retries, with backoff,
a write that failed because of the *database*. Telling the two apart decides whether the loop
goes on or stalls, so it is done on the driver's own error, never on message text:

- **PostgreSQL** (psycopg): the SQLSTATE class. ``22`` data exception (a number out of range,
  text too long, NUL or an untranslatable character), ``23`` integrity constraint violation and
  ``54`` program limit exceeded (a value too large for an index row) are the data's; every other
  class is the database's: ``08`` connection, ``53`` insufficient resources (disk full, out of
  memory), ``57`` operator intervention (shutdown, restart), ``40`` transaction rollback
  (serialization failure, deadlock), ``58`` system error, ``42`` (a missing table or a revoked
  privilege: bisecting would dead-letter every event, so it is retried). psycopg's own checks
  before sending (e.g. NUL in a text parameter) raise ``DataError`` without a SQLSTATE.
- **SQLite** (sqlite3): the primary result code. ``SQLITE_TOOBIG`` (18), ``SQLITE_CONSTRAINT``
  (19) and ``SQLITE_MISMATCH`` (20) are the data's; ``SQLITE_BUSY``, ``SQLITE_LOCKED``,
  ``SQLITE_IOERR``, ``SQLITE_FULL``, ``SQLITE_READONLY``, ``SQLITE_CANTOPEN`` and the generic
  ``SQLITE_ERROR`` (e.g. no such table) are the database's.
- **Python**, before a value reaches the server: ``OverflowError`` (an integer beyond 64 bits
  for SQLite), ``UnicodeError`` (a lone surrogate cannot be encoded), ``ValueError``,
  ``TypeError`` and ``ArithmeticError`` (the rollup's arithmetic on a value, e.g. the log of a
  negative latency) are the data's.

Anything else is treated as the database's: retrying an unknown error can stall the loop, which
the forwarder's health then reports; dead-lettering on an unknown error could empty a healthy
stream into ``dead_letters``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import StatementError

Kind = Literal["data", "database"]

DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
SQLITE_DATA_CODES = frozenset({18, 19, 20})  # SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH
PYTHON_DATA_ERRORS = (OverflowError, UnicodeError, ValueError, TypeError, ArithmeticError)
# PEP 249 names them alike in every driver: psycopg.DataError, sqlite3.IntegrityError, ...
DBAPI_DATA_CLASSES = frozenset({"DataError", "IntegrityError"})


@dataclass(frozen=True)
class Failure:
    kind: Kind
    reason: str
    """One line naming the error class, its code and the driver's message."""


def classify(exc: BaseException) -> Failure:
    """Whose fault a failed write is, with a reason fit for a dead letter or a log line."""
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    return Failure(_kind(cause), _describe(cause))


def _kind(cause: BaseException) -> Kind:
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return "data" if sqlstate[:2] in DATA_SQLSTATE_CLASSES else "database"
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        return "data" if code & 0xFF in SQLITE_DATA_CODES else "database"
    names = {cls.__name__ for cls in type(cause).__mro__}
    if "Error" in names:  # the driver's own (PEP 249) error without a code: by its class
        return "data" if names & DBAPI_DATA_CLASSES else "database"
    # A Python error while binding a value, raised bare or wrapped by SQLAlchemy (StatementError).
    return "data" if isinstance(cause, PYTHON_DATA_ERRORS) else "database"


def _describe(cause: BaseException) -> str:
    message = str(cause).strip().splitlines()
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None)
    name = type(cause).__name__ + (f" ({code})" if code else "")
    return f"{name}: {message[0][:500]}" if message else name
