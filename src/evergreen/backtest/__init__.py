"""The retraining backtester: replay a historical table as batches through evergreen's own
pipeline, monitors and triggers on a simulated clock, once per retraining policy, and compare
(see docs/backtest.md). ``evergreen backtest`` is its command."""
