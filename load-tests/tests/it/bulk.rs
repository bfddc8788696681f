//! SendBulkEmail: results by position, the 50-entry limit, and per-entry failures.

use aws_sdk_sesv2::types::{
    BulkEmailContent, BulkEmailEntry, BulkEmailStatus, EmailTemplateContent, Template,
};
use aws_sdk_sesv2::Client;
use load_tests::sim::SimConfig;

use crate::support::{ses_client, start_sim, tag, to, SENDER};

pub async fn create_template(client: &Client, name: &str, subject: &str, html: &str) {
    client
        .create_email_template()
        .template_name(name)
        .template_content(
            EmailTemplateContent::builder()
                .subject(subject)
                .html(html)
                .text("Text")
                .build(),
        )
        .send()
        .await
        .expect("CreateEmailTemplate succeeds");
}

pub fn entry(address: &str) -> BulkEmailEntry {
    BulkEmailEntry::builder()
        .destination(to(&[address]))
        .build()
}

pub fn default_content(template_name: &str, data: &str) -> BulkEmailContent {
    BulkEmailContent::builder()
        .template(
            Template::builder()
                .template_name(template_name)
                .template_data(data)
                .build(),
        )
        .build()
}

fn addresses(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("r{i}@example.com")).collect()
}

#[tokio::test]
async fn bulk_of_50_returns_results_by_position() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "news", "News", "<p>News</p>").await;

    let recipients = addresses(50);
    let output = client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("news", "{}"))
        .default_email_tags(tag("batchId", "bulk-50"))
        .set_bulk_email_entries(Some(recipients.iter().map(|a| entry(a)).collect()))
        .send()
        .await
        .expect("SendBulkEmail succeeds");

    let results = output.bulk_email_entry_results();
    assert_eq!(results.len(), 50);
    let recorded = sim.messages(Some("bulk-50"));
    assert_eq!(recorded.len(), 50);
    for (position, result) in results.iter().enumerate() {
        assert_eq!(result.status(), Some(&BulkEmailStatus::Success));
        let message = recorded
            .iter()
            .find(|m| Some(m.message_id.as_str()) == result.message_id())
            .expect("every result's message id is recorded");
        assert_eq!(
            message.to, recipients[position],
            "result {position} is out of place"
        );
    }
    assert_eq!(sim.stats().accepted, 50);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_of_51_is_rejected() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "news", "News", "<p>News</p>").await;

    let err = client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("news", "{}"))
        .set_bulk_email_entries(Some(addresses(51).iter().map(|a| entry(a)).collect()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert!(err.is_bad_request_exception(), "{err:?}");
    assert_eq!(sim.stats().accepted, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_with_missing_template_is_not_found() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("missing", "{}"))
        .bulk_email_entries(entry("a@example.com"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert!(err.is_not_found_exception(), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_invalid_entry_fails_alone() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "news", "News", "<p>News</p>").await;

    let output = client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("news", "{}"))
        .bulk_email_entries(entry("a@example.com"))
        .bulk_email_entries(entry("not an address"))
        .bulk_email_entries(entry("c@example.com"))
        .send()
        .await
        .unwrap();

    let statuses: Vec<_> = output
        .bulk_email_entry_results()
        .iter()
        .map(|result| result.status().cloned())
        .collect();
    assert_eq!(
        statuses,
        [
            Some(BulkEmailStatus::Success),
            Some(BulkEmailStatus::InvalidParameter),
            Some(BulkEmailStatus::Success),
        ]
    );
    let failed = &output.bulk_email_entry_results()[1];
    assert!(failed.message_id().is_none());
    assert!(failed.error().is_some());
    assert_eq!(sim.stats().accepted, 2);
    sim.shutdown().await;
}
