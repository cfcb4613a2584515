"""notification-controller: ``python -m controllers.notification`` (or ``notification-controller``).

Serves the event intake on ``--events-addr`` (default ``:9090``; for this
controller the common flag is the address it listens on, not one it posts
to), matches each event against the Alerts and delivers it through their
Providers; reconciles Receivers and serves their webhooks on
``--receiverAddr`` (default ``:9292``, ``receiver.wiring``). Takes the common
controller flags too (see ``shared.runtime.options``); its own events are
recorded only as Kubernetes Events. On SIGTERM the intake stops accepting
and queued notifications get up to 5 s to be delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import sys
from collections.abc import Sequence

from aiohttp import web

from controllers.notification import delivery, httpmetrics, intake
from controllers.notification.receiver import wiring
from shared.api import notification
from shared.runtime import logging, manager, options, scratch

CONTROLLER_NAME = "notification-controller"
DEFAULT_EVENTS_ADDR = ":9090"
SHUTDOWN_DRAIN = 5.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flags:
    """notification-controller's own flags (the common ones are ``options.Options``)."""

    rate_limit_interval: float = options.flag(
        "the interval in which an identical event is a duplicate (default 5m)",
        default=intake.DEFAULT_RATE_LIMIT_INTERVAL,
        parse=options.duration,
    )
    provider_workers: int = options.flag(
        "how many notifications each Provider sends at once", default=4
    )
    provider_queue_size: int = options.flag(
        "how many notifications wait for each Provider before more are refused",
        default=10_000,
    )
    export_http_path_metrics: bool = options.flag(
        "label the HTTP server metrics with the request path, not the route "
        "(one series per Receiver path: high cardinality)",
        default=False,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=CONTROLLER_NAME, description=__doc__.splitlines()[0])
    options.add_common_flags(parser)
    options.add_flags(parser, Flags)
    # NB: the common --events-addr is where a controller posts events; here it
    # is where the intake listens, with Flux's default.
    for action in parser._actions:
        if action.dest == "events_addr":
            action.help = "the address the event endpoint binds to"
    parser.set_defaults(events_addr=DEFAULT_EVENTS_ADDR)
    options.add_flags(parser, wiring.Flags)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    opts = options.from_args(args)
    flags = options.parsed(Flags, args)
    events_addr = opts.events_addr or DEFAULT_EVENTS_ADDR
    return await manager.run_process(
        dataclasses.replace(opts, events_addr=""),
        name=CONTROLLER_NAME,
        setup=functools.partial(
            _setup,
            flags=flags,
            receiver_flags=options.parsed(wiring.Flags, args),
            events_addr=events_addr,
        ),
    )


async def _setup(
    mgr: manager.Manager, *, flags: Flags, receiver_flags: wiring.Flags, events_addr: str
) -> None:
    scope = mgr.default_scope()
    alerts = await mgr.informer(notification.ALERT_API_VERSION, "Alert", scope=scope)
    providers = await mgr.informer(notification.PROVIDER_API_VERSION, "Provider", scope=scope)
    server: intake.Intake | None = None

    async def on_failure(job: delivery.Job, message: str) -> None:
        assert server is not None
        await server.on_delivery_failure(job, message)

    dispatcher = delivery.Dispatcher(
        on_failure=on_failure,
        workers=flags.provider_workers,
        queue_size=flags.provider_queue_size,
    )
    server = intake.Intake(
        api=mgr.api,
        discovery=mgr.discovery,
        recorder=mgr.recorder,
        alerts=alerts,
        providers_informer=providers,
        dispatcher=dispatcher,
        no_cross_namespace_refs=mgr.options.no_cross_namespace_refs,
        rate_limit_interval=flags.rate_limit_interval,
    )
    host, port = options.split_addr(events_addr)
    events_metrics = httpmetrics.HttpMetrics(
        mgr.metrics,
        prefix="gotk_event",
        handler="/",
        export_path=flags.export_http_path_metrics,
    )
    log = logging.get_logger()

    async def serve_events() -> None:
        await server.wait_synced()
        runner = web.ServerRunner(
            server.server(middlewares=[events_metrics.middleware()]), access_log=None
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("event server started", addr=events_addr)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            # Queued notifications get a moment to go out before the lanes close.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_DRAIN):
                    await dispatcher.drain()
            await dispatcher.close()

    mgr.add_task(serve_events)
    receiver_metrics = httpmetrics.HttpMetrics(
        mgr.metrics,
        prefix="gotk_receiver",
        handler=notification.RECEIVER_WEBHOOK_PATH_PREFIX,
        export_path=flags.export_http_path_metrics,
    )
    await wiring.setup(mgr, flags=receiver_flags, middlewares=[receiver_metrics.middleware()])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.configure(level=args.log_level, encoding=args.log_encoding)
    scratch.claim(CONTROLLER_NAME)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
