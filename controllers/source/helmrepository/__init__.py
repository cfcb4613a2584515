"""The HelmRepository reconciler (see ``reconciler``)."""
