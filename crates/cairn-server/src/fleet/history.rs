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
    /// Every host's backups over the last `days` UTC days (today included),
    /// and its last good backup whenever it was. A host with neither is
    /// absent.
    pub async fn backup_history(&self, p: &Principal, days: u32) -> ServiceResult<FleetHistory> {
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
        for day in self.store.backup_days(since).await? {
            history.entry(day.host).or_default().days.push(day);
        }
        Ok(FleetHistory {
            today,
            hosts: history,
        })
    }
}
