"""The flight side: MAVLink link and sessions, fence sync, guard, pre-flight gate, ``fly``.

Module map (pure core → sans-IO sessions → adapters → entry point)::

    guard.py        decide(GuardState, fence, KinematicState, VehicleState, GuardConfig) -> (state, decision)
    gate.py         preflight_gate(...) -> GateResult(permitted, reasons)
    state.py        VehicleState (immutable snapshot), StateTracker (telemetry -> snapshots)
    ardupilot.py    ArduCopter mode numbers, version-dependent parameter names
    codec.py        Codec: MAVLink 2 encode/decode with signing (pymavlink's generated codec)
    session.py      Session base (start/receive/poll -> messages to send), Peer
    heartbeat.py    LinkMonitor: heartbeat out, autopilot identification, link loss/recovery
    command.py      CommandLong (ACK, retries, MAV_RESULT errors), ModeChange (heartbeat-confirmed)
    params.py       ParamRead, ParamSet (verify), resolve_alias
    streams.py      StreamSetup (SET_MESSAGE_INTERVAL / REQUEST_DATA_STREAM), RateCheck
    fence_sync.py   FenceUpload, FenceDownload, compare_fence, fence_items_to_wire
    fence_setup.py  sync_fence: params read, upload, read back, params set, re-read -> SyncReport
    transport.py    connection strings (tcp:, udp:, udpin:, udpout:, serial) and byte transports
    link.py         Link: the single-threaded IO loop driving sessions/observers; HostedComponent
    guard_runner.py GuardRunner: the guard on every position update, commands, audit
    status.py       FlightStatus snapshot and its one-line rendering
    flight.py       run_flight(FlyOptions) -- what ``drone-agent fly`` does
    config.py       the profile's [link] table
    testing.py      MockClock, FakeAutopilot, converse (scripted-peer driver), zone-file helper
    scenario.py     the boundary scenario shared by integration/SITL tests and bench_guard.py
"""
