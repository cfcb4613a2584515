"""CustomResourceDefinitions and custom resources, as kube-apiserver's apiextensions.

``crds`` (admission of a definition and what it serves), ``customs`` (custom
objects against their structural schema: prune, default, validate) and
``celrules`` (``x-kubernetes-validations``, with ``oldSelf`` transition rules).

No storage and no HTTP: the ``registry`` calls in on every write. Uses
``shared.api`` only for its structural-schema checks and CEL.
"""
