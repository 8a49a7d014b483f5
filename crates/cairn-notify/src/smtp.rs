//! Email over SMTP with lettre. The server's name is resolved and checked
//! like any destination, and lettre connects to the checked address while
//! TLS verifies the certificate against the name.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::channel::SmtpTls;
use crate::error::SendError;
use crate::guard::Policy;

/// How long the SMTP conversation may take, per command.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An SMTP server and how to reach it.
#[derive(Debug)]
pub(crate) struct Smtp<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: &'a str,
    pub password: Option<&'a str>,
    /// Extra roots to trust (PEM), besides the system's.
    pub extra_roots: &'a [Vec<u8>],
}

/// Checks the addresses of a mail: the sender and at least one recipient.
pub fn check_addresses(from: &str, to: &[String]) -> Result<(), String> {
    from.parse::<Mailbox>()
        .map_err(|e| format!("the sender {from:?} is not an address: {e}"))?;
    if to.is_empty() {
        return Err("give at least one recipient".into());
    }
    for rcpt in to {
        rcpt.parse::<Mailbox>()
            .map_err(|e| format!("the recipient {rcpt:?} is not an address: {e}"))?;
    }
    Ok(())
}

/// Sends one mail.
pub(crate) async fn send(
    policy: Policy,
    server: Smtp<'_>,
    from: &str,
    to: &[String],
    subject: &str,
    text: String,
) -> Result<(), SendError> {
    let shown = format!("{}:{}", server.host, server.port);
    let fail = |reason: String| SendError::Smtp {
        server: shown.clone(),
        reason,
    };
    check_addresses(from, to).map_err(SendError::Config)?;
    let mut mail = lettre::Message::builder()
        .from(from.parse().map_err(|e| fail(format!("sender: {e}")))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for rcpt in to {
        mail = mail.to(rcpt.parse().map_err(|e| fail(format!("recipient: {e}")))?);
    }
    let mail = mail.body(text).map_err(|e| fail(e.to_string()))?;
    let addrs = policy.resolve(server.host, server.port).await?;
    let name = server
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut last = None;
    // Each checked address in turn, as a resolver-following client would.
    for addr in addrs {
        let tls = |name: String| -> Result<TlsParameters, SendError> {
            let mut params = TlsParameters::builder(name);
            for pem in server.extra_roots {
                let cert = Certificate::from_pem(pem).map_err(|e| fail(e.to_string()))?;
                params = params.add_root_certificate(cert);
            }
            params.build_rustls().map_err(|e| fail(e.to_string()))
        };
        let tls = match server.tls {
            SmtpTls::Starttls => Tls::Required(tls(name.clone())?),
            SmtpTls::Implicit => Tls::Wrapper(tls(name.clone())?),
            SmtpTls::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(addr.port())
                .tls(tls)
                .timeout(Some(SMTP_TIMEOUT));
        if !server.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                server.username.to_string(),
                server.password.unwrap_or_default().to_string(),
            ));
        }
        match builder.build().send(mail.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(fail(smtp_reason(&e))),
        }
    }
    Err(last.unwrap_or_else(|| fail("no address to connect to".into())))
}

fn smtp_reason(err: &lettre::transport::smtp::Error) -> String {
    format!("{err}{}", crate::error::causes(err))
}
