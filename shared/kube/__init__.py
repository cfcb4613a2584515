"""The only code that calls the Kubernetes API.

Client configuration, error translation, dynamic access by GVK, watching,
patching and the server-side-apply resource manager. Nothing above this layer
imports kubernetes_asyncio directly.
"""
