"""The ``driftloop`` command line."""
