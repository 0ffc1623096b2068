"""driftloop forwarder service."""
