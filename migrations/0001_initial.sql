-- Cairn's first schema: every table of the design's data model.
--
-- Conventions
-- * Times are INTEGER milliseconds since the Unix epoch, UTC, in columns named *_at
--   (or *_time for restic's own times).
-- * Secrets are never stored in clear: *_sealed columns hold XChaCha20-Poly1305
--   ciphertext bound to (table, row id, column); *_hash columns hold SHA-256 of
--   high-entropy tokens; passwords are argon2id PHC strings.
-- * Lists and maps that are only ever read whole are JSON text.
-- * Tables are STRICT: a value of the wrong type is an error, not a silent cast.
-- * Ids that the audit log and operators refer to are AUTOINCREMENT, so an id
--   is never reused after a delete ("host:7" always means the same host).
-- * This file is never edited once landed; later changes are new migrations.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_login_at   INTEGER
) STRICT;

CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash      BLOB    NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    client_addr     TEXT,
    user_agent      TEXT
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    prefix          TEXT    NOT NULL,
    token_hash      BLOB    NOT NULL UNIQUE,
    scope           TEXT    NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    created_at      INTEGER NOT NULL,
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER,
    revoked_at      INTEGER
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE enrollment_tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    prefix          TEXT    NOT NULL,
    token_hash      BLOB    NOT NULL UNIQUE,
    labels          TEXT    NOT NULL DEFAULT '{}',
    max_uses        INTEGER NOT NULL DEFAULT 0 CHECK (max_uses >= 0),
    uses            INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    created_at      INTEGER NOT NULL,
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER
) STRICT;

-- One row per agent identity. A revoked identity keeps its row (and hash) so it
-- can never be re-activated; a deleted one is gone and must announce anew.
CREATE TABLE hosts (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_hash             BLOB    NOT NULL UNIQUE,
    fingerprint               TEXT    NOT NULL,
    status                    TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'approved', 'rejected', 'revoked')),
    status_reason             TEXT,
    hostname                  TEXT    NOT NULL,
    os                        TEXT    NOT NULL DEFAULT '',
    os_version                TEXT    NOT NULL DEFAULT '',
    arch                      TEXT    NOT NULL DEFAULT '',
    kernel                    TEXT    NOT NULL DEFAULT '',
    agent_version             TEXT    NOT NULL DEFAULT '',
    restic_version            TEXT    NOT NULL DEFAULT '',
    labels                    TEXT    NOT NULL DEFAULT '{}',
    enrollment_token_id       INTEGER REFERENCES enrollment_tokens (id) ON DELETE SET NULL,
    created_at                INTEGER NOT NULL,
    status_changed_at         INTEGER NOT NULL,
    status_changed_by         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    last_seen_at              INTEGER,
    last_addr                 TEXT,
    schedules_desired_version INTEGER NOT NULL DEFAULT 0,
    schedules_applied_version INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX hosts_status ON hosts (status);

-- The last agent message applied per host: replays at or below it are dropped.
CREATE TABLE agent_seq (
    host_id         INTEGER PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    last_applied    INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) STRICT;

-- A repository's URL can carry credentials, so it is sealed like the password;
-- url_redacted is what pages and the API show.
CREATE TABLE repositories (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    url_sealed      BLOB    NOT NULL,
    url_redacted    TEXT    NOT NULL,
    password_sealed BLOB    NOT NULL,
    env_sealed      BLOB,
    env_keys        TEXT    NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE host_repos (
    host_id         INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    repository_id   INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (host_id, repository_id)
) STRICT;
CREATE INDEX host_repos_repository ON host_repos (repository_id);

CREATE TABLE schedules (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id             INTEGER NOT NULL,
    repository_id       INTEGER NOT NULL,
    name                TEXT    NOT NULL,
    cron                TEXT    NOT NULL,
    timezone            TEXT    NOT NULL DEFAULT 'UTC',
    paths               TEXT    NOT NULL DEFAULT '[]',
    excludes            TEXT    NOT NULL DEFAULT '[]',
    tags                TEXT    NOT NULL DEFAULT '[]',
    hooks               TEXT    NOT NULL DEFAULT '[]',
    limit_upload_kib    INTEGER CHECK (limit_upload_kib > 0),
    limit_download_kib  INTEGER CHECK (limit_download_kib > 0),
    catch_up            TEXT    NOT NULL DEFAULT 'once' CHECK (catch_up IN ('once', 'skip', 'all')),
    enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- The server has accounted for every expected firing up to this time.
    expected_through_at INTEGER,
    last_success_at     INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (host_id, name),
    FOREIGN KEY (host_id, repository_id) REFERENCES host_repos (host_id, repository_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX schedules_repository ON schedules (repository_id);

-- Forget / prune / check cadences for one host's use of one repository.
CREATE TABLE host_repo_maintenance (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id                 INTEGER NOT NULL,
    repository_id           INTEGER NOT NULL,
    retention               TEXT    NOT NULL DEFAULT '{}',
    forget_every_seconds    INTEGER CHECK (forget_every_seconds > 0),
    prune_every_seconds     INTEGER CHECK (prune_every_seconds > 0),
    prune_max_unused        TEXT,
    check_every_seconds     INTEGER CHECK (check_every_seconds > 0),
    check_read_data_subset  TEXT,
    enabled                 INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    last_forget_at          INTEGER,
    last_prune_at           INTEGER,
    last_check_at           INTEGER,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    UNIQUE (host_id, repository_id),
    FOREIGN KEY (host_id, repository_id) REFERENCES host_repos (host_id, repository_id) ON DELETE CASCADE
) STRICT;

-- Missed and queued schedule firings. One row per (schedule, fire time).
CREATE TABLE pending_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id     INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    host_id         INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    fire_at         INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('missed', 'queued', 'drained', 'skipped')),
    reason          TEXT,
    job_id          INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    UNIQUE (schedule_id, fire_at)
) STRICT;
CREATE INDEX pending_runs_host_state ON pending_runs (host_id, state);

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL CHECK (kind IN ('backup', 'forget', 'prune', 'check', 'restore',
                                                       'init', 'unlock', 'snapshots', 'browse', 'diff')),
    status            TEXT    NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'dispatched', 'running', 'succeeded', 'failed',
                                        'cancelled', 'lost')),
    host_id           INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    repository_id     INTEGER REFERENCES repositories (id) ON DELETE SET NULL,
    schedule_id       INTEGER REFERENCES schedules (id) ON DELETE SET NULL,
    -- The firing this job runs, so one firing leads to at most one job.
    fire_at           INTEGER,
    trigger           TEXT    NOT NULL CHECK (trigger IN ('manual', 'api', 'schedule', 'catch_up', 'maintenance')),
    -- The typed job spec as JSON. Never holds a secret.
    spec              TEXT    NOT NULL DEFAULT '{}',
    created_by        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at        INTEGER NOT NULL,
    dispatched_at     INTEGER,
    started_at        INTEGER,
    finished_at       INTEGER,
    lease_expires_at  INTEGER,
    progress          TEXT,
    progress_at       INTEGER,
    summary           TEXT,
    snapshot_id       TEXT,
    exit_code         INTEGER,
    error             TEXT,
    warning           INTEGER NOT NULL DEFAULT 0 CHECK (warning IN (0, 1)),
    cancel_requested_at INTEGER,
    UNIQUE (schedule_id, fire_at)
) STRICT;
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_host_created ON jobs (host_id, created_at);
CREATE INDEX jobs_repository_status ON jobs (repository_id, status);

CREATE TABLE job_logs (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    stream          TEXT    NOT NULL CHECK (stream IN ('stdout', 'stderr', 'agent')),
    level           TEXT    NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warn', 'error')),
    line            TEXT    NOT NULL
) STRICT;
CREATE INDEX job_logs_job ON job_logs (job_id, id);

-- The snapshot cache of each repository, refreshed when jobs finish.
CREATE TABLE snapshots (
    repository_id   INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    snapshot_id     TEXT    NOT NULL,
    short_id        TEXT    NOT NULL,
    snapshot_time   INTEGER NOT NULL,
    hostname        TEXT    NOT NULL,
    host_id         INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
    paths           TEXT    NOT NULL DEFAULT '[]',
    tags            TEXT    NOT NULL DEFAULT '[]',
    parent          TEXT,
    tree            TEXT,
    summary         TEXT,
    seen_at         INTEGER NOT NULL,
    PRIMARY KEY (repository_id, snapshot_id)
) STRICT;
CREATE INDEX snapshots_host_time ON snapshots (host_id, snapshot_time);

CREATE TABLE notification_channels (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL CHECK (kind IN ('webhook', 'smtp', 'ntfy', 'gotify', 'slack',
                                                     'discord', 'healthchecks')),
    -- Non-secret settings as JSON; credentials live sealed in secret_sealed.
    config          TEXT    NOT NULL DEFAULT '{}',
    secret_sealed   BLOB,
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_sent_at    INTEGER,
    last_error      TEXT
) STRICT;

CREATE TABLE alert_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('job_failed', 'host_offline', 'backup_overdue',
                                                     'check_failed', 'missed_runs', 'anomaly')),
    name            TEXT    NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Rule parameters as JSON (e.g. the overdue factor, an anomaly threshold,
    -- a label selector narrowing the hosts it watches).
    params          TEXT    NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE alert_rule_channels (
    rule_id         INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    channel_id      INTEGER NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, channel_id)
) STRICT;

CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id           INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    kind              TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    -- What the alert is about, e.g. 'host:12' or 'schedule:4'; at most one
    -- unresolved alert exists per (kind, subject).
    subject           TEXT    NOT NULL,
    host_id           INTEGER REFERENCES hosts (id) ON DELETE CASCADE,
    schedule_id       INTEGER REFERENCES schedules (id) ON DELETE SET NULL,
    job_id            INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    message           TEXT    NOT NULL,
    fired_at          INTEGER NOT NULL,
    acknowledged_at   INTEGER,
    acknowledged_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    resolved_at       INTEGER,
    last_notified_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state, fired_at);

-- Every operator, API, enrollment and agent-identity action. Append-only: the
-- triggers below refuse updates and deletes from anyone using this schema.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    actor_kind      TEXT    NOT NULL CHECK (actor_kind IN ('user', 'api_token', 'agent', 'system', 'cli',
                                                           'anonymous')),
    actor_id        INTEGER,
    actor_name      TEXT    NOT NULL,
    source_addr     TEXT,
    action          TEXT    NOT NULL,
    target          TEXT,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    detail          TEXT
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Server settings an admin changes at run time, and internal markers (such as
-- the sealed key-check value that tells a wrong key file from the right one).
CREATE TABLE settings (
    key             TEXT    PRIMARY KEY,
    value           BLOB    NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
