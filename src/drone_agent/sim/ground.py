"""A procedurally generated, geo-referenced aerial ground image: roads, houses, gardens, trees.

Theory of operation
-------------------
:func:`make_ground_texture` draws, deterministically from a seed, a square top-down image centred on
home (north up, east right, ``RES_M`` metres per pixel, ``HALF_EXTENT_M`` each way): field and lawn
colours with low-frequency variation, a slightly irregular grid of asphalt roads with dashed centre
lines, rows of house plots along the roads (roof, garden, patio, shed), and scattered trees. The
camera samples it with wrap-around, so the ground never ends. The texture never contains the
reserved ground-truth colour :data:`RESERVED_BGR` (pure magenta): :func:`strip_reserved` nudges any
pixel that could be mistaken for it, and the camera applies it again after interpolation.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

RES_M = 0.5
HALF_EXTENT_M = 600.0
RESERVED_BGR = (255, 0, 255)  # pure magenta: privacy zones in ground-truth frames

ROAD_BGR = (88, 90, 92)
LINE_BGR = (215, 220, 220)
PAVEMENT_BGR = (150, 158, 165)
ROOF_BGR = ((52, 72, 160), (60, 90, 175), (95, 98, 108), (70, 74, 82), (45, 60, 130))
GARDEN_BGR = ((60, 140, 80), (55, 125, 70), (70, 150, 95))
PATIO_BGR = (140, 160, 180)
TREE_BGR = (35, 85, 40)
FIELD_BGR = np.array([70, 135, 110], dtype=np.float32)


def strip_reserved(img: np.ndarray) -> np.ndarray:
    """Make sure no pixel equals (or nearly equals) the reserved colour; in place, returns img."""
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    near = (b > 240) & (g < 16) & (r > 240)
    if near.any():
        img[near] = (235, 40, 235)
    return img


def _to_px(n_m: float, e_m: float, size: int) -> tuple[int, int]:
    return int((e_m + HALF_EXTENT_M) / RES_M), int((HALF_EXTENT_M - n_m) / RES_M)


@lru_cache(maxsize=4)
def make_ground_texture(seed: int = 0) -> np.ndarray:
    """The BGR uint8 ground image (see the module docstring); cached and read-only."""
    rng = np.random.default_rng(seed)
    size = int(2 * HALF_EXTENT_M / RES_M)
    low = rng.normal(0.0, 1.0, (size // 40, size // 40, 3)).astype(np.float32)
    low = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0.0, 1.0, (size, size, 1)).astype(np.float32)
    img = FIELD_BGR + low * np.array([8, 18, 14], dtype=np.float32) + fine * 6.0
    img = np.clip(img, 0, 255).astype(np.uint8)

    road_w = max(1, int(7.0 / RES_M))
    spacing = 110.0
    offsets = np.arange(-HALF_EXTENT_M, HALF_EXTENT_M + spacing, spacing)
    ns = offsets + rng.uniform(-20, 20, offsets.size)
    es = offsets + rng.uniform(-20, 20, offsets.size)
    # house plots between the roads, along both sides of each east-west road
    for n_road in ns:
        for e0 in np.arange(-HALF_EXTENT_M, HALF_EXTENT_M, 16.0):
            for side in (1, -1):
                if rng.random() < 0.15:
                    continue
                depth = rng.uniform(28, 38)
                n_near = n_road + side * 6.0
                n_far = n_near + side * depth
                p1 = _to_px(max(n_near, n_far), e0 + 0.5, size)
                p2 = _to_px(min(n_near, n_far), e0 + 15.5, size)
                cv2.rectangle(img, p1, p2, GARDEN_BGR[int(rng.integers(3))], -1)
                house_n = n_near + side * rng.uniform(3, 6)
                hn2 = house_n + side * rng.uniform(8, 11)
                he1 = e0 + rng.uniform(2, 4)
                he2 = he1 + rng.uniform(8, 11)
                roof = ROOF_BGR[int(rng.integers(len(ROOF_BGR)))]
                cv2.rectangle(img, _to_px(max(house_n, hn2), he1, size),
                              _to_px(min(house_n, hn2), he2, size), roof, -1)
                ridge = (house_n + hn2) / 2
                cv2.line(img, _to_px(ridge, he1, size), _to_px(ridge, he2, size),
                         tuple(int(c * 0.8) for c in roof), 1)
                pn = hn2 + side * 1.0
                cv2.rectangle(img, _to_px(max(pn, pn + side * 4), he1, size),
                              _to_px(min(pn, pn + side * 4), he1 + 5, size), PATIO_BGR, -1)
                if rng.random() < 0.4:
                    tn = n_far - side * rng.uniform(3, 6)
                    cv2.circle(img, _to_px(tn, e0 + rng.uniform(3, 13), size),
                               int(rng.uniform(2, 4) / RES_M), TREE_BGR, -1)
    for n_road in ns:
        y = _to_px(n_road, 0.0, size)[1]
        cv2.line(img, (0, y), (size, y), PAVEMENT_BGR, road_w + int(4 / RES_M))
        cv2.line(img, (0, y), (size, y), ROAD_BGR, road_w)
    for e_road in es:
        x = _to_px(0.0, e_road, size)[0]
        cv2.line(img, (x, 0), (x, size), PAVEMENT_BGR, road_w + int(4 / RES_M))
        cv2.line(img, (x, 0), (x, size), ROAD_BGR, road_w)
    dash = int(3.0 / RES_M)
    for n_road in ns:
        y = _to_px(n_road, 0.0, size)[1]
        for x in range(0, size, 3 * dash):
            cv2.line(img, (x, y), (x + dash, y), LINE_BGR, 1)
    for e_road in es:
        x = _to_px(0.0, e_road, size)[0]
        for y in range(0, size, 3 * dash):
            cv2.line(img, (x, y), (x, y + dash), LINE_BGR, 1)
    for _ in range(1500):
        n, e = rng.uniform(-HALF_EXTENT_M, HALF_EXTENT_M, 2)
        cv2.circle(img, _to_px(n, e, size), int(rng.uniform(2, 5) / RES_M), TREE_BGR, -1)
    strip_reserved(img)
    img.flags.writeable = False
    return img
