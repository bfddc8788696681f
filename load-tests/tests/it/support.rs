//! Helpers shared by the tests: a simulator, an SDK client pointed at it, and a minimal
//! HTTP/1.1 client for the `/sim` endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use aws_sdk_sesv2::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use load_tests::sim::{self, SimConfig, SimServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const SENDER: &str = "sender@example.com";

/// Starts a simulator on a free loopback port.
pub async fn start_sim(config: SimConfig) -> SimServer {
    sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// Builds an SES client for `endpoint` with static test credentials, region us-east-1
/// and the SDK's retries off, so that every throttle reaches the test.
pub fn ses_client(endpoint: &str) -> Client {
    ses_client_with_timeout(endpoint, Duration::from_secs(10))
}

pub fn ses_client_with_timeout(endpoint: &str, operation_timeout: Duration) -> Client {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDSIMULATORTEST",
            "simulator-test-secret",
            None,
            None,
            "load-tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(operation_timeout)
                .build(),
        )
        .http_client(http_client)
        .build();
    Client::from_conf(config)
}

pub fn tag(name: &str, value: &str) -> MessageTag {
    MessageTag::builder()
        .name(name)
        .value(value)
        .build()
        .unwrap()
}

pub fn to(addresses: &[&str]) -> Destination {
    Destination::builder()
        .set_to_addresses(Some(addresses.iter().map(|a| a.to_string()).collect()))
        .build()
}

pub fn simple_content(subject: &str) -> EmailContent {
    let message = Message::builder()
        .subject(Content::builder().data(subject).build().unwrap())
        .body(
            Body::builder()
                .text(Content::builder().data("Plain body").build().unwrap())
                .html(Content::builder().data("<p>HTML body</p>").build().unwrap())
                .build(),
        )
        .build();
    EmailContent::builder().simple(message).build()
}

/// Sends a simple message to one recipient tagged with `batch_id`.
pub async fn send_one(
    client: &Client,
    recipient: &str,
    batch_id: &str,
) -> Result<String, (Option<String>, String)> {
    client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&[recipient]))
        .content(simple_content("Hello"))
        .email_tags(tag("batchId", batch_id))
        .send()
        .await
        .map(|output| output.message_id().unwrap_or_default().to_owned())
        .map_err(|err| (err.code().map(str::to_owned), format!("{err:?}")))
}

/// Returns the error code of an SDK error, e.g. `TooManyRequestsException`.
pub fn error_code<E: ProvideErrorMetadata>(err: &E) -> Option<&str> {
    err.code()
}

/// Sends one HTTP/1.1 request and returns the status and body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();

    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}
