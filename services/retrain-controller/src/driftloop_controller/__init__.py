"""driftloop controller service."""
