"""Bucket: an object storage bucket's objects become an artifact.

``reconciler`` holds the steps; ``connecting`` turns the spec and its Secrets
into a provider client: ``s3`` (generic, aws; boto3 in threads), ``gcs``
(Google Cloud Storage's JSON API) and ``azureblob`` (the Blob service REST
API), the last two over ``clients.Http``. ``tokens`` and ``sts`` get
credentials from OAuth token endpoints and Security Token Services;
``indexes`` keeps the last object index beside the artifacts. Only
``reconciler`` and ``connecting`` know Kubernetes; the provider clients take
and return plain values.
"""
