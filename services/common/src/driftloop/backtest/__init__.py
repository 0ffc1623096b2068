"""``driftloop backtest``: a labelled history replayed through the loop's own code (docs/backtest.md)."""
