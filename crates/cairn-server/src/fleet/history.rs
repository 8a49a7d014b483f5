//! Each host's recent backups, for the fleet overview: when it last backed
//! up (and how), when it last backed up successfully, and per UTC day how its backups went and how many of its
//! firings were missed.

use std::collections::BTreeMap;

use cairn_domain::JobStatus;
use cairn_store::{BackupDay, DAY_MS, HostId, Millis, Scope};

use super::Fleet;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// One host's recent backups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupHistory {
    /// How its last finished backup ended, and when.
    pub last: Option<(JobStatus, Millis)>,
    /// When its last successful backup finished.
    pub last_good: Option<Millis>,
    /// The days with something to tell, oldest first.
    pub days: Vec<BackupDay>,
}

/// The fleet's recent backups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetHistory {
    /// Today, in days since 1970-01-01 (UTC), by the server's clock: the
    /// last day of the history.
    pub today: i64,
    pub hosts: BTreeMap<HostId, BackupHistory>,
}

/// The longest history one call returns.
pub const MAX_HISTORY_DAYS: u32 = 366;

impl Fleet {
    /// Every host's last backup and last good backup, whenever they were
    /// (a host with neither is absent), with no days yet: a page ranks the
    /// fleet by these, then adds the days of the hosts it shows with
    /// [`Fleet::add_backup_days`].
    pub async fn backup_history(&self, p: &Principal) -> ServiceResult<FleetHistory> {
        p.require(Scope::Read)?;
        let mut hosts: BTreeMap<HostId, BackupHistory> = BTreeMap::new();
        for (host, last) in self.store.last_backups().await? {
            let entry = hosts.entry(host).or_default();
            entry.last = last.last;
            entry.last_good = last.good;
        }
        Ok(FleetHistory {
            today: self.clock.now().div_euclid(DAY_MS),
            hosts,
        })
    }

    /// Adds to `history` the backups of `hosts` per UTC day over the last
    /// `days` days up to its `today`, today included.
    pub async fn add_backup_days(
        &self,
        p: &Principal,
        history: &mut FleetHistory,
        days: u32,
        hosts: &[HostId],
    ) -> ServiceResult<()> {
        p.require(Scope::Read)?;
        if !(1..=MAX_HISTORY_DAYS).contains(&days) {
            return Err(ServiceError::invalid(
                "days",
                format!("between 1 and {MAX_HISTORY_DAYS}"),
            ));
        }
        let since = (history.today - i64::from(days) + 1) * DAY_MS;
        if hosts.is_empty() {
            return Ok(());
        }
        for day in self.store.backup_days_of(since, hosts).await? {
            history.hosts.entry(day.host).or_default().days.push(day);
        }
        Ok(())
    }
}
