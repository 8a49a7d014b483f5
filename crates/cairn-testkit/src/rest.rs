//! A restic REST server (`rclone serve restic`) with htpasswd credentials,
//! for repositories whose URL carries a password.

use std::time::Duration;

use crate::{ChildGuard, eventually};

/// `rclone serve restic` on a free loopback port, user `ann`, password
/// `rest-secret`; stopped when dropped.
#[derive(Debug)]
pub struct RestServer {
    /// `rest:http://ann:rest-secret@127.0.0.1:<port>/`.
    pub url_with_credentials: String,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl RestServer {
    /// Starts the server and waits until it listens.
    pub async fn start() -> RestServer {
        let dir = tempfile::tempdir().expect("dir");
        let hash = std::process::Command::new("openssl")
            .args(["passwd", "-apr1", "rest-secret"])
            .output()
            .expect("openssl");
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(
            &htpasswd,
            format!("ann:{}", String::from_utf8_lossy(&hash.stdout).trim()),
        )
        .expect("htpasswd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let child = ChildGuard::spawn(
            "rclone serve restic",
            std::process::Command::new("rclone")
                .args([
                    "serve",
                    "restic",
                    "--addr",
                    &format!("127.0.0.1:{port}"),
                    "--htpasswd",
                ])
                .arg(&htpasswd)
                .arg(dir.path().join("data"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        eventually(Duration::from_secs(60), "rclone listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        RestServer {
            url_with_credentials: format!("rest:http://ann:rest-secret@127.0.0.1:{port}/"),
            _child: child,
            _dir: dir,
        }
    }
}
