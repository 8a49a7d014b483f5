//! Every message fits the wire: a directory listing larger than one gRPC
//! message reaches the caller (in parts from the agent, joined on the server)
//! instead of wedging the agent's spool.

use cairn_proto::v1 as pb;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
use cairn_testkit::TestServer;

use crate::specs::Rig;
use crate::with_token;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_too_large_for_one_message_is_browsed_end_to_end() {
    let rig = Rig::start(TestServer::start().await).await;
    let source = rig.source(b"x");
    let wide = source.join("wide");
    std::fs::create_dir(&wide).expect("mkdir");
    // 8,000 entries with 240-byte names: about 4.5 MB of listing, over the
    // 4 MiB message limit as one message.
    for n in 0..8_000 {
        std::fs::write(wide.join(format!("{n:0>240}")), b"").expect("write");
    }
    let backup = rig.backup(b"x").await;

    let listing = SnapshotServiceClient::new(rig.server.channel().await)
        .browse_snapshot(with_token(
            pb::BrowseSnapshotRequest {
                repository_id: rig.repository,
                snapshot_id: backup.snapshot_id.clone(),
                path: wide.display().to_string(),
                host_id: rig.host,
            },
            &rig.token,
        ))
        .await
        .expect("the listing reaches the caller")
        .into_inner();
    let long = listing
        .entries
        .iter()
        .filter(|e| e.name.len() == 240)
        .count();
    assert!(long > 4_000, "{long} of the long-named entries arrived");
    assert!(
        listing.truncated == (long < 8_000),
        "what does not fit the answer is marked truncated"
    );

    // The agent is not wedged: its next job still runs.
    let next = rig.backup(b"y").await;
    assert_eq!(
        next.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        next.error
    );
    rig.agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_small_server_message_limit_a_listing_still_fits_and_nothing_wedges() {
    // The server accepts messages of 256 KiB at most and says so in its
    // Welcome; the agent's parts, and the server's joined answer, fit it.
    let limit = 256 * 1024;
    let rig = Rig::start(TestServer::start_with(|c| c.max_message_size = limit).await).await;
    let source = rig.source(b"x");
    let wide = source.join("wide");
    std::fs::create_dir(&wide).expect("mkdir");
    // About 1 MB of listing: four times the limit.
    for n in 0..2_000 {
        std::fs::write(wide.join(format!("{n:0>240}")), b"").expect("write");
    }
    let backup = rig.backup(b"x").await;
    let listing = SnapshotServiceClient::new(rig.server.channel().await)
        .browse_snapshot(with_token(
            pb::BrowseSnapshotRequest {
                repository_id: rig.repository,
                snapshot_id: backup.snapshot_id.clone(),
                path: wide.display().to_string(),
                host_id: rig.host,
            },
            &rig.token,
        ))
        .await
        .expect("the listing reaches the caller under the small limit")
        .into_inner();
    // The server encodes nothing over its limit: that the call answered at
    // all shows the joined listing fits it.
    assert!(listing.truncated, "what does not fit is marked truncated");
    assert!(!listing.entries.is_empty());

    let next = rig.backup(b"y").await;
    assert_eq!(
        next.status,
        pb::JobStatus::Succeeded as i32,
        "the agent is not wedged: {}",
        next.error
    );
    rig.agent.stop().await.expect("stop");
}
