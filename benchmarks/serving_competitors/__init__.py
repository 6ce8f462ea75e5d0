"""Scripts that start the serving benchmark's competitors (``benchmarks/serving.py``).

Each runs in the competitor's own virtual environment under ``.bench/`` (or, for the minimal
FastAPI app, in the project's), never imports ``benchmarks`` and serves joblib-pickled
scikit-learn models written by the harness.
"""
