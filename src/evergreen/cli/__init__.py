"""The `evergreen` command line (Typer)."""
