"""Synthetic soundtracks with gunfire planted at known times (pure numpy).

The audio counterpart of ``first_person_scene``: procedural sound, never
a recording of anything real, for the demo audio model, its data sets
and the demo archive.  Every sound is drawn from its own generator seeded
by ``(seed, event number)``, so the same seed and events give the same
samples.

Kinds of event (``SoundEvent(time_s, kind)``):

* ``gunshot``: a sharp attack, a broadband noise burst with a fast
  exponential decay, a low-frequency thump and a short reverberant tail;
  level and timbre (the noise's spectral tilt, the thump's pitch, the
  tail's length) vary per shot;
* ``burst``: 2 to 6 gunshots, 0.08 to 0.35 s apart;
* hard negatives: ``door_slam`` (a muffled low thump and a wooden
  knock), ``clap`` (a short mid-band click, one to four of them),
  ``crackle`` (fireworks-like: a second or two of small, dense pops),
  ``speech`` (formant-shaped harmonics and noise, modulated at a
  syllable rate) and ``music`` (notes of a scale with harmonics).

The background runs under everything: ``room`` (faint pinkish noise and
mains hum) or ``wind`` (low rumbling noise with slow gusts).

``render_soundtrack`` mixes events over a background into mono float32
in ``[-1, 1]`` and returns the **truth**: the gunfire intervals, each
from a shot's (or a burst's first shot's) onset to ``SHOT_SECONDS`` after
its (last) onset.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np

GUNSHOT = 'gunshot'
BURST = 'burst'
GUNFIRE_KINDS = (GUNSHOT, BURST)
HARD_NEGATIVES = ('door_slam', 'clap', 'crackle', 'speech', 'music')
KINDS = GUNFIRE_KINDS + HARD_NEGATIVES
BACKGROUNDS = ('room', 'wind')
# The label of the gunfire intervals in truth and annotations.
GUNFIRE = 'gunfire'
# A shot's truth interval: its onset and this long after (the attack, the
# noise burst and the thump; the quieter tail rings on beyond it).
SHOT_SECONDS = 0.3
DEFAULT_SAMPLE_RATE = 48_000
# Seconds each kind of event lasts at most (a burst: its longest), for
# planning soundtracks whose events do not overlap.
KIND_SECONDS: Dict[str, float] = {
    GUNSHOT: 0.7, BURST: 5 * 0.35 + 0.7, 'door_slam': 0.6, 'clap': 1.2,
    'crackle': 2.2, 'speech': 2.6, 'music': 3.2}


class SoundEvent(NamedTuple):
  """A sound of ``kind`` starting ``time_s`` seconds into the soundtrack."""
  time_s: float
  kind: str


@dataclasses.dataclass(frozen=True)
class Soundtrack:
  """Mono float32 samples in ``[-1, 1]``, and what was planted in them."""
  samples: np.ndarray
  sample_rate: int
  events: Tuple[SoundEvent, ...]
  gunfire: Tuple[Tuple[float, float], ...]   # [start_s, end_s), sorted

  @property
  def seconds(self) -> float:
    return len(self.samples) / self.sample_rate


def _shaped_noise(rng: np.random.Generator, n: int, rate: int,
                  gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
  """White noise filtered in the frequency domain by ``gain(freqs)``,
  scaled to unit RMS."""
  spectrum = np.fft.rfft(rng.standard_normal(n))
  spectrum *= gain(np.fft.rfftfreq(n, 1.0 / rate))
  noise = np.fft.irfft(spectrum, n)
  rms = float(np.sqrt(np.mean(noise ** 2))) or 1.0
  return noise / rms


def _decay(t: np.ndarray, tau: float, attack: float = 0.0005) -> np.ndarray:
  """A fast linear attack then an exponential decay with constant ``tau``."""
  return np.minimum(t / attack, 1.0) * np.exp(-np.maximum(t - attack, 0.0)
                                              / tau)


def _gunshot(rng: np.random.Generator, rate: int) -> np.ndarray:
  n = int(KIND_SECONDS[GUNSHOT] * rate)
  t = np.arange(n) / rate
  tilt = rng.uniform(-0.6, 0.2)        # timbre: darker or brighter noise
  crack = _shaped_noise(rng, n, rate, lambda f: np.where(
      f > 80, (np.maximum(f, 80) / 1000.0) ** tilt, 0.0))
  crack *= _decay(t, rng.uniform(0.006, 0.02))
  pitch = rng.uniform(45, 110)
  sweep = pitch * (1 + 0.8 * np.exp(-t / 0.02))
  thump = np.sin(2 * np.pi * np.cumsum(sweep) / rate)
  thump *= _decay(t, rng.uniform(0.03, 0.08), attack=0.002)
  tail = _shaped_noise(rng, n, rate, lambda f: 1.0 / (1.0 + (f / 1800) ** 2))
  tail *= _decay(t, rng.uniform(0.06, 0.18), attack=0.01)
  sound = (crack + rng.uniform(0.4, 0.9) * thump * 2.0
           + rng.uniform(0.08, 0.2) * tail)
  return sound / np.max(np.abs(sound)) * rng.uniform(0.35, 0.95)


def _burst_onsets(rng: np.random.Generator) -> np.ndarray:
  shots = int(rng.integers(2, 7))
  gap = rng.uniform(0.08, 0.35)
  jitter = rng.uniform(-0.15, 0.15, shots - 1) * gap
  return np.r_[0.0, np.cumsum(gap + jitter)]


def _door_slam(rng: np.random.Generator, rate: int) -> np.ndarray:
  n = int(KIND_SECONDS['door_slam'] * rate)
  t = np.arange(n) / rate
  thump = np.sin(2 * np.pi * rng.uniform(55, 140) * t)
  thump *= _decay(t, rng.uniform(0.05, 0.12), attack=0.004)
  knock = sum(rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * f * t)
              for f in rng.uniform(150, 420, 3))
  knock = knock * _decay(t, rng.uniform(0.03, 0.07), attack=0.003)
  click = _shaped_noise(rng, n, rate, lambda f: 1.0 / (1.0 + (f / 600) ** 4))
  click *= _decay(t, rng.uniform(0.004, 0.012), attack=0.002)
  sound = thump + knock + 0.5 * click
  return sound / np.max(np.abs(sound)) * rng.uniform(0.3, 0.9)


def _clap(rng: np.random.Generator, rate: int) -> np.ndarray:
  n = int(KIND_SECONDS['clap'] * rate)
  t = np.arange(n) / rate
  sound = np.zeros(n)
  centre = rng.uniform(900, 2200)
  at = 0.0
  for _ in range(int(rng.integers(1, 5))):
    start = int(at * rate)
    length = n - start
    click = _shaped_noise(rng, length, rate, lambda f: np.exp(
        -0.5 * (np.log(np.maximum(f, 1.0) / centre) / 0.45) ** 2))
    sound[start:] += click * _decay(t[:length], rng.uniform(0.003, 0.008),
                                    attack=0.0008)
    at += rng.uniform(0.18, 0.3)
  return sound / np.max(np.abs(sound)) * rng.uniform(0.3, 0.9)


def _crackle(rng: np.random.Generator, rate: int) -> np.ndarray:
  seconds = rng.uniform(1.0, 2.0)
  n = int(KIND_SECONDS['crackle'] * rate)
  sound = np.zeros(n)
  pops = int(rng.uniform(25, 70) * seconds)
  for at in np.sort(rng.uniform(0, seconds, pops)):
    start = int(at * rate)
    length = min(int(0.01 * rate), n - start)
    pop = rng.standard_normal(length) * _decay(
        np.arange(length) / rate, rng.uniform(0.0005, 0.002), attack=0.0002)
    sound[start:start + length] += pop * rng.uniform(0.2, 1.0)
  # Crackle is bright: a first difference tilts it up.
  sound = np.diff(sound, prepend=0.0)
  return sound / np.max(np.abs(sound)) * rng.uniform(0.2, 0.7)


def _speech(rng: np.random.Generator, rate: int) -> np.ndarray:
  seconds = rng.uniform(1.2, 2.4)
  n = int(seconds * rate)
  t = np.arange(n) / rate
  f0 = rng.uniform(95, 230) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(
      0.3, 1.0) * t))
  phase = 2 * np.pi * np.cumsum(f0) / rate
  formants = rng.uniform((300, 900, 2300), (800, 2200, 3100))
  voiced = np.zeros(n)
  for k in range(1, int(4000 / f0.min())):
    freq = k * f0
    gain = sum(np.exp(-0.5 * ((freq - f) / 120.0) ** 2) for f in formants)
    voiced += gain * np.sin(k * phase) / np.sqrt(k)
  breath = _shaped_noise(rng, n, rate, lambda f: sum(
      np.exp(-0.5 * ((f - fm) / 200.0) ** 2) for fm in formants))
  syllables = rng.uniform(3.0, 6.0)
  envelope = np.maximum(np.sin(2 * np.pi * syllables * t + rng.uniform(
      0, 2 * np.pi)), 0.0) ** 1.5 * np.minimum(t / 0.05, 1.0)
  sound = (voiced / (np.max(np.abs(voiced)) or 1.0) + 0.15 * breath / 3.0)
  sound *= envelope
  return sound / np.max(np.abs(sound)) * rng.uniform(0.15, 0.6)


def _music(rng: np.random.Generator, rate: int) -> np.ndarray:
  seconds = rng.uniform(1.5, 3.0)
  n = int(seconds * rate)
  sound = np.zeros(n)
  root = rng.uniform(160, 420)
  scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
  at = 0.0
  while at < seconds - 0.1:
    length = min(rng.uniform(0.18, 0.55), seconds - at)
    start, count = int(at * rate), int(length * rate)
    t = np.arange(count) / rate
    freq = root * 2 ** (rng.choice(scale) / 12)
    note = sum(np.sin(2 * np.pi * k * freq * t) * 0.6 ** k
               for k in range(1, 7))
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / rng.uniform(0.2, 0.6))
    sound[start:start + count] += note * envelope
    at += length
  return sound / np.max(np.abs(sound)) * rng.uniform(0.15, 0.6)


_NEGATIVE_SOUNDS = {'door_slam': _door_slam, 'clap': _clap,
                    'crackle': _crackle, 'speech': _speech, 'music': _music}


def background(kind: str, n: int, rate: int, seed: int,
               level: float = 1.0) -> np.ndarray:
  """``n`` samples of ``room`` or ``wind`` background."""
  rng = np.random.default_rng([seed, 1 << 20])
  t = np.arange(n) / rate
  if kind == 'room':
    noise = _shaped_noise(rng, n, rate, lambda f: 1.0 / np.sqrt(
        np.maximum(f, 20.0)))
    hum = np.sin(2 * np.pi * rng.choice((50.0, 60.0)) * t)
    sound = 0.006 * noise + 0.003 * hum
  elif kind == 'wind':
    noise = _shaped_noise(rng, n, rate, lambda f: 1.0 / (1.0 + (f / 250) ** 2))
    gusts = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t
                               + rng.uniform(0, 2 * np.pi))
    sound = 0.03 * noise * gusts
  else:
    raise ValueError(f'unknown background {kind!r}; one of {BACKGROUNDS}')
  return sound * level


def event_sound(event: SoundEvent, rate: int, seed: int, number: int
                ) -> Tuple[np.ndarray, Tuple[float, ...]]:
  """The samples of one event and its gunshot onsets (s from its start)."""
  rng = np.random.default_rng([seed, number, KINDS.index(event.kind)])
  if event.kind == GUNSHOT:
    return _gunshot(rng, rate), (0.0,)
  if event.kind == BURST:
    onsets = _burst_onsets(rng)
    shots = [_gunshot(rng, rate) for _ in onsets]
    sound = np.zeros(int((onsets[-1] + KIND_SECONDS[GUNSHOT]) * rate) + 1)
    for onset, shot in zip(onsets, shots):
      start = int(round(onset * rate))
      sound[start:start + len(shot)] += shot
    return sound, tuple(float(o) for o in onsets)
  if event.kind in _NEGATIVE_SOUNDS:
    return _NEGATIVE_SOUNDS[event.kind](rng, rate), ()
  raise ValueError(f'unknown sound {event.kind!r}; one of {", ".join(KINDS)}')


def gunfire_interval(event: SoundEvent, onsets: Sequence[float]
                     ) -> Tuple[float, float]:
  return (round(event.time_s, 4),
          round(event.time_s + max(onsets) + SHOT_SECONDS, 4))


def render_soundtrack(seconds: float, events: Sequence[SoundEvent],
                      sample_rate: int = DEFAULT_SAMPLE_RATE, seed: int = 0,
                      background_kind: str = 'room',
                      background_level: float = 1.0) -> Soundtrack:
  """Mixes ``events`` over a background into ``seconds`` of mono sound.

  Sound running past the end is cut; the truth interval of gunfire that
  starts before the end is cut at the end too.
  """
  n = int(round(seconds * sample_rate))
  mix = background(background_kind, n, sample_rate, seed, background_level)
  gunfire = []
  for number, event in enumerate(events):
    if event.kind not in KINDS:
      raise ValueError(f'unknown sound {event.kind!r}; one of '
                       f'{", ".join(KINDS)}')
    if not 0 <= event.time_s < seconds:
      continue
    sound, onsets = event_sound(event, sample_rate, seed, number)
    start = int(round(event.time_s * sample_rate))
    length = min(len(sound), n - start)
    mix[start:start + length] += sound[:length]
    if onsets:
      begin, end = gunfire_interval(event, onsets)
      gunfire.append((begin, min(end, round(seconds, 4))))
  samples = np.clip(mix, -1.0, 1.0).astype(np.float32)
  return Soundtrack(samples, sample_rate, tuple(events),
                    tuple(sorted(gunfire)))


def random_events(rng: np.random.Generator, seconds: float,
                  gunfire: bool, negatives: int = 2,
                  gap_s: float = 0.6) -> Tuple[SoundEvent, ...]:
  """Non-overlapping events at random times: 1 to 3 gunfire events (shots
  or bursts) when ``gunfire``, and ``negatives`` hard negatives."""
  kinds = []
  if gunfire:
    kinds += [str(rng.choice(GUNFIRE_KINDS)) for _ in range(
        int(rng.integers(1, 4)))]
  kinds += [str(rng.choice(HARD_NEGATIVES)) for _ in range(negatives)]
  kinds = [kinds[i] for i in rng.permutation(len(kinds))]
  events, at = [], rng.uniform(0.2, 1.0)
  for kind in kinds:
    if at + min(KIND_SECONDS[kind], 1.0) > seconds:
      break
    events.append(SoundEvent(round(at, 3), kind))
    at += KIND_SECONDS[kind] + gap_s + rng.uniform(0.0, 1.2)
  return tuple(events)


def soundtrack_for(seconds: float, events: Sequence[SoundEvent], seed: int,
                   sample_rate: int = DEFAULT_SAMPLE_RATE,
                   background_kind: Optional[str] = None) -> Soundtrack:
  """``render_soundtrack`` with a background picked by ``seed`` unless
  given."""
  kind = background_kind or BACKGROUNDS[seed % len(BACKGROUNDS)]
  return render_soundtrack(seconds, events, sample_rate, seed, kind)
