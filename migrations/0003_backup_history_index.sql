-- The fleet overview reads each host's backups of the last 30 days and its
-- last good backup: both are ranges over (kind, finished_at).
CREATE INDEX jobs_kind_finished ON jobs (kind, finished_at);
-- Missed firings by the day they were due.
CREATE INDEX pending_runs_fire_at ON pending_runs (fire_at);
