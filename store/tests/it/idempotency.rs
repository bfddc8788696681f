use std::time::Duration;

use store::IdempotencyBegin;

use crate::store_with_org;

const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test]
async fn first_use_starts_and_repeat_is_in_flight() {
    let (store, org) = store_with_org().await;

    assert_eq!(
        store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap(),
        IdempotencyBegin::InFlight
    );
}

#[tokio::test]
async fn other_body_is_a_mismatch() {
    let (store, org) = store_with_org().await;
    store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap();

    assert_eq!(
        store.begin_idempotent(org, "k1", "h2", DAY).await.unwrap(),
        IdempotencyBegin::Mismatch
    );
    store
        .complete_idempotent(org, "k1", 201, b"{}")
        .await
        .unwrap();
    assert_eq!(
        store.begin_idempotent(org, "k1", "h2", DAY).await.unwrap(),
        IdempotencyBegin::Mismatch
    );
}

#[tokio::test]
async fn completed_request_is_replayed() {
    let (store, org) = store_with_org().await;
    store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap();
    let body = vec![b'{', 0, 0xff, b'}'];

    store
        .complete_idempotent(org, "k1", 201, &body)
        .await
        .unwrap();

    assert_eq!(
        store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap(),
        IdempotencyBegin::Completed { status: 201, body }
    );
}

#[tokio::test]
async fn abandoned_key_can_run_again() {
    let (store, org) = store_with_org().await;
    store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap();

    store.abandon_idempotent(org, "k1").await.unwrap();

    assert_eq!(
        store.begin_idempotent(org, "k1", "h2", DAY).await.unwrap(),
        IdempotencyBegin::Started
    );
}

#[tokio::test]
async fn abandon_keeps_completed_response() {
    let (store, org) = store_with_org().await;
    store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap();
    store
        .complete_idempotent(org, "k1", 200, b"ok")
        .await
        .unwrap();

    store.abandon_idempotent(org, "k1").await.unwrap();

    assert!(matches!(
        store.begin_idempotent(org, "k1", "h1", DAY).await.unwrap(),
        IdempotencyBegin::Completed { status: 200, .. }
    ));
}

#[tokio::test]
async fn expired_key_counts_as_absent() {
    let (store, org) = store_with_org().await;
    store
        .begin_idempotent(org, "k1", "h1", Duration::from_millis(1))
        .await
        .unwrap();
    store
        .complete_idempotent(org, "k1", 200, b"old")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    assert_eq!(
        store.begin_idempotent(org, "k1", "h2", DAY).await.unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(store.purge_expired_idempotency_keys().await.unwrap(), 0);
}

#[tokio::test]
async fn purge_removes_expired_rows() {
    let (store, org) = store_with_org().await;
    store
        .begin_idempotent(org, "old", "h", Duration::from_millis(1))
        .await
        .unwrap();
    store.begin_idempotent(org, "new", "h", DAY).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    assert_eq!(store.purge_expired_idempotency_keys().await.unwrap(), 1);
    assert_eq!(
        store.begin_idempotent(org, "new", "h", DAY).await.unwrap(),
        IdempotencyBegin::InFlight
    );
}

#[tokio::test]
async fn concurrent_begins_start_once() {
    let (store, org) = store_with_org().await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.begin_idempotent(org, "k1", "h1", DAY).await })
        })
        .collect();

    let mut started = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            IdempotencyBegin::Started => started += 1,
            IdempotencyBegin::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}
