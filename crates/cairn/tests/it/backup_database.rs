//! `cairn admin backup-database`: a consistent copy of a running server's
//! database, which restores beside its sealing key and is refused without
//! it; an existing file is never overwritten.

use std::path::Path;
use std::process::Output;

use cairn_store::Role;
use cairn_testkit::TestServer;

use crate::cli::cairn;

async fn admin(data_dir: &Path, args: &[&str]) -> Output {
    let mut command = cairn();
    command
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args);
    tokio::task::spawn_blocking(move || command.output().expect("run cairn"))
        .await
        .expect("admin ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_running_servers_database_copies_and_restores_only_beside_its_key() {
    let server = TestServer::start().await;
    server.create_user("kept", Role::Operator).await;
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("cairn-copy.db");
    let copy_arg = copy.display().to_string();

    let made = admin(&server.data_dir(), &["backup-database", "--out", &copy_arg]).await;
    assert!(made.status.success(), "{}", text(&made.stderr));
    let said = text(&made.stdout);
    assert!(
        said.contains("back up") && said.contains("seal.key"),
        "it names the key to keep apart: {said}"
    );
    server.create_user("later", Role::Operator).await;

    // A second copy onto the first is refused and loses nothing.
    let before = std::fs::read(&copy).expect("copy");
    let again = admin(&server.data_dir(), &["backup-database", "--out", &copy_arg]).await;
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    assert!(
        text(&again.stderr).contains("cairn-copy.db"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read(&copy).expect("copy"), before, "untouched");

    // Restored beside the key: the operator made before the copy is there,
    // the one made after it is not.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).expect("mkdir");
    std::fs::copy(&copy, restored.join("cairn.db")).expect("db");
    std::fs::copy(
        server.data_dir().join("seal.key"),
        restored.join("seal.key"),
    )
    .expect("key");
    let token = ["create-token", "--name", "after restore", "--user"];
    let kept = admin(&restored, &[&token[..], &["kept"]].concat()).await;
    assert!(kept.status.success(), "{}", text(&kept.stderr));
    let later = admin(&restored, &[&token[..], &["later"]].concat()).await;
    assert!(!later.status.success(), "the copy is of its moment");

    // Without the key the copy is refused, with a reason.
    let keyless = dir.path().join("keyless");
    std::fs::create_dir(&keyless).expect("mkdir");
    std::fs::copy(&copy, keyless.join("cairn.db")).expect("db");
    let refused = admin(&keyless, &[&token[..], &["kept"]].concat()).await;
    assert!(
        !refused.status.success(),
        "a database without its key is refused"
    );
    assert!(
        text(&refused.stderr).contains("key"),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        !keyless.join("seal.key").exists(),
        "no new key is made over a sealed database"
    );
}
