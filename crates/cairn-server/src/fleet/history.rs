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

impl FleetHistory {
    fn add_days(&mut self, days: Vec<BackupDay>) {
        for day in days {
            self.hosts.entry(day.host).or_default().days.push(day);
        }
    }
}

/// The longest history one call returns.
pub const MAX_HISTORY_DAYS: u32 = 366;

impl Fleet {
    /// Every host's last backup and last good backup whenever they were,
    /// and the backups of the `days_of` hosts (every host when `None`) over
    /// the last `days` UTC days, today included. A host with neither is
    /// absent. A page showing some hosts of many asks for theirs only.
    pub async fn backup_history(
        &self,
        p: &Principal,
        days: u32,
        days_of: Option<&[HostId]>,
    ) -> ServiceResult<FleetHistory> {
        p.require(Scope::Read)?;
        if !(1..=MAX_HISTORY_DAYS).contains(&days) {
            return Err(ServiceError::invalid(
                "days",
                format!("between 1 and {MAX_HISTORY_DAYS}"),
            ));
        }
        let today = self.clock.now().div_euclid(DAY_MS);
        let since = (today - i64::from(days) + 1) * DAY_MS;
        let mut history: BTreeMap<HostId, BackupHistory> = BTreeMap::new();
        for (host, last) in self.store.last_backups().await? {
            let entry = history.entry(host).or_default();
            entry.last = last.last;
            entry.last_good = last.good;
        }
        let mut fleet = FleetHistory {
            today,
            hosts: history,
        };
        let days = match days_of {
            None => self.store.backup_days(since).await?,
            Some([]) => Vec::new(),
            Some(hosts) => self.store.backup_days_of(since, hosts).await?,
        };
        fleet.add_days(days);
        Ok(fleet)
    }

    /// Adds to `history` the backup days of `hosts` over the same days: for
    /// a page that ranked every host by [`Fleet::backup_history`] without
    /// days, then shows some of them.
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
        if !hosts.is_empty() {
            history.add_days(self.store.backup_days_of(since, hosts).await?);
        }
        Ok(())
    }
}
