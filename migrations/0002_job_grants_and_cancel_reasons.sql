-- A job carries its repository's secrets only to a host the repository is
-- assigned to. A restore onto any other host (cross-host restore) needs an
-- admin's say-so, recorded here as who gave it (as the audit log names
-- the admin); the dispatcher refuses secrets to an unassigned host without
-- it.
ALTER TABLE jobs ADD COLUMN secrets_grant TEXT;

-- Why an operator cancelled a job (`CancelJobRequest.reason`), for the job's
-- error text once it ends cancelled.
ALTER TABLE jobs ADD COLUMN cancel_reason TEXT;
