"""Training: metrics, fitting candidates, the promotion gate."""
