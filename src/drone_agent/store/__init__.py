"""Post-flight upload to an S3-compatible evidence store, retention, embedded SeaweedFS."""
