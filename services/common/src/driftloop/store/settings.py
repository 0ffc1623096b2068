"""Settings of the SQL store (``DRIFTLOOP_STORE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StoreSettings(BaseModel):
    url: str = "sqlite:///.driftloop/store.db"
    """SQLAlchemy URL: sqlite:///path embedded, postgresql+psycopg://user:pass@host:5432/db in a cluster."""
    pool_size: int = Field(default=5, ge=1)
    """Connections kept open to a server database (not used by SQLite)."""
    migrate_on_start: bool = True
    """Bring the schema to the newest migration when the service starts."""
