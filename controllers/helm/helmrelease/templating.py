"""The HelmChart a HelmRelease owns for ``spec.chart`` (Flux's ``HelmChartTemplate``).

``sync`` applies the HelmChart ``charts.template_manifest`` describes with
server-side apply, as the controller itself (never an impersonated account),
through a resource manager whose live view is the HelmChart watch cache: a
HelmChart already as wanted costs no request. The one ``status.helmChart``
named before is deleted first when the name or namespace changed, and when
the HelmRelease moved to ``chartRef``; ``delete`` removes it with the
HelmRelease. Created, configured and deleted HelmCharts are announced as
Trace events (kept out of notifications), as Flux does.
"""

from __future__ import annotations

from controllers.helm import charts
from shared.api import helm, meta, objects
from shared.api import source as source_api
from shared.kube import changesets, errors, resourcemanager
from shared.runtime import events, logging, results


class ChartTemplates:
    """Keeps HelmReleases' HelmCharts (see the module docstring)."""

    def __init__(
        self, *, manager: resourcemanager.ResourceManager, recorder: events.Recorder
    ) -> None:
        self._manager = manager
        self._recorder = recorder

    async def _trace(self, obj: helm.HelmRelease, reason: str, message: str) -> None:
        await self._recorder.emit(
            objects.dump(obj), type_=events.TRACE, reason=reason, message=message
        )

    async def delete(self, obj: helm.HelmRelease, status: helm.HelmReleaseStatus) -> None:
        """Delete the HelmChart ``status.helmChart`` names, and forget it."""
        if not status.helm_chart:
            return
        namespace, _, name = status.helm_chart.partition("/")
        manifest = {
            "apiVersion": source_api.API_VERSION,
            "kind": "HelmChart",
            "metadata": {"name": name, "namespace": namespace},
        }
        try:
            await self._manager.objects.delete(manifest)
        except errors.NotFoundError:
            pass
        else:
            await self._trace(
                obj,
                helm.HELM_CHART_DELETED_EVENT_REASON,
                f"deleted HelmChart '{status.helm_chart}'",
            )
        status.helm_chart = None

    async def sync(self, obj: helm.HelmRelease, status: helm.HelmReleaseStatus) -> None:
        """Make the owned HelmChart what ``spec.chart`` says (none for ``chartRef``)."""
        template = obj.spec.chart
        wanted = (
            f"{charts.template_namespace(obj)}/{charts.template_name(obj)}"
            if template is not None
            else None
        )
        if status.helm_chart and status.helm_chart != wanted:
            await self.delete(obj, status)
        if template is None:
            return
        owner = changesets.Owner(
            name=obj.metadata.name or "", namespace=obj.metadata.namespace or "default",
            group=helm.GROUP,
        )  # fmt: skip
        try:
            change = await self._manager.apply(charts.template_manifest(obj), owner=owner)
        except (resourcemanager.ApplyError, errors.KubeError) as failed:
            message = f"failed to run server-side apply: {failed}"
            await self._trace(obj, helm.HELM_CHART_SYNC_ERROR_EVENT_REASON, message)
            raise results.ReconcileError(message, reason=meta.ARTIFACT_FAILED_REASON) from failed
        if change.action in (changesets.Action.CREATED, changesets.Action.CONFIGURED):
            ref = charts.source_of(obj)
            source_ref = template.spec.source_ref
            verb = str(change.action)
            message = (
                f"HelmChart/{ref.namespace}/{ref.name} {verb} with SourceRef "
                f"'{source_ref.kind}/{ref.namespace}/{source_ref.name}'"
            )
            logging.get_logger().info(message)
            await self._trace(obj, f"HelmChart{verb.capitalize()}", message)
        status.helm_chart = wanted
