"""Media types of manifests and indexes, and the ``Accept`` list a manifest request sends.

A registry serves the manifest in the first type of ``Accept`` it has; one
that was pushed as a Docker v2 manifest is served as such, so every client
must accept all four. ``Docker v2 schema 1`` is not accepted: registries
convert on the fly or refuse, and nothing Flux reads uses it.
"""

from __future__ import annotations

from typing import Final

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"

OCI_EMPTY_CONFIG: Final = "application/vnd.oci.empty.v1+json"
OCI_LAYER_TAR_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"

MANIFESTS: Final = (OCI_MANIFEST, DOCKER_MANIFEST)
"""A single image (or artifact): a config and layers."""
INDEXES: Final = (OCI_INDEX, DOCKER_MANIFEST_LIST)
"""A list of manifests, usually one per platform."""

ACCEPT: Final = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
"""The ``Accept`` header of every manifest GET and HEAD."""

FLUX_CONFIG: Final = "application/vnd.cncf.flux.config.v1+json"
"""The config media type of what ``flux push artifact`` and ``headwater artifact push`` make."""
FLUX_CONTENT: Final = "application/vnd.cncf.flux.content.v1.tar+gzip"
"""The media type of such an artifact's one layer: a tar+gzip of the pushed files."""
HELM_CONFIG: Final = "application/vnd.cncf.helm.config.v1+json"
"""The config media type of a chart Helm pushed (its ``Chart.yaml`` as JSON)."""
HELM_CHART_CONTENT: Final = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
"""The layer of a chart Helm pushed: the packaged chart ``.tgz``."""
SOURCE_ANNOTATION: Final = "org.opencontainers.image.source"
REVISION_ANNOTATION: Final = "org.opencontainers.image.revision"
CREATED_ANNOTATION: Final = "org.opencontainers.image.created"
