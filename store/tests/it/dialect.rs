//! The assumptions the store makes about sqlx's Any driver, checked on the
//! backend under test.

use sqlx::{Any, Row};
use store::test_support::{fresh_store, pool};
use store::{Backend, Store};

#[tokio::test]
async fn numbered_placeholders_bind_by_number() {
    let store = fresh_store().await;
    let row = sqlx::query::<Any>("SELECT $2 AS second, $1 AS first, $1 AS first_again")
        .bind("one")
        .bind("two")
        .fetch_one(&pool(&store))
        .await
        .unwrap();

    assert_eq!(row.try_get::<String, _>("second").unwrap(), "two");
    assert_eq!(row.try_get::<String, _>("first").unwrap(), "one");
    assert_eq!(row.try_get::<String, _>("first_again").unwrap(), "one");
}

#[tokio::test]
async fn booleans_round_trip() {
    let store = fresh_store().await;
    let org = store.create_org("Acme", "free").await.unwrap().id;
    let on = crate::add_topic(&store, org, "on", true).await;
    let off = crate::add_topic(&store, org, "off", false).await;

    assert!(
        store
            .get_topic(org, on)
            .await
            .unwrap()
            .unwrap()
            .double_opt_in
    );
    assert!(
        !store
            .get_topic(org, off)
            .await
            .unwrap()
            .unwrap()
            .double_opt_in
    );
}

#[tokio::test]
async fn migrations_apply_twice() {
    let store = fresh_store().await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.count_orgs().await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_file_and_directory_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("deeper").join("wraps.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();

    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(path.exists());
    let journal: String = sqlx::query_scalar::<Any, String>("PRAGMA journal_mode")
        .fetch_one(&pool(&store))
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let foreign_keys: i64 = sqlx::query_scalar::<Any, i64>("PRAGMA foreign_keys")
        .fetch_one(&pool(&store))
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1);
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_store_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store.create_org("Acme", "free").await.unwrap();
    assert_eq!(store.count_orgs().await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_url_scheme_is_rejected() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, store::StoreError::InvalidUrl(_)), "{err:?}");
}

#[tokio::test]
async fn orgs_create_list_and_plan() {
    let store = fresh_store().await;
    let acme = store.create_org("Acme", "free").await.unwrap();
    let globex = store.create_org("Globex", "pro").await.unwrap();

    assert_eq!(store.count_orgs().await.unwrap(), 2);
    let mut names: Vec<String> = store
        .list_orgs()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    names.sort();
    assert_eq!(names, ["Acme", "Globex"]);
    assert_eq!(store.get_org(globex.id).await.unwrap().unwrap().plan, "pro");

    assert!(store.set_org_plan(acme.id, "business").await.unwrap());
    assert_eq!(
        store.get_org(acme.id).await.unwrap().unwrap().plan,
        "business"
    );
    assert!(!store
        .set_org_plan(schemas::OrgId::new(), "pro")
        .await
        .unwrap());
    assert!(store
        .get_org(schemas::OrgId::new())
        .await
        .unwrap()
        .is_none());
}
