//! Connections with a role: the factory assumes it through STS (a fake STS
//! on loopback here) with the connection's external id.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use load_tests::sim::SimConfig;
use ses::{AssumeRole, AwsConnection, PauseReason, SendOutcome, SesClients, SesSettings};
use tokio::net::TcpListener;

use crate::support::{email, settings, start_sim, test_credentials, ACCOUNT_ID, REGION};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/wraps-sender";

const GRANTED: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROATEST:wrapsd</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/wraps-sender/wrapsd</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIATESTASSUMED</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>assumed-session-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;

const DENIED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::210987654321:user/wrapsd is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/wraps-sender</Message>
  </Error>
  <RequestId>req-2</RequestId>
</ErrorResponse>"#;

/// A fake STS that returns `status` and `body` for every request and
/// records the form bodies it received.
struct FakeSts {
    endpoint: String,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn start_sts(status: StatusCode, body: &'static str) -> FakeSts {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/",
            post(
                move |State(requests): State<Arc<Mutex<Vec<String>>>>, form: String| async move {
                    requests.lock().unwrap().push(form);
                    (status, [("content-type", "text/xml")], body)
                },
            ),
        )
        .with_state(requests.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeSts { endpoint, requests }
}

fn role_connection() -> AwsConnection {
    AwsConnection {
        account_id: ACCOUNT_ID.to_owned(),
        region: REGION.to_owned(),
        role: Some(AssumeRole {
            role_arn: ROLE_ARN.to_owned(),
            external_id: Some("ext-123".to_owned()),
        }),
    }
}

fn role_settings(ses_endpoint: &str, sts_endpoint: &str) -> SesSettings {
    SesSettings {
        sts_endpoint_url: Some(sts_endpoint.to_owned()),
        ..settings(ses_endpoint)
    }
}

#[tokio::test]
async fn assumed_role_sends_with_external_id() {
    let server = start_sim(SimConfig::default()).await;
    let sts = start_sts(StatusCode::OK, GRANTED).await;
    let clients = SesClients::with_credentials(
        role_settings(&server.endpoint(), &sts.endpoint),
        test_credentials(),
    )
    .unwrap();
    let ses = clients.client(&role_connection()).await;

    let first = ses.send_email(&email("a@example.com", "batch-role")).await;
    let second = ses.send_email(&email("b@example.com", "batch-role")).await;

    assert!(matches!(first, SendOutcome::Sent { .. }), "{first:?}");
    assert!(matches!(second, SendOutcome::Sent { .. }), "{second:?}");
    let requests = sts.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        1,
        "the assumed session is cached: {requests:?}"
    );
    let form = &requests[0];
    assert!(form.contains("Action=AssumeRole"), "{form}");
    assert!(form.contains("ExternalId=ext-123"), "{form}");
    assert!(form.contains("RoleSessionName=wrapsd"), "{form}");
    assert!(form.contains("wraps-sender"), "{form}");
    server.shutdown().await;
}

#[tokio::test]
async fn denied_role_pauses_without_sending() {
    let server = start_sim(SimConfig::default()).await;
    let sts = start_sts(StatusCode::FORBIDDEN, DENIED).await;
    let clients = SesClients::with_credentials(
        role_settings(&server.endpoint(), &sts.endpoint),
        test_credentials(),
    )
    .unwrap();
    let ses = clients.client(&role_connection()).await;

    let outcome = ses
        .send_email(&email("a@example.com", "batch-denied"))
        .await;

    assert!(
        matches!(
            outcome,
            SendOutcome::PauseAccount {
                reason: PauseReason::NotAuthorized,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(server.stats().accepted, 0);
    assert_eq!(
        server.stats().calls.get("SendEmail").copied().unwrap_or(0),
        0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn clients_are_cached_per_connection() {
    let server = start_sim(SimConfig::default()).await;
    let clients =
        SesClients::with_credentials(settings(&server.endpoint()), test_credentials()).unwrap();
    let plain = crate::support::connection();

    let first = clients.client(&plain).await;
    let again = clients.client(&plain).await;
    let with_role = clients.client(&role_connection()).await;
    clients.evict(&plain);
    let rebuilt = clients.client(&plain).await;

    assert!(Arc::ptr_eq(&first, &again));
    assert!(!Arc::ptr_eq(&first, &with_role));
    assert!(!Arc::ptr_eq(&first, &rebuilt));
    server.shutdown().await;
}
