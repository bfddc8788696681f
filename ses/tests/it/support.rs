//! Shared helpers: a simulator, an `SesClient` pointed at it with static
//! credentials, and message builders.
//!
//! Every client gets an explicit loopback endpoint and static credentials,
//! so no test reaches AWS or the EC2 instance metadata service.

use std::sync::Arc;
use std::time::Duration;

use load_tests::sim::{self, SimConfig, SimServer};
use ses::{
    AwsConnection, BulkEntry, BulkMessage, Credentials, EmailMessage, SesClient, SesClients,
    SesSettings,
};

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const SENDER: &str = "Acme News <news@acme.test>";

pub async fn start_sim(config: SimConfig) -> SimServer {
    sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// Settings for `endpoint` with short timeouts.
pub fn settings(endpoint: &str) -> SesSettings {
    SesSettings {
        endpoint_url: Some(endpoint.to_owned()),
        connect_timeout: Duration::from_millis(500),
        call_timeout: Duration::from_secs(5),
        ..SesSettings::default()
    }
}

pub fn test_credentials() -> Credentials {
    Credentials::new(
        "AKIDSESCRATETEST",
        "ses-crate-test-secret",
        None,
        None,
        "ses-tests",
    )
}

pub fn connection() -> AwsConnection {
    AwsConnection {
        account_id: ACCOUNT_ID.to_owned(),
        region: REGION.to_owned(),
        role: None,
    }
}

/// Builds a client for `settings` with static test credentials.
pub async fn client_with(settings: SesSettings) -> Arc<dyn SesClient> {
    let clients = SesClients::with_credentials(settings, test_credentials()).unwrap();
    clients.client(&connection()).await
}

pub async fn client(endpoint: &str) -> Arc<dyn SesClient> {
    client_with(settings(endpoint)).await
}

pub fn email(to: &str, batch_id: &str) -> EmailMessage {
    EmailMessage {
        from: SENDER.to_owned(),
        to: to.to_owned(),
        reply_to: vec!["support@acme.test".to_owned()],
        subject: "Spring sale".to_owned(),
        html: "<p>Hello</p>".to_owned(),
        text: Some("Hello".to_owned()),
        headers: ses::headers::list_unsubscribe_headers("https://api.acme.test/unsubscribe/t"),
        tags: ses::tags::message_tags(batch_id, "org-1", "rcpt-1", None),
        configuration_set: Some("wraps-email-tracking".to_owned()),
    }
}

/// Builds a bulk message of `count` recipients `r<i>@example.com` to
/// `template`.
pub fn bulk(template: &str, batch_id: &str, count: usize) -> BulkMessage {
    let entries = (0..count)
        .map(|i| BulkEntry {
            to: format!("r{i}@example.com"),
            template_data: format!(r#"{{"firstName":"R{i}"}}"#),
            headers: ses::headers::list_unsubscribe_headers(&format!(
                "https://api.acme.test/unsubscribe/{i}"
            )),
            tags: vec![("recipientId".to_owned(), format!("rcpt-{i}"))],
        })
        .collect();
    BulkMessage {
        from: SENDER.to_owned(),
        reply_to: Vec::new(),
        template_name: template.to_owned(),
        default_template_data: r#"{"firstName":""}"#.to_owned(),
        default_tags: vec![
            ("batchId".to_owned(), batch_id.to_owned()),
            ("source".to_owned(), "broadcast".to_owned()),
        ],
        configuration_set: None,
        entries,
    }
}
