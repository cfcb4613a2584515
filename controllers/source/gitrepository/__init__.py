"""GitRepository: the reconciler that turns a Git ref into a served artifact."""
