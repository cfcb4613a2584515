"""The Bucket reconciler: an S3-compatible bucket's objects become an artifact."""
