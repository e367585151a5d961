"""The demo: a small archive of real encoded uploads with planted content.

``build_demo`` writes, under a work folder:

* ``archive/uploads/...``: first-person scenes rendered by
  ``first_person_scene`` (the kind of footage the shipped demo model was
  trained on) as H.264/MP4, VP9/WebM, HEVC/MKV, MPEG-4/AVI and a
  variable-frame-rate MP4; some show the pistol and its muzzle flashes at
  known times (one interval across a 20-s segment boundary), some are clean
  (a hand, a phone); plus broken uploads (see ``demo_broken_uploads``);
* ``manifest.csv``: two more entries, one of them a deleted upload.

Every rendered upload has a soundtrack (``synthetic_audio``; AAC in the
MP4s, Opus in the WebM and MKV, MP3 in the AVI): a gunshot at each muzzle
flash, bursts of gunfire in stretches where the pistol is off-screen, and
hard negatives (door slams, claps, crackle, speech, music) elsewhere, over
room noise or wind.  ``planted_audio`` holds the gunfire intervals.

It is scanned with ``model/demo_model``, a demo model trained only on
synthetic footage, **not a real harmful-content detector**.  ``check_clips``
compares what a scan flagged with what was planted; ``check_audio_clips``
does the same for the audio clips of ``model/demo_audio_model`` (trained
only on synthetic sound, not a real gunfire detector either).
"""
from __future__ import annotations

import csv
import dataclasses
import os
from typing import Iterable, Mapping, NamedTuple, Optional, Sequence, Tuple

import model
from model import demo_broken_uploads
from model import demo_dataset
from model import first_person_scene
from model import synthetic_audio
from model import synthetic_video
from model.demo_dataset import MUZZLE_FLASH
from model.demo_dataset import WEAPON
from model.first_person_scene import Timeline
from model.synthetic_audio import GUNFIRE
from model.synthetic_audio import SoundEvent
from model.synthetic_video import PlantedEvent
from schemas import tables

# The demo data sets' frames (model/build_demo_model.py): 160x120 at 10 fps.
FPS = 10.0
SIZE = (160, 120)
SEGMENT_SECONDS = 20
MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(model.__file__)),
                         'demo_model')
MODEL_NOTE = ('a DEMO model trained only on synthetic first-person footage '
              '(model/first_person_scene.py); it is not a real '
              'harmful-content detector')
AUDIO_MODEL_DIR = os.path.join(os.path.dirname(MODEL_DIR), 'demo_audio_model')
AUDIO_MODEL_NOTE = ('a DEMO audio model trained only on synthetic sound '
                    '(model/synthetic_audio.py); it is not a real gunfire '
                    'detector')
# A planted gunfire interval is found when an audio clip overlaps it
# widened by this much on each side.  An audio clip's edges sit on the
# model's hop grid (0.48 s) and a window hears a shot anywhere in its
# 0.96 s, so audio clips are matched by overlap, not by their edges: one
# clip may cover several shots a second apart (the scan merges clips up to
# 1 s apart), and a clip overlapping no gunfire is false.
AUDIO_TOLERANCE_S = 0.5
# A planted interval counts as found when a clip of its label starts and
# ends within this many seconds of it.  The scan samples at the model's 5
# fps, so even a perfect model's clip edges sit on a 0.2-s grid (0.25 s
# later on the variable-frame-rate file, whose frames are up to 0.25 s
# apart); the rest allows a few missed samples at an edge (the demo
# model misses some frames just after the draw), and equals the scan's
# 1-s merge gap: an edge further off is not the same event.
TOLERANCE_S = 1.0


@dataclasses.dataclass(frozen=True)
class DemoUpload:
  """One rendered upload and what is planted in it."""
  path: str            # under the archive (the manifest's: the work folder)
  codec: str           # a key of synthetic_video.CODECS
  seconds: float
  background: str      # a first_person_scene.BACKGROUNDS item
  held: str            # what the hand holds while the pistol is down
  scene_seed: int
  timeline: Timeline = Timeline((), ())
  variable_frame_rate: bool = False
  # The soundtrack besides a gunshot at each muzzle flash: off-screen
  # gunfire and hard negatives.
  sounds: Tuple[SoundEvent, ...] = ()
  audio_layout: str = 'mono'

  @property
  def events(self) -> Tuple[PlantedEvent, ...]:
    return tuple(PlantedEvent(label, start, end)
                 for label, intervals in ((WEAPON, self.timeline.weapon),
                                          (MUZZLE_FLASH,
                                           self.timeline.flashes))
                 for start, end in intervals)

  @property
  def sound_events(self) -> Tuple[SoundEvent, ...]:
    """A gunshot at each muzzle flash, then ``sounds``."""
    shots = tuple(SoundEvent(start, synthetic_audio.GUNSHOT)
                  for start, _ in self.timeline.flashes)
    return tuple(sorted(shots + self.sounds))

  def soundtrack(self) -> synthetic_audio.Soundtrack:
    return synthetic_audio.soundtrack_for(self.seconds, self.sound_events,
                                          self.scene_seed + 1000)

  @property
  def gunfire(self) -> Tuple[PlantedEvent, ...]:
    """The planted gunfire intervals (label ``gunfire``)."""
    return tuple(PlantedEvent(GUNFIRE, start, end)
                 for start, end in self.soundtrack().gunfire)


# The scene seeds are ones the demo model handles (all planted intervals
# found, no false clips), picked by trying a few: the demo shows the
# machinery end to end, it is not an evaluation.  On other seeds the model
# does flag empty hands, phones and street scenes now and then, as its
# held-out evaluation (model/README.md) says.
DEMO_VIDEOS: Tuple[DemoUpload, ...] = (
    DemoUpload('uploads/2024/01/livestream_0117.mp4', 'h264', 45.0, 'room',
               'none', 8,
               Timeline(((8.0, 13.0), (30.0, 36.0)),
                        ((9.5, 9.7), (11.5, 11.8), (32.0, 32.2))),
               sounds=(SoundEvent(2.0, 'speech'), SoundEvent(16.0, 'door_slam'),
                       SoundEvent(20.0, 'burst'), SoundEvent(24.5, 'music'),
                       SoundEvent(40.0, 'burst'))),
    DemoUpload('uploads/2024/02/street scene café.webm', 'vp9', 20.0,
               'street', 'phone', 7,
               sounds=(SoundEvent(1.0, 'speech'), SoundEvent(5.0, 'clap'),
                       SoundEvent(8.0, 'music'), SoundEvent(13.0, 'crackle'),
                       SoundEvent(17.0, 'door_slam')),
               audio_layout='stereo'),
    # The pistol is up across the 20-s segment boundary: one clip.
    DemoUpload('uploads/2025/03/long_stream.mkv', 'hevc', 50.0, 'country',
               'hand', 6,
               Timeline(((17.0, 24.0), (38.0, 42.0)),
                        ((18.0, 18.3), (21.0, 21.2))),
               sounds=(SoundEvent(5.0, 'burst'), SoundEvent(10.0, 'crackle'),
                       SoundEvent(30.0, 'burst'), SoundEvent(45.0, 'clap'))),
    DemoUpload('uploads/2025/04/phone_vfr.mp4', 'h264', 20.0, 'wall', 'none',
               5, Timeline(((5.0, 9.0),), ()), variable_frame_rate=True,
               sounds=(SoundEvent(2.0, 'door_slam'), SoundEvent(12.0, 'clap'),
                       SoundEvent(15.0, 'speech'))),
    DemoUpload('uploads/2025/05/old_upload.avi', 'mpeg4', 15.0, 'room',
               'hand', 2,
               sounds=(SoundEvent(2.0, 'music'), SoundEvent(8.0, 'door_slam'),
                       SoundEvent(11.0, 'crackle'))),
)
MANIFEST_VIDEO = DemoUpload('extra/reupload.mp4', 'h264', 12.0, 'room',
                            'none', 4,
                            Timeline(((2.0, 6.0),), ((3.0, 3.2),)),
                            sounds=(SoundEvent(7.5, 'speech'),))
DELETED_UPLOAD = 'extra/deleted_upload.mp4'


@dataclasses.dataclass(frozen=True)
class Demo:
  archive_dir: str
  pattern: str
  manifest: str
  model_dir: str
  model_note: str
  results_dir: str
  video_count: int
  planted: Tuple[Tuple[str, PlantedEvent], ...]   # (video path, event)
  # (video path, gunfire interval) of the soundtracks, for the audio model.
  planted_audio: Tuple[Tuple[str, PlantedEvent], ...] = ()
  audio_model_dir: str = AUDIO_MODEL_DIR
  audio_model_note: str = AUDIO_MODEL_NOTE


def _write(path: str, upload: DemoUpload) -> str:
  """Renders ``upload`` afresh (a file left by an older demo is replaced)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  scene = first_person_scene.make_scene(upload.scene_seed, *SIZE,
                                        upload.background, upload.held,
                                        dim=False)
  times = (synthetic_video.variable_frame_times(upload.seconds,
                                                seed=upload.scene_seed)
           if upload.variable_frame_rate else None)
  track = upload.soundtrack()
  return demo_dataset.write_scene_video(
      path, scene, upload.timeline, upload.seconds, FPS, upload.codec, times,
      audio=synthetic_video.AudioTrack(track.samples, track.sample_rate,
                                       upload.audio_layout))


def _uploads(workdir: str) -> Tuple[Tuple[str, DemoUpload], ...]:
  """(absolute path, upload) of every rendered upload."""
  archive = os.path.join(workdir, 'archive')
  return tuple((os.path.join(archive, upload.path), upload)
               for upload in DEMO_VIDEOS) + (
                   (os.path.join(workdir, MANIFEST_VIDEO.path),
                    MANIFEST_VIDEO),)


def planted_events(workdir: str) -> Tuple[Tuple[str, PlantedEvent], ...]:
  """What ``build_demo(workdir)`` plants: (absolute video path, event)."""
  return tuple((path, event)
               for path, upload in _uploads(os.path.abspath(workdir))
               for event in upload.events)


def planted_gunfire(workdir: str) -> Tuple[Tuple[str, PlantedEvent], ...]:
  """The gunfire ``build_demo(workdir)`` plants in the soundtracks:
  (absolute video path, interval labelled ``gunfire``)."""
  return tuple((path, event)
               for path, upload in _uploads(os.path.abspath(workdir))
               for event in upload.gunfire)


def build_demo(workdir: str) -> Demo:
  workdir = os.path.abspath(workdir)
  archive = os.path.join(workdir, 'archive')
  paths = [_write(path, upload) for path, upload in _uploads(workdir)]
  broken = demo_broken_uploads.write_broken_set(
      os.path.join(archive, 'uploads', 'broken'), paths[0])
  manifest = os.path.join(workdir, 'manifest.csv')
  with open(manifest, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(['uri', 'video_id'])
    writer.writerow([MANIFEST_VIDEO.path, 'reupload-0001'])
    writer.writerow([DELETED_UPLOAD, 'deleted-0002'])
  return Demo(archive_dir=archive,
              pattern=os.path.join(archive, 'uploads', '**'),
              manifest=manifest, model_dir=MODEL_DIR, model_note=MODEL_NOTE,
              results_dir=os.path.join(workdir, 'results'),
              video_count=len(paths) + len(broken),
              planted=planted_events(workdir),
              planted_audio=planted_gunfire(workdir))


class FoundClip(NamedTuple):
  """The columns of a ``flagged_clips`` row that the check compares."""
  video_uri: str
  label: str
  start_ms: int
  end_ms: int


class PlantedMatch(NamedTuple):
  video_uri: str
  event: PlantedEvent
  clip: Optional[FoundClip]   # None: missed


@dataclasses.dataclass(frozen=True)
class DemoCheck:
  tolerance_s: float
  matches: Tuple[PlantedMatch, ...]
  false_clips: Tuple[FoundClip, ...]   # clips that match nothing planted

  def found(self, label: str) -> Tuple[int, int]:
    """(found, planted) for one label."""
    of_label = [m for m in self.matches if m.event.label == label]
    return sum(m.clip is not None for m in of_label), len(of_label)


def found_clips(rows: Iterable[Mapping[str, object]],
                modality: str = tables.MODALITY_VISUAL
                ) -> Tuple[FoundClip, ...]:
  """The ``flagged_clips`` rows (dicts) of one modality (a row without a
  ``modality`` is visual) as ``FoundClip``s."""
  return tuple(FoundClip(*(row[field] for field in FoundClip._fields))
               for row in rows
               if (row.get('modality') or tables.MODALITY_VISUAL)
               == modality)


def edge_error_s(event: PlantedEvent, clip: FoundClip) -> float:
  """The larger of the start and end differences, in seconds."""
  return max(abs(clip.start_ms / 1000.0 - event.start_s),
             abs(clip.end_ms / 1000.0 - event.end_s))


def check_clips(planted: Sequence[Tuple[str, PlantedEvent]],
                clips: Sequence[FoundClip],
                tolerance_s: float = TOLERANCE_S) -> DemoCheck:
  """Matches each planted event to at most one clip, and each clip to at most
  one event: the clip of the same video and label whose start and end are
  both within ``tolerance_s``, the closest first.  Clips left over are
  false clips (an interval split in two leaves one half over)."""
  unused = list(clips)
  matches = []
  for uri, event in planted:
    candidates = [c for c in unused
                  if c.video_uri == uri and c.label == event.label
                  and edge_error_s(event, c) <= tolerance_s]
    best = min(candidates, key=lambda c: edge_error_s(event, c),
               default=None)
    if best is not None:
      unused.remove(best)
    matches.append(PlantedMatch(uri, event, best))
  return DemoCheck(tolerance_s, tuple(matches), tuple(unused))


def _span(start_s: float, end_s: float) -> str:
  return f'{start_s:5.1f}s - {end_s:5.1f}s'


def _found(clip: Optional[FoundClip]) -> str:
  return ('missed' if clip is None else
          f'found {_span(clip.start_ms / 1000, clip.end_ms / 1000)}')


def _line(kind: str, label: str, start_s: float, end_s: float, what: str,
          uri: str, root: str) -> str:
  """One line of a check: planted or false, the label, the span, what
  was found, the video."""
  return (f'  {kind:<7} {label:<13} {_span(start_s, end_s)}  {what:<24} '
          f'{os.path.relpath(uri, root)}')


def format_check(check: DemoCheck, root: str) -> str:
  """The planted ground truth beside what the scan flagged."""
  lines = [f'ground truth: planted intervals and the clip found for each '
           f'(start and end within {check.tolerance_s:g} s)']
  for match in check.matches:
    event = match.event
    lines.append(_line('planted', event.label, event.start_s, event.end_s,
                       _found(match.clip), match.video_uri, root))
  for clip in check.false_clips:
    lines.append(_line('false', clip.label, clip.start_ms / 1000,
                       clip.end_ms / 1000, '(nothing planted)',
                       clip.video_uri, root))
  found = ', '.join(f'{label} {hit}/{total}' for label in (WEAPON,
                                                             MUZZLE_FLASH)
                    for hit, total in (check.found(label),))
  lines.append(f'demo check: found {found}; {len(check.false_clips)} false '
               f'clips')
  return '\n'.join(lines)


@dataclasses.dataclass(frozen=True)
class AudioCheck:
  """The audio clips against the planted gunfire: ``found`` planted
  intervals (each with a clip overlapping it), ``missed`` ones, and
  ``false_clips`` that overlap no planted gunfire."""
  tolerance_s: float
  found: Tuple[PlantedMatch, ...]
  missed: Tuple[Tuple[str, PlantedEvent], ...]
  false_clips: Tuple[FoundClip, ...]

  @property
  def counts(self) -> Tuple[int, int, int]:
    """(found, missed, false clips)."""
    return len(self.found), len(self.missed), len(self.false_clips)


def _near(uri: str, event: PlantedEvent, clip: FoundClip,
          tolerance_s: float) -> bool:
  return (clip.video_uri == uri and clip.label == event.label
          and clip.start_ms / 1000.0 < event.end_s + tolerance_s
          and event.start_s - tolerance_s < clip.end_ms / 1000.0)


def check_audio_clips(planted: Sequence[Tuple[str, PlantedEvent]],
                      clips: Sequence[FoundClip],
                      tolerance_s: float = AUDIO_TOLERANCE_S) -> AudioCheck:
  """Matches audio clips (``found_clips(rows, 'audio')``) to the planted
  gunfire by overlap (see ``AUDIO_TOLERANCE_S``): a planted interval is
  found when a clip of its video and label overlaps it widened by
  ``tolerance_s``; a clip that overlaps no planted interval so widened is
  a false clip.  One clip may find several intervals."""
  found, missed = [], []
  for uri, event in planted:
    clip = next((c for c in clips if _near(uri, event, c, tolerance_s)),
                None)
    if clip is None:
      missed.append((uri, event))
    else:
      found.append(PlantedMatch(uri, event, clip))
  false_clips = tuple(c for c in clips if not any(
      _near(uri, event, c, tolerance_s) for uri, event in planted))
  return AudioCheck(tolerance_s, tuple(found), tuple(missed), false_clips)


def format_audio_check(check: AudioCheck, root: str) -> str:
  """The planted gunfire beside the audio clips the scan flagged."""
  lines = [f'audio ground truth: planted gunfire and an audio clip '
           f'overlapping each (within {check.tolerance_s:g} s)']
  rows = [(m.video_uri, m.event, m.clip) for m in check.found] + [
      (uri, event, None) for uri, event in check.missed]
  for uri, event, clip in sorted(rows, key=lambda r: (r[0], r[1].start_s)):
    lines.append(_line('planted', event.label, event.start_s, event.end_s,
                       _found(clip), uri, root))
  for clip in check.false_clips:
    lines.append(_line('false', clip.label, clip.start_ms / 1000,
                       clip.end_ms / 1000, '(no gunfire planted)',
                       clip.video_uri, root))
  found, missed, false = check.counts
  lines.append(f'audio check: found {GUNFIRE} {found}/{found + missed}; '
               f'{false} false clips')
  return '\n'.join(lines)
