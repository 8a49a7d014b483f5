//! The audit log: every mutation through the API leaves exactly one row
//! (right action, actor, target, outcome, no secret); `AuditService` filters
//! and refuses bad filters; exports round-trip; retention deletes only what
//! is old, and nothing else can delete or change a row.
//!
//! To add a mutation (alerts, channels…): add a `Mutation` variant, its arm
//! in `perform`, and a row in `CASES`.

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_proto::v1::audit_service_client::AuditServiceClient;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_server::audit_export::{ExportFormat, ExportRow};
use cairn_store::{AuditFilter, AuditRecord, Page, Role, Scope};
use cairn_testkit::TestServer;
use tonic::Code;
use tonic::transport::Channel;

use crate::with_token;

const USER_PASSWORD: &str = "a-user-password-never-logged";
const REPO_PASSWORD: &str = "a-repo-password-never-logged";
const NEW_REPO_PASSWORD: &str = "a-new-repo-password-never-logged";

/// What the test does through the API.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    CreateUser,
    UpdateUser,
    CreateApiToken,
    RevokeApiToken,
    CreateEnrollmentToken,
    RevokeEnrollmentToken,
    UpdateSettings,
    ApproveHost,
    LabelHost,
    CreateRepository,
    UpdateRepository,
    AssignRepository,
    SubmitBackup,
    CancelJob,
    CreateSchedule,
    DisableSchedule,
    DeleteSchedule,
    UpsertMaintenance,
    DeleteMaintenance,
    UnassignRepository,
    DeleteRepository,
    RevokeHost,
    DeleteHost,
}

/// One case: the mutation, the action it must record, and how its target
/// starts (`None`: no target).
const CASES: &[(Mutation, &str, Option<&str>)] = &[
    (Mutation::CreateUser, "user.create", Some("user:")),
    (Mutation::UpdateUser, "user.update", Some("user:")),
    (
        Mutation::CreateApiToken,
        "api_token.create",
        Some("api_token:"),
    ),
    (
        Mutation::RevokeApiToken,
        "api_token.revoke",
        Some("api_token:"),
    ),
    (
        Mutation::CreateEnrollmentToken,
        "enrollment_token.create",
        Some("enrollment_token:"),
    ),
    (
        Mutation::RevokeEnrollmentToken,
        "enrollment_token.revoke",
        Some("enrollment_token:"),
    ),
    (Mutation::UpdateSettings, "settings.update", None),
    (Mutation::ApproveHost, "host.approve", Some("host:")),
    (Mutation::LabelHost, "host.label", Some("host:")),
    (
        Mutation::CreateRepository,
        "repository.create",
        Some("repository:"),
    ),
    (
        Mutation::UpdateRepository,
        "repository.update",
        Some("repository:"),
    ),
    (
        Mutation::AssignRepository,
        "repository.assign",
        Some("repository:"),
    ),
    (Mutation::SubmitBackup, "job.create", Some("job:")),
    (Mutation::CancelJob, "job.cancel", Some("job:")),
    (
        Mutation::CreateSchedule,
        "schedule.create",
        Some("schedule:"),
    ),
    (
        Mutation::DisableSchedule,
        "schedule.update",
        Some("schedule:"),
    ),
    (
        Mutation::DeleteSchedule,
        "schedule.delete",
        Some("schedule:"),
    ),
    (
        Mutation::UpsertMaintenance,
        "maintenance.upsert",
        Some("host:"),
    ),
    (
        Mutation::DeleteMaintenance,
        "maintenance.delete",
        Some("maintenance_plan:"),
    ),
    (
        Mutation::UnassignRepository,
        "repository.unassign",
        Some("repository:"),
    ),
    (
        Mutation::DeleteRepository,
        "repository.delete",
        Some("repository:"),
    ),
    (Mutation::RevokeHost, "host.revoke", Some("host:")),
    (Mutation::DeleteHost, "host.delete", Some("host:")),
];

/// What the cases share: clients, and ids earlier cases made.
struct Ctx {
    server: TestServer,
    token: String,
    channel: Channel,
    user: i64,
    api_token: i64,
    enrollment_token: i64,
    repository: i64,
    host: i64,
    job: i64,
    schedule: i64,
    plan: i64,
    /// Every secret the cases handled, none of which may be in any row.
    secrets: Vec<String>,
}

impl Ctx {
    fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }
    fn hosts(&self) -> HostServiceClient<Channel> {
        HostServiceClient::new(self.channel.clone())
    }
    fn repos(&self) -> RepositoryServiceClient<Channel> {
        RepositoryServiceClient::new(self.channel.clone())
    }
    fn jobs(&self) -> JobServiceClient<Channel> {
        JobServiceClient::new(self.channel.clone())
    }
    fn schedules(&self) -> ScheduleServiceClient<Channel> {
        ScheduleServiceClient::new(self.channel.clone())
    }
}

async fn perform(ctx: &mut Ctx, m: Mutation) {
    let t = ctx.token.clone();
    match m {
        Mutation::CreateUser => {
            let r = pb::CreateUserRequest {
                username: "audited".into(),
                password: USER_PASSWORD.into(),
                role: pb::Role::Viewer as i32,
            };
            let user = ctx
                .admin()
                .create_user(with_token(r, &t))
                .await
                .expect("create user");
            ctx.user = user.into_inner().user.expect("user").id;
            ctx.secrets.push(USER_PASSWORD.into());
        }
        Mutation::UpdateUser => {
            let r = pb::UpdateUserRequest {
                user_id: ctx.user,
                role: Some(pb::Role::Operator as i32),
                disabled: None,
            };
            ctx.admin()
                .update_user(with_token(r, &t))
                .await
                .expect("update user");
        }
        Mutation::CreateApiToken => {
            let r = pb::CreateApiTokenRequest {
                name: "audited-token".into(),
                scope: pb::Scope::Read as i32,
                ttl_seconds: 3600,
                user_id: 0,
            };
            let made = ctx
                .admin()
                .create_api_token(with_token(r, &t))
                .await
                .expect("token");
            let made = made.into_inner();
            ctx.api_token = made.token.expect("token").id;
            ctx.secrets.push(made.secret);
        }
        Mutation::RevokeApiToken => {
            let r = pb::RevokeApiTokenRequest {
                token_id: ctx.api_token,
            };
            ctx.admin()
                .revoke_api_token(with_token(r, &t))
                .await
                .expect("revoke");
        }
        Mutation::CreateEnrollmentToken => {
            let r = pb::CreateEnrollmentTokenRequest {
                name: "audited-enroll".into(),
                ttl_seconds: 3600,
                max_uses: 1,
                ..Default::default()
            };
            let made = ctx
                .admin()
                .create_enrollment_token(with_token(r, &t))
                .await
                .expect("enroll");
            let made = made.into_inner();
            ctx.enrollment_token = made.token.expect("token").id;
            ctx.secrets.push(made.secret);
        }
        Mutation::RevokeEnrollmentToken => {
            let r = pb::RevokeEnrollmentTokenRequest {
                token_id: ctx.enrollment_token,
            };
            ctx.admin()
                .revoke_enrollment_token(with_token(r, &t))
                .await
                .expect("revoke");
        }
        Mutation::UpdateSettings => {
            let r = pb::UpdateSettingsRequest {
                audit_retention_days: Some(400),
                ..Default::default()
            };
            ctx.admin()
                .update_settings(with_token(r, &t))
                .await
                .expect("settings");
        }
        Mutation::CreateRepository => {
            let dir = ctx.server.data_dir().join("audited-repo");
            let r = pb::CreateRepositoryRequest {
                name: "audited-repo".into(),
                url: dir.display().to_string(),
                password: REPO_PASSWORD.into(),
                ..Default::default()
            };
            let made = ctx
                .repos()
                .create_repository(with_token(r, &t))
                .await
                .expect("repo");
            ctx.repository = made.into_inner().repository.expect("repo").id;
            ctx.secrets.push(REPO_PASSWORD.into());
        }
        Mutation::AssignRepository => {
            let r = pb::AssignRepositoryRequest {
                repository_id: ctx.repository,
                host_id: ctx.host,
            };
            ctx.repos()
                .assign_repository(with_token(r, &t))
                .await
                .expect("assign");
        }
        Mutation::UpdateRepository => {
            let r = pb::UpdateRepositoryRequest {
                repository_id: ctx.repository,
                password: Some(NEW_REPO_PASSWORD.into()),
                ..Default::default()
            };
            ctx.repos()
                .update_repository(with_token(r, &t))
                .await
                .expect("update repo");
            ctx.secrets.push(NEW_REPO_PASSWORD.into());
        }
        Mutation::SubmitBackup => {
            let r = pb::RunBackupRequest {
                host_id: ctx.host,
                repository_id: ctx.repository,
                spec: Some(pb::BackupSpec {
                    paths: vec!["/srv".into()],
                    ..Default::default()
                }),
                ..Default::default()
            };
            let job = ctx
                .jobs()
                .run_backup(with_token(r, &t))
                .await
                .expect("backup");
            ctx.job = job.into_inner().job.expect("job").id;
        }
        Mutation::CancelJob => {
            let r = pb::CancelJobRequest {
                job_id: ctx.job,
                reason: "test".into(),
            };
            ctx.jobs()
                .cancel_job(with_token(r, &t))
                .await
                .expect("cancel");
        }
        Mutation::CreateSchedule => {
            let r = pb::CreateScheduleRequest {
                host_id: ctx.host,
                repository_id: ctx.repository,
                name: "nightly".into(),
                cron: "0 3 * * *".into(),
                paths: vec!["/srv".into()],
                ..Default::default()
            };
            let made = ctx
                .schedules()
                .create_schedule(with_token(r, &t))
                .await
                .expect("schedule");
            ctx.schedule = made.into_inner().schedule.expect("schedule").id;
        }
        Mutation::DisableSchedule => {
            let r = pb::SetScheduleEnabledRequest {
                schedule_id: ctx.schedule,
                enabled: false,
            };
            ctx.schedules()
                .set_schedule_enabled(with_token(r, &t))
                .await
                .expect("disable");
        }
        Mutation::UpsertMaintenance => {
            let r = pb::UpsertMaintenancePlanRequest {
                host_id: ctx.host,
                repository_id: ctx.repository,
                enabled: true,
                check_every_seconds: 86_400,
                ..Default::default()
            };
            let plan = ctx
                .schedules()
                .upsert_maintenance_plan(with_token(r, &t))
                .await
                .expect("plan");
            ctx.plan = plan.into_inner().plan.expect("plan").id;
        }
        Mutation::DeleteMaintenance => {
            let r = pb::DeleteMaintenancePlanRequest { plan_id: ctx.plan };
            ctx.schedules()
                .delete_maintenance_plan(with_token(r, &t))
                .await
                .expect("delete plan");
        }
        Mutation::DeleteSchedule => {
            let r = pb::DeleteScheduleRequest {
                schedule_id: ctx.schedule,
            };
            ctx.schedules()
                .delete_schedule(with_token(r, &t))
                .await
                .expect("delete schedule");
        }
        Mutation::UnassignRepository => {
            let r = pb::UnassignRepositoryRequest {
                repository_id: ctx.repository,
                host_id: ctx.host,
            };
            ctx.repos()
                .unassign_repository(with_token(r, &t))
                .await
                .expect("unassign");
        }
        Mutation::DeleteRepository => {
            let r = pb::DeleteRepositoryRequest {
                repository_id: ctx.repository,
            };
            ctx.repos()
                .delete_repository(with_token(r, &t))
                .await
                .expect("delete repo");
        }
        Mutation::ApproveHost => {
            let r = pb::ApproveHostRequest {
                host_id: ctx.host,
                ..Default::default()
            };
            ctx.hosts()
                .approve_host(with_token(r, &t))
                .await
                .expect("approve");
        }
        Mutation::LabelHost => {
            let r = pb::SetHostLabelsRequest {
                host_id: ctx.host,
                labels: [("site".to_string(), "lab".to_string())].into(),
            };
            ctx.hosts()
                .set_host_labels(with_token(r, &t))
                .await
                .expect("labels");
        }
        Mutation::RevokeHost => {
            let r = pb::RevokeHostRequest {
                host_id: ctx.host,
                reason: "test".into(),
            };
            ctx.hosts()
                .revoke_host(with_token(r, &t))
                .await
                .expect("revoke host");
        }
        Mutation::DeleteHost => {
            let r = pb::DeleteHostRequest { host_id: ctx.host };
            ctx.hosts()
                .delete_host(with_token(r, &t))
                .await
                .expect("delete host");
        }
    }
}

async fn all_rows(server: &TestServer) -> Vec<AuditRecord> {
    server
        .store()
        .await
        .list_audit(AuditFilter::default(), Page::first(500))
        .await
        .expect("audit")
        .items
}

#[tokio::test]
async fn every_mutation_through_the_api_leaves_exactly_one_row_without_secrets() {
    let server = TestServer::start().await;
    let token = server.token_for("boss", Role::Admin, Scope::Admin).await;
    let host = server.stored_host("audited-host").await.0;
    let channel = server.channel().await;
    let mut ctx = Ctx {
        server,
        token,
        channel,
        user: 0,
        api_token: 0,
        enrollment_token: 0,
        repository: 0,
        host,
        job: 0,
        schedule: 0,
        plan: 0,
        secrets: Vec::new(),
    };
    for (mutation, action, target) in CASES {
        let before = all_rows(&ctx.server).await;
        let newest = before.first().map_or(0, |r| r.id.0);
        perform(&mut ctx, *mutation).await;
        let after = all_rows(&ctx.server).await;
        let new: Vec<_> = after.iter().filter(|r| r.id.0 > newest).collect();
        assert_eq!(
            new.len(),
            1,
            "{mutation:?} left {} rows: {new:#?}",
            new.len()
        );
        let e = &new[0].entry;
        assert_eq!(e.action, *action, "{mutation:?}");
        assert_eq!(e.outcome, cairn_store::Outcome::Success, "{mutation:?}");
        assert_eq!(
            e.actor_kind,
            cairn_store::ActorKind::ApiToken,
            "{mutation:?}"
        );
        assert!(
            e.actor_name.starts_with("boss"),
            "{mutation:?}: {}",
            e.actor_name
        );
        assert_eq!(e.source_addr.as_deref(), Some("127.0.0.1"), "{mutation:?}");
        match target {
            Some(prefix) => assert!(
                e.target.as_deref().is_some_and(|t| t.starts_with(prefix)),
                "{mutation:?}: target {:?}",
                e.target
            ),
            None => assert_eq!(e.target, None, "{mutation:?}"),
        }
    }
    let everything = format!("{:?}", all_rows(&ctx.server).await);
    for secret in &ctx.secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret is in the audit log"
        );
    }
}

/// Reads a CSV export back (RFC 4180, then one leading `'` dropped).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| c.strip_prefix('\'').map(str::to_string).unwrap_or(c))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn exports_round_trip_to_what_list_returns_and_neutralise_formulas() {
    let server = TestServer::start().await;
    let token = server.token_for("boss", Role::Admin, Scope::Admin).await;
    // Hostile strings in a name the log records.
    for name in [
        "=cmd|'/c calc'!A1",
        "a,\"quoted\"\nline",
        "@SUM(1)",
        "<script>alert(1)</script>",
    ] {
        let r = pb::CreateEnrollmentTokenRequest {
            name: name.into(),
            ttl_seconds: 60,
            max_uses: 1,
            ..Default::default()
        };
        let _ = AdminServiceClient::new(server.channel().await)
            .create_enrollment_token(with_token(r, &token))
            .await;
    }
    let listed: Vec<ExportRow> = all_rows(&server)
        .await
        .iter()
        .map(ExportRow::from)
        .collect();
    assert!(listed.len() >= 4);
    let api = &server.api;
    let p = api
        .auth
        .authenticate_bearer(&token, None)
        .await
        .expect("principal");
    let csv = api
        .admin
        .audit_export(&p, AuditFilter::default(), ExportFormat::Csv)
        .await
        .expect("csv");
    let mut rows = parse_csv(&csv);
    assert_eq!(
        rows.remove(0),
        cairn_server::audit_export::COLUMNS
            .map(String::from)
            .to_vec()
    );
    let from_csv: Vec<ExportRow> = rows
        .into_iter()
        .map(|c| ExportRow {
            id: c[0].parse().expect("id"),
            time: c[1].clone(),
            actor_kind: c[2].clone(),
            actor_id: c[3].parse().expect("actor id"),
            actor_name: c[4].clone(),
            source_address: c[5].clone(),
            action: c[6].clone(),
            target: c[7].clone(),
            outcome: c[8].clone(),
            detail: c[9].clone(),
        })
        .collect();
    assert_eq!(from_csv, listed);
    // No cell starts a formula.
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '@']), "formula cell: {cell}");
        }
    }
    let jsonl = api
        .admin
        .audit_export(&p, AuditFilter::default(), ExportFormat::Jsonl)
        .await
        .expect("jsonl");
    let from_jsonl: Vec<ExportRow> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(from_jsonl, listed);
}

#[tokio::test]
async fn the_audit_service_filters_is_admin_only_and_refuses_bad_filters() {
    let server = TestServer::start().await;
    let admin = server.token_for("boss", Role::Admin, Scope::Admin).await;
    let viewer = server.token_for("peek", Role::Viewer, Scope::Read).await;
    let mut audit = AuditServiceClient::new(server.channel().await);
    let refused = audit
        .list_audit_events(with_token(pb::ListAuditEventsRequest::default(), &viewer))
        .await
        .expect_err("viewer");
    assert_eq!(refused.code(), Code::PermissionDenied);

    let list = |r: pb::ListAuditEventsRequest| {
        let mut audit = audit.clone();
        let admin = admin.clone();
        async move { audit.list_audit_events(with_token(r, &admin)).await }
    };
    let denied = list(pb::ListAuditEventsRequest {
        outcome: pb::AuditOutcome::Denied as i32,
        action_prefix: "audit.".into(),
        ..Default::default()
    })
    .await
    .expect("list")
    .into_inner();
    assert_eq!(denied.events.len(), 1, "the viewer's refusal: {denied:?}");
    let event = &denied.events[0];
    assert_eq!(event.action, "audit.read");
    let actor = event.actor.clone().expect("actor");
    assert_eq!(actor.kind, pb::ActorKind::ApiToken as i32);
    let by_actor = list(pb::ListAuditEventsRequest {
        actor_kind: pb::ActorKind::ApiToken as i32,
        actor_id: actor.id,
        ..Default::default()
    })
    .await
    .expect("by actor")
    .into_inner();
    assert!(
        by_actor
            .events
            .iter()
            .all(|e| e.actor.as_ref().is_some_and(|a| a.id == actor.id))
    );
    let future = list(pb::ListAuditEventsRequest {
        since: Some(prost_types::Timestamp {
            seconds: 4_000_000_000,
            nanos: 0,
        }),
        ..Default::default()
    })
    .await
    .expect("since")
    .into_inner();
    assert!(future.events.is_empty());

    for (bad, field) in [
        (
            pb::ListAuditEventsRequest {
                actor_kind: 99,
                ..Default::default()
            },
            "actor_kind",
        ),
        (
            pb::ListAuditEventsRequest {
                outcome: 42,
                ..Default::default()
            },
            "outcome",
        ),
        (
            pb::ListAuditEventsRequest {
                until: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: -5,
                }),
                ..Default::default()
            },
            "until",
        ),
    ] {
        let err = list(bad).await.expect_err("bad filter");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(field), "{field}: {}", err.message());
    }
}

#[tokio::test]
async fn retention_deletes_only_old_rows_and_nothing_else_can_delete_or_update() {
    let (server, clock) = TestServer::start_manual(1_900_000_000_000, |_| {}).await;
    let token = server.token_for("boss", Role::Admin, Scope::Admin).await;
    let store = server.store().await;
    let old = store
        .list_audit(AuditFilter::default(), Page::first(500))
        .await
        .expect("rows")
        .items
        .len();
    assert!(old > 0);
    clock.advance(std::time::Duration::from_secs(10 * 86_400));
    let r = pb::UpdateSettingsRequest {
        audit_retention_days: Some(5),
        ..Default::default()
    };
    AdminServiceClient::new(server.channel().await)
        .update_settings(with_token(r, &token))
        .await
        .expect("settings");

    // Nothing but the sweep deletes or changes a row, old or new.
    let path = server.data_dir().join("cairn.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let err = conn
        .execute("DELETE FROM audit_log", [])
        .expect_err("delete refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn
        .execute("UPDATE audit_log SET detail = 'x'", [])
        .expect_err("update refused");
    assert!(err.to_string().contains("append-only"), "{err}");

    let deleted = server.api.admin.sweep_audit_log().await.expect("sweep");
    assert_eq!(deleted, old, "only the rows older than 5 days");
    let rows = store
        .list_audit(AuditFilter::default(), Page::first(500))
        .await
        .expect("rows")
        .items;
    let actions: Vec<_> = rows.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        ["audit.retention_sweep", "settings.update"],
        "{rows:#?}"
    );
    assert_eq!(rows[0].entry.actor_kind, cairn_store::ActorKind::System);
    // After the sweep, deletes are refused again.
    let err = conn
        .execute("DELETE FROM audit_log", [])
        .expect_err("delete refused");
    assert!(err.to_string().contains("append-only"), "{err}");

    // 0 keeps everything.
    let r = pb::UpdateSettingsRequest {
        audit_retention_days: Some(0),
        ..Default::default()
    };
    AdminServiceClient::new(server.channel().await)
        .update_settings(with_token(r, &token))
        .await
        .expect("settings");
    clock.advance(std::time::Duration::from_secs(1000 * 86_400));
    assert_eq!(server.api.admin.sweep_audit_log().await.expect("sweep"), 0);
    let r = pb::UpdateSettingsRequest {
        audit_retention_days: Some(40_000),
        ..Default::default()
    };
    let err = AdminServiceClient::new(server.channel().await)
        .update_settings(with_token(r, &token))
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Code::InvalidArgument);

    // Whether notifications may reach private addresses is the server's
    // configuration: shown, never opened at run time.
    let r = pb::UpdateSettingsRequest {
        allow_private_webhook_targets: Some(true),
        ..Default::default()
    };
    let err = AdminServiceClient::new(server.channel().await)
        .update_settings(with_token(r, &token))
        .await
        .expect_err("not a run-time setting");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("allow_private_notification_targets"),
        "{err:?}"
    );
    let shown = AdminServiceClient::new(server.channel().await)
        .get_settings(with_token(pb::GetSettingsRequest {}, &token))
        .await
        .expect("settings")
        .into_inner()
        .settings
        .expect("settings");
    assert!(!shown.allow_private_webhook_targets);
}

#[tokio::test]
async fn ctl_audit_lists_and_exports_with_the_same_filters_and_refuses_bad_ones() {
    use crate::cli_admin::{ctl, out};
    let server = TestServer::start().await;
    let token = server.token_for("boss", Role::Admin, Scope::Admin).await;
    let listed = out(&ctl(
        &server,
        &token,
        &["audit", "list", "--action", "api_token."],
    )
    .await);
    assert!(listed.contains("api_token.create"), "{listed}");
    assert!(!listed.contains("user.create"), "{listed}");
    let csv = out(&ctl(&server, &token, &["audit", "export", "--format", "csv"]).await);
    let mut rows = parse_csv(&csv);
    rows.remove(0);
    let stored: Vec<ExportRow> = all_rows(&server)
        .await
        .iter()
        .map(ExportRow::from)
        .collect();
    assert_eq!(rows.len(), stored.len(), "{csv}");
    assert_eq!(rows[0][6], stored[0].action);
    let jsonl = out(&ctl(
        &server,
        &token,
        &[
            "audit",
            "export",
            "--format",
            "jsonl",
            "--outcome",
            "success",
        ],
    )
    .await);
    let from_jsonl: Vec<ExportRow> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(from_jsonl, stored, "the ctl's rows are the service's");
    for (args, says) in [
        (&["audit", "list", "--since", "yesterday"][..], "RFC 3339"),
        (
            &["audit", "list", "--actor-kind", "robot"][..],
            "--actor-kind",
        ),
        (&["audit", "export", "--format", "xlsx"][..], "csv or jsonl"),
    ] {
        let output = ctl(&server, &token, args).await;
        assert!(!output.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
