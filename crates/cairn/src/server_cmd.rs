//! `cairn server`: the fixed shape of a server main — config (exit 64 on a bad
//! one, before binding anything), logging, open, bind, serve, wait for a
//! signal, drain within the grace period.

use std::process::ExitCode;

use cairn_server::config::{self, ConfigError, LogFormat};
use cairn_server::{Server, ServerConfig};

use crate::EXIT_USAGE;
use crate::server_flags::ServerArgs;

pub(crate) async fn run(args: ServerArgs) -> ExitCode {
    if args.print_example_config {
        print!("{}", config::example_toml());
        return ExitCode::SUCCESS;
    }
    let (config, warnings) =
        match config::load(args.config.as_deref(), std::env::vars(), &args.given) {
            Ok(loaded) => loaded,
            Err(err) => {
                eprintln!("error: invalid configuration: {err}");
                return ExitCode::from(ConfigError::EXIT_CODE as u8);
            }
        };
    if let Err(err) = init_logging(&config) {
        eprintln!("error: invalid configuration: `log_level`: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    for warning in warnings {
        tracing::warn!("{}", warning.0);
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting cairn server");
    tracing::debug!(?config, "configuration");

    match serve(config).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let listen = config.listen;
    let server = Server::open(config).await?;
    let listener = cairn_server::listen(listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let ui = cairn_web::router(server.api());
    let metrics = match server.config().metrics_listen {
        Some(addr) => {
            let listener = cairn_server::listen(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
            let stopping = server.api();
            Some(tokio::spawn(server.serve_metrics(listener, async move {
                stopping.shutting_down().await;
            })))
        }
        None => None,
    };
    server.serve(listener, ui, shutdown_signal()).await?;
    if let Some(metrics) = metrics {
        // It stops when the server begins shutting down.
        match metrics.await {
            Ok(Err(err)) => tracing::warn!(error = %err, "the metrics listener failed"),
            Err(err) => tracing::warn!(error = %err, "the metrics listener panicked"),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

fn init_logging(config: &ServerConfig) -> Result<(), String> {
    let format = match config.log_format {
        LogFormat::Text => crate::logging::Format::Text,
        LogFormat::Json => crate::logging::Format::Json,
    };
    crate::logging::init(&config.log_level, format)
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("signal received");
}
