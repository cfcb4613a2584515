"""Git sources: everything the GitRepository reconciler needs from a Git remote.

This package is domain code with no Kubernetes in it. The reconciler passes in
plain values (the ``spec`` model, Secret data as ``bytes``, a destination
directory) and gets back plain values (resolved refs, commit facts, Flux
revision strings) or a ``errors.GitError`` carrying the Flux condition reason.

- ``auth``: Secret data → typed auth options (basic, bearer, CA, mTLS, SSH, proxy).
- ``transports``: auth options → a dulwich client (SSH via a known_hosts-checking
  ``ssh`` subprocess); temp credentials files live only while the client does.
- (semver ranges live in ``shared.api.semverranges``, shared with the image reflector).
- ``refs``: choosing the ref from an ls-remote listing (Flux's precedence).
- ``checkout``: ls-remote, shallow fetch, tree materialization, submodules,
  sparse checkout.
- ``packs``, ``unpacking``: a fetched pack spooled to disk, scanned once; large
  blobs stay in it and stream into the work tree (``worktrees``).
- ``verification``: OpenPGP verification of commit and tag signatures (``gpg``).
- ``revisions``: Flux revision strings and commit facts for events.
- ``including``: copying included artifacts into a checkout.

What must not live here: Kubernetes access, status/condition writing, storage.
"""
