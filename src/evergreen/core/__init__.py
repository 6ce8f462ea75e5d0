"""Pure building blocks: ids and references, the clock."""
