"""Alembic environment: runs on the connection that driftloop.store.migrate.upgrade passes in.

For ``alembic revision`` by hand: ``alembic -x url=sqlite:///scratch.db revision -m "..."`` with
script_location pointing here (see docs/reporting.md).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from driftloop.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///.driftloop/store.db")
    with create_engine(url).connect() as fresh:
        context.configure(connection=fresh, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
