//! Following a job: the one service behind gRPC's `WatchJob`, the UI's SSE
//! and `cairn demo`. A watch yields the job as it stands, then every change
//! as it happens (an agent's reports and the server's own moves alike, all
//! pushed through the hub), then the job's final record, and ends. It ends
//! early when the server shuts down; dropping it leaves no topic behind.

use cairn_store::{JobId, JobStatus, Scope};
use tokio::sync::{broadcast::error::RecvError, watch};

use super::Jobs;
use super::events::{Event, JobEvent};
use super::hub::Subscription;
use crate::auth::Principal;
use crate::error::ServiceResult;

/// A live following of one job; see [`Jobs::watch`].
#[derive(Debug)]
pub struct JobWatch {
    jobs: Jobs,
    job: JobId,
    first: Option<JobEvent>,
    live: Subscription,
    status: JobStatus,
    done: bool,
    shutdown: watch::Receiver<bool>,
    shut_down: bool,
}

impl Jobs {
    /// Follows a job (read scope). The first event is `Current` (or, for a
    /// job that has ended, `Finished` alone).
    pub async fn watch(&self, p: &Principal, id: JobId) -> ServiceResult<JobWatch> {
        p.require(Scope::Read)?;
        // Subscribe before reading the job, so nothing between is missed.
        let live = self.hub.subscribe(id);
        let job = self.store.job(id).await?;
        let status = job.status;
        let at = self.clock.now();
        let event = if status.is_terminal() {
            Event::Finished(job)
        } else {
            Event::Current(job)
        };
        Ok(JobWatch {
            jobs: self.clone(),
            job: id,
            first: Some(JobEvent { job: id, at, event }),
            live,
            status,
            done: false,
            shutdown: self.shutdown.clone(),
            shut_down: false,
        })
    }
}

impl JobWatch {
    /// The next event; `None` once the final one was given, or when the
    /// server shuts down (see [`JobWatch::ended_by_shutdown`]).
    pub async fn next(&mut self) -> Option<JobEvent> {
        if self.done {
            return None;
        }
        if let Some(first) = self.first.take() {
            self.done = first.event.is_final();
            return Some(first);
        }
        loop {
            let received = tokio::select! {
                received = self.live.recv() => received,
                _ = self.shutdown.wait_for(|down| *down) => {
                    self.done = true;
                    self.shut_down = true;
                    return None;
                }
            };
            match received {
                Ok(event) => {
                    if let Event::State { to, .. } = &event.event {
                        // A move published between the subscribe and the
                        // read is already in the first event.
                        if *to == self.status {
                            continue;
                        }
                        self.status = *to;
                    }
                    self.done = event.event.is_final();
                    return Some(event);
                }
                // Too slow to keep up: the oldest events were dropped; the
                // final record, if it was among them, comes from the store.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return self.reread().await,
            }
        }
    }

    /// Whether the watch ended because the server is shutting down.
    pub fn ended_by_shutdown(&self) -> bool {
        self.shut_down
    }

    /// The job's channel closed (the job ended, and this watcher missed the
    /// final event): its record is read back.
    async fn reread(&mut self) -> Option<JobEvent> {
        self.done = true;
        let job = self.jobs.store.job(self.job).await.ok()?;
        let at = self.jobs.clock.now();
        if job.status.is_terminal() {
            return Some(JobEvent {
                job: self.job,
                at,
                event: Event::Finished(job),
            });
        }
        // Closed while live (the hub forgot the job): follow it afresh.
        self.done = false;
        self.live = self.jobs.hub.subscribe(self.job);
        let from = self.status;
        self.status = job.status;
        Some(JobEvent {
            job: self.job,
            at,
            event: if from == job.status {
                Event::Current(job)
            } else {
                Event::State {
                    from,
                    to: job.status,
                }
            },
        })
    }
}
