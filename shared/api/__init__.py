"""The Flux v2 API as pydantic models: the contract between Headwater's processes.

What lives here: one module per API group (``source``, ``kustomize``, ``helm``,
``image``, ``notification``), the shared meta types in ``meta``, the model base
and CRD metadata in ``objects``, CEL rule evaluation in ``validation`` and the
CRD generator in ``crdgen``, Masterminds semver ranges (used by GitRepository refs and
ImagePolicy) in ``semverranges``. Condition types and reasons are named constants
next to the models of the group that sets them.

What must not live here: any I/O. Nothing in this package talks to the
Kubernetes API, the network or the file system (``crdgen``'s command line
writes files, and only when run as a program). It is the bottom layer:
import-linter keeps ``shared.kube``, ``shared.runtime`` and
``shared.artifacts`` out.

Models mirror Flux's wire format exactly: camelCase field names, CRD defaults
(and only those) as model defaults, Flux's enums, patterns and bounds. Parse
with ``Kind.model_validate(obj)`` and write back with ``objects.dump(model)``.
"""
