"""``ScanVideos``, the scan's data flow as one composite: it only chains
the steps of ``pipeline.scan.transforms``.

    ExpandInputs -> DedupeInputs -> OneRefPerFile -> UniqueVideoIds
      (-> SelectWave with --waves)
      (-> JoinPreviousScans with --skip-scanned) -> ProbeVideos -> PlanSegments
      -> ReshuffleSegments -> DecodeSegments -> ScoreFrames (RunInference)
      -> GroupByVideo -> AssembleVideos   (+ MatchHashes with --bank)
    DecodeSegments -> ScoreAudio (RunInference, with --audio-model)
      -> KeyAudioScoresByVideo -> GroupByVideo

Its step labels (the strings before ``>>``) are a stable interface: Dataflow
matches steps by them when a job is updated, and tests look for them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import apache_beam as beam

from pipeline.hashes.match_job import match_hashes_transform
from pipeline.hashes.matching import MatchRules
from pipeline.media import errors as media_errors
from pipeline.media import segments
from pipeline.records import VideoRef
from pipeline.scan import identities
from pipeline.scan import inputs
from pipeline.scan import transforms
from pipeline.scan.settings import ScanSettings


class ScanVideos(beam.PTransform):
  """Input specs -> {dataset name: records}: flagged clips, ledger rows,
  frame scores (with ``--frame-scores``), frame hashes (with ``--hashes``) and hash matches (with ``--bank``)."""

  def __init__(self, settings: ScanSettings, wave: int = 0,
               earlier_ledgers: Optional[Sequence[str]] = None):
    """``earlier_ledgers``: with --skip-scanned, the earlier ledger files
    (``transforms.earlier_ledgers``, listed once per scan by the
    launcher); listed here when not given."""
    super().__init__()
    self._settings = settings
    self._wave = wave
    self._earlier_ledgers = earlier_ledgers

  def expand(self, specs):
    s = self._settings
    refs = (specs
            | 'ExpandInputs' >> beam.FlatMap(inputs.expand_input)
            | 'RefsToTuples' >> beam.Map(tuple)
            | 'DedupeInputs' >> beam.Distinct()
            | 'TuplesToRefs' >> beam.MapTuple(VideoRef)
            | 'KeyRefsByFile' >> beam.Map(transforms.key_by_file)
            | 'GroupRefsByFile' >> beam.GroupByKey()
            | 'OneRefPerFile' >> beam.MapTuple(identities.one_ref_per_file)
            | 'KeyRefsByVideoId' >> beam.Map(transforms.key_by_video)
            | 'GroupRefsByVideoId' >> beam.GroupByKey()
            | 'UniqueVideoIds' >> beam.FlatMapTuple(
                identities.unique_video_ids))
    if s.config.waves > 1:
      # After the identity steps, so every wave makes the same choices.
      refs = refs | 'SelectWave' >> beam.Filter(
          identities.in_wave, self._wave, s.config.waves)
    if s.skip_scanned_root:
      # A keyed join, not a side input: no worker holds the earlier ledgers.
      earlier = (specs.pipeline
                 | 'PreviouslyScanned' >> transforms.PreviouslyScanned(
                     transforms.earlier_ledgers(s)
                     if self._earlier_ledgers is None
                     else self._earlier_ledgers,
                     s.model_versions[0], s.config.min_coverage,
                     s.model_versions[1], sees=s.spec is not None))
      joined = (
          {'refs': refs | 'KeyRefsForJoin' >> beam.Map(transforms.key_by_file),
           'earlier': earlier}
          | 'JoinPreviousScans' >> beam.CoGroupByKey()
          | 'WithPreviousScan' >> beam.FlatMap(transforms.join_earlier_scans))
    else:
      joined = refs | 'NoPreviousScans' >> beam.Map(transforms.never_scanned)
    probe_results = (
        joined
        | 'ProbeVideos' >> beam.ParDo(transforms.ProbeVideoFn(s))
        .with_exception_handling(
            dead_letter_tag=transforms.DEAD_LETTER,
            exc_class=media_errors.DEAD_LETTER_EXCEPTIONS))
    probed, failed, skipped = (
        probe_results['good']
        | 'SplitProbeResults' >> beam.Partition(
            transforms.probe_result_kind, 3))
    dead_probes = (probe_results[transforms.DEAD_LETTER]
                   | 'DeadLetterProbes' >> beam.Map(transforms.dead_probe))
    decoded = (
        probed
        | 'PlanSegments' >> beam.FlatMap(segments.plan_segments, s.segment_ms)
        | 'ReshuffleSegments' >> beam.Reshuffle()
        | 'DecodeSegments' >> beam.ParDo(
            transforms.DecodeSegmentFn(s)).with_outputs(
                transforms.OUTCOMES, transforms.HASHES, transforms.AUDIO,
                main='samples').with_exception_handling(
                    dead_letter_tag=transforms.DEAD_LETTER,
                    exc_class=media_errors.DEAD_LETTER_EXCEPTIONS,
                    use_subprocess=s.config.decode_isolation == 'subprocess',
                    # A backstop: each segment's own limit, scaled by its
                    # span, is enforced inside (decoding.time_limit).
                    timeout=s.decode_step_timeout_s))
    scored = {}
    if s.frames_scored:
      scored['scores'] = (decoded['samples']
                          | 'ScoreFrames' >> transforms.score_frames(s)
                          | 'KeyScoresByVideo' >> beam.ParDo(
                              transforms.ScoreToRecordFn(s.threshold)))
    if s.audio_spec is not None:
      # Its own RunInference: its own model, batches and batch size.
      scored['audio_scores'] = (
          decoded[transforms.AUDIO]
          | 'ScoreAudio' >> transforms.score_frames(s, audio=True)
          | 'KeyAudioScoresByVideo' >> beam.Map(
              transforms.audio_score_record))
    # Counted before the Flatten, which the local runner does not fuse
    # across, so that progress moves while segments decode.
    outcomes = (
        (decoded[transforms.OUTCOMES]
         | 'CountSegmentOutcomes' >> beam.ParDo(
             transforms.CountSegmentOutcomesFn()),
         decoded[transforms.DEAD_LETTER]
         | 'DeadLetterSegments' >> beam.Map(transforms.dead_segment)
         | 'CountDeadSegments' >> beam.ParDo(
             transforms.CountSegmentOutcomesFn()))
        | 'FlattenOutcomes' >> beam.Flatten())
    all_failed = ((failed, dead_probes)
                  | 'FlattenProbeFailures' >> beam.Flatten())
    assembled = (
        {
            'probed': probed | 'KeyProbedByVideo' >> beam.Map(
                transforms.key_by_video),
            'failed': all_failed | 'KeyFailedByVideo' >> beam.Map(
                transforms.key_by_video),
            'skipped': skipped | 'KeySkippedByVideo' >> beam.Map(
                transforms.key_by_video),
            'outcomes': outcomes,
            **scored,
        }
        | 'GroupByVideo' >> beam.CoGroupByKey()
        | 'AssembleVideos' >> beam.ParDo(
            transforms.AssembleVideoFn(s)).with_outputs(
                transforms.LEDGER, transforms.FRAME_SCORES, main='clips'))
    outputs = {'flagged_clips': assembled['clips'],
               'videos': assembled[transforms.LEDGER]}
    if s.config.frame_scores:
      outputs['frame_scores'] = assembled[transforms.FRAME_SCORES]
    if s.config.hashes:
      outputs['frame_hashes'] = decoded[transforms.HASHES]
    if s.config.banks:
      outputs['hash_matches'] = (
          decoded[transforms.HASHES]
          | 'MatchHashes' >> match_hashes_transform(
              s.config.banks, MatchRules(), s.config.scan_id,
              s.config.scan_id))
    return outputs
