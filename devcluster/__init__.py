"""devcluster: a Kubernetes-API-compatible server for tests and ``headwater dev``.

A server, not a controller: it imports nothing from ``shared.runtime`` or
``controllers`` (only ``shared.api`` for CRD structural checks and CEL rules).
Real clients (kubectl, Helm's client-go, kubernetes-asyncio) are the judges of
its faithfulness. Installed with the ``headwater[devcluster]`` extra; the
controllers' image leaves it out.

Sub-packages, split as Kubernetes splits the same domain, from the wire
inwards; each imports only from those below it (an import-linter ``layers``
contract):

- ``server`` — the aiohttp application, lifecycle, kubeconfig; ``__main__``
  is ``python -m devcluster``;
- ``auth`` — identities and impersonation, TokenRequest, access reviews;
- ``endpoints`` — REST handlers, watch streams, tables, discovery, OpenAPI;
  beside it ``controllers`` — the controller-manager child process (simulated
  kubelet, workloads, infrastructure, garbage collector), a client of the
  server's HTTP API only;
- ``registry`` — the cluster state and its write pipeline, strategies,
  services, scale, defaults;
- ``apiextensions`` — CRDs, custom resources, CEL rules;
- ``schemas`` (built-in schemas, served resources, decoding checks),
  ``storage`` (the store, the watch cache), ``fieldmanager`` (server-side
  apply) and ``patching`` (merge, JSON and strategic merge patches), which
  are independent of each other;
- ``structuredmerge`` — type information, field paths, typed values,
  managedFields;
- ``serializers`` — JSON, YAML and protobuf bodies;
- ``machinery`` — objects, errors, selectors, JSONPath, log format.
"""
