"""Commands that run work: ``worker``, ``demo``, ``bench``."""
