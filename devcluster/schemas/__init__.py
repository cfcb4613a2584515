"""Built-in schemas, the resources served, and the built-in kinds' decoding checks.

``schemas`` (the Kubernetes OpenAPI definitions from the PyPI package
``kubernetes-validate``), ``resources`` (the registry of served resources:
built-in kinds plus what CRDs add, with their discovery facts) and
``validation`` (what decoding a body into the Go structs would refuse, and
``fieldValidation``) and ``kindchecks`` (the built-in kinds' own validation,
worded as kube-apiserver words it).

Schemas are never hand-written here. Custom resources' schemas belong to
``apiextensions``; writes and their rules to ``registry``.
"""
