//! Email templates: create, get, update, list, delete, and bulk rendering.

use aws_sdk_sesv2::types::{
    BulkEmailEntry, EmailTemplateContent, ReplacementEmailContent, ReplacementTemplate,
};
use load_tests::sim::SimConfig;

use crate::bulk::{create_template, default_content, entry};
use crate::support::{error_code, ses_client, start_sim, tag, to, SENDER};

#[tokio::test]
async fn template_create_get_update_delete() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "welcome", "Hi {{name}}", "<p>{{name}}</p>").await;

    let duplicate = client
        .create_email_template()
        .template_name("welcome")
        .template_content(EmailTemplateContent::builder().subject("x").build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(duplicate.is_already_exists_exception(), "{duplicate:?}");

    let fetched = client
        .get_email_template()
        .template_name("welcome")
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.template_name(), "welcome");
    let content = fetched.template_content().unwrap();
    assert_eq!(content.subject(), Some("Hi {{name}}"));
    assert_eq!(content.html(), Some("<p>{{name}}</p>"));

    client
        .update_email_template()
        .template_name("welcome")
        .template_content(
            EmailTemplateContent::builder()
                .subject("Welcome {{name}}")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let updated = client
        .get_email_template()
        .template_name("welcome")
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.template_content().unwrap().subject(),
        Some("Welcome {{name}}")
    );

    client
        .delete_email_template()
        .template_name("welcome")
        .send()
        .await
        .unwrap();
    let missing = client
        .get_email_template()
        .template_name("welcome")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn template_update_of_missing_is_not_found() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .update_email_template()
        .template_name("ghost")
        .template_content(EmailTemplateContent::builder().subject("x").build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert!(err.is_not_found_exception(), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn template_list_pages_by_name() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    for name in ["gamma", "alpha", "beta"] {
        create_template(&client, name, "S", "<p>H</p>").await;
    }

    let first = client
        .list_email_templates()
        .page_size(2)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = first
        .templates_metadata()
        .iter()
        .map(|t| t.template_name().unwrap_or_default())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(first.templates_metadata()[0].created_timestamp().is_some());

    let second = client
        .list_email_templates()
        .page_size(2)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.templates_metadata().len(), 1);
    assert_eq!(second.next_token(), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn template_invalid_syntax_is_bad_request() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .create_email_template()
        .template_name("broken")
        .template_content(
            EmailTemplateContent::builder()
                .subject("{{#if open}}never closed")
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert_eq!(error_code(&err), Some("BadRequestException"));
    sim.shutdown().await;
}

fn entry_with_data(address: &str, data: &str) -> BulkEmailEntry {
    BulkEmailEntry::builder()
        .destination(to(&[address]))
        .replacement_email_content(
            ReplacementEmailContent::builder()
                .replacement_template(
                    ReplacementTemplate::builder()
                        .replacement_template_data(data)
                        .build(),
                )
                .build(),
        )
        .replacement_tags(tag("contactId", address.split('@').next().unwrap()))
        .build()
}

#[tokio::test]
async fn bulk_renders_replacement_data() {
    let config = SimConfig {
        record_content: true,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());
    create_template(
        &client,
        "greeting",
        "Hello {{name}}",
        "<p>Hi {{name}}{{missing}}</p>",
    )
    .await;

    client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("greeting", r#"{"name":"friend"}"#))
        .default_email_tags(tag("batchId", "render"))
        .bulk_email_entries(entry_with_data("zoe@example.com", r#"{"name":"Zoë & co"}"#))
        .bulk_email_entries(entry("default@example.org"))
        .send()
        .await
        .unwrap();

    let messages = sim.messages(Some("render"));
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].subject.as_deref(), Some("Hello Zoë & co"));
    assert_eq!(messages[0].html.as_deref(), Some("<p>Hi Zoë & co</p>"));
    assert_eq!(messages[0].template_name.as_deref(), Some("greeting"));
    assert_eq!(
        messages[0].tags.get("contactId").map(String::as_str),
        Some("zoe")
    );
    assert_eq!(
        messages[0].tags.get("batchId").map(String::as_str),
        Some("render")
    );
    assert_eq!(messages[1].subject.as_deref(), Some("Hello friend"));
    assert_eq!(messages[1].tags.get("contactId"), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_invalid_replacement_data_fails_entry() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "greeting", "Hello {{name}}", "<p>Hi</p>").await;

    let output = client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("greeting", "{}"))
        .bulk_email_entries(entry_with_data("a@example.com", "not json"))
        .send()
        .await
        .unwrap();

    let result = &output.bulk_email_entry_results()[0];
    assert_eq!(
        result.status(),
        Some(&aws_sdk_sesv2::types::BulkEmailStatus::InvalidParameter)
    );
    assert_eq!(sim.stats().accepted, 0);
    sim.shutdown().await;
}
