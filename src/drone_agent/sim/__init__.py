"""An ArduCopter-like MAVLink multicopter simulator, a synthetic camera, and the real-SITL launcher.

Shares no protocol, fence or geometry code with the rest of drone-agent (pymavlink aside).

``SimulatorProcess`` runs the built-in simulator in a child process; ``SitlProcess`` runs real
ArduPilot SITL with the same interface (``agent_connection`` / ``gcs_connection``).
"""

from drone_agent.sim.process import SimulatorProcess
from drone_agent.sim.sitl import SitlProcess

__all__ = ["SimulatorProcess", "SitlProcess"]
