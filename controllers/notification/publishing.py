"""NATS: one message published with a connection of its own, as Flux publishes it.

``publish(message, connect_timeout=…)`` connects to ``message.server`` (``nats://``
or ``tls://``) with the message's credentials, publishes, flushes so the
server has taken it, and closes the connection on every path. nats-py's
errors and socket errors are translated here, and only here, into
``PublishError`` with Flux's wording ("error connecting to server: …",
"error publishing message to server: …"); the caller (``delivery``) retries
the ones that may pass on a later attempt.
"""

from __future__ import annotations

from typing import Any

import nats.aio.client
import nats.errors
import nkeys

from controllers.notification import notifiers

CLIENT_NAME = "NATS Provider Publisher"


class PublishError(Exception):
    """A NATS message could not be published."""


async def _quiet(_: Any = None) -> None:
    """nats-py's callbacks log by themselves; a failure here is raised instead."""


async def publish(message: notifiers.Publish, *, connect_timeout: float) -> None:
    """Publish ``message``; connecting and flushing each wait up to ``connect_timeout`` s."""
    credentials: dict[str, Any] = {}
    if message.creds:
        credentials["user_credentials"] = nats.aio.client.RawCredentials(message.creds)
    elif message.nkey_seed:
        credentials["nkeys_seed_str"] = message.nkey_seed
    elif message.username and message.password:
        credentials["user"], credentials["password"] = message.username, message.password
    connection = nats.aio.client.Client()
    try:
        await connection.connect(
            servers=[message.server],
            name=CLIENT_NAME,
            connect_timeout=max(int(connect_timeout), 1),
            allow_reconnect=False,
            # NB: nats-py retries an unreachable server forever with 0; with 1
            # it tries twice, at once, then gives up.
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=_quiet,
            disconnected_cb=_quiet,
            closed_cb=_quiet,
            **credentials,
        )
    except (nats.errors.Error, nkeys.NkeysError, OSError, ValueError) as error:
        cause = connection.last_error or error
        raise PublishError(f"error connecting to server: {_describe(cause)}") from error
    try:
        await connection.publish(message.subject, message.payload)
        await connection.flush(timeout=max(int(connect_timeout), 1))
    except (nats.errors.Error, OSError) as error:
        raise PublishError(f"error publishing message to server: {_describe(error)}") from error
    finally:
        await connection.close()


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__
