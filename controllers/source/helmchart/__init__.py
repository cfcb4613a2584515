"""The HelmChart reconciler (see ``reconciler``)."""
