//! The per-host replay cursor (`agent_seq`): every agent message carries a
//! seq, and its effect is applied in the same transaction that records the
//! seq, so a message replayed from the agent's spool takes effect once.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreResult;
use crate::ids::HostId;
use crate::{Millis, Store};

impl Store {
    /// The last agent message seq applied for a host.
    pub async fn last_applied_seq(&self, id: HostId) -> StoreResult<u64> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT last_applied FROM agent_seq WHERE host_id = ?1",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .unwrap_or(0) as u64)
        })
        .await
    }

    /// Applies agent message `seq` of host `id` exactly once: if `seq` is
    /// above the last applied one, runs `effect` and advances the cursor in
    /// the same transaction and returns `true`; otherwise does nothing and
    /// returns `false` (a replay).
    pub async fn apply_agent_message<F>(
        &self,
        id: HostId,
        seq: u64,
        now: Millis,
        effect: F,
    ) -> StoreResult<bool>
    where
        F: FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    {
        Ok(self
            .apply_agent_message_with(id, seq, now, effect)
            .await?
            .is_some())
    }

    /// As [`Store::apply_agent_message`], and hands back what the effect
    /// yielded: `None` when the seq was applied before (nothing happened).
    pub async fn apply_agent_message_with<F, T>(
        &self,
        id: HostId,
        seq: u64,
        now: Millis,
        effect: F,
    ) -> StoreResult<Option<T>>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |c| {
            let last: i64 = c
                .query_row("SELECT last_applied FROM agent_seq WHERE host_id = ?1", [id], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if seq as i64 <= last {
                return Ok(None);
            }
            let yielded = effect(c)?;
            c.execute(
                "INSERT INTO agent_seq (host_id, last_applied, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host_id) DO UPDATE SET last_applied = excluded.last_applied, updated_at = excluded.updated_at",
                params![id, seq as i64, now],
            )?;
            Ok(Some(yielded))
        })
        .await
    }

    /// Records the schedule set version a host applied.
    pub(crate) fn set_applied_version_in(
        conn: &Connection,
        id: HostId,
        version: u64,
    ) -> StoreResult<()> {
        conn.execute(
            "UPDATE hosts SET schedules_applied_version = ?2 WHERE id = ?1",
            params![id, version as i64],
        )?;
        Ok(())
    }
}

/// The effect of a `SchedulesApplied` message, for [`Store::apply_agent_message`].
pub fn schedules_applied(
    id: HostId,
    version: u64,
) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
    move |c| Store::set_applied_version_in(c, id, version)
}
