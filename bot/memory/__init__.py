"""Memory (an adapter): the core's store contract on SQLAlchemy Core, in a SQLite file or
PostgreSQL; the schema, its versioned migrations, and what differs by back end."""

from .store import SqlMemoryStore, describe_memory, open_store

__all__ = ["SqlMemoryStore", "describe_memory", "open_store"]
