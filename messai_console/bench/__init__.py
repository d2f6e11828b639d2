"""``messai-console bench``: the engine's speed, as ratios of the machine's floor."""
