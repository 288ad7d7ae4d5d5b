"""Evidence: keys, sealing, manifest, tamper-evident audit log, verify, decrypt."""
