"""Database engine, shared column types, migrations."""
