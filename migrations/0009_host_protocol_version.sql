-- The agent <-> server protocol version each host's agent last announced
-- (0: not known yet, or an agent from before the field, which speaks 1).
-- The console shows a host whose agent this server turns away for it.
ALTER TABLE hosts ADD COLUMN protocol_version INTEGER NOT NULL DEFAULT 0;
