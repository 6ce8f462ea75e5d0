"""Running a read query on any SQLAlchemy database, for SQL dataset sources.

SQLAlchemy and driver errors become evergreen errors here, so they never escape ``store/``.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from evergreen.errors import InvalidInput, Unavailable


def redact(url: str) -> str:
    """The URL without its password, fit for messages and records."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def read_query(url: str, query: str) -> pd.DataFrame:
    """The rows ``query`` returns on the database at ``url``."""
    try:
        engine = sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise InvalidInput(f"invalid database URL {redact(url)!r}: {exc}") from None
    try:
        with engine.connect() as connection:
            return pd.read_sql_query(sa.text(query), connection)
    except OperationalError as exc:
        if exc.connection_invalidated or "connect" in str(exc.orig).lower():
            raise Unavailable(f"cannot reach the database {redact(url)}: {exc.orig}") from None
        raise InvalidInput(f"SQL query failed: {exc.orig}; query: {query!r}") from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise InvalidInput(f"SQL query failed: {reason}; query: {query!r}") from None
    finally:
        engine.dispose()
