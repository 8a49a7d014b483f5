-- Audit retention: the log stays append-only against everything except the
-- retention sweep. The sweep, in one transaction, writes the cutoff below,
-- deletes the rows older than it, and removes the cutoff again; outside that
-- transaction no cutoff exists and every delete is refused, as before.
CREATE TABLE audit_retention (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    -- Rows with `at` before this (Unix ms) may be deleted.
    cutoff  INTEGER NOT NULL
) STRICT;

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_delete_only_expired BEFORE DELETE ON audit_log
WHEN OLD.at >= coalesce((SELECT cutoff FROM audit_retention WHERE id = 1), -9223372036854775808)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: only the retention sweep deletes, and only expired rows');
END;
