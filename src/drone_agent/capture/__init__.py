"""The camera side: frames, camera pose, privacy masking, evidence trigger, encoding, redact."""
