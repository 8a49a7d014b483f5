//! Every backend's URL forms, valid and hostile.

use super::*;

fn ok(url: &str, backend: Backend) {
    assert_eq!(check_repository_url(url), Ok(backend), "{url}");
}

/// Refused, with an error naming `part`.
fn refused(url: &str, part: &str) {
    match check_repository_url(url) {
        Err(ArgError::BadUrl { part: got, .. }) => assert_eq!(got, part, "{url}"),
        other => panic!("{url} must be refused naming the {part}, got {other:?}"),
    }
}

#[test]
fn local_paths() {
    ok("/srv/restic", Backend::Local);
    ok("/srv/my backups/repo", Backend::Local);
    ok("local:/srv/restic", Backend::Local);
    refused("local:relative/dir", "path");
    refused("relative/dir", "path");
    refused("local:-x", "path");
    assert!(matches!(
        check_repository_url("--password-command=sh"),
        Err(ArgError::LeadingDash { .. })
    ));
    assert!(matches!(
        check_repository_url("/srv/a\nb"),
        Err(ArgError::ControlCharacter { .. })
    ));
    assert!(matches!(
        check_repository_url(""),
        Err(ArgError::Empty { .. })
    ));
}

#[test]
fn rest_urls() {
    ok("rest:http://127.0.0.1:8000/", Backend::Rest);
    ok("rest:https://backup.example/repo", Backend::Rest);
    ok(
        "rest:https://ann:p@ss:w@rd@backup.example:8443/ann/",
        Backend::Rest,
    );
    ok("rest:http://[::1]:8000/repo", Backend::Rest);
    refused("rest:backup.example/repo", "URL");
    refused("rest:https://-evil/", "host");
    refused("rest:https://user@-evil/", "host");
    refused("rest:https://bad host/", "host");
    refused("rest:https://host:notaport/", "port");
    refused("rest:https:///repo", "host");
}

#[test]
fn sftp_short_form() {
    ok("sftp:backup@nas:/srv/restic", Backend::Sftp);
    ok("sftp:nas:restic", Backend::Sftp);
    // Two `@`: restic versions split them differently, so refused.
    refused("sftp:a@b@nas:/srv", "user");
    refused("sftp:-oProxyCommand=x:/p", "host");
    refused("sftp:user@-oProxyCommand=touch /tmp/x:/p", "host");
    refused("sftp:-luser@nas:/p", "user");
    refused("sftp:user@nas -oProxyCommand=x:/p", "host");
    refused("sftp:user@nas:-p", "path");
    refused("sftp:user@nas:", "path");
    refused("sftp:user@nas", "path");
    refused("sftp:@nas:/p", "user");
}

#[test]
fn sftp_url_form() {
    ok("sftp://backup@nas:2222//srv/restic", Backend::Sftp);
    ok("sftp://nas/restic", Backend::Sftp);
    ok("sftp://backup:ignored@nas//srv", Backend::Sftp);
    ok("sftp://backup@[fd00::1]:22//srv", Backend::Sftp);
    refused("sftp://-oProxyCommand=x//p", "host");
    refused("sftp://user@-oProxyCommand=x:22//p", "host");
    refused("sftp://-luser@nas//p", "user");
    refused("sftp://user@nas:22x//p", "port");
    refused("sftp://user@nas:0//p", "port");
    refused("sftp://user@nas", "path");
    refused("sftp://user@nas/-p", "path");
}

#[test]
fn s3_urls() {
    ok("s3:s3.amazonaws.com/bucket", Backend::S3);
    ok("s3:s3.amazonaws.com/bucket/prefix/dir", Backend::S3);
    ok("s3:https://minio.local:9000/bucket/prefix", Backend::S3);
    ok("s3:http://10.0.0.5:9000/bucket", Backend::S3);
    refused("s3:-evil/bucket", "host");
    refused("s3:https://-evil/bucket", "host");
    refused("s3:s3.amazonaws.com/-bucket", "bucket");
    refused("s3:s3.amazonaws.com", "bucket");
    refused("s3:https://minio.local:9000/", "bucket");
    refused("s3:s3.amazonaws.com/bucket/-prefix", "path");
    refused("s3:host name/bucket", "host");
}

#[test]
fn bucket_backends() {
    ok("b2:bucket", Backend::B2);
    ok("b2:my-bucket:path/to/repo", Backend::B2);
    ok("azure:container:/path", Backend::Azure);
    ok("gs:bucket:/path", Backend::Gs);
    ok("gs:my_bucket.example", Backend::Gs);
    ok("swift:container:/path", Backend::Swift);
    refused("b2:-bucket:path", "bucket");
    refused("b2:bucket:-path", "path");
    refused("b2::path", "bucket");
    refused("azure:-container:/p", "container");
    refused("azure:con tainer:/p", "container");
    refused("gs:bucket:-p", "path");
    refused("swift:--os-option=x:/p", "container");
    refused("swift:cont/ainer:/p", "container");
}

#[test]
fn rclone_remotes() {
    ok("rclone:remote:path", Backend::Rclone);
    ok("rclone:my-remote_2.x:bucket/dir", Backend::Rclone);
    ok("rclone:remote:", Backend::Rclone);
    ok("rclone:/srv/local/repo", Backend::Rclone);
    refused("rclone:--log-file=/tmp/x:foo", "remote");
    refused("rclone:-vv:foo", "remote");
    refused("rclone::sftp,ssh='sh -c id':path", "remote");
    refused("rclone:remote,ssh=x:path", "remote");
    refused("rclone:re mote:path", "remote");
    refused("rclone:remote:-path", "path");
    refused("rclone:nocolon", "remote");
}

#[test]
fn unknown_schemes_are_refused() {
    for url in [
        "ftp://host/repo",
        "file:/srv/x",
        "SFTP:host:/p",
        "http://host/",
        "smb:host/share",
    ] {
        refused(url, "scheme");
    }
}

#[test]
fn errors_name_the_part_but_never_quote_the_url() {
    let err = check_repository_url("rest:https://ann:hunter2@-evil/").expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("rest") && text.contains("host"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn urls_that_go_or_restic_would_read_as_another_place() {
    // Go ends the authority at `?` or `#`: the real host is attacker.net.
    refused("rest:https://attacker.net?@backup.example.com/", "URL");
    refused("rest:https://attacker.net#@backup.example.com/", "URL");
    refused("s3:https://attacker.net?@minio.example/bucket", "URL");
    refused("rest:https://backup.example.com\\@attacker.net/", "URL");
    // restic decodes escapes and cleans `..` out of a path.
    refused("sftp://nas//srv/%2e%2e/etc", "path");
    refused("rest:https://backup.example.com/web1/%2e%2e/web2/", "path");
    refused("rest:https://backup.example.com/web1/../web2/", "path");
    refused("/srv/restic/../other", "path");
    refused("sftp:nas:/srv/../etc", "path");
    // In the short sftp form restic and we could disagree on the host.
    refused("sftp:a@b@-Ecairn.log@nas:/srv/r", "user");
    refused("sftp:a@-Ecairn.log@nas:/p", "user");
    // A password may still hold escapes; only the path may not.
    ok(
        "rest:https://ann:p%40ss@backup.example.com/repo",
        Backend::Rest,
    );
    ok("sftp://ann@nas//srv/restic", Backend::Sftp);
}
