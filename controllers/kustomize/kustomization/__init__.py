"""Kustomization: the reconciler that applies a source artifact to the cluster."""
