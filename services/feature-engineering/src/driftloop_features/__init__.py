"""driftloop features service."""
