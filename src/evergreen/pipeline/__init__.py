"""The training pipeline: projects, steps, runs."""
