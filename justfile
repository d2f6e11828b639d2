# The commands people type. `just --list` shows them.

venv := ".venv"
bin := venv / "bin"

# Create the virtual environment and install the project with its dev tools.
setup:
    test -x {{bin}}/python || python3 -m venv {{venv}}
    {{bin}}/pip install --quiet --upgrade pip
    {{bin}}/pip install --quiet -e '.[dev]'

# Enqueue sample jobs on every queue and run them here, printing progress.
demo *ARGS:
    {{bin}}/messai-console demo {{ARGS}}

# Run the whole test suite (each test process starts its own Redis).
test *ARGS:
    {{bin}}/pytest {{ARGS}}

# The test suite without the tests marked `slow` (seconds each), for quick rounds.
test-fast *ARGS:
    {{bin}}/pytest -m "not slow and not chaos" {{ARGS}}

# ruff (lint and format check) and mypy (strict for engine/).
lint:
    {{bin}}/ruff check engine messai_console tests
    {{bin}}/ruff format --check engine messai_console tests
    {{bin}}/mypy

# Benchmarks against the configured (or embedded) Redis.
bench *ARGS:
    {{bin}}/messai-console bench {{ARGS}}

# Regenerate screenshots/ from the running console (and, with chromium, the browser pages).
screenshots:
    {{bin}}/python -m messai_console.tui.screenshots screenshots
    MESSAI_SCREENSHOTS=screenshots {{bin}}/pytest -q tests/api/test_browser.py

# Chaos scenarios at the long scale, then one table of figures per scenario.
chaos *ARGS:
    CHAOS_SCALE=long {{bin}}/python -m tests.chaos.run -p no:xdist {{ARGS}}
