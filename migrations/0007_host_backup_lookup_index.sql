-- Each host's latest backups by seeking instead of scanning every backup
-- the fleet ever ran: the dashboard's last and last good backup per host,
-- and the strip of the hosts it shows (issue #12, benchmark B4: at 1,000
-- hosts with 100 backups each the scans cost 0.4 s per dashboard).
CREATE INDEX jobs_host_kind_finished ON jobs (host_id, kind, finished_at);
