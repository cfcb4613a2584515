"""Delivery: each Provider's own queue and workers, with retries and backoff.

``Dispatcher.submit(provider_key, job)`` never waits: the job joins the
Provider's queue and the intake answers at once. Each Provider has its own
queue (up to ``queue_size`` jobs) and ``workers`` tasks, so a Provider that is
down or slow holds only its own workers and never delays another Provider or
the intake. A job's requests are sent in order; a connection error, a 429 or
a 5xx answer (for a NATS message, a failure to connect or publish:
``publishing``) is retried as Flux's HTTP client retries (4 retries, waits from
2 s doubling up to 30 s), all within the Provider's ``timeout`` (15 s by
default), which starts when the job's first attempt does — so a job waiting
behind a pending retry loses nothing of its window. A job that still fails,
or finds its queue full, is reported through ``on_failure`` (the intake turns
it into a Warning event on the Alert and one error log line).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ssl
import time
from collections.abc import Awaitable, Callable

import aiohttp

from controllers.notification import notifiers, publishing
from shared.runtime import logging

DEFAULT_TIMEOUT = 15.0
RETRIES = 4
RETRY_WAIT_MIN = 2.0
RETRY_WAIT_MAX = 30.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """The requests of one notification through one Provider."""

    requests: list[notifiers.Message]
    timeout: float = DEFAULT_TIMEOUT
    proxy: str | None = None
    ssl_context: ssl.SSLContext | None = None
    context: dict[str, str] = dataclasses.field(default_factory=dict)
    """What a failure report names: the Alert, the Provider, the involved object."""
    enqueued: float = dataclasses.field(default_factory=time.monotonic)


class DeliveryError(Exception):
    """A provider refused a notification or could not be reached in time."""


_PUBLISHED = notifiers.Response(status=200, body=b"")

FailureHandler = Callable[[Job, str], Awaitable[None]]


@dataclasses.dataclass
class _Lane:
    queue: asyncio.Queue[Job]
    workers: list[asyncio.Task[None]]


class Dispatcher:
    """Per-Provider queues and workers (see the module docstring)."""

    def __init__(
        self,
        *,
        on_failure: FailureHandler,
        workers: int = 4,
        queue_size: int = 10_000,
        retry_wait_min: float = RETRY_WAIT_MIN,
        retry_wait_max: float = RETRY_WAIT_MAX,
        retries: int = RETRIES,
        on_sent: Callable[[Job], None] | None = None,
    ) -> None:
        self._on_failure = on_failure
        self._on_sent = on_sent
        self._workers = workers
        self._queue_size = queue_size
        self._retry_wait_min = retry_wait_min
        self._retry_wait_max = retry_wait_max
        self._retries = retries
        self._lanes: dict[str, _Lane] = {}
        self._session: aiohttp.ClientSession | None = None
        self._log = logging.get_logger(component="delivery")

    def submit(self, provider: str, job: Job) -> bool:
        """Queue ``job`` for ``provider`` (a ``namespace/name``); False when its queue is full."""
        lane = self._lanes.get(provider)
        if lane is None:
            lane = _Lane(queue=asyncio.Queue(self._queue_size), workers=[])
            lane.workers = [
                asyncio.create_task(self._work(lane.queue)) for _ in range(self._workers)
            ]
            self._lanes[provider] = lane
        try:
            lane.queue.put_nowait(job)
        except asyncio.QueueFull:
            return False
        return True

    def pending(self) -> int:
        """Jobs queued or being sent, over every Provider."""
        return sum(lane.queue.qsize() for lane in self._lanes.values())

    async def drain(self) -> None:
        """Wait until every queued job is sent or reported."""
        await asyncio.gather(*(lane.queue.join() for lane in self._lanes.values()))

    async def close(self) -> None:
        """Stop the workers (jobs still queued are dropped) and close the session."""
        tasks = [task for lane in self._lanes.values() for task in lane.workers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=64),
                # A job's own deadline bounds every request (``Job.timeout``).
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,
                # NB: a provider's proxy comes from its spec or Secret, never
                # from the controller's environment.
                trust_env=False,
            )
        return self._session

    async def _work(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            try:
                async with asyncio.timeout(job.timeout):
                    await self._send(job)
            except (DeliveryError, TimeoutError) as error:
                message = str(error) or f"no answer within {job.timeout:g}s"
                with contextlib.suppress(Exception):
                    await self._on_failure(job, message)
            except Exception as error:  # one bad job must not stop the lane
                self._log.error("notification worker failed", error=error, **job.context)
            else:
                if self._on_sent is not None:
                    self._on_sent(job)
            finally:
                queue.task_done()

    async def _send(self, job: Job) -> None:
        for request in job.requests:
            await self._send_one(job, request)

    async def _send_one(self, job: Job, message: notifiers.Message) -> None:
        if isinstance(message, notifiers.Conversation):
            try:
                await message.run(functools.partial(self._exchange, job, answer=True))
            except notifiers.NotifierError as error:
                raise DeliveryError(str(error)) from error
            return
        await self._exchange(job, message)

    async def _exchange(
        self, job: Job, message: notifiers.Request | notifiers.Publish, *, answer: bool = False
    ) -> notifiers.Response:
        """``message`` sent, retried with backoff; its answer (its body only when
        ``answer``: reading it costs on every notification), or ``DeliveryError``."""
        wait = self._retry_wait_min
        for attempt in range(self._retries + 1):
            outcome = await self._attempt(job, message, answer=answer)
            if isinstance(outcome, notifiers.Response):
                return outcome
            if attempt == self._retries:
                raise DeliveryError(outcome)
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._retry_wait_max)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self, job: Job, message: notifiers.Request | notifiers.Publish, *, answer: bool
    ) -> notifiers.Response | str:
        """The answer once sent; else why it failed, to retry. ``DeliveryError`` when final."""
        if isinstance(message, notifiers.Publish):
            try:
                await publishing.publish(message, connect_timeout=job.timeout)
            except publishing.PublishError as error:
                return str(error)
            return _PUBLISHED
        try:
            async with self._http().request(
                message.method,
                message.url,
                data=message.body,
                headers=message.headers,
                proxy=job.proxy,
                ssl=job.ssl_context if job.ssl_context is not None else True,
            ) as response:
                if 200 <= response.status < 300:
                    body = await response.read() if answer else b""
                    return notifiers.Response(status=response.status, body=body)
                text = (await response.text(errors="replace"))[:512]
                failure = f"request failed with status code {response.status}: {text}"
                if response.status != 429 and response.status < 500:
                    raise DeliveryError(failure)
                return failure
        except aiohttp.ClientError as error:
            return f"failed to execute request: {error}"
