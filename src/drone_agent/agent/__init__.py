"""The flight side: MAVLink link and sessions, fence sync, guard, pre-flight gate, ``fly``."""
