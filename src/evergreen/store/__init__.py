"""Storage: the metadata database (SQLAlchemy 2 + Alembic) and the content-addressed artifact
store (fsspec). SQLAlchemy and fsspec are used only inside this package."""
