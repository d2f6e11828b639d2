"""The `redis+cluster://` URL, its environment variables and its masking,
and the client `engine.connect` makes for it."""

from __future__ import annotations

import pytest
import redis.asyncio

from engine.cluster import ClusterClient, is_cluster, parse_cluster_url
from engine.connection import RedisUnavailable, check_connection, connect
from engine.settings import RedisSettings, mask_url
from tests.cluster.conftest import ClusterSetup
from tests.helpers import find_free_port


def test_the_url_names_nodes_credentials_tls_and_options() -> None:
    config = parse_cluster_url(
        "redis+cluster://app:s%40cret@10.0.0.1:7000,[::1]:7001,node-c?socket_timeout=2.5"
    )
    assert config.nodes == (("10.0.0.1", 7000), ("::1", 7001), ("node-c", 6379))
    assert (config.username, config.password) == ("app", "s@cret")
    assert config.options == {"socket_timeout": 2.5}
    assert not config.tls
    assert parse_cluster_url("rediss+cluster://h:1").tls
    assert parse_cluster_url("redis+cluster://:pw@h:1/0").password == "pw"
    assert parse_cluster_url("redis+cluster://h:1/").nodes == (("h", 1),)


@pytest.mark.parametrize(
    "url", ["redis+cluster://", "redis+cluster://h:x", "redis+cluster://h:1/3", "redis://h:1"]
)
def test_a_bad_cluster_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_cluster_url(url)


def test_masking_hides_the_password() -> None:
    url = "redis+cluster://app:secret@h1:1,h2:2"
    assert mask_url(url) == "redis+cluster://app:***@h1:1,h2:2"
    assert "secret" not in parse_cluster_url(url).url()


def test_environment_variables_build_a_cluster_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_CLUSTER_NODES", "h1:7000, h2:7001")
    monkeypatch.setenv("REDIS_PASSWORD", "np")
    url = RedisSettings(_env_file=None).explicit_url()  # type: ignore[call-arg]
    assert url is not None
    config = parse_cluster_url(url)
    assert config.nodes == (("h1", 7000), ("h2", 7001))
    assert config.password == "np"


def test_redis_url_takes_a_cluster_url_and_gains_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+cluster://h1:1,h2:2")
    monkeypatch.setenv("REDIS_CLUSTER_NODES", "ignored:3")
    monkeypatch.setenv("REDIS_PASSWORD", "np")
    url = RedisSettings(_env_file=None).explicit_url()  # type: ignore[call-arg]
    assert url is not None
    assert parse_cluster_url(url).nodes == (("h1", 1), ("h2", 2))
    assert parse_cluster_url(url).password == "np"


async def test_connect_gives_a_cluster_client_that_reaches_every_master(
    redis_cluster: ClusterSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    client = connect()
    try:
        assert isinstance(client, redis.asyncio.RedisCluster)
        assert isinstance(client, ClusterClient) and is_cluster(client)
        await check_connection(client)
        await client.set("any-key", "1")  # a plain redis client gets MOVED for most keys
        assert len(client.get_primaries()) == 3
    finally:
        await client.aclose()


async def test_an_unreachable_cluster_is_one_masked_line() -> None:
    client = connect(
        f"redis+cluster://:secret@127.0.0.1:{find_free_port()}",
        retries=0,
        socket_connect_timeout=1,
    )
    try:
        with pytest.raises(RedisUnavailable) as caught:
            await check_connection(client)
        message = str(caught.value)
        assert "secret" not in message and "\n" not in message
        assert message.startswith("cannot reach Redis at redis+cluster://:***@127.0.0.1:")
        assert "Connection refused" in message
    finally:
        await client.aclose()


def test_replica_acknowledgement_is_refused_on_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_WAIT_REPLICAS", "1")
    with pytest.raises(ValueError, match="Cluster"):
        connect("redis+cluster://127.0.0.1:1")
