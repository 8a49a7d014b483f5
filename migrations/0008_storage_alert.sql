-- A server-wide alert kind, storage_failing: the server cannot write its
-- database (the disk is full, an I/O error, a read-only mount).
--
-- As in 0004, the CHECK on alert_rules.kind cannot change in place, and
-- dropping alert_rules with foreign keys on would cascade into its children
-- (alert_rule_channels, alert_overrides) and null alerts.rule_id. So each
-- child is copied aside, dropped, and rebuilt with its rows; every id is
-- kept.

CREATE TABLE alert_rules_new (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                 TEXT    NOT NULL UNIQUE
                         CHECK (kind IN ('job_failed', 'host_offline', 'backup_overdue', 'check_failed',
                                         'missed_runs', 'repo_unreachable', 'anomaly', 'storage_failing')),
    name                 TEXT    NOT NULL,
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    severity             TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    -- The kind's threshold (seconds offline, overdue factor, missed runs,
    -- anomaly factor); NULL means the kind's default.
    threshold            REAL,
    -- Remind every this many seconds while an alert fires unacknowledged;
    -- NULL means never.
    repeat_every_seconds INTEGER CHECK (repeat_every_seconds IS NULL OR repeat_every_seconds > 0),
    notify_on_resolve    INTEGER NOT NULL DEFAULT 1 CHECK (notify_on_resolve IN (0, 1)),
    -- Kept from 0001 (a label selector, unused for now).
    params               TEXT    NOT NULL DEFAULT '{}',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;
INSERT INTO alert_rules_new SELECT * FROM alert_rules;

CREATE TABLE alert_rule_channels_keep AS SELECT * FROM alert_rule_channels;
CREATE TABLE alert_overrides_keep AS SELECT * FROM alert_overrides;
CREATE TABLE alerts_keep AS SELECT * FROM alerts;
DROP TABLE alert_rule_channels;
DROP TABLE alert_overrides;
DROP TABLE alerts;
DROP TABLE alert_rules;
ALTER TABLE alert_rules_new RENAME TO alert_rules;

INSERT INTO alert_rules (kind, name, severity, created_at, updated_at)
VALUES ('storage_failing', 'Database writes failing', 'critical', 0, 0);

CREATE TABLE alert_rule_channels (
    rule_id         INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    channel_id      INTEGER NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, channel_id)
) STRICT;
INSERT INTO alert_rule_channels SELECT rule_id, channel_id FROM alert_rule_channels_keep;
DROP TABLE alert_rule_channels_keep;

CREATE TABLE alert_overrides (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id         INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    host_id         INTEGER REFERENCES hosts (id) ON DELETE CASCADE,
    schedule_id     INTEGER REFERENCES schedules (id) ON DELETE CASCADE,
    threshold       REAL    NOT NULL,
    created_at      INTEGER NOT NULL,
    CHECK ((host_id IS NULL) <> (schedule_id IS NULL))
) STRICT;
INSERT INTO alert_overrides (id, rule_id, host_id, schedule_id, threshold, created_at)
SELECT id, rule_id, host_id, schedule_id, threshold, created_at FROM alert_overrides_keep;
DROP TABLE alert_overrides_keep;
CREATE UNIQUE INDEX alert_overrides_host ON alert_overrides (rule_id, host_id) WHERE host_id IS NOT NULL;
CREATE UNIQUE INDEX alert_overrides_schedule ON alert_overrides (rule_id, schedule_id) WHERE schedule_id IS NOT NULL;

CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id           INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    kind              TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    severity          TEXT    NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    -- What the alert is about, e.g. 'host:12', 'schedule:4' or 'server'; at
    -- most one unresolved alert exists per (kind, subject).
    subject           TEXT    NOT NULL,
    host_id           INTEGER REFERENCES hosts (id) ON DELETE CASCADE,
    schedule_id       INTEGER REFERENCES schedules (id) ON DELETE SET NULL,
    job_id            INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    repository_id     INTEGER REFERENCES repositories (id) ON DELETE SET NULL,
    message           TEXT    NOT NULL,
    fired_at          INTEGER NOT NULL,
    acknowledged_at   INTEGER,
    acknowledged_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    ack_note          TEXT,
    resolved_at       INTEGER,
    last_notified_at  INTEGER,
    -- Whether its firing was told (not while its host was in a maintenance
    -- window); a resolution is told only after a told firing.
    fire_notified     INTEGER NOT NULL DEFAULT 0 CHECK (fire_notified IN (0, 1)),
    reminders_sent    INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO alerts (id, rule_id, kind, state, severity, subject, host_id, schedule_id, job_id, repository_id,
                    message, fired_at, acknowledged_at, acknowledged_by, ack_note, resolved_at,
                    last_notified_at, fire_notified, reminders_sent)
SELECT id, rule_id, kind, state, severity, subject, host_id, schedule_id, job_id, repository_id,
       message, fired_at, acknowledged_at, acknowledged_by, ack_note, resolved_at,
       last_notified_at, fire_notified, reminders_sent
FROM alerts_keep;
DROP TABLE alerts_keep;
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state, fired_at);
CREATE INDEX alerts_host ON alerts (host_id);
