"""The manager: one controller process's lifetime.

It owns the API client, discovery, the shared informers (one per resource and
scope, shared by every controller that reads that kind), the metrics and
probe listeners, the event recorder and — when enabled — leader election.
``run`` starts the listeners and informers at once (so caches are warm and
``/readyz`` can report), then the controllers once this process leads, and on
SIGTERM/SIGINT (or ``stop``) drains the work queues, releases the lease and
closes everything. ``run_process`` is a controller's ``main`` around it:
connect with the flags' client settings, wire, run, close the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from shared.kube import client, errors, resources
from shared.runtime import (
    controller,
    events,
    informers,
    leaderelection,
    logging,
    metrics,
    options,
    probes,
    queue,
    reconciling,
)


class Manager:
    """Runs informers and controllers for one process (see the module docstring)."""

    def __init__(self, *, name: str, opts: options.Options, api: client.Client) -> None:
        self.name = name
        self.options = opts
        self.api = api
        self.discovery = resources.Discovery(api)
        self.metrics = metrics.Metrics()
        self.metrics.track_requests(api.stats, api.responses)
        self.readiness = probes.Readiness()
        self.recorder = events.Recorder(
            api=api.with_own_limiter(),
            controller=name,
            instance=opts.instance,
            events_addr=opts.events_addr or None,
        )
        self.controllers: list[controller.Controller] = []
        self._informers: dict[tuple[str, str, informers.Scope], informers.Informer] = {}
        self._side_tasks: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._stop = asyncio.Event()
        self._informer_tasks: list[asyncio.Task[None]] = []
        self._running = False
        self.elector: leaderelection.LeaderElector | None = None
        self._log = logging.get_logger(controller=name)
        self.readiness.add("informers", lambda: all(i.synced for i in self._informers.values()))

    def default_scope(self) -> informers.Scope:
        """The scope of the controllers' own kinds, from the watch flags."""
        namespace = None if self.options.watch_all_namespaces else self.options.runtime_namespace
        return informers.Scope(
            namespace=namespace or None,
            label_selector=self.options.watch_label_selector or None,
        )

    async def informer(
        self, api_version: str, kind: str, *, scope: informers.Scope | None = None
    ) -> informers.Informer:
        """The shared informer of ``kind`` (created on first use).

        An informer created while the manager runs (a kind first met during a
        reconcile) starts at once; ``wait_synced`` tells when its cache is ready.
        One that stopped because its kind stopped being served is replaced
        (discovery raises ``NotFoundError`` while the kind is still gone).
        """
        scope = scope or informers.Scope()
        key = (api_version, kind, scope)
        existing = self._informers.get(key)
        if existing is not None and not existing.stopped:
            return existing
        resource = await self.discovery.resolve(api_version, kind)
        # NB: another caller may have created it while discovery answered (the
        # kinds of one apply stage are resolved concurrently); share that one.
        existing = self._informers.get(key)
        if existing is not None and not existing.stopped:
            return existing
        created = informers.Informer(
            api=self.api, resource=resource, scope=scope, discovery=self.discovery
        )
        self._informers[key] = created
        if self._running:
            # NB: a fresh context, so the informer's log lines do not carry the
            # reconcile (name, reconcileID) that happened to meet the kind first.
            task = asyncio.create_task(created.run(), context=contextvars.Context())
            self._informer_tasks.append(task)
        return created

    async def add_controller(
        self,
        reconciler: reconciling.Reconciler[Any, Any, Any],
        *,
        workers: int | None = None,
        lazy_finalizer: bool = False,
    ) -> controller.Controller:
        """Reconcile ``reconciler.kind`` in the default scope.

        ``lazy_finalizer``: the finalizer is added by the step that first needs
        it (``reconciling.Run.add_finalizer``), not before every first run.
        """
        crd = reconciler.kind.crd
        informer = await self.informer(crd.api_version, crd.kind, scope=self.default_scope())
        skeleton = reconciling.Skeleton(
            api=self.api,
            resource=informer.resource,
            reconciler=reconciler,
            recorder=self.recorder,
            jitter=self.options.interval_jitter_percentage / 100,
            lazy_finalizer=lazy_finalizer,
        )
        created = controller.Controller(
            name=crd.kind.lower(),
            informer=informer,
            skeleton=skeleton,
            registry=self.metrics,
            workers=workers or self.options.concurrent,
            backoff=queue.Backoff(
                base=self.options.min_retry_delay, cap=self.options.max_retry_delay
            ),
        )
        self.controllers.append(created)
        return created

    def add_task(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``task`` alongside the controllers (for example an artifact server)."""
        self._side_tasks.append(task)

    def stop(self) -> None:
        self._stop.set()

    async def _serve(self, addr: str, routes: list[web.RouteDef]) -> web.AppRunner:
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = options.split_addr(addr)
        await web.TCPSite(runner, host, port).start()
        return runner

    async def run(self) -> None:
        """Run until ``stop`` or a termination signal; always cleans up."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop)
        runners = [
            await self._serve(self.options.metrics_addr, metrics.routes(self.metrics)),
            await self._serve(self.options.health_addr, probes.routes(self.readiness)),
        ]
        self._running = True
        self._informer_tasks = [
            asyncio.create_task(informer.run()) for informer in self._informers.values()
        ]
        tasks: list[asyncio.Task[Any]] = []
        try:
            if self.options.enable_leader_election:
                self.elector = leaderelection.LeaderElector(
                    api=self.api,
                    config=leaderelection.LeaseConfig(
                        namespace=self.options.leader_election_namespace
                        or self.options.runtime_namespace
                        or "default",
                        name=f"{self.name}-leader-election",
                        identity=self.options.instance,
                        lease_duration=self.options.leader_election_lease_duration,
                        renew_deadline=self.options.leader_election_renew_deadline,
                        retry_period=self.options.leader_election_retry_period,
                    ),
                )
                election = asyncio.create_task(self.elector.run())
                tasks.append(election)
                leading = asyncio.create_task(self.elector.leading.wait())
                stopping = asyncio.create_task(self._stop.wait())
                await asyncio.wait({leading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                leading.cancel()
                stopping.cancel()
            if not self._stop.is_set():
                self._log.info("starting controllers", count=len(self.controllers))
                tasks += [asyncio.create_task(c.run()) for c in self.controllers]
                tasks += [asyncio.create_task(task()) for task in self._side_tasks]
                stop_waiter = asyncio.create_task(self._stop.wait())
                lost = (
                    asyncio.create_task(self.elector.lost.wait())
                    if self.elector is not None
                    else None
                )
                waiters = {stop_waiter, *([lost] if lost else [])}
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            self._log.info("shutting down")
            await asyncio.gather(*(c.stop() for c in self.controllers))
            if self.elector is not None:
                await self.elector.release()
            self._running = False
            tasks += self._informer_tasks
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.recorder.close()
            for runner in runners:
                await runner.cleanup()


async def run_process(
    opts: options.Options, *, name: str, setup: Callable[[Manager], Awaitable[None]]
) -> int:
    """Connect as ``opts`` say, let ``setup`` add informers and controllers, run until stopped.

    Returns the exit code: 1 (logged) when the API cannot be reached or an
    API failure ends the run, else 0. The client is closed on every path.
    """
    log = logging.get_logger()
    try:
        api = await client.connect(
            kubeconfig=opts.kubeconfig,
            qps=opts.kube_api_qps,
            burst=opts.kube_api_burst,
            user_agent=name,
        )
    except errors.KubeError as error:
        log.error("unable to connect to the Kubernetes API", error=error)
        return 1
    try:
        mgr = Manager(name=name, opts=opts, api=api)
        await setup(mgr)
        await mgr.run()
    except errors.KubeError as error:
        log.error(f"{name} failed", error=error)
        return 1
    finally:
        await api.close()
    return 0
