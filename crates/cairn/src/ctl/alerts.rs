//! `cairn ctl alerts`: the alert inbox, the rules, their overrides and
//! maintenance windows.

use cairn_domain::{AlertKind, AlertState, Severity};
use cairn_proto::convert::{
    alert_kind_from_pb, alert_kind_to_pb, alert_severity_from_pb, alert_severity_to_pb,
    alert_state_from_pb, alert_state_to_pb, timestamp,
};
use cairn_proto::v1 as pb;
use cairn_proto::v1::alert_service_client::AlertServiceClient;
use clap::Subcommand;

use super::client::{Authed, Clients, call_error, each_page};
use super::format::date;

#[derive(Debug, Subcommand)]
pub(super) enum AlertsCommand {
    /// List alerts, newest first (firing and acknowledged unless --state).
    List {
        /// firing, acknowledged, resolved or all.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind (job_failed, host_offline, …).
        #[arg(long)]
        kind: Option<String>,
        /// Only alerts about this host (its id).
        #[arg(long)]
        host: Option<i64>,
        /// info, warning or critical.
        #[arg(long)]
        severity: Option<String>,
    },
    /// Show one alert.
    Show {
        /// The alert's id.
        id: i64,
    },
    /// Acknowledge an alert: it notifies no more until it resolves.
    Ack {
        /// The alert's id.
        id: i64,
        /// Why, or what is being done (kept in the alert's history).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Take an acknowledgement back.
    Unack {
        /// The alert's id.
        id: i64,
        /// Why it needs attention again.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List the rules (one per kind).
    Rules,
    /// Change the rule of a kind.
    RuleSet {
        /// The rule's kind (job_failed, host_offline, backup_overdue, …).
        kind: String,
        /// Whether the rule raises alerts at all (true or false).
        #[arg(long)]
        enabled: Option<bool>,
        /// info, warning or critical.
        #[arg(long)]
        severity: Option<String>,
        /// The kind's threshold (seconds offline, overdue factor, missed runs, anomaly factor).
        #[arg(long, conflicts_with = "default_threshold")]
        threshold: Option<f64>,
        /// Go back to the kind's default threshold.
        #[arg(long)]
        default_threshold: bool,
        /// Remind this often while unacknowledged (e.g. 4h), or "off".
        #[arg(long, value_name = "DURATION")]
        repeat_every: Option<String>,
        /// Whether channels hear when the alert resolves (true or false).
        #[arg(long)]
        notify_on_resolve: Option<bool>,
    },
    /// Per-host and per-schedule thresholds.
    #[command(subcommand)]
    Override(OverrideCommand),
    /// Maintenance windows: a host's alerts notify nobody during one.
    #[command(subcommand)]
    Silence(SilenceCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum OverrideCommand {
    /// List every override.
    List,
    /// Set a rule's threshold for one host or one schedule.
    Set {
        /// The rule's kind.
        kind: String,
        /// The host it applies to (its id).
        #[arg(
            long,
            required_unless_present = "schedule",
            conflicts_with = "schedule"
        )]
        host: Option<i64>,
        /// The schedule it applies to (its id).
        #[arg(long)]
        schedule: Option<i64>,
        /// The threshold there, in the kind's unit (see `rule-set`).
        #[arg(long)]
        threshold: f64,
    },
    /// Clear such an override.
    Clear {
        /// The rule's kind.
        kind: String,
        /// The host it applied to (its id).
        #[arg(
            long,
            required_unless_present = "schedule",
            conflicts_with = "schedule"
        )]
        host: Option<i64>,
        /// The schedule it applied to (its id).
        #[arg(long)]
        schedule: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum SilenceCommand {
    /// List windows not yet over.
    List,
    /// Open a window on a host from now.
    Add {
        /// The host (its id).
        #[arg(long)]
        host: i64,
        /// How long (e.g. 2h).
        #[arg(long = "for", value_name = "DURATION")]
        length: String,
        /// What the window is for ("kernel upgrade").
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Delete a window (end it now).
    Delete {
        /// The window's id.
        id: i64,
    },
}

fn kind_of(text: &str) -> anyhow::Result<AlertKind> {
    AlertKind::parse(text).ok_or_else(|| {
        let known: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
        anyhow::anyhow!("unknown alert kind {text:?} (one of {})", known.join(", "))
    })
}

fn severity_of(text: &str) -> anyhow::Result<i32> {
    Severity::parse(text)
        .map(|s| alert_severity_to_pb(s) as i32)
        .ok_or_else(|| anyhow::anyhow!("unknown severity {text:?} (info, warning or critical)"))
}

fn name<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "?".into(), |v| v.to_string())
}

async fn rule_id(client: &mut AlertServiceClient<Authed>, kind: AlertKind) -> anyhow::Result<i64> {
    let rules = client
        .list_alert_rules(pb::ListAlertRulesRequest::default())
        .await
        .map_err(call_error)?
        .into_inner()
        .rules;
    rules
        .iter()
        .find(|r| r.kind == alert_kind_to_pb(kind) as i32)
        .map(|r| r.id)
        .ok_or_else(|| anyhow::anyhow!("the server has no rule for {kind}"))
}

fn print_alert(a: &pb::Alert) {
    println!(
        "{:<6} {:<13} {:<9} {:<17} {:<16} {:<11} {}",
        a.id,
        name(alert_state_from_pb(a.state)),
        name(alert_severity_from_pb(a.severity)),
        name(alert_kind_from_pb(a.kind)),
        if a.hostname.is_empty() {
            "-"
        } else {
            &a.hostname
        },
        date(a.fired_at.as_ref()),
        a.message
    );
}

pub(super) async fn run(clients: &Clients, command: AlertsCommand) -> anyhow::Result<()> {
    let mut client = clients.alerts();
    match command {
        AlertsCommand::List {
            state,
            kind,
            host,
            severity,
        } => {
            let (state, include_resolved) = match state.as_deref() {
                None => (0, false),
                Some("all") => (0, true),
                Some(s) => (
                    AlertState::parse(s)
                        .map(|s| alert_state_to_pb(s) as i32)
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "unknown state {s:?} (firing, acknowledged, resolved, all)"
                            )
                        })?,
                    false,
                ),
            };
            let kind = kind
                .as_deref()
                .map(kind_of)
                .transpose()?
                .map_or(0, |k| alert_kind_to_pb(k) as i32);
            let severity = severity
                .as_deref()
                .map(severity_of)
                .transpose()?
                .unwrap_or(0);
            println!(
                "{:<6} {:<13} {:<9} {:<17} {:<16} {:<11} MESSAGE",
                "ID", "STATE", "SEVERITY", "KIND", "HOST", "FIRED"
            );
            each_page(100, |page| {
                let mut client = client.clone();
                async move {
                    let r = client
                        .list_alerts(pb::ListAlertsRequest {
                            state,
                            include_resolved,
                            kind,
                            host_id: host.unwrap_or(0),
                            severity,
                            page: Some(page),
                        })
                        .await
                        .map_err(call_error)?
                        .into_inner();
                    r.alerts.iter().for_each(print_alert);
                    Ok(r.page)
                }
            })
            .await?;
        }
        AlertsCommand::Show { id } => {
            let a = client
                .get_alert(pb::GetAlertRequest { alert_id: id })
                .await
                .map_err(call_error)?
                .into_inner()
                .alert
                .unwrap_or_default();
            print_alert(&a);
            println!("subject: {}", a.subject);
            if !a.acknowledged_by.is_empty() || a.acknowledged_at.is_some() {
                println!(
                    "acknowledged {} by {}",
                    date(a.acknowledged_at.as_ref()),
                    a.acknowledged_by
                );
            }
            if !a.ack_note.is_empty() {
                println!("note: {}", a.ack_note);
            }
            if a.resolved_at.is_some() {
                println!("resolved {}", date(a.resolved_at.as_ref()));
            }
        }
        AlertsCommand::Ack { id, note } => {
            client
                .acknowledge_alert(pb::AcknowledgeAlertRequest { alert_id: id, note })
                .await
                .map_err(call_error)?;
            println!("acknowledged alert {id}");
        }
        AlertsCommand::Unack { id, note } => {
            client
                .unacknowledge_alert(pb::UnacknowledgeAlertRequest { alert_id: id, note })
                .await
                .map_err(call_error)?;
            println!("alert {id} fires again");
        }
        AlertsCommand::Rules => {
            let rules = client
                .list_alert_rules(pb::ListAlertRulesRequest::default())
                .await
                .map_err(call_error)?
                .into_inner()
                .rules;
            println!(
                "{:<4} {:<17} {:<8} {:<9} {:<10} {:<8} REMIND",
                "ID", "KIND", "ENABLED", "SEVERITY", "THRESHOLD", "DEFAULT"
            );
            for r in rules {
                println!(
                    "{:<4} {:<17} {:<8} {:<9} {:<10} {:<8} {}",
                    r.id,
                    name(alert_kind_from_pb(r.kind)),
                    if r.enabled { "on" } else { "off" },
                    name(alert_severity_from_pb(r.severity)),
                    r.threshold.map_or("-".into(), |t| t.to_string()),
                    r.default_threshold.map_or("-".into(), |t| t.to_string()),
                    if r.repeat_every_seconds == 0 {
                        "off".into()
                    } else {
                        format!("{} s", r.repeat_every_seconds)
                    }
                );
            }
        }
        AlertsCommand::RuleSet {
            kind,
            enabled,
            severity,
            threshold,
            default_threshold,
            repeat_every,
            notify_on_resolve,
        } => {
            let kind = kind_of(&kind)?;
            let repeat = match repeat_every.as_deref() {
                None => None,
                Some("off") => Some(0),
                Some(text) => Some(
                    cairn_server::config::parse_duration(text)
                        .map_err(|e| anyhow::anyhow!("invalid --repeat-every: {e}"))?
                        .as_secs()
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("--repeat-every is too long"))?,
                ),
            };
            let rule_id = rule_id(&mut client, kind).await?;
            client
                .update_alert_rule(pb::UpdateAlertRuleRequest {
                    rule_id,
                    enabled,
                    severity: severity
                        .as_deref()
                        .map(severity_of)
                        .transpose()?
                        .unwrap_or(0),
                    threshold,
                    reset_threshold: default_threshold,
                    repeat_every_seconds: repeat,
                    notify_on_resolve,
                    ..Default::default()
                })
                .await
                .map_err(call_error)?;
            println!("updated the {kind} rule");
        }
        AlertsCommand::Override(command) => overrides(&mut client, command).await?,
        AlertsCommand::Silence(command) => silences(&mut client, command).await?,
    }
    Ok(())
}

async fn overrides(
    client: &mut AlertServiceClient<Authed>,
    command: OverrideCommand,
) -> anyhow::Result<()> {
    match command {
        OverrideCommand::List => {
            let list = client
                .list_alert_overrides(pb::ListAlertOverridesRequest {})
                .await
                .map_err(call_error)?
                .into_inner()
                .overrides;
            println!("{:<17} {:<14} THRESHOLD", "KIND", "FOR");
            for o in list {
                let on = if o.host_id != 0 {
                    format!("host {}", o.host_id)
                } else {
                    format!("schedule {}", o.schedule_id)
                };
                println!(
                    "{:<17} {:<14} {}",
                    name(alert_kind_from_pb(o.kind)),
                    on,
                    o.threshold
                );
            }
        }
        OverrideCommand::Set {
            kind,
            host,
            schedule,
            threshold,
        } => {
            let kind = kind_of(&kind)?;
            let rule_id = rule_id(client, kind).await?;
            client
                .set_alert_override(pb::SetAlertOverrideRequest {
                    rule_id,
                    host_id: host.unwrap_or(0),
                    schedule_id: schedule.unwrap_or(0),
                    threshold,
                })
                .await
                .map_err(call_error)?;
            println!("set the {kind} threshold to {threshold}");
        }
        OverrideCommand::Clear {
            kind,
            host,
            schedule,
        } => {
            let kind = kind_of(&kind)?;
            let rule_id = rule_id(client, kind).await?;
            client
                .clear_alert_override(pb::ClearAlertOverrideRequest {
                    rule_id,
                    host_id: host.unwrap_or(0),
                    schedule_id: schedule.unwrap_or(0),
                })
                .await
                .map_err(call_error)?;
            println!("cleared the {kind} override");
        }
    }
    Ok(())
}

async fn silences(
    client: &mut AlertServiceClient<Authed>,
    command: SilenceCommand,
) -> anyhow::Result<()> {
    match command {
        SilenceCommand::List => {
            let list = client
                .list_silences(pb::ListSilencesRequest {})
                .await
                .map_err(call_error)?
                .into_inner()
                .silences;
            println!(
                "{:<5} {:<16} {:<11} {:<11} NOTE",
                "ID", "HOST", "STARTS", "ENDS"
            );
            for s in list {
                println!(
                    "{:<5} {:<16} {:<11} {:<11} {}",
                    s.id,
                    s.hostname,
                    date(s.starts_at.as_ref()),
                    date(s.ends_at.as_ref()),
                    s.note
                );
            }
        }
        SilenceCommand::Add { host, length, note } => {
            let length = cairn_server::config::parse_duration(&length)
                .map_err(|e| anyhow::anyhow!("invalid --for: {e}"))?;
            let ends = cairn_store::now_millis()
                .saturating_add(i64::try_from(length.as_millis()).unwrap_or(i64::MAX));
            let s = client
                .create_silence(pb::CreateSilenceRequest {
                    host_id: host,
                    starts_at: None,
                    ends_at: Some(timestamp(ends)),
                    note,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .silence
                .unwrap_or_default();
            println!(
                "maintenance window {} on {} until {}",
                s.id,
                s.hostname,
                date(s.ends_at.as_ref())
            );
        }
        SilenceCommand::Delete { id } => {
            client
                .delete_silence(pb::DeleteSilenceRequest { silence_id: id })
                .await
                .map_err(call_error)?;
            println!("deleted maintenance window {id}");
        }
    }
    Ok(())
}
