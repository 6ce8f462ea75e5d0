"""The one typed settings tree. This module is the only reader of environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where evergreen keeps its state and how it runs.

    Built once at the edges (CLI, app factories) and passed down; never read at import time.
    """

    model_config = SettingsConfigDict(env_prefix="EVERGREEN_", frozen=True, extra="ignore")

    home: Path = Field(default=Path(".evergreen"), description="state directory")
    db_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in home")
    artifacts_url: str | None = Field(
        default=None, description="fsspec URL of the artifact store; default a folder in home"
    )
    executor: str | None = Field(
        default=None,
        description="where search trials run: inline | process | ray | ray://host:port; "
        "overrides each project's search.executor (whose default is process)",
    )
    api_token: str | None = Field(default=None, description="bearer token for control routes")
    inference_token: str | None = Field(
        default=None,
        description="bearer token the gateway's inference routes need; default: open",
    )
    controller_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how long a controller's lease on a trigger event lasts unless renewed "
        "(renewed every third of it while the run goes on); a dead controller's event is "
        "taken over this long after its last renewal",
    )
    actor: str = Field(
        default_factory=lambda: _login_name(),
        description="who the CLI acts as in the audit log; default the login name",
    )

    @property
    def resolved_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'evergreen.db').resolve()}"

    @property
    def resolved_artifacts_url(self) -> str:
        if self.artifacts_url:
            return self.artifacts_url
        return str((self.home / "artifacts").resolve())


def read_secret(name: str) -> str | None:
    """The value of the environment variable ``name``, or None when it is unset.

    Secrets a project file names (a webhook's signing key in ``secret_env``, an SMTP password in
    ``password_env``) are read through this when they are used, never stored or logged.
    """
    return os.environ.get(name)


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"
