//! Identifiers that look like another: an id written another way in a page's
//! path (`01`, `+1`, `1.0`, full-width digits, a trailing NUL or space, an
//! encoded slash that climbs to another row, one past `i64::MAX`), and ids
//! no row has over gRPC (0, negative, the extremes). Each either names the
//! very row the plain id names or is refused as a client's mistake (4xx,
//! `NotFound`/`InvalidArgument`); none reaches another row, and none makes
//! the server fail (5xx, `Internal`).

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use tonic::Code;

use crate::inventory_web::ROUTES;
use crate::{get_page, signed_in, with_token};

/// `id` written in ways that could pass for it, or for a neighbour.
fn lookalikes(id: i64, other: i64) -> Vec<String> {
    let fullwidth: String = id
        .to_string()
        .chars()
        .map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect();
    vec![
        format!("0{id}"),
        format!("+{id}"),
        format!("%2B{id}"),
        format!("{id}.0"),
        format!("{id}e0"),
        format!("0x{id:x}"),
        fullwidth,
        format!("{id}%00"),
        format!("{id}%20"),
        format!("%20{id}"),
        format!("{id}%E2%80%8B"),
        format!("{id}%2F..%2F{other}"),
        format!("{id};{other}"),
        format!("-{id}"),
        "9223372036854775808".into(),
        "-9223372036854775809".into(),
        String::new(),
    ]
}

#[tokio::test]
async fn a_lookalike_id_names_the_same_row_or_is_refused_never_another() {
    let server = TestServer::start().await;
    let ours = server.stored_host("lookalike-ours").await.0;
    let theirs = server.stored_host("lookalike-theirs").await.0;
    let cookie = signed_in(&server, "ada", Role::Admin).await;
    let (status, page) = get_page(&server, &cookie, &format!("/hosts/{ours}")).await;
    assert!(status.is_success() && page.contains("lookalike-ours"));

    let mut tried = 0;
    let mut same_row = 0;
    for (method, route, _, _) in ROUTES {
        if *method != "GET" || !route.contains("{id}") || route.contains("events") {
            continue;
        }
        for form in lookalikes(ours, theirs) {
            let path = route.replace("{id}", &form);
            let (status, body) = get_page(&server, &cookie, &path).await;
            tried += 1;
            assert!(
                !status.is_server_error(),
                "{path}: {status} (a client's mistake is a 4xx)"
            );
            assert!(
                !body.contains("lookalike-theirs"),
                "{path} reached another host's row"
            );
            if status.is_success() && body.contains("lookalike-ours") {
                same_row += 1;
            }
        }
    }

    // Over gRPC, ids no row has are not found (or not valid), never a fault.
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let channel = server.channel().await;
    let mut hosts = HostServiceClient::new(channel.clone());
    let mut jobs = JobServiceClient::new(channel);
    for id in [0, -1, -ours, i64::MAX, i64::MIN] {
        let host = hosts
            .get_host(with_token(pb::GetHostRequest { host_id: id }, &token))
            .await
            .expect_err("no such host");
        let job = jobs
            .get_job(with_token(pb::GetJobRequest { job_id: id }, &token))
            .await
            .expect_err("no such job");
        for status in [host, job] {
            assert!(
                matches!(status.code(), Code::NotFound | Code::InvalidArgument),
                "id {id}: {status:?}"
            );
        }
        tried += 2;
    }
    println!(
        "look-alike ids: {tried} tried, {same_row} named the same row, 0 reached another, 0 failed the server"
    );
}
