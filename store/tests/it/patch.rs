use schemas::contacts::{CreateContact, EmailStatus, PatchContact, SmsStatus, SubscriptionStatus};
use serde_json::json;
use store::StoreError;

use crate::{
    add_contact, add_topic, contact_column, fail_subscription_inserts, store_with_org, with_email,
};

fn patch(value: serde_json::Value) -> PatchContact {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn properties_merge_shallowly() {
    let (store, org) = store_with_org().await;
    let req = CreateContact {
        email: Some("a@b.co".into()),
        first_name: Some("Ada".into()),
        properties: Some(
            json!({"plan": "pro", "seats": 3, "nested": {"a": 1}})
                .as_object()
                .unwrap()
                .clone(),
        ),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;

    let written = store
        .patch_contact(
            org,
            id,
            &patch(json!({"properties": {"seats": null, "nested": {"b": 2}, "tier": 1}})),
        )
        .await
        .unwrap();

    let expected = json!({"plan": "pro", "seats": null, "nested": {"b": 2}, "tier": 1});
    assert_eq!(
        serde_json::Value::Object(written.contact.properties),
        expected
    );
    let stored = store.get_contact(org, id).await.unwrap().unwrap().contact;
    assert_eq!(serde_json::Value::Object(stored.properties), expected);
    assert_eq!(stored.first_name.as_deref(), Some("Ada"));
}

#[tokio::test]
async fn null_clears_and_absent_keeps() {
    let (store, org) = store_with_org().await;
    let req = CreateContact {
        external_id: Some("crm-1".into()),
        email: Some("a@b.co".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        ..Default::default()
    };
    let created = store.create_contact(org, &req).await.unwrap().contact;

    store
        .patch_contact(
            org,
            created.id,
            &patch(json!({"firstName": null, "externalId": null, "company": "ACME"})),
        )
        .await
        .unwrap();

    let stored = store
        .get_contact(org, created.id)
        .await
        .unwrap()
        .unwrap()
        .contact;
    assert_eq!(stored.first_name, None);
    assert_eq!(stored.external_id, None);
    assert_eq!(stored.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(stored.company.as_deref(), Some("ACME"));
    assert!(stored.updated_at >= created.updated_at);
}

#[tokio::test]
async fn email_change_moves_the_uniqueness() {
    let (store, org) = store_with_org().await;
    let id = add_contact(&store, org, "old@b.co").await;

    store
        .patch_contact(org, id, &patch(json!({"email": "New@b.co"})))
        .await
        .unwrap();

    assert!(store
        .create_contact(org, &with_email("old@b.co"))
        .await
        .is_ok());
    let err = store
        .create_contact(org, &with_email("new@B.co"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m == "Contact with this email already exists"),
        "{err:?}"
    );
}

#[tokio::test]
async fn email_taken_by_another_contact_is_a_conflict() {
    let (store, org) = store_with_org().await;
    add_contact(&store, org, "taken@b.co").await;
    let id = add_contact(&store, org, "mine@b.co").await;

    let err = store
        .patch_contact(
            org,
            id,
            &patch(json!({"email": "TAKEN@b.co", "firstName": "X"})),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, StoreError::Conflict(ref m) if m == "Contact with this email already exists"),
        "{err:?}"
    );
    let stored = store.get_contact(org, id).await.unwrap().unwrap().contact;
    assert_eq!(stored.email.as_deref(), Some("mine@b.co"));
    assert_eq!(stored.first_name, None);
}

#[tokio::test]
async fn external_id_of_another_contact_is_a_conflict() {
    let (store, org) = store_with_org().await;
    let other = CreateContact {
        external_id: Some("crm-1".into()),
        email: Some("other@b.co".into()),
        ..Default::default()
    };
    store.create_contact(org, &other).await.unwrap();
    let id = add_contact(&store, org, "mine@b.co").await;

    let err = store
        .patch_contact(
            org,
            id,
            &patch(json!({"externalId": "crm-1", "firstName": "X"})),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, StoreError::Conflict(ref m) if m == "Contact with this externalId already exists"),
        "{err:?}"
    );
    let stored = store.get_contact(org, id).await.unwrap().unwrap().contact;
    assert_eq!(stored.first_name, None);
    assert_eq!(stored.external_id, None);
}

#[tokio::test]
async fn own_external_id_is_not_a_conflict() {
    let (store, org) = store_with_org().await;
    let req = CreateContact {
        external_id: Some("crm-1".into()),
        email: Some("a@b.co".into()),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;

    let written = store
        .patch_contact(org, id, &patch(json!({"externalId": "crm-1"})))
        .await
        .unwrap();

    assert_eq!(written.contact.external_id.as_deref(), Some("crm-1"));
}

#[tokio::test]
async fn phone_added_sets_pending_consent() {
    let (store, org) = store_with_org().await;
    let id = add_contact(&store, org, "a@b.co").await;

    let written = store
        .patch_contact(org, id, &patch(json!({"phone": "+15550100"})))
        .await
        .unwrap();

    assert_eq!(written.contact.sms_status, Some(SmsStatus::PendingConsent));
    let err = store
        .create_contact(
            org,
            &CreateContact {
                phone: Some("+15550100".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m == "Contact with this phone already exists"),
        "{err:?}"
    );
}

#[tokio::test]
async fn status_changes_stamp_their_times() {
    let (store, org) = store_with_org().await;
    let id = add_contact(&store, org, "a@b.co").await;
    let verified = contact_column(&store, id, "email_verified_at").await;
    assert!(verified.is_some());
    assert_eq!(
        contact_column(&store, id, "email_unsubscribed_at").await,
        None
    );

    store
        .patch_contact(org, id, &patch(json!({"emailStatus": "unsubscribed"})))
        .await
        .unwrap();
    let unsubscribed = contact_column(&store, id, "email_unsubscribed_at").await;
    assert!(unsubscribed.is_some());

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let written = store
        .patch_contact(org, id, &patch(json!({"emailStatus": "active"})))
        .await
        .unwrap();
    assert_eq!(written.contact.email_status, Some(EmailStatus::Active));
    assert_eq!(
        contact_column(&store, id, "email_verified_at").await,
        verified
    );

    store
        .patch_contact(org, id, &patch(json!({"smsStatus": "opted_in"})))
        .await
        .unwrap();
    let consented = contact_column(&store, id, "sms_consented_at").await;
    assert!(consented.is_some());
    store
        .patch_contact(org, id, &patch(json!({"smsStatus": "opted_out"})))
        .await
        .unwrap();
    assert!(contact_column(&store, id, "sms_opted_out_at")
        .await
        .is_some());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .patch_contact(org, id, &patch(json!({"smsStatus": "opted_in"})))
        .await
        .unwrap();
    assert_eq!(
        contact_column(&store, id, "sms_consented_at").await,
        consented
    );

    for (status, column) in [
        ("bounced", "email_bounced_at"),
        ("complained", "email_complained_at"),
        ("suppressed", "email_suppressed_at"),
    ] {
        store
            .patch_contact(org, id, &patch(json!({"emailStatus": status})))
            .await
            .unwrap();
        assert!(
            contact_column(&store, id, column).await.is_some(),
            "{column}"
        );
    }
    store
        .patch_contact(org, id, &patch(json!({"smsStatus": "invalid"})))
        .await
        .unwrap();
    assert!(contact_column(&store, id, "sms_invalid_at").await.is_some());
}

#[tokio::test]
async fn unknown_contact_is_not_found() {
    let (store, org) = store_with_org().await;
    let err = store
        .patch_contact(
            org,
            schemas::ContactId::new(),
            &patch(json!({"firstName": "X"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound("Contact not found")),
        "{err:?}"
    );
}

#[tokio::test]
async fn topics_are_added_never_removed() {
    let (store, org) = store_with_org().await;
    let news = add_topic(&store, org, "news", false).await;
    let digest = add_topic(&store, org, "digest", false).await;
    let req = CreateContact {
        email: Some("a@b.co".into()),
        topic_ids: Some(vec![news.to_string()]),
        ..Default::default()
    };
    let id = store.create_contact(org, &req).await.unwrap().contact.id;
    let before = store.get_contact(org, id).await.unwrap().unwrap().topics;

    store
        .patch_contact(org, id, &patch(json!({"topicSlugs": ["digest", "news"]})))
        .await
        .unwrap();

    let after = store.get_contact(org, id).await.unwrap().unwrap().topics;
    assert_eq!(after.len(), 2);
    let news_after = after.iter().find(|t| t.topic_id == news).unwrap();
    assert_eq!(news_after.subscribed_at, before[0].subscribed_at);
    assert!(after
        .iter()
        .any(|t| t.topic_id == digest && t.status == SubscriptionStatus::Subscribed));
}

#[tokio::test]
async fn unsubscribed_topic_is_resubscribed() {
    let (store, org) = store_with_org().await;
    let news = add_topic(&store, org, "news", false).await;
    let id = add_contact(&store, org, "a@b.co").await;
    store
        .patch_contact(org, id, &patch(json!({"topicIds": [news.to_string()]})))
        .await
        .unwrap();
    assert!(store.unsubscribe_topic(org, id, news).await.unwrap());

    let written = store
        .patch_contact(org, id, &patch(json!({"topicIds": [news.to_string()]})))
        .await
        .unwrap();

    assert!(written.pending_topics.is_empty());
    let topics = store.get_contact(org, id).await.unwrap().unwrap().topics;
    assert_eq!(topics[0].status, SubscriptionStatus::Subscribed);
}

#[tokio::test]
async fn double_opt_in_topic_waits_unless_confirmed_before() {
    let (store, org) = store_with_org().await;
    let confirmed = add_topic(&store, org, "confirmed", true).await;
    let fresh = add_topic(&store, org, "fresh", true).await;
    let id = add_contact(&store, org, "a@b.co").await;

    let first = store
        .patch_contact(
            org,
            id,
            &patch(json!({"topicIds": [confirmed.to_string()]})),
        )
        .await
        .unwrap();
    assert_eq!(first.pending_topics, vec![confirmed]);
    assert!(store
        .confirm_subscription(org, id, confirmed)
        .await
        .unwrap());
    assert!(store.unsubscribe_topic(org, id, confirmed).await.unwrap());

    let second = store
        .patch_contact(
            org,
            id,
            &patch(json!({"topicIds": [confirmed.to_string(), fresh.to_string()]})),
        )
        .await
        .unwrap();

    assert_eq!(second.pending_topics, vec![fresh]);
    let topics = store.get_contact(org, id).await.unwrap().unwrap().topics;
    let status_of = |topic| topics.iter().find(|t| t.topic_id == topic).unwrap().status;
    assert_eq!(status_of(confirmed), SubscriptionStatus::Subscribed);
    assert_eq!(status_of(fresh), SubscriptionStatus::Pending);
}

#[tokio::test]
async fn patch_with_failing_subscription_writes_nothing() {
    let (store, org) = store_with_org().await;
    let topic = add_topic(&store, org, "news", false).await;
    let id = add_contact(&store, org, "a@b.co").await;
    fail_subscription_inserts(&store, topic).await;

    let result = store
        .patch_contact(
            org,
            id,
            &patch(json!({"firstName": "Ada", "topicIds": [topic.to_string()]})),
        )
        .await;

    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    let stored = store.get_contact(org, id).await.unwrap().unwrap();
    assert_eq!(stored.contact.first_name, None);
    assert!(stored.topics.is_empty());
}
