"""``--data @file`` and ``--file`` that are not UTF-8, nest too deeply or hold
NaN: one line on stderr, exit 1, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from messai_console.cli import app

runner = CliRunner()

BAD_CONTENTS = {
    "latin-1": ('{"name": "caf\xe9"}'.encode("latin-1"), "is not UTF-8 text"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    "deep-for-redis": (b"[" * 400 + b"]" * 400, "not JSON-serialisable"),
    "nan": (b'{"score": NaN}', "NaN is not a JSON number"),
    "infinity": (b"[-Infinity]", "-Infinity is not a JSON number"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENTS))
@pytest.mark.parametrize("flag", ["--data", "--file"])
def test_bad_data_files_get_one_line(redis_url: str, tmp_path: Path, case: str, flag: str) -> None:
    content, expected = BAD_CONTENTS[case]
    path = tmp_path / "data.json"
    path.write_bytes(content)
    argument = f"@{path}" if flag == "--data" else str(path)
    result = runner.invoke(
        app, ["--redis-url", redis_url, "job", "add", "q", "echo", flag, argument]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
