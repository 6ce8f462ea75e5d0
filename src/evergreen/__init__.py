"""evergreen: continuous model training."""
