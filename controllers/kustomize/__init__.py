"""kustomize-controller: reconciles Kustomizations by building and applying source artifacts."""
