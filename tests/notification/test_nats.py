"""The nats Provider against a real NATS server (``tests.fixtures.natsserver``).

A subscriber in the test receives what ``delivery.Dispatcher`` publishes; the
server checks the credentials (none, username/password, an NKey) as a
deployment's would.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
from collections.abc import AsyncIterator

import nats
import nkeys
import pytest

from controllers.notification import notifiers, publishing
from tests.fixtures import natsserver
from tests.notification import events, webhooks

SUBJECT = "flux.events"


async def _subscribed(
    url: str, **credentials: str
) -> tuple[nats.aio.client.Client, asyncio.Queue[bytes]]:
    client = await nats.connect(url, allow_reconnect=False, **credentials)
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_message(message: nats.aio.msg.Msg) -> None:
        await received.put(message.data)

    await client.subscribe(SUBJECT, cb=on_message)
    await client.flush()
    return client, received


@pytest.fixture
async def open_server(tmp_path: pathlib.Path) -> AsyncIterator[natsserver.NatsServer]:
    with natsserver.start_nats(tmp_path) as server:
        yield server


async def test_the_event_json_is_published_on_the_channel_subject(
    open_server: natsserver.NatsServer,
) -> None:
    client, received = await _subscribed(open_server.url)
    try:
        event = events.parsed(metadata={"revision": "main@sha1:" + "a" * 40})
        target = notifiers.Target(address=open_server.url, channel=SUBJECT)
        await webhooks.deliver(notifiers.requests("nats", event, target))
        body = json.loads(await asyncio.wait_for(received.get(), 10))
    finally:
        await client.close()
    assert body == json.loads(json.dumps(notifiers.event_json(event)))
    assert list(body) == [
        "involvedObject", "severity", "timestamp", "message", "reason", "metadata",
        "reportingController", "reportingInstance",
    ]  # fmt: skip


async def test_username_and_password_authenticate(tmp_path: pathlib.Path) -> None:
    with natsserver.start_nats(tmp_path, users={"flux": "s3cret"}) as server:
        client, received = await _subscribed(server.url, user="flux", password="s3cret")
        try:
            target = notifiers.Target(
                address=server.url, channel=SUBJECT, username="flux", password="s3cret"
            )
            await webhooks.deliver(notifiers.requests("nats", events.parsed(), target))
            body = json.loads(await asyncio.wait_for(received.get(), 10))
        finally:
            await client.close()
        assert body["reason"] == "ReconciliationSucceeded"
        wrong = notifiers.Target(
            address=server.url, channel=SUBJECT, username="flux", password="wrong"
        )
        (message,) = notifiers.requests("nats", events.parsed(), wrong)
        assert isinstance(message, notifiers.Publish)
        with pytest.raises(publishing.PublishError, match="error connecting to server"):
            await publishing.publish(message, connect_timeout=5)


async def test_an_nkey_seed_from_the_secret_authenticates(tmp_path: pathlib.Path) -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    with natsserver.start_nats(tmp_path, nkeys=[public]) as server:
        client, received = await _subscribed(server.url, nkeys_seed_str=seed.decode())
        try:
            target = notifiers.Target(
                address=server.url,
                channel=SUBJECT,
                # The nkey wins over a username and password, as in Flux.
                username="ignored",
                password="ignored",
                secret_data={"nkey": seed + b"\n"},
            )
            await webhooks.deliver(notifiers.requests("nats", events.parsed(), target))
            body = json.loads(await asyncio.wait_for(received.get(), 10))
        finally:
            await client.close()
    assert body["involvedObject"]["name"] == "apps"


async def test_a_server_that_is_down_is_a_publish_error(tmp_path: pathlib.Path) -> None:
    with natsserver.start_nats(tmp_path) as server:
        url = server.url
    message = notifiers.Publish(server=url, subject=SUBJECT, payload=b"{}")
    with pytest.raises(publishing.PublishError, match="error connecting to server"):
        await publishing.publish(message, connect_timeout=2)


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ({"channel": SUBJECT}, "NATS server \\(address\\) cannot be empty"),
        ({"address": "nats://h:4222"}, "NATS subject \\(channel\\) cannot be empty"),
    ],
)
def test_nats_needs_an_address_and_a_subject(target: dict[str, str], error: str) -> None:
    with pytest.raises(notifiers.NotifierError, match=error):
        notifiers.requests(
            "nats",
            events.parsed(),
            notifiers.Target(address=target.get("address", ""), channel=target.get("channel", "")),
        )
