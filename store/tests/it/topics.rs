use schemas::topics::{CreateTopic, PatchTopic};
use store::StoreError;

use crate::{add_topic, store_with_org};

fn create(slug: &str) -> CreateTopic {
    CreateTopic {
        name: Some("Product news".into()),
        slug: Some(slug.into()),
        description: Some("Monthly".into()),
        double_opt_in: None,
    }
}

#[tokio::test]
async fn create_get_list_and_by_slug() {
    let (store, org) = store_with_org().await;

    let topic = store.create_topic(org, &create("news")).await.unwrap();

    assert_eq!(topic.name, "Product news");
    assert!(!topic.double_opt_in);
    assert_eq!(
        store.get_topic(org, topic.id).await.unwrap(),
        Some(topic.clone())
    );
    assert_eq!(
        store.get_topic_by_slug(org, "news").await.unwrap(),
        Some(topic.clone())
    );
    assert_eq!(store.list_topics(org).await.unwrap(), vec![topic]);
    assert_eq!(store.get_topic_by_slug(org, "other").await.unwrap(), None);
}

#[tokio::test]
async fn duplicate_slug_is_a_conflict() {
    let (store, org) = store_with_org().await;
    store.create_topic(org, &create("news")).await.unwrap();

    let err = store.create_topic(org, &create("news")).await.unwrap_err();

    assert!(
        matches!(err, StoreError::Conflict(ref m) if m == "Topic with this slug already exists"),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_name_is_invalid() {
    let (store, org) = store_with_org().await;
    let err = store
        .create_topic(org, &CreateTopic::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn patch_changes_given_fields() {
    let (store, org) = store_with_org().await;
    let id = store.create_topic(org, &create("news")).await.unwrap().id;
    let req: PatchTopic = serde_json::from_value(serde_json::json!({
        "name": "News", "slug": "news-2", "description": null, "doubleOptIn": true
    }))
    .unwrap();

    let topic = store.patch_topic(org, id, &req).await.unwrap().unwrap();

    assert_eq!(topic.name, "News");
    assert_eq!(topic.slug, "news-2");
    assert_eq!(topic.description, None);
    assert!(topic.double_opt_in);
    assert_eq!(store.get_topic(org, id).await.unwrap(), Some(topic));
}

#[tokio::test]
async fn patch_to_taken_slug_is_a_conflict() {
    let (store, org) = store_with_org().await;
    add_topic(&store, org, "taken", false).await;
    let id = add_topic(&store, org, "mine", false).await;
    let req = PatchTopic {
        slug: Some("taken".into()),
        ..Default::default()
    };

    let err = store.patch_topic(org, id, &req).await.unwrap_err();

    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let same = PatchTopic {
        slug: Some("mine".into()),
        ..Default::default()
    };
    assert!(store.patch_topic(org, id, &same).await.unwrap().is_some());
}

#[tokio::test]
async fn patch_and_delete_of_unknown_topic() {
    let (store, org) = store_with_org().await;
    let unknown = schemas::TopicId::new();
    assert!(store
        .patch_topic(org, unknown, &PatchTopic::default())
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_topic(org, unknown).await.unwrap());
}
