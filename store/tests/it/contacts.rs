use schemas::contacts::{ContactFilter, CreateContact, EmailStatus, SmsStatus, SubscriptionStatus};
use serde_json::json;
use store::StoreError;

use crate::{
    add_contact, add_topic, contact_column, count_rows, fail_subscription_inserts, store_with_org,
    with_email,
};

fn all() -> ContactFilter {
    ContactFilter {
        page: 1,
        page_size: 100,
        ..Default::default()
    }
}

fn conflict_message(err: StoreError) -> String {
    match err {
        StoreError::Conflict(message) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn create_sets_defaults() {
    let (store, org) = store_with_org().await;
    let req = CreateContact {
        email: Some("Ada@Example.com".into()),
        phone: Some("+15550100".into()),
        ..Default::default()
    };

    let written = store.create_contact(org, &req).await.unwrap();

    let contact = written.contact;
    assert_eq!(contact.email.as_deref(), Some("Ada@Example.com"));
    assert_eq!(contact.email_status, Some(EmailStatus::Active));
    assert_eq!(contact.sms_status, Some(SmsStatus::PendingConsent));
    assert!(contact.properties.is_empty());
    assert!(written.pending_topics.is_empty());
    assert!(contact_column(&store, contact.id, "email_verified_at")
        .await
        .is_some());
    assert!(contact_column(&store, contact.id, "sms_consented_at")
        .await
        .is_none());
}

#[tokio::test]
async fn create_without_phone_has_no_sms_status() {
    let (store, org) = store_with_org().await;
    let contact = store
        .create_contact(org, &with_email("a@b.co"))
        .await
        .unwrap()
        .contact;
    assert_eq!(contact.sms_status, None);
}

#[tokio::test]
async fn create_keeps_explicit_statuses() {
    let (store, org) = store_with_org().await;
    let req = CreateContact {
        phone: Some("+15550100".into()),
        sms_status: Some(SmsStatus::OptedIn),
        properties: Some(json!({"plan": "pro"}).as_object().unwrap().clone()),
        ..Default::default()
    };

    let contact = store.create_contact(org, &req).await.unwrap().contact;

    assert_eq!(contact.email_status, None);
    assert_eq!(contact.sms_status, Some(SmsStatus::OptedIn));
    assert_eq!(contact.properties["plan"], "pro");
    assert!(contact_column(&store, contact.id, "sms_consented_at")
        .await
        .is_some());
}

#[tokio::test]
async fn create_requires_email_or_phone() {
    let (store, org) = store_with_org().await;
    let err = store
        .create_contact(org, &CreateContact::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref m) if m == "Email or phone is required"),
        "{err:?}"
    );
}

#[tokio::test]
async fn duplicate_email_ignores_case_and_spaces() {
    let (store, org) = store_with_org().await;
    add_contact(&store, org, "ada@example.com").await;

    let err = store
        .create_contact(org, &with_email(" ADA@example.COM "))
        .await
        .unwrap_err();

    assert_eq!(
        conflict_message(err),
        "Contact with this email already exists"
    );
}

#[tokio::test]
async fn duplicate_phone_is_a_conflict() {
    let (store, org) = store_with_org().await;
    let first = CreateContact {
        phone: Some("+15550100".into()),
        ..Default::default()
    };
    store.create_contact(org, &first).await.unwrap();

    let err = store.create_contact(org, &first).await.unwrap_err();

    assert_eq!(
        conflict_message(err),
        "Contact with this phone already exists"
    );
}

#[tokio::test]
async fn duplicate_checks_run_in_documented_order() {
    let (store, org) = store_with_org().await;
    let first = CreateContact {
        external_id: Some("crm-1".into()),
        email: Some("a@b.co".into()),
        phone: Some("+15550100".into()),
        ..Default::default()
    };
    store.create_contact(org, &first).await.unwrap();

    let err = store.create_contact(org, &first).await.unwrap_err();
    assert_eq!(
        conflict_message(err),
        "Contact with this externalId already exists"
    );

    let email_and_phone = CreateContact {
        external_id: Some("crm-2".into()),
        ..first.clone()
    };
    let err = store
        .create_contact(org, &email_and_phone)
        .await
        .unwrap_err();
    assert_eq!(
        conflict_message(err),
        "Contact with this email already exists"
    );

    let phone_only = CreateContact {
        email: Some("c@d.co".into()),
        ..email_and_phone
    };
    let err = store.create_contact(org, &phone_only).await.unwrap_err();
    assert_eq!(
        conflict_message(err),
        "Contact with this phone already exists"
    );

    assert_eq!(store.list_contacts(org, &all()).await.unwrap().1, 1);
}

#[tokio::test]
async fn concurrent_creates_of_one_email_yield_one_contact() {
    let (store, org) = store_with_org().await;

    for round in 0..5 {
        let email = format!("race{round}@example.com");
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let email = email.clone();
                tokio::spawn(async move { store.create_contact(org, &with_email(&email)).await })
            })
            .collect();

        let mut created = 0;
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => created += 1,
                Err(StoreError::Conflict(message)) => {
                    assert_eq!(message, "Contact with this email already exists");
                    conflicts += 1;
                }
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!((created, conflicts), (1, 3), "round {round}");
    }
    assert_eq!(store.list_contacts(org, &all()).await.unwrap().1, 5);
}

#[tokio::test]
async fn create_with_failing_subscription_writes_nothing() {
    let (store, org) = store_with_org().await;
    let topic = add_topic(&store, org, "news", false).await;
    fail_subscription_inserts(&store, topic).await;
    let req = CreateContact {
        email: Some("a@b.co".into()),
        topic_ids: Some(vec![topic.to_string()]),
        ..Default::default()
    };

    let err = store.create_contact(org, &req).await.unwrap_err();

    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert_eq!(store.list_contacts(org, &all()).await.unwrap().1, 0);
}

#[tokio::test]
async fn resolve_by_email_id_and_external_id() {
    let (store, org) = store_with_org().await;
    let req = CreateContact {
        external_id: Some("crm-7".into()),
        email: Some("Ada@Example.com".into()),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;

    assert_eq!(
        store.resolve_contact(org, "Ada@Example.com").await.unwrap(),
        Some(id)
    );
    assert_eq!(
        store.resolve_contact(org, &id.to_string()).await.unwrap(),
        Some(id)
    );
    assert_eq!(
        store
            .resolve_contact(org, &id.to_string().to_uppercase())
            .await
            .unwrap(),
        Some(id)
    );
    assert_eq!(store.resolve_contact(org, "crm-7").await.unwrap(), Some(id));
    // Path lookups by email are exact, unlike duplicate detection.
    assert_eq!(
        store.resolve_contact(org, "ada@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.resolve_contact(org, "nobody").await.unwrap(), None);
}

#[tokio::test]
async fn resolve_matches_external_id_of_any_shape() {
    let (store, org) = store_with_org().await;
    let uuid_like = uuid::Uuid::new_v4().to_string();
    let req = CreateContact {
        external_id: Some(uuid_like.clone()),
        phone: Some("+15550100".into()),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;
    let email_like = CreateContact {
        external_id: Some("x@legacy".into()),
        phone: Some("+15550101".into()),
        ..Default::default()
    };
    let other = store
        .create_contact(org, &email_like)
        .await
        .unwrap()
        .contact
        .id;

    assert_eq!(
        store.resolve_contact(org, &uuid_like).await.unwrap(),
        Some(id)
    );
    assert_eq!(
        store.resolve_contact(org, "x@legacy").await.unwrap(),
        Some(other)
    );
}

#[tokio::test]
async fn resolve_prefers_the_shaped_column() {
    let (store, org) = store_with_org().await;
    let by_email = add_contact(&store, org, "x@y.io").await;
    let by_external = CreateContact {
        external_id: Some("x@y.io".into()),
        phone: Some("+15550100".into()),
        ..Default::default()
    };
    store.create_contact(org, &by_external).await.unwrap();

    assert_eq!(
        store.resolve_contact(org, "x@y.io").await.unwrap(),
        Some(by_email)
    );
}

#[tokio::test]
async fn get_returns_contact_with_topics() {
    let (store, org) = store_with_org().await;
    let topic = add_topic(&store, org, "news", false).await;
    let req = CreateContact {
        email: Some("a@b.co".into()),
        topic_slugs: Some(vec!["news".into()]),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;

    let detail = store.get_contact(org, id).await.unwrap().unwrap();

    assert_eq!(detail.contact.id, id);
    assert_eq!(detail.topics.len(), 1);
    assert_eq!(detail.topics[0].topic_id, topic);
    assert_eq!(detail.topics[0].topic_name, "Topic news");
    assert_eq!(detail.topics[0].status, SubscriptionStatus::Subscribed);
    assert!(detail.topics[0].subscribed_at.is_some());
}

#[tokio::test]
async fn delete_removes_contact_and_subscriptions() {
    let (store, org) = store_with_org().await;
    add_topic(&store, org, "news", false).await;
    let req = CreateContact {
        email: Some("a@b.co".into()),
        topic_slugs: Some(vec!["news".into()]),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;
    assert_eq!(count_rows(&store, "contact_topics").await, 1);

    assert!(store.delete_contact(org, id).await.unwrap());

    assert!(store.get_contact(org, id).await.unwrap().is_none());
    assert_eq!(count_rows(&store, "contact_topics").await, 0);
    assert!(!store.delete_contact(org, id).await.unwrap());
}

#[tokio::test]
async fn bulk_delete_ignores_invalid_and_unknown_ids() {
    let (store, org) = store_with_org().await;
    let a = add_contact(&store, org, "a@b.co").await;
    let b = add_contact(&store, org, "b@b.co").await;
    let keep = add_contact(&store, org, "c@b.co").await;
    let ids = vec![
        a.to_string(),
        b.to_string().to_uppercase(),
        a.to_string(),
        "not-a-uuid".to_owned(),
        uuid::Uuid::new_v4().to_string(),
    ];

    assert_eq!(store.bulk_delete_contacts(org, &ids).await.unwrap(), 2);

    let (left, total) = store.list_contacts(org, &all()).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(left[0].id, keep);
    assert_eq!(store.bulk_delete_contacts(org, &[]).await.unwrap(), 0);
}
