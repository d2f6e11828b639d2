"""Commands that watch the queues: ``overview``, ``events``, ``performance``."""
