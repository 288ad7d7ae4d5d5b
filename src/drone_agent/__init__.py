"""drone-agent: keeps a police drone flight lawful and its footage lawful.

Packages: ``geofence`` (zones, limits, compiled fence), ``sim`` (ArduCopter-like MAVLink simulator),
``agent`` (MAVLink link, fence sync, guard, ``fly``), ``capture`` (frames, privacy masking, trigger,
encoding), ``evidence`` (sealing, manifest, audit log, verify, decrypt), ``store`` (S3 upload,
retention, embedded SeaweedFS), ``report`` (post-flight report). See README.md, "Architecture".
"""

__version__ = "0.1.0"
