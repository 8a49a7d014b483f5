//! `cairn ctl audit`: the audit log, listed or exported (CSV, JSON lines) by
//! paging through `ListAuditEvents` with the same filters.

use std::io::Write;

use cairn_proto::v1 as pb;
use cairn_server::audit_export::{ExportFormat, ExportRow, MAX_EXPORT_ROWS, rfc3339};
use clap::{Args, Subcommand};

use super::client::{Clients, call_error};

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// List audit events, newest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Events shown at most.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Write every matching event to stdout as CSV or JSON lines.
    Export {
        /// csv or jsonl.
        #[arg(long)]
        format: ExportFormat,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

/// The filters `list` and `export` share (and the console's URL uses).
#[derive(Debug, Args)]
pub(super) struct FilterArgs {
    /// user, api_token, agent, system, cli or anonymous.
    #[arg(long)]
    actor_kind: Option<String>,
    /// The acting user's, token's or host's id.
    #[arg(long)]
    actor_id: Option<i64>,
    /// Actions starting with this, e.g. `auth.` or `host.approve`.
    #[arg(long)]
    action: Option<String>,
    /// Exactly this target, e.g. `host:12`.
    #[arg(long)]
    target: Option<String>,
    /// success, denied or failed.
    #[arg(long)]
    outcome: Option<String>,
    /// At or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

fn time_arg(flag: &str, value: Option<&str>) -> anyhow::Result<Option<prost_types::Timestamp>> {
    let Some(value) = value else { return Ok(None) };
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            anyhow::anyhow!(
                "--{flag} {value:?} is not an RFC 3339 time (2026-01-31T00:00:00Z): {e}"
            )
        })?;
    Ok(Some(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }))
}

fn request(f: &FilterArgs) -> anyhow::Result<pb::ListAuditEventsRequest> {
    let actor_kind = match f.actor_kind.as_deref() {
        None => pb::ActorKind::Unspecified,
        Some("user") => pb::ActorKind::User,
        Some("api_token") => pb::ActorKind::ApiToken,
        Some("agent") => pb::ActorKind::Agent,
        Some("system") => pb::ActorKind::System,
        Some("cli") => pb::ActorKind::Cli,
        Some("anonymous") => pb::ActorKind::Anonymous,
        Some(other) => anyhow::bail!(
            "--actor-kind {other:?} is not one of user, api_token, agent, system, cli, anonymous"
        ),
    };
    let outcome = match f.outcome.as_deref() {
        None => pb::AuditOutcome::Unspecified,
        Some("success") => pb::AuditOutcome::Success,
        Some("denied") => pb::AuditOutcome::Denied,
        Some("failed") => pb::AuditOutcome::Failed,
        Some(other) => anyhow::bail!("--outcome {other:?} is not one of success, denied, failed"),
    };
    Ok(pb::ListAuditEventsRequest {
        actor_kind: actor_kind as i32,
        actor_id: f.actor_id.unwrap_or(0),
        action_prefix: f.action.clone().unwrap_or_default(),
        target: f.target.clone().unwrap_or_default(),
        outcome: outcome as i32,
        since: time_arg("since", f.since.as_deref())?,
        until: time_arg("until", f.until.as_deref())?,
        page: None,
    })
}

/// An event as an export row (the names the store uses).
fn row(e: &pb::AuditEvent) -> ExportRow {
    let actor = e.actor.clone().unwrap_or_default();
    let millis = e
        .time
        .as_ref()
        .and_then(cairn_proto::convert::millis)
        .unwrap_or(0);
    ExportRow {
        id: e.id,
        time: rfc3339(millis),
        actor_kind: match pb::ActorKind::try_from(actor.kind) {
            Ok(pb::ActorKind::User) => "user",
            Ok(pb::ActorKind::ApiToken) => "api_token",
            Ok(pb::ActorKind::Agent) => "agent",
            Ok(pb::ActorKind::System) => "system",
            Ok(pb::ActorKind::Cli) => "cli",
            _ => "anonymous",
        }
        .to_string(),
        actor_id: actor.id,
        actor_name: actor.name,
        source_address: e.source_address.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        outcome: match pb::AuditOutcome::try_from(e.outcome) {
            Ok(pb::AuditOutcome::Success) => "success",
            Ok(pb::AuditOutcome::Denied) => "denied",
            _ => "failed",
        }
        .to_string(),
        detail: e.detail.clone(),
    }
}

pub(super) async fn run(clients: &Clients, command: AuditCommand) -> anyhow::Result<()> {
    let mut audit = clients.audit();
    let (filter, format, limit) = match &command {
        AuditCommand::List { filter, limit } => (filter, None, *limit as usize),
        AuditCommand::Export { filter, format } => (filter, Some(*format), MAX_EXPORT_ROWS),
    };
    let mut req = request(filter)?;
    let mut out = std::io::stdout().lock();
    if let Some(format) = format {
        out.write_all(format.head().as_bytes())?;
    }
    let mut written = 0;
    loop {
        req.page = Some(pb::PageRequest {
            page_size: u32::try_from((limit - written).min(500)).unwrap_or(500),
            page_token: req.page.take().map(|p| p.page_token).unwrap_or_default(),
        });
        let answer = audit
            .list_audit_events(req.clone())
            .await
            .map_err(call_error)?
            .into_inner();
        for event in &answer.events {
            let r = row(event);
            let line = match format {
                Some(format) => format.line(&r),
                None => format!(
                    "{}  {:<9} {:<28} {:<24} {:<8} {}{}\n",
                    r.time,
                    r.actor_kind,
                    r.actor_name,
                    r.action,
                    r.outcome,
                    r.target,
                    if r.detail.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", r.detail)
                    }
                ),
            };
            out.write_all(line.as_bytes())?;
            written += 1;
        }
        let next = answer.page.map(|p| p.next_page_token).unwrap_or_default();
        if next.is_empty() || written >= limit {
            break;
        }
        req.page = Some(pb::PageRequest {
            page_size: 0,
            page_token: next,
        });
    }
    Ok(())
}
