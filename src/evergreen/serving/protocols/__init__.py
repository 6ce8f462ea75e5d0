"""Wire protocols the gateway speaks; each module turns requests into frames and back."""
