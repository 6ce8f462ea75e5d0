"""Monitoring: monitors over windows of the prediction log."""
