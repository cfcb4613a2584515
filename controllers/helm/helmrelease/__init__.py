"""The HelmRelease reconciler: its steps, the atomic release loop and the actions' records.

What lives here: turning one HelmRelease into calls to the domain modules of
``controllers.helm`` (charts, values, state, drifting) and to the engine,
and writing the status, conditions and events Flux writes. What must not:
Helm's own mechanics (``controllers.helm.engine``) or raw API requests
(``shared.kube``).
"""
