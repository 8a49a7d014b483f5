//! `cairn.v1.AlertService` over the alert service. Every conversion of an
//! alert, rule, override or window to the wire is here.

use std::time::Duration;

use cairn_domain::AlertKind;
use cairn_proto::convert::{
    alert_kind_from_pb, alert_kind_to_pb, alert_severity_from_pb, alert_severity_to_pb,
    alert_state_from_pb, alert_state_to_pb, millis,
};
use cairn_proto::v1 as pb;
use cairn_proto::v1::alert_service_server::AlertService;
use cairn_store::{
    Alert, AlertFilter, AlertOverride, AlertRule, AlertState, HostId, OverrideTarget, ScheduleId,
    Silence,
};
use tonic::{Request, Response, Status};

use super::convert::{page_from_pb, page_to_pb, timestamp};
use super::{authenticate, authorize};
use crate::Api;
use crate::alerts::{RuleUpdate, SilenceRequest};
use crate::error::ServiceError;
use cairn_store::Scope;

/// The AlertService implementation.
#[derive(Debug, Clone)]
pub(crate) struct AlertsGrpc {
    api: Api,
}

impl AlertsGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn alert_to_pb(a: &Alert) -> pb::Alert {
    pb::Alert {
        id: a.id,
        kind: alert_kind_to_pb(a.kind) as i32,
        state: alert_state_to_pb(a.state) as i32,
        rule_id: a.rule_id.unwrap_or(0),
        subject: a.subject.clone(),
        host_id: a.host_id.map_or(0, |h| h.0),
        schedule_id: a.schedule_id.map_or(0, |s| s.0),
        job_id: a.job_id.map_or(0, |j| j.0),
        repository_id: a.repository_id.map_or(0, |r| r.0),
        message: a.message.clone(),
        fired_at: Some(timestamp(a.fired_at)),
        acknowledged_at: a.acknowledged_at.map(timestamp),
        acknowledged_by_user_id: a.acknowledged_by.map_or(0, |u| u.0),
        acknowledged_by: a.acknowledged_by_name.clone().unwrap_or_default(),
        resolved_at: a.resolved_at.map(timestamp),
        last_notified_at: a.last_notified_at.map(timestamp),
        severity: alert_severity_to_pb(a.severity) as i32,
        ack_note: a.ack_note.clone().unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
    }
}

fn rule_to_pb(r: &AlertRule, default: Option<f64>) -> pb::AlertRule {
    let effective = r.threshold.or(default).unwrap_or(0.0);
    let of = |kind: AlertKind| if r.kind == kind { effective } else { 0.0 };
    #[allow(deprecated)]
    pb::AlertRule {
        id: r.id,
        kind: alert_kind_to_pb(r.kind) as i32,
        name: r.name.clone(),
        enabled: r.enabled,
        host_labels: Default::default(),
        offline_after_seconds: of(AlertKind::HostOffline) as u32,
        overdue_factor: of(AlertKind::BackupOverdue),
        min_missed_runs: of(AlertKind::MissedRuns) as u32,
        anomaly_factor: of(AlertKind::Anomaly),
        channel_ids: Vec::new(),
        notify_on_resolve: r.notify_on_resolve,
        updated_at: Some(timestamp(r.updated_at)),
        severity: alert_severity_to_pb(r.severity) as i32,
        threshold: r.threshold,
        default_threshold: default,
        repeat_every_seconds: r.repeat_every_seconds.map_or(0, |s| s as u32),
    }
}

fn override_to_pb(o: &AlertOverride) -> pb::AlertOverride {
    let (host, schedule) = match o.target {
        OverrideTarget::Host(h) => (h.0, 0),
        OverrideTarget::Schedule(s) => (0, s.0),
    };
    pb::AlertOverride {
        id: o.id,
        rule_id: o.rule_id,
        kind: alert_kind_to_pb(o.kind) as i32,
        host_id: host,
        schedule_id: schedule,
        threshold: o.threshold,
    }
}

fn silence_to_pb(s: &Silence) -> pb::Silence {
    pb::Silence {
        id: s.id,
        host_id: s.host_id.0,
        hostname: s.hostname.clone(),
        starts_at: Some(timestamp(s.starts_at)),
        ends_at: Some(timestamp(s.ends_at)),
        note: s.note.clone(),
        created_by: s.created_by_name.clone().unwrap_or_default(),
    }
}

fn target(host: i64, schedule: i64) -> Result<OverrideTarget, ServiceError> {
    match (host, schedule) {
        (h, 0) if h > 0 => Ok(OverrideTarget::Host(HostId(h))),
        (0, s) if s > 0 => Ok(OverrideTarget::Schedule(ScheduleId(s))),
        _ => Err(ServiceError::InvalidArgument {
            field: "host_id",
            reason: "set exactly one of host_id and schedule_id".into(),
        }),
    }
}

fn unknown(field: &'static str) -> ServiceError {
    ServiceError::InvalidArgument {
        field,
        reason: "unknown value".into(),
    }
}

#[tonic::async_trait]
impl AlertService for AlertsGrpc {
    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Reply<pb::ListAlertsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let states = match r.state {
            0 if r.include_resolved => Vec::new(),
            0 => vec![AlertState::Firing, AlertState::Acknowledged],
            s => vec![alert_state_from_pb(s).ok_or_else(|| unknown("state"))?],
        };
        let filter = AlertFilter {
            states,
            kind: match r.kind {
                0 => None,
                k => Some(alert_kind_from_pb(k).ok_or_else(|| unknown("kind"))?),
            },
            host: (r.host_id != 0).then_some(HostId(r.host_id)),
            severity: match r.severity {
                0 => None,
                s => Some(alert_severity_from_pb(s).ok_or_else(|| unknown("severity"))?),
            },
        };
        let page = self
            .api
            .alerts
            .list(&p, filter, page_from_pb(r.page)?)
            .await?;
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: page.items.iter().map(alert_to_pb).collect(),
            page: Some(page_to_pb(page.next)),
        }))
    }

    async fn get_alert(
        &self,
        request: Request<pb::GetAlertRequest>,
    ) -> Reply<pb::GetAlertResponse> {
        let p = authenticate(&self.api, &request).await?;
        let a = self
            .api
            .alerts
            .get(&p, request.into_inner().alert_id)
            .await?;
        Ok(Response::new(pb::GetAlertResponse {
            alert: Some(alert_to_pb(&a)),
        }))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Reply<pb::AcknowledgeAlertResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let a = self.api.alerts.acknowledge(&p, r.alert_id, &r.note).await?;
        Ok(Response::new(pb::AcknowledgeAlertResponse {
            alert: Some(alert_to_pb(&a)),
        }))
    }

    async fn unacknowledge_alert(
        &self,
        request: Request<pb::UnacknowledgeAlertRequest>,
    ) -> Reply<pb::UnacknowledgeAlertResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let a = self
            .api
            .alerts
            .unacknowledge(&p, r.alert_id, &r.note)
            .await?;
        Ok(Response::new(pb::UnacknowledgeAlertResponse {
            alert: Some(alert_to_pb(&a)),
        }))
    }

    async fn list_alert_rules(
        &self,
        request: Request<pb::ListAlertRulesRequest>,
    ) -> Reply<pb::ListAlertRulesResponse> {
        let p = authenticate(&self.api, &request).await?;
        let rules = self.api.alerts.rules(&p).await?;
        Ok(Response::new(pb::ListAlertRulesResponse {
            rules: rules
                .iter()
                .map(|r| rule_to_pb(r, self.api.alerts.default_threshold(r.kind)))
                .collect(),
            page: Some(page_to_pb(None)),
        }))
    }

    async fn update_alert_rule(
        &self,
        request: Request<pb::UpdateAlertRuleRequest>,
    ) -> Reply<pb::UpdateAlertRuleResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        #[allow(deprecated)]
        if r.channels.is_some() {
            return Err(ServiceError::InvalidArgument {
                field: "channels",
                reason: "routing is set on the notification channel".into(),
            }
            .into());
        }
        if r.host_labels.is_some() {
            return Err(ServiceError::InvalidArgument {
                field: "host_labels",
                reason: "label selectors are not supported yet".into(),
            }
            .into());
        }
        let kind_named = r
            .offline_after_seconds
            .map(f64::from)
            .or(r.overdue_factor)
            .or(r.min_missed_runs.map(f64::from))
            .or(r.anomaly_factor);
        let threshold = if r.reset_threshold {
            Some(None)
        } else {
            r.threshold.or(kind_named).map(Some)
        };
        let update = RuleUpdate {
            enabled: r.enabled,
            severity: match r.severity {
                0 => None,
                s => Some(alert_severity_from_pb(s).ok_or_else(|| unknown("severity"))?),
            },
            threshold,
            repeat_every: r
                .repeat_every_seconds
                .map(|s| (s > 0).then(|| Duration::from_secs(u64::from(s)))),
            notify_on_resolve: r.notify_on_resolve,
        };
        let rule = self.api.alerts.update_rule(&p, r.rule_id, update).await?;
        let default = self.api.alerts.default_threshold(rule.kind);
        Ok(Response::new(pb::UpdateAlertRuleResponse {
            rule: Some(rule_to_pb(&rule, default)),
        }))
    }

    async fn list_alert_overrides(
        &self,
        request: Request<pb::ListAlertOverridesRequest>,
    ) -> Reply<pb::ListAlertOverridesResponse> {
        let p = authenticate(&self.api, &request).await?;
        let overrides = self.api.alerts.overrides(&p).await?;
        Ok(Response::new(pb::ListAlertOverridesResponse {
            overrides: overrides.iter().map(override_to_pb).collect(),
        }))
    }

    async fn set_alert_override(
        &self,
        request: Request<pb::SetAlertOverrideRequest>,
    ) -> Reply<pb::SetAlertOverrideResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Admin,
            "AlertService/SetAlertOverride",
        )
        .await?;
        let r = request.into_inner();
        let on = target(r.host_id, r.schedule_id)?;
        self.api
            .alerts
            .set_override(&p, r.rule_id, on, r.threshold)
            .await?;
        Ok(Response::new(pb::SetAlertOverrideResponse {}))
    }

    async fn clear_alert_override(
        &self,
        request: Request<pb::ClearAlertOverrideRequest>,
    ) -> Reply<pb::ClearAlertOverrideResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Admin,
            "AlertService/ClearAlertOverride",
        )
        .await?;
        let r = request.into_inner();
        let on = target(r.host_id, r.schedule_id)?;
        self.api.alerts.clear_override(&p, r.rule_id, on).await?;
        Ok(Response::new(pb::ClearAlertOverrideResponse {}))
    }

    async fn list_silences(
        &self,
        request: Request<pb::ListSilencesRequest>,
    ) -> Reply<pb::ListSilencesResponse> {
        let p = authenticate(&self.api, &request).await?;
        let silences = self.api.alerts.silences(&p).await?;
        Ok(Response::new(pb::ListSilencesResponse {
            silences: silences.iter().map(silence_to_pb).collect(),
        }))
    }

    async fn create_silence(
        &self,
        request: Request<pb::CreateSilenceRequest>,
    ) -> Reply<pb::CreateSilenceResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "AlertService/CreateSilence",
        )
        .await?;
        let r = request.into_inner();
        let when = |t: Option<prost_types::Timestamp>, field| match t {
            None => Ok(None),
            Some(t) => millis(&t).map(Some).ok_or(ServiceError::InvalidArgument {
                field,
                reason: "not a valid time".into(),
            }),
        };
        let starts_at = when(r.starts_at, "starts_at")?.unwrap_or_else(|| self.api.alerts.now());
        let ends_at = when(r.ends_at, "ends_at")?.ok_or(ServiceError::InvalidArgument {
            field: "ends_at",
            reason: "required".into(),
        })?;
        let request = SilenceRequest {
            host: HostId(r.host_id),
            starts_at,
            ends_at,
            note: r.note,
        };
        let silence = self.api.alerts.create_silence(&p, request).await?;
        Ok(Response::new(pb::CreateSilenceResponse {
            silence: Some(silence_to_pb(&silence)),
        }))
    }

    async fn delete_silence(
        &self,
        request: Request<pb::DeleteSilenceRequest>,
    ) -> Reply<pb::DeleteSilenceResponse> {
        let p = authenticate(&self.api, &request).await?;
        self.api
            .alerts
            .delete_silence(&p, request.into_inner().silence_id)
            .await?;
        Ok(Response::new(pb::DeleteSilenceResponse {}))
    }
}
