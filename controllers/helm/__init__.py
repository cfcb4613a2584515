"""helm-controller: reconciles HelmReleases through the Helm SDK."""
