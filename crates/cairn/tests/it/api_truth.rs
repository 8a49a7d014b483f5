//! The API says what is true and speaks to every client: reflection v1 and
//! v1alpha, health for every service, fields that are filled, and RunBackup
//! with a schedule.

use tokio_stream::StreamExt;

use cairn_testkit::TestServer;

#[tokio::test]
async fn a_v1alpha_reflection_client_lists_every_service_and_health_knows_each() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let channel = server.channel().await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection is served")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "cairn.v1.AdminService",
        "cairn.v1.HostService",
        "cairn.v1.RepositoryService",
        "cairn.v1.JobService",
        "cairn.v1.SnapshotService",
        "cairn.v1.ScheduleService",
        "cairn.v1.AgentGateway",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // Every service reflection names (bar reflection itself) reports SERVING.
    let mut health = HealthClient::new(channel);
    for service in names.iter().filter(|n| !n.starts_with("grpc.reflection.")) {
        let status = health
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}
