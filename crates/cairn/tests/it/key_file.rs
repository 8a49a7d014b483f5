//! The key file's faults, on a real data dir through the `cairn` binary: a
//! missing key, another key, a truncated one and one others may read each
//! stop the server with a message that says what is wrong and what to do,
//! and none of them is ever worked around (no new key over a sealed
//! database, no plaintext). Putting the right key back is all it takes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::chaos::create_user;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_key(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
}

#[test]
fn a_missing_wrong_or_truncated_key_stops_the_server_and_the_right_one_brings_it_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let made = create_user(&data, "first");
    assert!(made.status.success(), "{}", stderr(&made));
    let key = data.join("seal.key");
    let original = std::fs::read(&key).expect("the key made with the database");

    // Missing: refused, and no new key is left where the old one belongs.
    std::fs::remove_file(&key).expect("remove key");
    let missing = create_user(&data, "second");
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    let err = stderr(&missing);
    assert!(
        err.contains("missing") && err.contains("restore"),
        "says the key is missing and what to do: {err}"
    );
    assert!(!key.exists(), "no new key was made over a sealed database");

    // Another key, of the right shape.
    write_key(&key, &[7u8; 32]);
    let wrong = create_user(&data, "second");
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("does not match this database"),
        "{}",
        stderr(&wrong)
    );

    // Truncated.
    write_key(&key, &original[..original.len() - 1]);
    let truncated = create_user(&data, "second");
    assert_eq!(truncated.status.code(), Some(1), "{}", stderr(&truncated));
    assert!(
        stderr(&truncated).contains(&key.display().to_string()),
        "names the file: {}",
        stderr(&truncated)
    );

    // Readable by others: refused before the database is touched.
    write_key(&key, &original);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod key");
    let open = create_user(&data, "second");
    assert_eq!(open.status.code(), Some(1), "{}", stderr(&open));
    assert!(stderr(&open).contains("chmod 600"), "{}", stderr(&open));

    // The right key, locked down: back as it was, and nothing was lost.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    let back = create_user(&data, "second");
    assert!(back.status.success(), "{}", stderr(&back));
    let again = create_user(&data, "first");
    assert!(
        !again.status.success() && stderr(&again).contains("exists"),
        "the first user is still there: {}",
        stderr(&again)
    );
}
