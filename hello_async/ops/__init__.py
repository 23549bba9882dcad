"""Running the process: its lifespan, probes and metrics, the loop monitor, the collector."""
