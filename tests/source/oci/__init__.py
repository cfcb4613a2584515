"""Tests of the OCIRepository domain code (controllers/source/ocirepository)."""
