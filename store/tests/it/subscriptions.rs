use std::collections::HashSet;

use schemas::contacts::{CreateContact, ReplaceTopics, SubscriptionStatus};
use schemas::TopicId;
use store::StoreError;

use crate::{add_contact, add_topic, count_rows, fail_subscription_inserts, store_with_org};

fn replace(ids: &[TopicId]) -> ReplaceTopics {
    ReplaceTopics {
        topic_ids: Some(ids.iter().map(|id| id.to_string()).collect()),
        topic_slugs: None,
    }
}

async fn topic_set(
    store: &store::Store,
    org: schemas::OrgId,
    contact: schemas::ContactId,
) -> HashSet<TopicId> {
    let detail = store.get_contact(org, contact).await.unwrap().unwrap();
    detail.topics.iter().map(|t| t.topic_id).collect()
}

#[tokio::test]
async fn create_merges_ids_and_slugs_and_drops_unknown() {
    let (store, org) = store_with_org().await;
    let news = add_topic(&store, org, "news", false).await;
    let digest = add_topic(&store, org, "digest", true).await;
    let req = CreateContact {
        email: Some("a@b.co".into()),
        topic_ids: Some(vec![
            news.to_string(),
            news.to_string(),
            "not-a-uuid".into(),
            TopicId::new().to_string(),
        ]),
        topic_slugs: Some(vec!["news".into(), "digest".into(), "missing".into()]),
        ..Default::default()
    };

    let written = store.create_contact(org, &req).await.unwrap();

    assert_eq!(written.pending_topics, vec![digest]);
    let detail = store
        .get_contact(org, written.contact.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.topics.len(), 2);
    let pending = detail.topics.iter().find(|t| t.topic_id == digest).unwrap();
    assert_eq!(pending.status, SubscriptionStatus::Pending);
    assert_eq!(pending.subscribed_at, None);
}

#[tokio::test]
async fn replace_applies_the_difference() {
    let (store, org) = store_with_org().await;
    let a = add_topic(&store, org, "a", false).await;
    let b = add_topic(&store, org, "b", false).await;
    let c = add_topic(&store, org, "c", false).await;
    let id = add_contact(&store, org, "x@y.io").await;
    store
        .replace_contact_topics(org, id, &replace(&[a, b]))
        .await
        .unwrap();
    let kept_before = store.get_contact(org, id).await.unwrap().unwrap().topics;
    let b_subscribed_at = kept_before
        .iter()
        .find(|t| t.topic_id == b)
        .unwrap()
        .subscribed_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let replaced = store
        .replace_contact_topics(org, id, &replace(&[b, c]))
        .await
        .unwrap();

    let returned: Vec<TopicId> = replaced.topics.iter().map(|t| t.topic_id).collect();
    assert_eq!(returned, vec![b, c]);
    assert!(replaced.pending_topics.is_empty());
    assert_eq!(topic_set(&store, org, id).await, HashSet::from([b, c]));
    assert_eq!(replaced.topics[0].subscribed_at, b_subscribed_at);
}

#[tokio::test]
async fn replace_with_nothing_removes_everything() {
    let (store, org) = store_with_org().await;
    let a = add_topic(&store, org, "a", false).await;
    let id = add_contact(&store, org, "x@y.io").await;
    store
        .replace_contact_topics(org, id, &replace(&[a]))
        .await
        .unwrap();

    let replaced = store
        .replace_contact_topics(org, id, &ReplaceTopics::default())
        .await
        .unwrap();

    assert!(replaced.topics.is_empty());
    assert_eq!(count_rows(&store, "contact_topics").await, 0);
}

#[tokio::test]
async fn replace_resolves_slugs() {
    let (store, org) = store_with_org().await;
    let a = add_topic(&store, org, "a", false).await;
    let id = add_contact(&store, org, "x@y.io").await;
    let req = ReplaceTopics {
        topic_ids: None,
        topic_slugs: Some(vec!["a".into(), "unknown".into()]),
    };

    let replaced = store.replace_contact_topics(org, id, &req).await.unwrap();

    assert_eq!(replaced.topics.len(), 1);
    assert_eq!(replaced.topics[0].topic_id, a);
    assert_eq!(replaced.topics[0].topic_name, "Topic a");
}

#[tokio::test]
async fn replace_keeps_earlier_confirmation() {
    let (store, org) = store_with_org().await;
    let confirmed = add_topic(&store, org, "confirmed", true).await;
    let fresh = add_topic(&store, org, "fresh", true).await;
    let id = add_contact(&store, org, "x@y.io").await;
    let first = store
        .replace_contact_topics(org, id, &replace(&[confirmed]))
        .await
        .unwrap();
    assert_eq!(first.pending_topics, vec![confirmed]);
    assert!(store
        .confirm_subscription(org, id, confirmed)
        .await
        .unwrap());
    assert!(store.unsubscribe_topic(org, id, confirmed).await.unwrap());

    let replaced = store
        .replace_contact_topics(org, id, &replace(&[confirmed, fresh]))
        .await
        .unwrap();

    assert_eq!(replaced.pending_topics, vec![fresh]);
    assert_eq!(replaced.topics[0].status, SubscriptionStatus::Subscribed);
    assert!(replaced.topics[0].subscribed_at.is_some());
    assert_eq!(replaced.topics[1].status, SubscriptionStatus::Pending);
}

#[tokio::test]
async fn replace_is_all_or_nothing() {
    let (store, org) = store_with_org().await;
    let a = add_topic(&store, org, "a", false).await;
    let b = add_topic(&store, org, "b", false).await;
    let c = add_topic(&store, org, "c", false).await;
    let id = add_contact(&store, org, "x@y.io").await;
    store
        .replace_contact_topics(org, id, &replace(&[a, b]))
        .await
        .unwrap();
    fail_subscription_inserts(&store, c).await;

    let result = store
        .replace_contact_topics(org, id, &replace(&[a, c]))
        .await;

    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert_eq!(topic_set(&store, org, id).await, HashSet::from([a, b]));
}

#[tokio::test]
async fn concurrent_replaces_do_not_mix() {
    let (store, org) = store_with_org().await;
    let mut topics = Vec::new();
    for slug in ["a", "b", "c", "d"] {
        topics.push(add_topic(&store, org, slug, false).await);
    }
    let left = vec![topics[0], topics[1]];
    let right = vec![topics[2], topics[3]];

    for round in 0..5 {
        let id = add_contact(&store, org, &format!("x{round}@y.io")).await;
        let tasks: Vec<_> = [left.clone(), right.clone(), left.clone(), right.clone()]
            .into_iter()
            .map(|set| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.replace_contact_topics(org, id, &replace(&set)).await },
                )
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }

        let stored = topic_set(&store, org, id).await;
        let left_set: HashSet<TopicId> = left.iter().copied().collect();
        let right_set: HashSet<TopicId> = right.iter().copied().collect();
        assert!(
            stored == left_set || stored == right_set,
            "round {round}: {stored:?}"
        );
    }
}

#[tokio::test]
async fn replace_on_unknown_contact_is_not_found() {
    let (store, org) = store_with_org().await;
    let err = store
        .replace_contact_topics(org, schemas::ContactId::new(), &ReplaceTopics::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound("Contact not found")),
        "{err:?}"
    );
}

#[tokio::test]
async fn confirm_and_unsubscribe_report_changes() {
    let (store, org) = store_with_org().await;
    let topic = add_topic(&store, org, "news", true).await;
    let id = add_contact(&store, org, "x@y.io").await;
    store
        .replace_contact_topics(org, id, &replace(&[topic]))
        .await
        .unwrap();

    assert!(store.confirm_subscription(org, id, topic).await.unwrap());
    assert!(!store.confirm_subscription(org, id, topic).await.unwrap());
    assert!(store.unsubscribe_topic(org, id, topic).await.unwrap());
    assert!(!store.unsubscribe_topic(org, id, topic).await.unwrap());
}

#[tokio::test]
async fn deleting_a_topic_removes_its_subscriptions() {
    let (store, org) = store_with_org().await;
    let topic = add_topic(&store, org, "news", false).await;
    let id = add_contact(&store, org, "x@y.io").await;
    store
        .replace_contact_topics(org, id, &replace(&[topic]))
        .await
        .unwrap();

    assert!(store.delete_topic(org, topic).await.unwrap());

    assert!(store
        .get_contact(org, id)
        .await
        .unwrap()
        .unwrap()
        .topics
        .is_empty());
    assert_eq!(count_rows(&store, "contact_topics").await, 0);
}
