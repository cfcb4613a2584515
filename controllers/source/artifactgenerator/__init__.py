"""The ArtifactGenerator reconciler (Flux source-watcher API) inside source-controller."""
