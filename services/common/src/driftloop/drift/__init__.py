"""Drift statistics (numpy/scipy only): a window of production values against a reference profile."""
