"""The OCI distribution client: the only code that speaks the registry protocol.

OCIRepository, HelmChart (charts in OCI registries), the image reflector
and the ``headwater`` CLI all use this package; it is built on aiohttp and
knows nothing of Kubernetes. Typical use::

    ref = references.parse("oci://ghcr.io/org/app:1.0")
    creds = credentials.from_dockerconfigjson(secret[".dockerconfigjson"], ref.host)
    connection = transport.Connection(
        host=ref.api_host,
        credentials=creds,
        ssl_context=tls.context(ca=secret_ca, cert=secret_cert, key=secret_key),
        plain_http=spec.insecure,
    )
    oci = client.Client(session, connection, token_cache=process_token_cache)
    manifest = await oci.get_manifest(ref.repository, ref.identifier)
    if manifest.is_index:
        manifest = await oci.get_manifest(ref.repository, manifest.children[0].digest)
    await oci.fetch_blob(ref.repository, manifest.layers[0].digest, path, max_size=limit)

Modules:

- ``references``: ``[host/]path[:tag][@digest]`` parsing, Docker Hub normalization;
- ``credentials``: ``Credentials`` and the ``kubernetes.io/dockerconfigjson``
  parser (host matching as Docker does); the Secret itself is read by the
  controller (``shared.kube.references``) and passed in as bytes;
- ``tls``: an ``ssl.SSLContext`` from a ``certSecretRef`` bundle (``ca.crt``,
  ``tls.crt``, ``tls.key``);
- ``challenges``: ``WWW-Authenticate`` parsing (Basic, Bearer realm/service/scope);
- ``tokens``: the process-wide bearer-token cache (per realm, service, scope
  and credentials, until expiry) that also remembers each host's challenge;
- ``transport``: ``Connection`` (host, ``plain_http`` for Flux's ``insecure``,
  TLS, proxy, timeout, credentials) and authenticated requests with the one
  translation of aiohttp and HTTP errors;
- ``client``: ``Client`` — tag listing with ``Link`` pagination, manifest
  GET/HEAD with the right ``Accept`` list, streamed and verified blobs with
  size limits, and push (blobs monolithic or chunked, manifests, tags);
- ``manifests``: ``Manifest`` (exact bytes, digest, image vs index) and
  ``Descriptor``; builders of OCI manifests and indexes for pushing;
- ``mediatypes``: the manifest and index media types;
- ``digests``: ``<algorithm>:<hex>`` parsing and streaming verification;
- ``errors``: the one exception tree (drawn there) every failure leaves as.

The caller owns the ``aiohttp.ClientSession`` and one ``tokens.TokenCache``
per process; a ``Client`` is cheap and made per registry and credentials.

What must not live here: Kubernetes access (``shared.kube``), reconcile
logic or conditions (``shared.runtime``, controllers), and what one kind
does with the content (chart packaging, artifact layout, tag policies).
This package imports ``shared.api`` at most.
"""
