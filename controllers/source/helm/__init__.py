"""Helm sources: what the HelmRepository and HelmChart reconcilers need from Helm.

Domain code with no Kubernetes in it: the reconcilers pass plain values
(URLs, Secret data as ``bytes``, limits, paths) and get back plain values or
an ``errors.HelmError`` carrying the Flux condition reason.

- ``errors``: the failure tree and Flux's build-error summaries.
- ``clients``: Secret data → HTTP options (basic auth, TLS, passCredentials);
  streamed, size-limited GETs with a conditional index fetch.
- ``indexes``: parsing an ``index.yaml`` off the event loop, normalising it
  as Helm does, choosing a chart version, and the in-memory index cache.
- ``charts``: reading and validating a chart (Helm's messages), merging values
  files, ``file://`` dependencies, and packaging the chart ``.tgz``.
- ``registries``: charts in OCI registries as ``helm push`` lays them out —
  versions from the tag list, the chart layer pulled (through ``shared.oci``).

Charts are handled as plain tar + YAML rather than through the Helm SDK: the
controller stays a small Python process (no Go runtime loaded, no fork
hazard, no ``$HOME/.cache/helm``), and Helm's refusals are reproduced with
Helm's messages.
"""
