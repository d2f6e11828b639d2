"""The sentinel URL, its environment variables and its masking (no servers needed)."""

from __future__ import annotations

import pytest

from engine.connection import RedisUnavailable, check_connection, connect
from engine.sentinel import parse_sentinel_url
from engine.settings import RedisSettings, mask_url
from tests.helpers import find_free_port


def test_the_url_names_sentinels_service_db_and_both_passwords() -> None:
    config = parse_sentinel_url(
        "redis+sentinel://app:s%40cret@10.0.0.1:26379,[::1]:26380,sentinel-c/jobs/3"
        "?sentinel_password=sp&socket_timeout=2.5"
    )
    assert config.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-c", 26379))
    assert (config.service, config.db) == ("jobs", 3)
    assert (config.username, config.password) == ("app", "s@cret")
    assert config.sentinel_password == "sp"
    assert config.options == {"socket_timeout": 2.5}
    assert not config.tls
    assert parse_sentinel_url("rediss+sentinel://h:1/s").tls
    assert parse_sentinel_url("redis+sentinel://:pw@h:1/s").password == "pw"


@pytest.mark.parametrize(
    "url", ["redis+sentinel://h:1", "redis+sentinel:///s", "redis+sentinel://h:x/s", "redis://h/s"]
)
def test_a_bad_sentinel_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_sentinel_url(url)


def test_masking_hides_both_passwords() -> None:
    url = "redis+sentinel://app:secret@h1:1,h2:2/jobs/0?sentinel_password=other"
    masked = mask_url(url)
    assert "secret" not in masked and "other" not in masked
    assert masked.startswith("redis+sentinel://app:***@h1:1,h2:2/jobs/0")
    assert "secret" not in parse_sentinel_url(url).url()


def test_environment_variables_build_a_sentinel_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "h1:26379, h2:26380")
    monkeypatch.setenv("REDIS_SENTINEL_SERVICE", "jobs")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sp")
    monkeypatch.setenv("REDIS_PASSWORD", "np")
    monkeypatch.setenv("REDIS_DB", "2")
    url = RedisSettings(_env_file=None).explicit_url()  # type: ignore[call-arg]
    assert url is not None
    config = parse_sentinel_url(url)
    assert config.sentinels == (("h1", 26379), ("h2", 26380))
    assert (config.service, config.db, config.password) == ("jobs", 2, "np")
    assert config.sentinel_password == "sp"


def test_redis_url_wins_and_gains_the_sentinel_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+sentinel://h1:1/jobs")
    monkeypatch.setenv("REDIS_SENTINELS", "ignored:2")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sp")
    url = RedisSettings(_env_file=None).explicit_url()  # type: ignore[call-arg]
    assert url == "redis+sentinel://h1:1/jobs?sentinel_password=sp"


async def test_no_sentinel_answering_is_one_readable_line() -> None:
    port = find_free_port()  # nothing listens there
    client = connect(
        f"redis+sentinel://:secret@127.0.0.1:{port}/jobs?sentinel_password=other", retries=0
    )
    try:
        with pytest.raises(RedisUnavailable) as raised:
            await check_connection(client)
    finally:
        await client.aclose()
    message = str(raised.value)
    assert message == (
        f"cannot reach Redis at redis+sentinel://:***@127.0.0.1:{port}/jobs/0"
        f"?sentinel_password=***: no master for 'jobs': no sentinel at 127.0.0.1:{port} "
        "answers with one"
    )
