//! SendEmail with simple, raw and template content.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, EmailTemplateContent, RawMessage, Template};
use load_tests::sim::SimConfig;

use crate::support::{error_code, ses_client, simple_content, start_sim, tag, to, SENDER};

#[tokio::test]
async fn send_email_records_message_with_tags() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let output = client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["Zoë <zoe@example.org>"]))
        .content(simple_content("Spring news"))
        .email_tags(tag("batchId", "b-1"))
        .email_tags(tag("contactId", "c-42"))
        .configuration_set_name("wraps-events")
        .send()
        .await
        .expect("SendEmail succeeds");

    let messages = sim.messages(Some("b-1"));
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(Some(message.message_id.as_str()), output.message_id());
    assert_eq!(message.operation, "SendEmail");
    assert_eq!(message.to, "Zoë <zoe@example.org>");
    assert_eq!(message.subject.as_deref(), Some("Spring news"));
    assert_eq!(message.tags.get("batchId").map(String::as_str), Some("b-1"));
    assert_eq!(
        message.tags.get("contactId").map(String::as_str),
        Some("c-42")
    );
    assert_eq!(
        message.html, None,
        "bodies are kept only with record_content"
    );

    let stats = sim.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.calls["SendEmail"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_counts_every_recipient() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let destination = aws_sdk_sesv2::types::Destination::builder()
        .to_addresses("a@example.com")
        .cc_addresses("b@example.com")
        .bcc_addresses("c@example.com")
        .build();
    client
        .send_email()
        .from_email_address(SENDER)
        .destination(destination)
        .content(simple_content("Three"))
        .send()
        .await
        .unwrap();

    let messages = sim.messages(None);
    let recipients: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        recipients,
        ["a@example.com", "b@example.com", "c@example.com"]
    );
    assert!(messages
        .iter()
        .all(|m| m.message_id == messages[0].message_id));
    assert_eq!(sim.stats().accepted, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_keeps_bodies_with_record_content() {
    let config = SimConfig {
        record_content: true,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["a@example.com"]))
        .content(simple_content("With bodies"))
        .send()
        .await
        .unwrap();

    let message = &sim.messages(None)[0];
    assert_eq!(message.text.as_deref(), Some("Plain body"));
    assert_eq!(message.html.as_deref(), Some("<p>HTML body</p>"));
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_raw_reads_recipients_from_headers() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let mime = "From: sender@example.com\r\nTo: a@example.com, \"Doe, B\" <b@example.org>\r\nSubject: Raw hello\r\nContent-Type: text/plain\r\n\r\nBody\r\n";
    let content = EmailContent::builder()
        .raw(RawMessage::builder().data(Blob::new(mime)).build().unwrap())
        .build();
    client.send_email().content(content).send().await.unwrap();

    let messages = sim.messages(None);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].to, "\"Doe, B\" <b@example.org>");
    assert_eq!(messages[0].subject.as_deref(), Some("Raw hello"));
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_renders_inline_template() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let template = Template::builder()
        .template_content(
            EmailTemplateContent::builder()
                .subject("Hi {{name}}")
                .text("Text for {{name}}")
                .build(),
        )
        .template_data(r#"{"name":"José"}"#)
        .build();
    client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["jose@example.net"]))
        .content(EmailContent::builder().template(template).build())
        .send()
        .await
        .unwrap();

    let message = &sim.messages(None)[0];
    assert_eq!(message.subject.as_deref(), Some("Hi José"));
    assert_eq!(message.template_name, None);
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_rejects_invalid_recipient() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["missing-at.example.com"]))
        .content(simple_content("Bad"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert!(err.is_bad_request_exception(), "{err:?}");
    assert_eq!(sim.stats().accepted, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_rejects_tag_with_email_address() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["a@example.com"]))
        .content(simple_content("Tagged"))
        .email_tags(tag("recipient", "a@example.com"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert_eq!(error_code(&err), Some("BadRequestException"));
    sim.shutdown().await;
}

#[tokio::test]
async fn send_email_missing_template_is_not_found() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let template = Template::builder().template_name("nope").build();
    let err = client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["a@example.com"]))
        .content(EmailContent::builder().template(template).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert!(err.is_not_found_exception(), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_operation_returns_its_name() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .list_email_identities()
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert_eq!(error_code(&err), Some("UnknownOperationException"));
    sim.shutdown().await;
}
