"""``messai-console worker`` refuses options it cannot run with, in one line."""

from __future__ import annotations

import pytest

from tests.console.conftest import Cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stall-interval-ms", "0"], "--stall-interval-ms must be >= 10"),
        (["--heartbeat-ms", "-1"], "--heartbeat-ms must be > 0"),
        (["--lease-ms", "1000", "--heartbeat-ms", "1000"], "shorter than --lease-ms"),
        (["--max-stalled", "-1"], "--max-stalled must be >= 0"),
        (["--shutdown-grace-ms", "-1"], "--shutdown-grace-ms must be >= 0"),
        (["--shutdown-grace-ms", "900", "--shutdown-timeout-ms", "10"], "--shutdown-timeout-ms"),
        (["--concurrency", "0"], "--concurrency must be >= 1"),
        (["--lease-ms", "5"], "--lease-ms must be >= 100"),
    ],
)
def test_invalid_worker_options_are_one_line_errors(
    cli: Cli, args: list[str], message: str
) -> None:
    result = cli("worker", "--queue", "q", *args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0], result.output
