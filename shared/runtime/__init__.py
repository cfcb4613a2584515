"""Controller machinery every controller shares.

Manager, informers, work queue, leader election, the reconcile skeleton,
conditions, status patching, events, metrics, probes, logging, the common
command-line options and each process's own temporary directory (``scratch``).
No domain code (Git, kustomize, Helm) lives here.
"""
