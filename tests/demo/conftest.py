from fixtures.loop import context, hourly, landing, project

__all__ = ["context", "hourly", "landing", "project"]
