"""helm-controller: HelmReleases become Helm releases, stored as Helm stores them.

What lives here: the process (``__main__``), the HelmRelease reconciler
(``helmrelease``), the domain modules it drives — where a chart comes from
(``charts``), values (``values``), Flux's release state machine (``state``,
``remediation``, ``snapshots``), drift (``drifting``), the kustomize runner of
post-renderers (``kustomizing``), the watch keys (``watching``) — and the
engine that performs Helm's actions (``engine``). What must not: raw
Kubernetes API requests (``shared.kube``), or code of another controller.
"""
