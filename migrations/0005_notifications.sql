-- Notification channels: routing, the delivery outbox, and every attempt.

-- Which alert notices a channel takes, as JSON:
-- {"kinds": ["job_failed", …] (empty: every kind),
--  "min_severity": "info" | "warning" | "critical", "send_resolved": bool}.
ALTER TABLE notification_channels ADD COLUMN route TEXT NOT NULL
    DEFAULT '{"kinds":[],"min_severity":"info","send_resolved":true}';

-- One thing to send through one channel. Written when a notice is routed
-- (or a ping is due) and worked off by the delivery worker, so a notice
-- survives a restart and a receiver that is down.
CREATE TABLE notification_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id      INTEGER NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    -- The alert this is about (no foreign key: the alert log is pruned on
    -- its own schedule, the delivery record stays).
    alert_id        INTEGER,
    -- For healthchecks pings: the schedule and the job.
    schedule_id     INTEGER,
    job_id          INTEGER,
    -- 'alert.fired', 'alert.still_firing', 'alert.resolved', 'test',
    -- 'ping.start', 'ping.success', 'ping.fail'.
    event           TEXT    NOT NULL,
    -- What to send, as JSON (cairn_notify::Outgoing); never a secret.
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, id);

-- Every attempt to send, with its outcome: the deliveries' and the test
-- sends' (delivery_id NULL).
CREATE TABLE notification_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id      INTEGER NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    delivery_id     INTEGER REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    ok              INTEGER NOT NULL CHECK (ok IN (0, 1)),
    -- What happened: the answer on success, the reason on failure.
    detail          TEXT    NOT NULL,
    duration_ms     INTEGER NOT NULL
) STRICT;

CREATE INDEX notification_attempts_delivery ON notification_attempts (delivery_id, id);
CREATE INDEX notification_attempts_channel ON notification_attempts (channel_id, id);
