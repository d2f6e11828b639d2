"""The console's screens: overview, queue, job, workers, events, metrics."""
