"""Training: metrics, candidates and the hyper-parameter search (``search.py``) on executors
(``executors.py``: inline, a local process pool, Ray), the promotion gate."""
