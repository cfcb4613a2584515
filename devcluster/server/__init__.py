"""The devcluster process: the aiohttp application, its lifecycle, its files.

``server`` (routing, middleware, ``run``: store, cluster, HTTP(S), the
kubeconfig once requests are accepted, the controller-manager child) and
``kubeconfig`` (the kubeconfig file and TLS material). ``python -m
devcluster`` (``devcluster.__main__``) parses the flags and calls ``run``.

Only wiring: a request's meaning is decided in the layers below.
"""
