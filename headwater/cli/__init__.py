"""The ``headwater`` command: a Flux-CLI-like front end to the toolkit."""
