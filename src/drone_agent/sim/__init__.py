"""An ArduCopter-like MAVLink multicopter simulator, a synthetic camera, and the real-SITL launcher.

Shares no protocol, fence or geometry code with the rest of drone-agent (pymavlink aside).
"""
