from tests.conftest import Client


async def test_ping(client: Client) -> None:
    assert await client.call("ping") == "pong"
