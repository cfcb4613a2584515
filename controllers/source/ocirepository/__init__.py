"""OCIRepository: pulling OCI artifacts from registries into artifacts."""
