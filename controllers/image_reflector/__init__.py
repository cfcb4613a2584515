"""image-reflector-controller: ImageRepository and ImagePolicy.

Modules, from the process down:

- ``__main__``: the process (flags, informers, the two controllers, the
  tag-store directory);
- ``imagerepository``: the ImageRepository reconciler (scan → tag store);
- ``imagepolicy``: the ImagePolicy reconciler (tag store → ``latestRef``);
- ``access``: an ImageRepository's Secrets → a ``shared.oci`` connection;
- ``policies``: the tag filter and the semver/alphabetical/numerical
  policies, pure;
- ``tagstore``: the tag database (a JSON file per repository);
- ``regexes``: RE2 patterns (filters, exclusion lists), pure.

Registry traffic goes through ``shared.oci`` only.
"""
