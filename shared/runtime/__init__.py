"""Controller machinery every controller shares.

Manager, informers, work queue, leader election, the reconcile skeleton,
conditions, status patching, events, metrics, probes, logging and the common
command-line options. No domain code (Git, kustomize, Helm) lives here.
"""
