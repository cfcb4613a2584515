"""source-controller: GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket.

Fetches sources, packages them as artifacts and serves them over HTTP.
"""
