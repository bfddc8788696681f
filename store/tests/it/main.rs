//! Integration tests of the store. They run on SQLite by default and on
//! PostgreSQL when `WRAPS_TEST_DATABASE_URL` names an admin URL, for example
//! `postgres://postgres@127.0.0.1:5432/test`; each test gets its own database.

mod api_keys;
mod confirmations;
mod connections;
mod contacts;
mod dialect;
mod idempotency;
mod import;
mod list;
mod patch;
mod subscriptions;
mod tenancy;
mod topics;
mod unsubscribe;

use schemas::contacts::CreateContact;
use schemas::topics::CreateTopic;
use schemas::{ContactId, OrgId, TopicId};
use sqlx::Any;
use store::test_support::{fresh_store, pool};
use store::{Backend, Store};

/// Returns a fresh store with one organisation.
pub async fn store_with_org() -> (Store, OrgId) {
    let store = fresh_store().await;
    let org = store.create_org("Acme", "free").await.unwrap().id;
    (store, org)
}

pub fn with_email(email: &str) -> CreateContact {
    CreateContact {
        email: Some(email.to_owned()),
        ..Default::default()
    }
}

pub async fn add_contact(store: &Store, org: OrgId, email: &str) -> ContactId {
    store
        .create_contact(org, &with_email(email))
        .await
        .unwrap()
        .contact
        .id
}

pub async fn add_topic(store: &Store, org: OrgId, slug: &str, double_opt_in: bool) -> TopicId {
    let req = CreateTopic {
        name: Some(format!("Topic {slug}")),
        slug: Some(slug.to_owned()),
        description: None,
        double_opt_in: Some(double_opt_in),
    };
    store.create_topic(org, &req).await.unwrap().id
}

/// Reads one nullable BIGINT column of a contact, for columns the API does
/// not return.
pub async fn contact_column(store: &Store, id: ContactId, column: &str) -> Option<i64> {
    let sql = format!("SELECT {column} AS v FROM contacts WHERE id = $1");
    sqlx::query_scalar::<Any, Option<i64>>(&sql)
        .bind(id.to_string())
        .fetch_one(&pool(store))
        .await
        .unwrap()
}

pub async fn count_rows(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar::<Any, i64>(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool(store))
        .await
        .unwrap()
}

/// Makes every insert into `contact_topics` for `topic` fail, to prove that
/// a write that fails half-way leaves nothing behind.
pub async fn fail_subscription_inserts(store: &Store, topic: TopicId) {
    let statements: Vec<String> = match store.backend() {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER fail_topic BEFORE INSERT ON contact_topics WHEN NEW.topic_id = '{topic}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Backend::Postgres => vec![
            "CREATE FUNCTION fail_topic() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER fail_topic BEFORE INSERT ON contact_topics FOR EACH ROW \
                 WHEN (NEW.topic_id = '{topic}') EXECUTE FUNCTION fail_topic()"
            ),
        ],
    };
    for statement in statements {
        sqlx::query::<Any>(&statement)
            .execute(&pool(store))
            .await
            .unwrap();
    }
}
