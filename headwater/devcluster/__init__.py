"""devcluster: a Kubernetes-API-compatible server for tests and ``headwater dev``.

A server, not a controller: it imports nothing from ``shared.runtime`` or
``controllers`` (only ``shared.api`` for CRD structural checks and CEL rules).
Real clients (kubectl, Helm's client-go, kubernetes-asyncio) are the judges of
its faithfulness.

Layers, from the wire inwards:

- ``__main__`` (CLI), ``server`` (aiohttp app, routing, lifecycle),
  ``kubeconfig`` (kubeconfig file, TLS material), ``logs`` (the log format of
  both processes);
- authentication and authorization (``--authorization-mode RBAC``):
  ``authorizing`` (the request filter: credentials, impersonation, 403s),
  ``rbac`` (pure rule evaluation), ``rbacpolicy`` (stored policy, bootstrap
  roles, ClusterRole aggregation), ``serviceaccounts`` (token credentials and
  token Secrets), ``identities`` (users and impersonation), ``tokens``
  (TokenRequest), ``reviews``;
- ``handlers`` (REST verbs), ``watch_stream`` (watch responses), ``requests``
  (paths, queries, body decoding; ``protobuf`` for client-go bodies),
  ``discovery``, ``openapi`` (v3) and ``openapiv2`` (``gnostic`` for its
  protobuf form), ``tables``, ``scaling``;
- ``cluster`` (state and the write pipeline), ``strategies`` (its pure rules),
  ``crds`` and ``customs``
  (CustomResourceDefinitions and custom objects), ``validation``,
  ``kindchecks`` and ``defaults`` (built-in kinds), ``objects``, ``selectors``, ``jsonpaths``,
  ``errors`` (Status bodies);
- pure patch/apply machinery: ``patches``, ``fieldmanager``, ``typeinfo`` and
  its helpers;
- storage: ``storage`` (memory / SQLite behind one interface), ``watching``
  (change events), ``resources`` and ``schemas`` (what is served, from
  kubernetes-validate);
- the controller manager, a child process of the server and a client of its
  HTTP API, as kube-controller-manager is of kube-apiserver:
  ``controllerprocess`` (the server's side: start, supervise, stop; the
  command line and stdin protocol), ``controllermanager`` (the child's entry
  point), ``kubelet``, ``infrastructure``, ``hpa``, ``collector`` and their
  ``apiclient`` (informers, work queues), ``workloads``. The server imports
  none of these but ``controllerprocess``.
"""
