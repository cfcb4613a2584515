"""The controller processes, one package each; no controller imports another.

Each runs as ``python -m controllers.<name>`` and talks to the others only
through Kubernetes objects and HTTP-served artifacts (import-linter enforces
their independence).
"""
