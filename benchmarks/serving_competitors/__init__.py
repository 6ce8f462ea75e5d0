"""Starting the serving benchmark's servers (``benchmarks/serving.py``).

``launch.py`` (project environment) builds the workload and starts every server. The scripts
beside it start one competitor each: ``mlflow_server.py`` and ``mlserver_server.py`` run in the
competitor's own virtual environment under ``.bench/``, ``fastapi_app.py`` under uvicorn in the
project's; they import nothing from ``benchmarks`` and serve the joblib-pickled scikit-learn
models written by the harness.
"""
