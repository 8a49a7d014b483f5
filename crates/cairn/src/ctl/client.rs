//! The connection `cairn ctl` makes: the token (from `CAIRN_TOKEN` or a file,
//! never a flag), the rule that plaintext `http://` carries it only to this
//! machine unless `--allow-plaintext`, TLS trust, and gRPC errors as one line.

use std::future::Future;

use cairn_proto::Bearer;
use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_proto::v1::alert_service_client::AlertServiceClient;
use cairn_proto::v1::audit_service_client::AuditServiceClient;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::notification_service_client::NotificationServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::CtlArgs;
use crate::read_secret;

/// A channel whose every call carries the bearer token.
pub(super) type Authed = InterceptedService<Channel, Bearer>;

fn token(args: &CtlArgs) -> anyhow::Result<String> {
    let token = match &args.token_file {
        Some(path) => read_secret(path).map_err(|e| anyhow::anyhow!("cannot read --token-file {}: {e}", path.display()))?,
        None => std::env::var("CAIRN_TOKEN").map_err(|_| {
            anyhow::anyhow!("no API token: set CAIRN_TOKEN or pass --token-file (create one with `cairn admin create-token`)")
        })?,
    };
    let token = token.trim().to_string();
    anyhow::ensure!(!token.is_empty(), "the API token is empty");
    Ok(token)
}

/// The channel to the server and the bearer every call carries.
pub(super) struct Clients {
    channel: Channel,
    bearer: Bearer,
}

impl Clients {
    pub(super) fn admin(&self) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn audit(&self) -> AuditServiceClient<Authed> {
        AuditServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn hosts(&self) -> HostServiceClient<Authed> {
        HostServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn repos(&self) -> RepositoryServiceClient<Authed> {
        RepositoryServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn jobs(&self) -> JobServiceClient<Authed> {
        JobServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn notifications(&self) -> NotificationServiceClient<Authed> {
        NotificationServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn schedules(&self) -> ScheduleServiceClient<Authed> {
        ScheduleServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn alerts(&self) -> AlertServiceClient<Authed> {
        AlertServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(super) fn snapshots(&self) -> SnapshotServiceClient<Authed> {
        SnapshotServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }
}

/// Whether `url` names this machine (127.0.0.0/8, ::1 or localhost), where
/// plaintext never leaves the host.
fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<tonic::codegen::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) async fn connect(args: &CtlArgs) -> anyhow::Result<Clients> {
    if !args.server.starts_with("https://") && !is_loopback(&args.server) && !args.allow_plaintext {
        anyhow::bail!(
            "refusing to send the API token in plaintext to {}: use https://, or pass \
             --allow-plaintext if the network between is trusted",
            args.server
        );
    }
    let bearer = Bearer::new(&token(args)?)
        .ok_or_else(|| anyhow::anyhow!("the API token holds characters a header cannot carry"))?;
    let endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|e| anyhow::anyhow!("invalid --server {:?}: {e}", args.server))?
        .connect_timeout(std::time::Duration::from_secs(10));
    let connected = if args.server.starts_with("https://") {
        let trust = match (&args.server_fingerprint, &args.ca_file) {
            (Some(fp), _) => cairn_tls::Trust::Pinned(
                cairn_tls::parse_fingerprint(fp)
                    .map_err(|e| anyhow::anyhow!("--server-fingerprint: {e}"))?,
            ),
            (None, Some(path)) => cairn_tls::Trust::CaFile(path.clone()),
            (None, None) => cairn_tls::Trust::System,
        };
        let (config, probe) = cairn_tls::client_config(&trust)?;
        endpoint
            .connect_with_connector(cairn_tls::connector(config))
            .await
            .map_err(|e| match probe.mismatch() {
                Some(seen) => anyhow::anyhow!(
                    "the server's certificate fingerprint is {seen}, not the pinned one"
                ),
                None => anyhow::anyhow!("cannot reach {}: {e}", args.server),
            })?
    } else {
        endpoint
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", args.server))?
    };
    Ok(Clients {
        channel: connected,
        bearer,
    })
}

/// A gRPC error as one readable line.
pub(super) fn call_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", code_name(status.code()), status.message())
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Unauthenticated => "unauthenticated",
        PermissionDenied => "permission denied",
        InvalidArgument => "invalid argument",
        NotFound => "not found",
        AlreadyExists => "already exists",
        ResourceExhausted => "rate limited",
        FailedPrecondition => "refused",
        Unavailable => "server unavailable",
        Unimplemented => "not supported by this server",
        _ => "error",
    }
}

/// Asks for page after page until the server gives no next token. `fetch`
/// gets each page's request, prints what came and returns the page's end.
pub(super) async fn each_page<F, Fut>(page_size: u32, mut fetch: F) -> anyhow::Result<()>
where
    F: FnMut(pb::PageRequest) -> Fut,
    Fut: Future<Output = anyhow::Result<Option<pb::PageResponse>>>,
{
    let mut page_token = String::new();
    loop {
        let page = fetch(pb::PageRequest {
            page_size,
            page_token,
        })
        .await?;
        page_token = page.map(|p| p.next_page_token).unwrap_or_default();
        if page_token.is_empty() {
            return Ok(());
        }
    }
}
