//! What the metrics endpoint reads from the database at scrape time: a few
//! aggregate queries, each bounded by the number of hosts, repositories and
//! alert kinds (never by the number of jobs or log lines kept).

use crate::error::StoreResult;
use crate::open::Store;

/// The database's side of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Hosts per status (`pending`, `approved`, `revoked`…).
    pub hosts_by_status: Vec<(String, u64)>,
    /// Firing alerts per alert kind.
    pub alerts_firing: Vec<(String, u64)>,
    /// The last successful backup of each host to each repository, for
    /// hosts and repositories that still exist.
    pub last_backups: Vec<LastBackup>,
}

/// One host's last successful backup to one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct LastBackup {
    /// The host's hostname as it last reported it.
    pub hostname: String,
    /// The repository's name.
    pub repository: String,
    /// When the backup finished, in Unix milliseconds.
    pub finished_at: i64,
}

impl Store {
    /// Reads everything the metrics endpoint shows from the database.
    pub async fn gauges(&self) -> StoreResult<Gauges> {
        self.read(|c| {
            let mut hosts =
                c.prepare_cached("SELECT status, count(*) FROM hosts GROUP BY status")?;
            let hosts_by_status = hosts
                .query_map([], |r| Ok((r.get::<_, String>(0)?, count(r.get(1)?))))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut alerts = c.prepare_cached(
                "SELECT kind, count(*) FROM alerts WHERE state = 'firing' GROUP BY kind",
            )?;
            let alerts_firing = alerts
                .query_map([], |r| Ok((r.get::<_, String>(0)?, count(r.get(1)?))))?
                .collect::<Result<Vec<_>, _>>()?;
            // The inner joins drop deleted hosts and repositories, so their
            // series end instead of lingering.
            let mut last = c.prepare_cached(
                "SELECT h.hostname, r.name, max(j.finished_at)
                   FROM jobs j
                   JOIN hosts h ON h.id = j.host_id
                   JOIN repositories r ON r.id = j.repository_id
                  WHERE j.kind = 'backup' AND j.status = 'succeeded'
                    AND j.finished_at IS NOT NULL
                  GROUP BY j.host_id, j.repository_id
                  ORDER BY h.hostname, r.name",
            )?;
            let last_backups = last
                .query_map([], |r| {
                    Ok(LastBackup {
                        hostname: r.get(0)?,
                        repository: r.get(1)?,
                        finished_at: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Gauges {
                hosts_by_status,
                alerts_firing,
                last_backups,
            })
        })
        .await
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
