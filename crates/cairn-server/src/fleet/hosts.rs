//! Operators' view and control of hosts: list, get, approve, reject,
//! revoke, delete, label. Every change of status is audited, and a host
//! turned away loses its live session at once.

use std::collections::BTreeMap;

use cairn_store::{
    Host, HostFilter, HostId, HostIds, HostStatus, Outcome, Page, PageOf, Scope, StoreError,
};

use super::{Fleet, HostView, ToAgent, check_labels, clean, outbound};
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// Which hosts a listing shows; every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostQuery {
    pub status: Option<HostStatus>,
    /// Labels the host must carry; an empty value asks only for the key.
    pub labels: BTreeMap<String, String>,
    /// Only hosts connected now (`true`) or not (`false`).
    pub online: Option<bool>,
    /// Text the hostname contains (ignoring case) or the fingerprint starts
    /// with; empty matches every host.
    pub search: String,
}

impl Fleet {
    fn view(&self, host: Host) -> HostView {
        let online = self.registry.is_online(host.id);
        let clock_offset_ms = self.registry.clock_offset(host.id);
        HostView {
            host,
            online,
            clock_offset_ms,
        }
    }

    /// Hosts, filtered by status, labels (all must match), liveness and a
    /// search text.
    pub async fn list_hosts(
        &self,
        p: &Principal,
        query: &HostQuery,
        page: Page,
    ) -> ServiceResult<PageOf<HostView>> {
        p.require(Scope::Read)?;
        let search = query.search.trim();
        if search.len() > 255 || search.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "search",
                "at most 255 printable characters",
            ));
        }
        // Every filter is part of the store's query, so pages are full while
        // a next one exists. One look at the registry both filters and shows
        // liveness, so a host listed as online is shown online.
        let live = self.registry.online_offsets();
        let ids = query.online.map(|wanted| match wanted {
            true => HostIds::In(live.keys().copied().collect()),
            false => HostIds::NotIn(live.keys().copied().collect()),
        });
        let filter = HostFilter {
            status: query.status,
            labels: query.labels.clone(),
            ids,
            search: search.to_string(),
        };
        let hosts = self.store.list_hosts(filter, page).await?;
        let items = hosts
            .items
            .into_iter()
            .map(|host| HostView {
                online: live.contains_key(&host.id),
                clock_offset_ms: live.get(&host.id).copied().flatten(),
                host,
            })
            .collect();
        Ok(PageOf {
            items,
            next: hosts.next,
        })
    }

    /// One host.
    pub async fn get_host(&self, p: &Principal, id: HostId) -> ServiceResult<HostView> {
        p.require(Scope::Read)?;
        Ok(self.view(self.store.host(id).await?))
    }

    /// Approves a pending (or rejected) host. If its agent is connected it is
    /// welcomed at once, without a restart. With `expected_fingerprint`, the
    /// approval only happens if the host's fingerprint matches it.
    pub async fn approve(
        &self,
        p: &Principal,
        id: HostId,
        expected_fingerprint: Option<&str>,
    ) -> ServiceResult<HostView> {
        let target = Some(format!("host:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "host.approve", target.clone())
            .await?;
        if let Some(expected) = expected_fingerprint.filter(|e| !e.is_empty()) {
            let host = self.store.host(id).await?;
            if !host.fingerprint.eq_ignore_ascii_case(expected.trim()) {
                self.auditor
                    .record(
                        p,
                        "host.approve",
                        target,
                        Outcome::Failed,
                        Some("fingerprint mismatch".into()),
                    )
                    .await;
                return Err(ServiceError::FailedPrecondition(format!(
                    "fingerprint mismatch: the host shows {}, not {expected}",
                    host.fingerprint
                )));
            }
        }
        let host = self
            .change_status(
                p,
                id,
                &[HostStatus::Pending, HostStatus::Rejected],
                HostStatus::Approved,
                None,
                "host.approve",
            )
            .await?;
        self.registry.approved(id);
        if self.registry.send(
            id,
            outbound::welcome(&host, &self.settings, self.clock.now()),
        ) {
            // Start the replay: tell the agent where the server stands.
            let last = self.store.last_applied_seq(id).await?;
            self.registry.send(id, ToAgent::Ack(last));
            self.push_schedules(id).await?;
            self.request_dispatch(id);
        }
        Ok(self.view(host))
    }

    /// Rejects a pending host; its agent is told why and its stream closed.
    pub async fn reject(&self, p: &Principal, id: HostId, reason: &str) -> ServiceResult<HostView> {
        self.auditor
            .authorize(p, Scope::Operate, "host.reject", Some(format!("host:{id}")))
            .await?;
        let reason = clean::clean_text(reason, 500);
        let reason = if reason.is_empty() {
            "rejected by an operator".to_string()
        } else {
            reason
        };
        let host = self
            .change_status(
                p,
                id,
                &[HostStatus::Pending],
                HostStatus::Rejected,
                Some(reason.clone()),
                "host.reject",
            )
            .await?;
        self.end_session(&host, &reason);
        Ok(self.view(host))
    }

    /// Revokes a host's identity for good; its live stream is closed at once.
    pub async fn revoke(&self, p: &Principal, id: HostId, reason: &str) -> ServiceResult<HostView> {
        self.auditor
            .authorize(p, Scope::Operate, "host.revoke", Some(format!("host:{id}")))
            .await?;
        let reason = clean::clean_text(reason, 500);
        let reason = if reason.is_empty() {
            "identity revoked by an operator".to_string()
        } else {
            reason
        };
        let host = self
            .change_status(
                p,
                id,
                &[HostStatus::Pending, HostStatus::Approved],
                HostStatus::Revoked,
                Some(reason.clone()),
                "host.revoke",
            )
            .await?;
        self.end_session(&host, &reason);
        Ok(self.view(host))
    }

    /// Deletes a host. Its identity is forgotten: if the agent announces
    /// again, it lands in pending like any new host.
    pub async fn delete(&self, p: &Principal, id: HostId) -> ServiceResult<()> {
        let target = Some(format!("host:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "host.delete", target.clone())
            .await?;
        // Its jobs go with it: their watchers are ended, not left waiting.
        let live = self.store.live_job_ids(id).await?;
        let host = self.store.delete_host(id).await?;
        for job in live {
            self.hub.close(job);
        }
        self.hub.changed();
        self.registry.close(
            id,
            ServiceError::Refused("this host was deleted on the server".into()),
        );
        self.auditor
            .record(
                p,
                "host.delete",
                target,
                Outcome::Success,
                Some(host.facts.hostname),
            )
            .await;
        Ok(())
    }

    /// Replaces a host's labels.
    pub async fn set_labels(
        &self,
        p: &Principal,
        id: HostId,
        labels: BTreeMap<String, String>,
    ) -> ServiceResult<HostView> {
        let target = Some(format!("host:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "host.label", target.clone())
            .await?;
        check_labels(&labels)?;
        let detail = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let host = self.store.set_host_labels(id, labels).await?;
        self.auditor
            .record(p, "host.label", target, Outcome::Success, Some(detail))
            .await;
        Ok(self.view(host))
    }

    async fn change_status(
        &self,
        p: &Principal,
        id: HostId,
        from: &'static [HostStatus],
        to: HostStatus,
        reason: Option<String>,
        action: &str,
    ) -> ServiceResult<Host> {
        let target = Some(format!("host:{id}"));
        match self
            .store
            .set_host_status(id, from, to, reason, p.operator_id(), self.clock.now())
            .await
        {
            Ok(host) => {
                self.auditor
                    .record(
                        p,
                        action,
                        target,
                        Outcome::Success,
                        Some(host.facts.hostname.clone()),
                    )
                    .await;
                self.hub.changed();
                Ok(host)
            }
            Err(StoreError::Conflict { .. }) => {
                let current = self.store.host(id).await?;
                self.auditor
                    .record(
                        p,
                        action,
                        target,
                        Outcome::Failed,
                        Some(format!("host is {}", current.status)),
                    )
                    .await;
                Err(ServiceError::FailedPrecondition(format!(
                    "host {id} is {}: cannot {}",
                    current.status,
                    action.trim_start_matches("host.")
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Tells a connected agent it is refused, then closes its stream.
    fn end_session(&self, host: &Host, reason: &str) {
        let refused = outbound::rejected(host, reason, &self.settings, self.clock.now());
        self.registry.send(host.id, refused);
        self.registry
            .close(host.id, ServiceError::Refused(reason.to_string()));
    }
}
