"""Data: sources, content-addressed dataset snapshots, splits."""
