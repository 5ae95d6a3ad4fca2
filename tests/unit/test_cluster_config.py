"""Pure parts of running on a cluster: how many replicas, which servers, the settings."""

from __future__ import annotations

from nats.js.errors import BadRequestError, ServiceUnavailableError

from services.bus.connect import server_urls
from services.bus.topology import cluster_size, still_forming, wanted_replicas
from services.settings import Settings
from services.testing.cluster import cluster_options


def test_cluster_size_comes_from_the_servers_info() -> None:
    assert cluster_size({}) == 1
    assert cluster_size({"connect_urls": ["a:1", "b:2"]}) == 1, "no cluster name: a server alone"
    assert cluster_size({"cluster": "c", "connect_urls": ["a:1", "b:2", "c:3"]}) == 3
    assert cluster_size({"cluster": "c", "connect_urls": []}) == 1
    assert cluster_size({"cluster": "c", "connect_urls": "nonsense"}) == 1


def test_replicas_follow_the_cluster_up_to_three_and_never_shrink_on_their_own() -> None:
    assert [wanted_replicas(size, None) for size in (1, 2, 3, 5, 9)] == [1, 2, 3, 3, 3]
    assert wanted_replicas(2, None, existing=3) == 3, "a node down at start-up does not shrink a stream"
    assert wanted_replicas(5, 5) == 5 and wanted_replicas(3, 1, existing=3) == 1, "the setting wins"
    assert wanted_replicas(1, 0) == 1


def test_server_urls_split_a_list_of_nodes() -> None:
    assert server_urls("nats://a:4222") == ["nats://a:4222"]
    assert server_urls("nats://a:4222, nats://b:4222,,nats://c:4222 ") == [
        "nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert server_urls("") == ["nats://127.0.0.1:4222"]


def test_each_node_of_a_loopback_cluster_names_itself_and_routes_to_all() -> None:
    options = cluster_options("books", 1, [7001, 7002, 7003])
    assert options[options.index("--server_name") + 1] == "books-n1"
    assert options[options.index("--cluster") + 1] == "nats://127.0.0.1:7002"
    assert options[options.index("--routes") + 1].split(",") == [f"nats://127.0.0.1:{p}" for p in (7001, 7002, 7003)]


def test_cluster_settings_round_trip_through_the_environment() -> None:
    settings = Settings.from_env({"AUDIOBOOK_REPLICAS": "3", "AUDIOBOOK_SIMULATED_RTF": "0.05",
                                  "AUDIOBOOK_NATS_URL": "nats://a:1,nats://b:2"})
    assert settings.replicas == 3 and settings.simulated_rtf == 0.05
    again = Settings.from_env(settings.as_env())
    assert (again.replicas, again.simulated_rtf, again.nats_url) == (3, 0.05, "nats://a:1,nats://b:2")
    assert Settings.from_env({}).replicas is None


def test_the_simulated_engine_waits_its_real_time_factor_of_the_audio() -> None:
    import time

    from services.engines.instant import instant_voices
    from services.tts.engines import load_engine

    engine = load_engine(instant_voices()["short"], simulated_rtf=0.25)
    started = time.perf_counter()
    ((pcm,),) = engine.speak(["x" * 100], 1.0)
    waited = time.perf_counter() - started
    audio_s = len(pcm) / 2 / engine.sample_rate
    assert abs(audio_s - 0.8) < 0.01, "the short voice: 8 ms per character"
    assert waited >= 0.25 * audio_s * 0.95, "model time stands in as a sleep"


async def test_a_read_that_times_out_is_tried_again_then_gives_up() -> None:
    import nats.errors
    import pytest

    from services.bus.ephemeral import retried

    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise nats.errors.TimeoutError
        return "read"

    assert await retried(flaky, "a replay") == "read" and len(calls) == 3

    async def never() -> str:
        raise nats.errors.TimeoutError

    with pytest.raises(nats.errors.TimeoutError):
        await retried(never, "a replay", tries=2)


def test_an_object_whose_bytes_do_not_match_its_digest_is_refused() -> None:
    import base64
    import hashlib

    import pytest

    from services.bus.ephemeral import ObjectDamaged, _check_digest

    digest = "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(b"audio").digest()).decode()
    _check_digest(b"audio", digest, "a")
    with pytest.raises(ObjectDamaged):
        _check_digest(b"audiO", digest, "a")


def test_a_cluster_still_forming_is_waited_for_and_a_full_disk_is_not() -> None:
    """A node not yet heard from counts as offline while a cluster forms: creating a stream then is
    tried again (seen when services started as fast as the servers); no room to store is final."""
    assert still_forming(ServiceUnavailableError())
    assert still_forming(BadRequestError(code=400, err_code=10005,
                                         description="no suitable peers for placement, peer offline"))
    assert not still_forming(BadRequestError(code=400, err_code=10005,
                                             description="no suitable peers for placement, insufficient storage"))
    # two services starting together: the one that halved its byte limit sooner made the stream; the next
    # pass finds it (seen on a cluster whose disk is smaller than the limit: "tts1 survived losing its node")
    assert still_forming(BadRequestError(code=400, err_code=10058, description="stream name already in use "
                                         "with a different configuration"))
