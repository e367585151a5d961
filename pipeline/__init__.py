"""archive-rescan: the Beam pipeline that re-scans stored video archives."""
