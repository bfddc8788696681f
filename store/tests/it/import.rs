use schemas::contacts::{ContactFilter, CreateContact, EmailStatus, SmsStatus, SubscriptionStatus};
use serde_json::json;
use store::{ImportOutcome, ImportRow, StoreError};

use crate::{add_topic, store_with_org};

fn row(email: &str) -> ImportRow {
    ImportRow {
        email: email.into(),
        ..Default::default()
    }
}

fn all() -> ContactFilter {
    ContactFilter {
        page: 1,
        page_size: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn new_rows_are_created_active() {
    let (store, org) = store_with_org().await;
    let rows = vec![
        ImportRow {
            first_name: Some("Ada".into()),
            phone: Some("+15550100".into()),
            properties: json!({"plan": "pro"}).as_object().unwrap().clone(),
            ..row("ada@x.io")
        },
        row(" bob@x.io "),
        row("  "),
    ];

    let outcome = store.import_contacts(org, &rows, None).await.unwrap();

    assert_eq!(
        outcome,
        ImportOutcome {
            created: 2,
            updated: 0,
            skipped: 1
        }
    );
    let (contacts, _) = store.list_contacts(org, &all()).await.unwrap();
    let ada = contacts
        .iter()
        .find(|c| c.email.as_deref() == Some("ada@x.io"))
        .unwrap();
    assert_eq!(ada.email_status, Some(EmailStatus::Active));
    assert_eq!(ada.sms_status, Some(SmsStatus::PendingConsent));
    assert_eq!(ada.first_name.as_deref(), Some("Ada"));
    assert_eq!(ada.properties["plan"], "pro");
    assert!(contacts
        .iter()
        .any(|c| c.email.as_deref() == Some("bob@x.io")));
}

#[tokio::test]
async fn existing_contact_is_merged() {
    let (store, org) = store_with_org().await;
    let existing = CreateContact {
        email: Some("Ada@X.io".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Byron".into()),
        properties: Some(
            json!({"plan": "free", "seats": 1})
                .as_object()
                .unwrap()
                .clone(),
        ),
        ..Default::default()
    };
    let id = store
        .create_contact(org, &existing)
        .await
        .unwrap()
        .contact
        .id;
    let rows = vec![ImportRow {
        email: "ada@x.io".into(),
        first_name: Some("".into()),
        last_name: Some("Lovelace".into()),
        company: Some("Analytical Engines".into()),
        properties: json!({"plan": "pro", "source": "csv"})
            .as_object()
            .unwrap()
            .clone(),
        ..Default::default()
    }];

    let outcome = store.import_contacts(org, &rows, None).await.unwrap();

    assert_eq!(
        outcome,
        ImportOutcome {
            created: 0,
            updated: 1,
            skipped: 0
        }
    );
    let contact = store.get_contact(org, id).await.unwrap().unwrap().contact;
    assert_eq!(contact.email.as_deref(), Some("Ada@X.io"));
    assert_eq!(contact.first_name.as_deref(), Some("Ada"));
    assert_eq!(contact.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(contact.company.as_deref(), Some("Analytical Engines"));
    assert_eq!(
        serde_json::Value::Object(contact.properties),
        json!({"plan": "pro", "seats": 1, "source": "csv"})
    );
}

#[tokio::test]
async fn repeated_email_in_one_batch_updates() {
    let (store, org) = store_with_org().await;
    let rows = vec![
        row("ada@x.io"),
        ImportRow {
            first_name: Some("Ada".into()),
            ..row("ADA@x.io")
        },
    ];

    let outcome = store.import_contacts(org, &rows, None).await.unwrap();

    assert_eq!(
        outcome,
        ImportOutcome {
            created: 1,
            updated: 1,
            skipped: 0
        }
    );
    let (contacts, total) = store.list_contacts(org, &all()).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(contacts[0].first_name.as_deref(), Some("Ada"));
}

#[tokio::test]
async fn phone_of_another_contact_is_left_out() {
    let (store, org) = store_with_org().await;
    let holder = CreateContact {
        phone: Some("+15550100".into()),
        ..Default::default()
    };
    store.create_contact(org, &holder).await.unwrap();
    let rows = vec![ImportRow {
        phone: Some("+15550100".into()),
        ..row("ada@x.io")
    }];

    let outcome = store.import_contacts(org, &rows, None).await.unwrap();

    assert_eq!(outcome.created, 1);
    let (contacts, _) = store.list_contacts(org, &all()).await.unwrap();
    let ada = contacts
        .iter()
        .find(|c| c.email.as_deref() == Some("ada@x.io"))
        .unwrap();
    assert_eq!(ada.phone, None);
}

#[tokio::test]
async fn topic_subscription_keeps_existing_rows() {
    let (store, org) = store_with_org().await;
    let topic = add_topic(&store, org, "news", true).await;
    let existing = CreateContact {
        email: Some("old@x.io".into()),
        topic_ids: Some(vec![topic.to_string()]),
        ..Default::default()
    };
    let old = store
        .create_contact(org, &existing)
        .await
        .unwrap()
        .contact
        .id;
    store.confirm_subscription(org, old, topic).await.unwrap();
    store.unsubscribe_topic(org, old, topic).await.unwrap();

    store
        .import_contacts(org, &[row("old@x.io"), row("new@x.io")], Some(topic))
        .await
        .unwrap();

    let old_topics = store.get_contact(org, old).await.unwrap().unwrap().topics;
    assert_eq!(old_topics[0].status, SubscriptionStatus::Unsubscribed);
    let new = store
        .resolve_contact(org, "new@x.io")
        .await
        .unwrap()
        .unwrap();
    let new_topics = store.get_contact(org, new).await.unwrap().unwrap().topics;
    assert_eq!(new_topics[0].status, SubscriptionStatus::Pending);
}

#[tokio::test]
async fn unknown_topic_is_not_found_and_writes_nothing() {
    let (store, org) = store_with_org().await;

    let err = store
        .import_contacts(org, &[row("a@x.io")], Some(schemas::TopicId::new()))
        .await
        .unwrap_err();

    assert!(
        matches!(err, StoreError::NotFound("Topic not found")),
        "{err:?}"
    );
    assert_eq!(store.list_contacts(org, &all()).await.unwrap().1, 0);
}
