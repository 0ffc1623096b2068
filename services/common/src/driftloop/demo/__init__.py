"""The whole loop on one machine: services as processes, demo traffic, the narrative."""
