"""driftloop: a closed loop for tabular models, from a CSV to a REST API that retrains itself."""

__version__ = "0.1.0"
