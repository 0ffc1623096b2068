"""driftloop scoring service."""
