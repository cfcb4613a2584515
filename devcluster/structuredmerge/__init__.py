"""Structured merge: schema type information, field paths, typed values.

What Kubernetes' structured-merge-diff provides to server-side apply and
strategic merge patch: ``typeinfo`` (each node's type, list and map keys,
from kubernetes-validate's definitions and CRD schemas), ``fieldpaths`` (paths, field sets
and their ``FieldsV1`` encoding), ``typedvalues`` (field sets, comparisons and
merges walked alongside a type) and ``managedfields`` (the
``metadata.managedFields`` list).

Pure functions on values: no store, no HTTP, no apply policy (conflicts,
managers' intent live in ``fieldmanager``). Imports only the layers below.
"""
