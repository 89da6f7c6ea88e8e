"""Events through the real server: topics, seq, resume with since+epoch, coalescing, slow consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from canvas_live.services.hub import Hub, MemoryBroker
from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer
from tests.support.stalled import BURST, burst, close_received, stalled_subscriber


def publish(live: LiveServer, topic: str, count: int, event: str = "task.progress", start: int = 0) -> None:
    """Publish `count` events on the server's loop, in one go."""

    def burst() -> None:
        for index in range(start, start + count):
            live.runtime.hub.publish(topic, event, {"task_id": "t1", "done": index})

    live.run(burst)


async def test_events_carry_topic_and_seq_in_order(live: LiveServer) -> None:
    async with open_client(live) as first, open_client(live) as second:
        for client in (first, second):
            answer = await client.call("subscribe", {"topics": ["tasks", "task:t1"]})
            assert answer == {
                "subscribed": ["tasks", "task:t1"],
                "epoch": client.hello["epoch"],
                "replayed": 0,
                "recovered": {},
            }
        publish(live, "tasks", 5)
        publish(live, "canvases", 1, "canvas.created")  # nobody listens: nobody receives
        for client in (first, second):
            seen = [await client.event("task.progress") for _ in range(5)]
            assert [event["seq"] for event in seen] == [1, 2, 3, 4, 5]
            assert {event["topic"] for event in seen} == {"tasks"}
            assert [event["done"] for event in seen] == [0, 1, 2, 3, 4]
        await asyncio.sleep(0.2)  # give a wrongly delivered event time to arrive
        for client in (first, second):
            assert client.events.empty()


async def test_unsubscribe_stops_delivery(live: LiveServer, client: Client) -> None:
    await client.call("subscribe", {"topics": ["tasks", "agents"]})
    assert await client.call("unsubscribe", {"topics": ["tasks", "canvases"]}) == {"unsubscribed": ["tasks"]}
    publish(live, "tasks", 3)
    publish(live, "agents", 1, "agent.circuit")
    assert (await client.event())["topic"] == "agents"


async def test_subscribing_twice_delivers_once(live: LiveServer, client: Client) -> None:
    await client.call("subscribe", {"topics": ["tasks"]})
    await client.call("subscribe", {"topics": ["tasks", "tasks"]})
    publish(live, "tasks", 1)
    await client.event()
    await asyncio.sleep(0.2)
    assert client.events.empty()


async def test_resume_replays_missed_events_before_new_ones(live: LiveServer) -> None:
    async with open_client(live) as client:
        await client.call("subscribe", {"topics": ["task:t1"]})
        publish(live, "task:t1", 3)
        last = [await client.event() for _ in range(3)][-1]
        epoch = client.hello["epoch"]
    publish(live, "task:t1", 4, start=3)  # missed while disconnected
    async with open_client(live) as client:
        answer = await client.call(
            "subscribe", {"topics": ["task:t1"], "since": {"task:t1": last["seq"]}, "epoch": epoch}
        )
        assert answer["replayed"] == 4
        assert answer["recovered"] == {"task:t1": True}
        publish(live, "task:t1", 1, start=7)
        seen = [await client.event() for _ in range(5)]
        assert [event["seq"] for event in seen] == [4, 5, 6, 7, 8]
        assert [event["done"] for event in seen] == [3, 4, 5, 6, 7]


async def test_resume_fails_honestly(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(history_size=5)
    publish(live, "tasks", 20)
    async with open_client(live) as client:
        epoch = client.hello["epoch"]
        too_old = await client.call("subscribe", {"topics": ["tasks"], "since": {"tasks": 2}, "epoch": epoch})
        assert too_old["recovered"] == {"tasks": False} and too_old["replayed"] == 0
    async with open_client(live) as client:
        other_epoch = await client.call("subscribe", {"topics": ["tasks"], "since": {"tasks": 18}, "epoch": "x"})
        assert other_epoch["recovered"] == {"tasks": False} and other_epoch["replayed"] == 0
    async with open_client(live) as client:
        ahead = await client.call("subscribe", {"topics": ["tasks"], "since": {"tasks": 99}, "epoch": epoch})
        assert ahead["recovered"] == {"tasks": False}
    async with open_client(live) as client:
        within = await client.call("subscribe", {"topics": ["tasks"], "since": {"tasks": 16}, "epoch": epoch})
        assert within == {"subscribed": ["tasks"], "epoch": epoch, "replayed": 4, "recovered": {"tasks": True}}
        assert [(await client.event())["seq"] for _ in range(4)] == [17, 18, 19, 20]


@pytest.mark.parametrize("topic", ["", "task:", "nonsense", "canvas:"])
async def test_unknown_topics_are_refused(client: Client, topic: str) -> None:
    with pytest.raises(RpcError) as caught:
        await client.call("subscribe", {"topics": ["tasks", topic]})
    assert caught.value.code == -32602
    assert caught.value.data["field"] == "topics[1]"


async def test_subscription_limit(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(max_subscriptions=3)
    async with open_client(live) as client:
        await client.call("subscribe", {"topics": ["tasks", "agents"]})
        with pytest.raises(RpcError) as caught:
            await client.call("subscribe", {"topics": ["task:a", "task:b"]})
        assert caught.value.code == -32602
        assert "3" in caught.value.message
        await client.call("subscribe", {"topics": ["task:a"]})


async def test_a_client_that_never_reads_is_dropped_and_others_keep_receiving(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(send_queue=64)
    async with stalled_subscriber(live) as stalled, open_client(live) as reader:
        await reader.call("subscribe", {"topics": ["tasks"]})
        await asyncio.sleep(0.2)
        for _ in range(100):
            burst(live)
            # The healthy reader gets every event while the stalled one is cut loose.
            for _ in range(BURST):
                await reader.event(timeout=10)
            if live.runtime.slow_consumers_dropped:
                break
        assert live.runtime.slow_consumers_dropped == 1
        info = await reader.call("server.info")
        assert info["stats"]["connections"] == 2  # the stalled socket is gone only once it closes
        # When the stalled client finally reads, it finds the close frame: 4008, slow consumer.
        close = await close_received(stalled)
        assert (close.code, close.reason) == (4008, "slow consumer")
    await asyncio.sleep(0.2)
    assert live.runtime.stats()["subscribers"] == 0


class Recorder:
    """A subscriber that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    def deliver(self, frame: str) -> None:
        self.frames.append(frame)


async def test_an_evicted_topic_goes_on_counting() -> None:
    broker = MemoryBroker(max_topics=2)
    hub = Hub(broker)
    for _ in range(3):
        hub.publish("task:a", "task.progress", {})
    hub.publish("task:b", "task.progress", {})
    hub.publish("task:c", "task.progress", {})  # evicts task:a, the least recently published
    assert hub.stats()["topics"] == 2
    assert broker.publish("task:a", "task.progress", {}) == 4
    answer = await hub.subscribe(Recorder(), ["task:a"], {"task:a": 1}, hub.epoch)
    assert answer.recovered == {"task:a": False} and answer.replayed == 0


async def test_history_is_bounded_in_bytes_too() -> None:
    hub = Hub(MemoryBroker(history_size=1000, history_bytes=10_000))
    for index in range(20):
        hub.publish("tasks", "task.completed", {"done": index, "result": "x" * 1000})
    recorder = Recorder()
    late = await hub.subscribe(recorder, ["tasks"], {"tasks": 5}, hub.epoch)
    assert late.recovered == {"tasks": False}  # the oldest frames went to stay within 10 kB
    recent = await hub.subscribe(Recorder(), ["tasks"], {"tasks": 15}, hub.epoch)
    assert recent.recovered == {"tasks": True} and recent.replayed == 5
