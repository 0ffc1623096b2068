"""Telemetry: CloudEvents for predictions, feedback and rejected requests, and the bus they travel on."""
