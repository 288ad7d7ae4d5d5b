"""The camera side: frames, camera pose, privacy masking, evidence trigger, encoding, redact.

Public API (import from the modules; this package imports nothing heavy so that the CLI starts
fast)::

    from drone_agent.capture.camera import CameraModel, GimbalMount, FixedMount
    from drone_agent.capture.pose import PoseTrack, pose_sample, PositionSample, AttitudeSample, GimbalSample
    from drone_agent.capture.privacy import PrivacyMasker, PrivacyZone, PoseUncertainty, zones_from_local
    from drone_agent.capture.trigger import EvidenceTrigger, TriggerEvent, RcSwitch, RcSwitchConfig
    from drone_agent.capture.recorder import Recorder, SegmentMeta, BootClock
    from drone_agent.capture.encoder import EncoderSettings, SegmentEncoder
    from drone_agent.capture.mavcamera import CameraComponent, CameraIdentity
    from drone_agent.capture.camera_link import CameraLink
    from drone_agent.capture.sources import OpenCvSource, SimCameraSource, BootTimeEstimator, Frame
    from drone_agent.capture.config import parse_camera_section, parse_trigger_section, load_camera_file
    from drone_agent.capture.redact import read_tlog, redact_video, zones_from_files

Wiring (the integrator's ``fly``)::

    cam_cfg = parse_camera_section(op.sections.get("camera", {}))
    trig_cfg = parse_trigger_section(op.sections.get("trigger", {}))
    trigger = EvidenceTrigger(lambda e: vault.audit.append(e.kind, **e.audit_fields()),
                              incident_ref=op.incident_ref)
    track = PoseTrack(cam_cfg.mount_model(), fence.frame.to_local, max_age_s=cam_cfg.pose_max_age_s)
    masker = PrivacyMasker(cam_cfg.camera_model(),
                           zones_from_local(fence.privacy_zones_local(),
                                            terrain_up_m=cam_cfg.terrain_up_m,
                                            structure_height_m=cam_cfg.structure_height_m),
                           cam_cfg.uncertainty(),
                           keep_inside=fence.area_local if cam_cfg.mask_outside_area else None)
    recorder = Recorder(masker, track, trigger, lambda mp4, meta: vault.seal_segment(mp4, meta.as_dict()),
                        BootClock.from_system_time(system_time_msg), segment_s=cam_cfg.segment_s,
                        encoder=cam_cfg.encoder_settings(), pre_event_s=trig_cfg.pre_event_s,
                        still_sink=vault.seal_still)
    camera = CameraComponent(trigger, cam_cfg.identity(), system_id=1,
                             component_id=cam_cfg.component_id, on_still=recorder.request_still)
    # trigger on_event: also call recorder.sync() so a stop hands the open segment on at once
    # link: track.add_message(msg); rc.on_message(msg, utc); camera.on_message(msg, now_s, utc);
    #       camera.tick(now_s) → send; frames: recorder.on_frame(frame.time_boot_ms, frame.image)
"""
