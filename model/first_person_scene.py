"""Procedural first-person footage: a handgun silhouette and muzzle flash.

Renders frames like a first-person shooter or a bodycam: a background (a
room, a street, open country or a textured wall) seen through a panning,
shaking camera under varying light, and, at chosen times, a dark pistol
held from the bottom right with its barrel pointing into the scene; when it
fires, a yellow-orange starburst shows at the muzzle for a few frames.

Negatives are made hard on purpose: some videos show an empty hand, a
phone or a flashlight in the same place as the pistol, dark furniture and
poles, and yellow lamps, lit windows, a sun or a sunset sky.

It is synthetic data for a demo, not a model of real footage.  Everything
is numpy, deterministic for a seed.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

Colour = Tuple[float, float, float]
Interval = Tuple[float, float]  # [start_s, end_s)
BACKGROUNDS = ('room', 'street', 'country', 'wall')
HELD_DISTRACTORS = ('none', 'hand', 'phone', 'flashlight')
DIM_SHARE = 0.25
# Supersampling per axis when filling shapes (anti-aliased edges).
_SUPERSAMPLE = 2
# The pistol, in units of the frame height, barrel along -x, up is -y,
# origin at the back of the slide.  Each part is a convex polygon.
_SLIDE = ((-0.50, -0.09), (0.0, -0.09), (0.0, 0.0), (-0.50, 0.0))
_MUZZLE = ((-0.54, -0.065), (-0.50, -0.065), (-0.50, -0.025), (-0.54, -0.025))
_FRAME = ((-0.42, 0.0), (-0.02, 0.0), (-0.02, 0.035), (-0.42, 0.035))
_GUARD = (((-0.30, 0.035), (-0.28, 0.035), (-0.26, 0.09), (-0.28, 0.09)),
          ((-0.28, 0.075), (-0.15, 0.075), (-0.15, 0.09), (-0.28, 0.09)))
_GRIP = ((-0.14, 0.03), (0.0, 0.03), (0.10, 0.30), (-0.04, 0.32))
_MUZZLE_POINT = (-0.545, -0.045)
_HAND = ((-0.16, 0.12), (0.06, 0.10), (0.15, 0.30), (-0.05, 0.34))
_THUMB = ((-0.20, 0.01), (-0.05, 0.0), (-0.04, 0.05), (-0.18, 0.06))
_SLEEVE = ((-0.05, 0.30), (0.15, 0.27), (0.60, 0.60), (0.25, 0.75))
_PHONE = ((-0.10, -0.12), (0.02, -0.12), (0.02, 0.12), (-0.10, 0.12))
_PHONE_SCREEN = ((-0.09, -0.11), (0.01, -0.11), (0.01, 0.09), (-0.09, 0.09))
_FLASHLIGHT = ((-0.40, -0.03), (-0.05, -0.04), (-0.05, 0.06), (-0.40, 0.05))
_FLASHLIGHT_HEAD = ((-0.46, -0.06), (-0.38, -0.06), (-0.38, 0.08),
                    (-0.46, 0.08))
_FIST = ((-0.17, 0.0), (0.04, -0.02), (0.14, 0.22), (-0.08, 0.26))


@dataclasses.dataclass(frozen=True)
class Timeline:
  """When the pistol is up and when it fires (flashes lie inside ``weapon``)."""
  weapon: Tuple[Interval, ...]
  flashes: Tuple[Interval, ...]

  def weapon_raise(self, t: float, raise_s: float = 0.2) -> float:
    """0 when the pistol is down; rises from 0.75 to 1 over ``raise_s``.

    Even at 0.75 most of the pistol is in view: a labelled frame always
    shows it.
    """
    for start, end in self.weapon:
      if start <= t < end:
        return min(1.0, 0.75 + 0.25 * (t - start) / raise_s)
    return 0.0

  def flash_index(self, t: float) -> Optional[int]:
    """Which flash is on screen at ``t``, if any."""
    for number, (start, end) in enumerate(self.flashes):
      if start <= t < end:
        return number
    return None


@dataclasses.dataclass(frozen=True)
class Scene:
  """Everything fixed for one video; frames vary only with time."""
  width: int
  height: int
  canvas: np.ndarray            # float32 [H + 2m, W + 2m, 3], the world
  margin: int
  pan: Tuple[float, float, float, float]    # amplitude x, y px, period, phase
  shake: Tuple[float, float, float, float]  # amplitude px, Hz, Hz, phase
  jitter_px: float              # per-frame bodycam jitter
  bob: Tuple[float, float]      # weapon bob amplitude (px), frequency (Hz)
  gain: float                   # overall light level
  tint: Colour
  flicker: Tuple[float, float]  # amplitude, frequency (Hz)
  vignette: float
  noise: float
  gun_colour: Colour
  gun_scale: float
  gun_angle: float              # radians, positive tilts the muzzle up
  gun_anchor: Tuple[float, float]  # back of the slide, fractions of W, H
  skin: Colour
  sleeve: Colour
  gloved: bool
  held: str                     # a HELD_DISTRACTORS item, shown when no gun
  seed: int


def _rgb(values) -> np.ndarray:
  return np.asarray(values, np.float32).reshape(1, 1, 3)


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear resize of a small ``[h, w]`` or ``[h, w, c]`` grid."""
  ys = np.linspace(0, grid.shape[0] - 1, height)
  xs = np.linspace(0, grid.shape[1] - 1, width)
  y0 = np.clip(np.floor(ys).astype(int), 0, grid.shape[0] - 2)
  x0 = np.clip(np.floor(xs).astype(int), 0, grid.shape[1] - 2)
  wy = (ys - y0)[:, None]
  wx = (xs - x0)[None, :]
  if grid.ndim == 3:
    wy, wx = wy[..., None], wx[..., None]
  top = grid[y0][:, x0] * (1 - wx) + grid[y0][:, x0 + 1] * wx
  bottom = grid[y0 + 1][:, x0] * (1 - wx) + grid[y0 + 1][:, x0 + 1] * wx
  return (top * (1 - wy) + bottom * wy).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, height: int, width: int,
                  cells: int) -> np.ndarray:
  """Value noise in ``[0, 1]``, ``[H, W]``, about ``cells`` blobs across."""
  grid = rng.random((max(cells * height // width, 2) + 1, cells + 1))
  return _upsample(grid, height, width)


def _coverage(vertices: Sequence[Tuple[float, float]], height: int,
              width: int) -> Tuple[Tuple[slice, slice], np.ndarray]:
  """Anti-aliased coverage of a convex polygon (pixel coordinates).

  Returns the region of the image the polygon's bounding box covers and the
  coverage in ``[0, 1]`` over that region.
  """
  points = np.asarray(vertices, np.float64)
  x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
  x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
  x1, y1 = min(x1, width), min(y1, height)
  if x0 >= x1 or y0 >= y1:
    return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), np.float32)
  offsets = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
  ys = (np.arange(y0, y1)[:, None] + offsets[None, :]).ravel()[:, None]
  xs = (np.arange(x0, x1)[:, None] + offsets[None, :]).ravel()[None, :]
  area = np.sum(points[:, 0] * np.roll(points[:, 1], -1) -
                np.roll(points[:, 0], -1) * points[:, 1])
  if area < 0:
    points = points[::-1]
  inside = np.ones((len(ys), xs.shape[1]), bool)
  for p, q in zip(points, np.roll(points, -1, axis=0)):
    inside &= ((q[0] - p[0]) * (ys - p[1]) - (q[1] - p[1]) * (xs - p[0])) >= 0
  block = inside.reshape(y1 - y0, _SUPERSAMPLE, x1 - x0, _SUPERSAMPLE)
  return (slice(y0, y1), slice(x0, x1)), block.mean(axis=(1, 3),
                                                    dtype=np.float32)


def _paint(image: np.ndarray, coverage: np.ndarray, colour,
           opacity: float = 1.0) -> None:
  """Blends ``colour`` into ``image`` where ``coverage`` (same size) says."""
  alpha = (coverage * opacity)[..., None]
  image *= 1.0 - alpha
  image += alpha * _rgb(colour)


def _polygon(image: np.ndarray, vertices, colour, opacity: float = 1.0):
  region, coverage = _coverage(vertices, image.shape[0], image.shape[1])
  _paint(image[region], coverage, colour, opacity)


def _disc(height: int, width: int, cx: float, cy: float, rx: float,
          ry: Optional[float] = None) -> np.ndarray:
  """Anti-aliased coverage of an ellipse."""
  ry = rx if ry is None else ry
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
  distance = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
  return np.clip((1.0 - distance) * min(rx, ry) + 0.5, 0.0, 1.0)


def _glow(height: int, width: int, cx: float, cy: float,
          sigma: float) -> np.ndarray:
  """A soft radial falloff, 1 at the centre."""
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
  return np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))


def _vertical_gradient(height: int, width: int, top, bottom) -> np.ndarray:
  mix = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
  column = _rgb(top) * (1 - mix) + _rgb(bottom) * mix
  return np.repeat(column, width, axis=1)


def _muted(rng: np.random.Generator, low: float = 0.25,
           high: float = 0.75) -> np.ndarray:
  """A desaturated colour (walls, floors, buildings)."""
  base = rng.uniform(low, high)
  return np.clip(base + rng.normal(0, 0.06, 3), 0.05, 0.95)


def _lamp(image: np.ndarray, rng: np.random.Generator, x: float, y: float,
          radius: float) -> None:
  """A warm light: yellow-orange disc with a glow (a flash look-alike)."""
  height, width = image.shape[:2]
  _paint(image, _glow(height, width, x, y, radius * 1.5), (1.0, 0.8, 0.45),
         0.4)
  _paint(image, _disc(height, width, x, y, radius),
         (1.0, rng.uniform(0.75, 0.95), rng.uniform(0.3, 0.6)))


def _dark_block(image: np.ndarray, rng: np.random.Generator) -> None:
  """Dark furniture or a pole: a dark object that is not a pistol."""
  height, width = image.shape[:2]
  if rng.random() < 0.5:   # pole
    x = rng.uniform(0, width)
    w = rng.uniform(2, 6)
    top = rng.uniform(0, height * 0.4)
    vertices = ((x, top), (x + w, top), (x + w, height), (x, height))
  else:                    # cabinet, sofa, bin
    w, h = rng.uniform(0.1, 0.3) * width, rng.uniform(0.1, 0.3) * height
    x, y = rng.uniform(0, width - w), rng.uniform(height * 0.45, height - h)
    vertices = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
  _polygon(image, vertices, np.full(3, rng.uniform(0.04, 0.15)))


def _room(rng: np.random.Generator, height: int, width: int,
          clutter: bool) -> np.ndarray:
  """A box room: back wall, side walls, floor and ceiling, in perspective."""
  wall, floor = _muted(rng, 0.4, 0.8), _muted(rng, 0.2, 0.5)
  ceiling = np.clip(wall * 1.15, 0, 1)
  vx, vy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.4, 0.55)
  half_w, half_h = width * rng.uniform(0.15, 0.25), height * rng.uniform(
      0.15, 0.25)
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
  u, v = (xs - vx) / half_w, (ys - vy) / half_h
  depth = np.maximum(np.abs(u), np.abs(v))
  image = np.empty((height, width, 3), np.float32)
  back, side = depth <= 1.0, np.abs(u) > np.abs(v)
  image[:] = _rgb(wall)
  image[~back & side] = wall * 0.75
  image[~back & ~side & (v > 0)] = floor
  image[~back & ~side & (v < 0)] = ceiling
  tiles = (np.floor(4.0 * np.log(np.maximum(depth, 1.0)) * 3) % 2 == 0)
  image[~back & ~side & (v > 0) & tiles] *= 0.85
  if rng.random() < 0.7:   # a door in the back wall
    dw = half_w * rng.uniform(0.4, 0.7)
    dx = vx + rng.uniform(-half_w, half_w - dw)
    _polygon(image, ((dx, vy - half_h * 0.5), (dx + dw, vy - half_h * 0.5),
                     (dx + dw, vy + half_h), (dx, vy + half_h)),
             _muted(rng, 0.15, 0.45))
  if rng.random() < 0.6:   # a window showing the sky
    wx, wy = vx + rng.uniform(-half_w, 0), vy - half_h * rng.uniform(0.7, 0.9)
    _polygon(image, ((wx, wy), (wx + half_w * 0.8, wy),
                     (wx + half_w * 0.8, wy + half_h * 0.6),
                     (wx, wy + half_h * 0.6)), (0.7, 0.85, 1.0))
  if not clutter:
    return image
  for _ in range(rng.integers(0, 3)):
    _dark_block(image, rng)
  if rng.random() < 0.4:
    _lamp(image, rng, rng.uniform(0, width), rng.uniform(0, vy),
          rng.uniform(2, 5))
  return image


def _street(rng: np.random.Generator, height: int, width: int,
            clutter: bool) -> np.ndarray:
  """Sky, a row of buildings with windows, a road to the horizon."""
  night = rng.random() < 0.35
  sky_top = (0.05, 0.07, 0.15) if night else (0.35, 0.55, 0.9)
  sky_low = (0.15, 0.12, 0.2) if night else (0.75, 0.85, 0.95)
  horizon = int(height * rng.uniform(0.45, 0.6))
  image = _vertical_gradient(height, width, sky_top, sky_low)
  x = 0.0
  while x < width:
    w = rng.uniform(0.12, 0.3) * width
    top = horizon - rng.uniform(0.15, 0.45) * height
    colour = _muted(rng, 0.25, 0.65) * (0.5 if night else 1.0)
    _polygon(image, ((x, top), (x + w, top), (x + w, horizon), (x, horizon)),
             colour)
    for wy in np.arange(top + 3, horizon - 4, 7):
      for wx in np.arange(x + 3, x + w - 4, 7):
        lit = rng.random() < (0.5 if night else 0.1)
        shade = (1.0, 0.85, 0.45) if lit else colour * 0.55
        _polygon(image, ((wx, wy), (wx + 3, wy), (wx + 3, wy + 4),
                         (wx, wy + 4)), shade)
    x += w
  road = (0.25, 0.25, 0.27) if not night else (0.1, 0.1, 0.12)
  image[horizon:] = _rgb(road)
  vx = width * rng.uniform(0.4, 0.6)
  for offset in (-0.9, 0.9):   # kerbs converging on the horizon
    _polygon(image, ((vx - 1, horizon), (vx + 1, horizon),
                     (vx + offset * width + 3, height),
                     (vx + offset * width - 3, height)), (0.55, 0.55, 0.5))
  for step in range(4):        # dashed centre line
    y0 = horizon + (height - horizon) * (step / 4.0) ** 1.5
    y1 = horizon + (height - horizon) * ((step + 0.5) / 4.0) ** 1.5
    w0, w1 = 0.5 + step, 1.0 + step * 1.5
    _polygon(image, ((vx - w0, y0), (vx + w0, y0), (vx + w1, y1),
                     (vx - w1, y1)), (0.9, 0.85, 0.5))
  for _ in range(rng.integers(0, 3) if clutter else 0):   # lamp posts
    px = rng.uniform(0, width)
    top = horizon - rng.uniform(0.2, 0.4) * height
    _polygon(image, ((px, top), (px + 2, top), (px + 2, height * 0.9),
                     (px, height * 0.9)), (0.08, 0.08, 0.08))
    if night or rng.random() < 0.3:
      _lamp(image, rng, px + 1, top, rng.uniform(2, 4))
  return image


def _country(rng: np.random.Generator, height: int, width: int,
             clutter: bool) -> np.ndarray:
  """Open sky (blue, overcast or sunset), hills, trees, maybe the sun."""
  kind = rng.choice(['clear', 'overcast', 'sunset'])
  top, low = {'clear': ((0.3, 0.5, 0.9), (0.7, 0.85, 1.0)),
              'overcast': ((0.6, 0.62, 0.65), (0.8, 0.8, 0.8)),
              'sunset': ((0.3, 0.25, 0.5), (1.0, 0.6, 0.25))}[kind]
  image = _vertical_gradient(height, width, top, low)
  clouds = _smooth_noise(rng, height, width, 6)
  _paint(image, np.clip((clouds - 0.55) * 3, 0, 1) * 0.7, (0.95, 0.95, 0.95))
  if clutter and kind != 'overcast' and rng.random() < 0.6:   # the sun
    _lamp(image, rng, rng.uniform(0, width), rng.uniform(0.1, 0.4) * height,
          rng.uniform(4, 8))
  xs = np.arange(width, dtype=np.float32)
  ridge = height * (rng.uniform(0.5, 0.65) + 0.06 * np.sin(
      xs / width * rng.uniform(3, 8) + rng.uniform(0, 6)))
  ground = np.arange(height, dtype=np.float32)[:, None] >= ridge[None, :]
  grass = _muted(rng, 0.25, 0.45) * np.array([0.8, 1.1, 0.6])
  texture = _smooth_noise(rng, height, width, 20)[..., None]
  image[ground] = (_rgb(grass) * (0.8 + 0.4 * texture))[ground]
  for _ in range(rng.integers(0, 5)):   # trees
    tx, ty = rng.uniform(0, width), rng.uniform(0.45, 0.65) * height
    r = rng.uniform(3, 9)
    _paint(image, _disc(height, width, tx, ty, r, r * 1.4),
           (0.08, rng.uniform(0.18, 0.3), 0.08))
  return image


def _wall(rng: np.random.Generator, height: int, width: int,
          clutter: bool) -> np.ndarray:
  """A close wall: bricks, concrete or painted plaster, with stains."""
  base = _muted(rng, 0.3, 0.7)
  if rng.random() < 0.5:
    base = base * np.array([1.2, 0.8, 0.65])   # brick
  stains = _smooth_noise(rng, height, width, 8)[..., None]
  fine = _smooth_noise(rng, height, width, 40)[..., None]
  image = np.clip(_rgb(base) * (0.75 + 0.35 * stains + 0.15 * fine), 0, 1)
  if rng.random() < 0.6:   # mortar lines
    brick_h = rng.integers(5, 9)
    brick_w = brick_h * 2
    ys, xs = np.mgrid[0:height, 0:width]
    row = ys // brick_h
    mortar = (ys % brick_h == 0) | ((xs + (row % 2) * brick_w // 2)
                                    % brick_w == 0)
    image[mortar] *= 0.6
  if not clutter:
    return image.astype(np.float32)
  for _ in range(rng.integers(0, 2)):
    _dark_block(image, rng)
  if rng.random() < 0.3:
    _lamp(image, rng, rng.uniform(0, width), rng.uniform(0, height * 0.5),
          rng.uniform(2, 4))
  return image.astype(np.float32)


_BACKGROUND_PAINTERS: Dict[str, Callable[[np.random.Generator, int, int,
                                          bool], np.ndarray]] = {
    'room': _room, 'street': _street, 'country': _country, 'wall': _wall}


def make_scene(seed: int, width: int = 160, height: int = 120,
               background: Optional[str] = None,
               held: Optional[str] = None,
               dim: Optional[bool] = None, clutter: bool = True) -> Scene:
  """A random scene; ``background``, ``held`` and ``dim`` may be fixed.

  A dim scene (a quarter of them unless fixed) is lit at 35-60 %, where the
  dark pistol is hard to see.  ``clutter`` adds the dark furniture, poles,
  lamps and sun that make negatives harder.
  """
  rng = np.random.default_rng(seed)
  background = background or str(rng.choice(BACKGROUNDS))
  held = held or str(rng.choice(HELD_DISTRACTORS, p=[0.55, 0.2, 0.15, 0.1]))
  dim_draw = bool(rng.random() < DIM_SHARE)
  dim = dim_draw if dim is None else dim
  pan = (rng.uniform(0, 0.2) * width, rng.uniform(0, 0.08) * height,
         rng.uniform(4, 12), rng.uniform(0, 2 * math.pi))
  shake = (rng.choice([0.3, 1.0, 3.0]) * rng.uniform(0.5, 1.0),
           rng.uniform(0.5, 2.0), rng.uniform(2.0, 6.0),
           rng.uniform(0, 2 * math.pi))
  margin = int(math.ceil(max(pan[0], pan[1]) + shake[0] * 1.6 + 4))
  canvas = _BACKGROUND_PAINTERS[background](rng, height + 2 * margin,
                                            width + 2 * margin, clutter)
  return Scene(
      width=width, height=height, canvas=canvas, margin=margin, pan=pan,
      shake=shake, jitter_px=float(rng.choice([0.0, 0.0, 1.0])),
      bob=(rng.uniform(0.5, 2.5), rng.uniform(0.8, 2.0)),
      gain=float(rng.uniform(0.35, 0.6) if dim else rng.uniform(0.75, 1.15)),
      tint=tuple(np.clip(1 + rng.normal(0, 0.06, 3), 0.8, 1.2)),
      flicker=(float(rng.choice([0.0, 0.0, rng.uniform(0.05, 0.2)])),
               rng.uniform(0.5, 6.0)),
      vignette=rng.uniform(0.0, 0.5), noise=rng.uniform(0.005, 0.03),
      gun_colour=tuple(np.full(3, rng.uniform(0.05, 0.2)) +
                       rng.normal(0, 0.01, 3)),
      gun_scale=rng.uniform(0.85, 1.15), gun_angle=rng.uniform(-0.05, 0.3),
      gun_anchor=(rng.uniform(0.68, 0.82), rng.uniform(0.55, 0.7)),
      skin=tuple(np.array([0.85, 0.62, 0.48]) * rng.uniform(0.45, 1.1)),
      sleeve=tuple(_muted(rng, 0.1, 0.45)), gloved=bool(rng.random() < 0.3),
      held=held, seed=seed)


def _camera_offset(scene: Scene, t: float,
                   rng: np.random.Generator) -> Tuple[int, int]:
  ax, ay, period, phase = scene.pan
  amplitude, f1, f2, shake_phase = scene.shake
  angle = 2 * math.pi * t / period + phase
  sx = amplitude * (math.sin(2 * math.pi * f1 * t + shake_phase) +
                    0.6 * math.sin(2 * math.pi * f2 * t))
  sy = amplitude * (math.cos(2 * math.pi * f1 * 1.3 * t) +
                    0.6 * math.sin(2 * math.pi * f2 * 0.7 * t + shake_phase))
  jitter = rng.normal(0, scene.jitter_px, 2) if scene.jitter_px else (0, 0)
  limit = scene.margin
  x = np.clip(ax * math.sin(angle) + sx + jitter[0], -limit, limit)
  y = np.clip(ay * math.sin(0.7 * angle) + sy + jitter[1], -limit, limit)
  return int(round(x)), int(round(y))


def _place(scene: Scene, parts, dx: float, dy: float):
  """Local pistol coordinates -> pixel coordinates (rotate, scale, move)."""
  scale = scene.gun_scale * scene.height
  cos, sin = math.cos(scene.gun_angle), math.sin(scene.gun_angle)
  ax = scene.gun_anchor[0] * scene.width + dx
  ay = scene.gun_anchor[1] * scene.height + dy
  # Positive angle lifts the muzzle (the -x end) up the screen.
  return tuple((ax + scale * (x * cos - y * sin),
                ay + scale * (x * sin + y * cos)) for x, y in parts)


def _draw_hand(image: np.ndarray, scene: Scene, dx: float, dy: float,
               hand) -> None:
  _polygon(image, _place(scene, _SLEEVE, dx, dy), scene.sleeve)
  skin = (0.12, 0.12, 0.13) if scene.gloved else scene.skin
  _polygon(image, _place(scene, hand, dx, dy), skin)


def _draw_pistol(image: np.ndarray, scene: Scene, dx: float, dy: float):
  colour = np.asarray(scene.gun_colour)
  _draw_hand(image, scene, dx, dy, _HAND)
  for part in (_GRIP, _FRAME) + _GUARD:
    _polygon(image, _place(scene, part, dx, dy), colour)
  _polygon(image, _place(scene, _SLIDE, dx, dy), colour * 1.2)
  _polygon(image, _place(scene, _MUZZLE, dx, dy), colour * 0.8)
  highlight = ((-0.48, -0.09), (-0.02, -0.09), (-0.02, -0.075),
               (-0.48, -0.075))
  _polygon(image, _place(scene, highlight, dx, dy), colour + 0.15)
  _polygon(image, _place(scene, _THUMB, dx, dy),
           (0.12, 0.12, 0.13) if scene.gloved else scene.skin)


def _draw_held(image: np.ndarray, scene: Scene, dx: float, dy: float):
  """What the hand holds in a video without a pistol."""
  if scene.held == 'hand':
    _draw_hand(image, scene, dx, dy, _FIST)
  elif scene.held == 'phone':
    _draw_hand(image, scene, dx, dy, _FIST)
    _polygon(image, _place(scene, _PHONE, dx, dy), (0.06, 0.06, 0.08))
    _polygon(image, _place(scene, _PHONE_SCREEN, dx, dy), (0.2, 0.3, 0.45),
             0.7)
  elif scene.held == 'flashlight':
    _draw_hand(image, scene, dx, dy, _FIST)
    _polygon(image, _place(scene, _FLASHLIGHT, dx, dy), (0.12, 0.12, 0.12))
    _polygon(image, _place(scene, _FLASHLIGHT_HEAD, dx, dy), (0.2, 0.2, 0.2))


def _draw_flash(image: np.ndarray, scene: Scene, dx: float, dy: float,
                rng: np.random.Generator) -> None:
  """A starburst at the muzzle: bright core, yellow-orange rays, glow."""
  (cx, cy), = _place(scene, (_MUZZLE_POINT,), dx, dy)
  height, width = image.shape[:2]
  size = scene.height * scene.gun_scale * rng.uniform(0.8, 1.2)
  _paint(image, _glow(height, width, cx, cy, size * 0.12),
         (1.0, 0.7, 0.3), 0.6)
  forward = math.pi - scene.gun_angle    # screen angle of the barrel
  for _ in range(rng.integers(5, 10)):
    angle = forward + rng.normal(0, 0.8)
    length = size * rng.uniform(0.08, 0.25)
    half = size * rng.uniform(0.015, 0.035)
    tip = (cx + length * math.cos(angle), cy - length * math.sin(angle))
    side = (-math.sin(angle) * half, -math.cos(angle) * half)
    _polygon(image, ((cx + side[0], cy + side[1]), tip,
                     (cx - side[0], cy - side[1])),
             (1.0, rng.uniform(0.55, 0.85), rng.uniform(0.1, 0.3)))
  _paint(image, _disc(height, width, cx, cy, size * 0.045), (1.0, 0.97, 0.8))


def render_frame(scene: Scene, t: float, timeline: Timeline,
                 frame_number: int) -> np.ndarray:
  """The RGB uint8 frame ``[H, W, 3]`` at time ``t``."""
  rng = np.random.default_rng([scene.seed, frame_number])
  ox, oy = _camera_offset(scene, t, rng)
  m = scene.margin
  image = scene.canvas[m + oy:m + oy + scene.height,
                       m + ox:m + ox + scene.width].copy()
  amplitude, frequency = scene.bob
  dx = amplitude * math.sin(2 * math.pi * frequency * t) + 0.3 * ox
  dy = amplitude * abs(math.cos(2 * math.pi * frequency * t)) + 0.3 * oy
  raised = timeline.weapon_raise(t)
  if raised > 0:
    _draw_pistol(image, scene, dx, dy + (1.0 - raised) * 0.6 * scene.height)
  else:
    _draw_held(image, scene, dx, dy)
  flicker_amplitude, flicker_hz = scene.flicker
  light = scene.gain * (1 + flicker_amplitude *
                        math.sin(2 * math.pi * flicker_hz * t))
  image *= light * _rgb(scene.tint)
  if scene.vignette:
    ys, xs = np.mgrid[0:scene.height, 0:scene.width].astype(np.float32)
    r = np.hypot(xs / scene.width - 0.5, ys / scene.height - 0.5)
    image *= (1.0 - scene.vignette * np.clip(r - 0.25, 0, 1) * 2)[..., None]
  flash = timeline.flash_index(t)
  if flash is not None and raised > 0:
    image += 0.12 * _rgb((1.0, 0.8, 0.5))   # the flash lights the scene
    _draw_flash(image, scene, dx, dy, np.random.default_rng(
        [scene.seed, 1_000_000 + frame_number]))
  image += rng.normal(0, scene.noise, image.shape).astype(np.float32)
  return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def random_timeline(rng: np.random.Generator, duration_s: float, fps: float,
                    armed: bool) -> Timeline:
  """Pistol intervals (1-2, 2-4.5 s) and flashes (0-3 each, 2-3 frames).

  Times lie on frame boundaries, so labels match the frames exactly.
  """
  if not armed:
    return Timeline((), ())

  def on_grid(t: float) -> float:
    return round(t * fps) / fps

  count = int(rng.integers(1, 3))
  slot = (duration_s - 1.0) / count
  weapon, flashes = [], []
  for number in range(count):
    length = min(rng.uniform(2.0, 4.5), slot - 0.5)
    start = on_grid(0.5 + number * slot + rng.uniform(0, slot - length))
    end = on_grid(start + length)
    weapon.append((start, end))
    t = start + 0.4
    for _ in range(int(rng.integers(0, 4))):
      t = on_grid(t + rng.uniform(0.0, 1.0))
      flash_end = on_grid(t + int(rng.integers(2, 4)) / fps)
      if flash_end > end - 0.1:
        break
      flashes.append((t, flash_end))
      t = flash_end + 0.5
  return Timeline(tuple(weapon), tuple(flashes))
