//! `POST /v1/contacts`: create a contact (there is no upsert).

use schemas::contacts::{Contact, ContactWritten, CreateContact, EmailStatus, SmsStatus};
use schemas::{ContactId, OrgId};
use serde_json::Value;
use sqlx::{Any, AnyConnection};

use super::status::STATUS_TIME_COLUMNS;
use super::{
    contact_write_error, hash_identity, identity_taken, millis_to_ts, non_blank, Identity,
    StatusTimes,
};
use crate::db::Store;
use crate::error::StoreError;
use crate::row::now_millis;
use crate::subscriptions::{add_subscriptions, resolve_topics};

impl Store {
    /// Creates a contact and its topic subscriptions in one transaction.
    ///
    /// Duplicates are checked in the order external id, email, phone, and
    /// each is a `Conflict` with the client's message. When a concurrent
    /// insert wins the race, the unique indexes raise the same `Conflict`.
    /// `emailStatus` defaults to `active` when an email is given and
    /// `smsStatus` to `pending_consent` when a phone is given. Topics with
    /// double opt-in start `pending` and are listed in `pending_topics`.
    pub async fn create_contact(
        &self,
        org: OrgId,
        req: &CreateContact,
    ) -> Result<ContactWritten, StoreError> {
        let email = non_blank(req.email.as_deref());
        let phone = non_blank(req.phone.as_deref());
        if email.is_none() && phone.is_none() {
            return Err(StoreError::Invalid("Email or phone is required".to_owned()));
        }
        let email_hash = email.map(hash_identity);
        let phone_hash = phone.map(hash_identity);

        let now = now_millis();
        let email_status = req.email_status.or(email.map(|_| EmailStatus::Active));
        let sms_status = req.sms_status.or(phone.map(|_| SmsStatus::PendingConsent));
        let mut times = StatusTimes::default();
        if let Some(status) = email_status {
            times.apply_email(None, status, now);
        }
        if let Some(status) = sms_status {
            times.apply_sms(None, status, now);
        }

        let contact = Contact {
            id: ContactId::new(),
            external_id: req.external_id.clone(),
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            first_name: req.first_name.clone(),
            last_name: req.last_name.clone(),
            company: req.company.clone(),
            job_title: req.job_title.clone(),
            email_status,
            sms_status,
            preferred_channel: req.preferred_channel,
            properties: req.properties.clone().unwrap_or_default(),
            emails_sent: 0,
            emails_opened: 0,
            emails_clicked: 0,
            sms_sent: 0,
            sms_clicked: 0,
            created_at: millis_to_ts(now),
            updated_at: millis_to_ts(now),
        };

        let mut tx = self.begin_write().await?;
        let identities = [
            (Identity::ExternalId, contact.external_id.as_deref()),
            (Identity::Email, email_hash.as_deref()),
            (Identity::Phone, phone_hash.as_deref()),
        ];
        for (identity, value) in identities {
            if let Some(value) = value {
                if identity_taken(&mut tx, org, identity, value, None).await? {
                    return Err(identity.conflict());
                }
            }
        }

        let topics = resolve_topics(
            &mut tx,
            self.backend,
            org,
            req.topic_ids.as_deref(),
            req.topic_slugs.as_deref(),
        )
        .await?;
        insert_contact(
            &mut tx,
            org,
            &contact,
            email_hash.as_deref(),
            phone_hash.as_deref(),
            &times,
        )
        .await?;
        let pending_topics = add_subscriptions(&mut tx, org, contact.id, &topics, now).await?;
        tx.commit().await?;

        // TODO: emit `contact_created`, `topic_subscribed` for each topic
        // subscribed at once, and confirmation emails for `pending_topics`,
        // once workflow events exist.
        Ok(ContactWritten {
            contact,
            pending_topics,
        })
    }
}

/// Inserts a new contact row. Counters start at zero.
pub(crate) async fn insert_contact(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: &Contact,
    email_hash: Option<&str>,
    phone_hash: Option<&str>,
    times: &StatusTimes,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO contacts (id, organization_id, external_id, email, email_hash, phone, phone_hash, \
         first_name, last_name, company, job_title, email_status, sms_status, preferred_channel, \
         properties, {}, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
        STATUS_TIME_COLUMNS.join(", ")
    );

    let mut query = sqlx::query::<Any>(&sql)
        .bind(contact.id.to_string())
        .bind(org.to_string())
        .bind(contact.external_id.clone())
        .bind(contact.email.clone())
        .bind(email_hash.map(str::to_owned))
        .bind(contact.phone.clone())
        .bind(phone_hash.map(str::to_owned))
        .bind(contact.first_name.clone())
        .bind(contact.last_name.clone())
        .bind(contact.company.clone())
        .bind(contact.job_title.clone())
        .bind(contact.email_status.map(|s| s.as_str()))
        .bind(contact.sms_status.map(|s| s.as_str()))
        .bind(contact.preferred_channel.map(|c| c.as_str()))
        .bind(Value::Object(contact.properties.clone()).to_string());
    for value in times.values() {
        query = query.bind(value);
    }
    query
        .bind(contact.created_at.timestamp_millis())
        .bind(contact.updated_at.timestamp_millis())
        .execute(conn)
        .await
        .map_err(contact_write_error)?;
    Ok(())
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use super::*;
    use crate::test_support::fresh_store;

    fn contact(email: &str, phone: &str, external_id: &str) -> Contact {
        let now = now_millis();
        Contact {
            id: ContactId::new(),
            external_id: Some(external_id.to_owned()),
            email: Some(email.to_owned()),
            phone: Some(phone.to_owned()),
            first_name: None,
            last_name: None,
            company: None,
            job_title: None,
            email_status: None,
            sms_status: None,
            preferred_channel: None,
            properties: Default::default(),
            emails_sent: 0,
            emails_opened: 0,
            emails_clicked: 0,
            sms_sent: 0,
            sms_clicked: 0,
            created_at: millis_to_ts(now),
            updated_at: millis_to_ts(now),
        }
    }

    async fn insert(store: &Store, org: OrgId, c: &Contact) -> Result<(), StoreError> {
        let mut conn = store.writer.acquire().await.unwrap();
        let email_hash = c.email.as_deref().map(hash_identity);
        let phone_hash = c.phone.as_deref().map(hash_identity);
        insert_contact(
            &mut conn,
            org,
            c,
            email_hash.as_deref(),
            phone_hash.as_deref(),
            &StatusTimes::default(),
        )
        .await
    }

    /// Skips the duplicate checks, as a concurrent insert does, so that only
    /// the unique indexes can report the duplicate.
    #[tokio::test]
    async fn unique_violations_map_to_the_field_conflict() {
        let store = fresh_store().await;
        let org = store.create_org("Acme", "free").await.unwrap().id;
        insert(&store, org, &contact("a@b.co", "+1555", "crm-1"))
            .await
            .unwrap();

        let cases = [
            (
                contact("x@b.co", "+1666", "crm-1"),
                "Contact with this externalId already exists",
            ),
            (
                contact("A@B.co", "+1666", "crm-2"),
                "Contact with this email already exists",
            ),
            (
                contact("x@b.co", "+1555", "crm-2"),
                "Contact with this phone already exists",
            ),
        ];
        for (duplicate, expected) in cases {
            match insert(&store, org, &duplicate).await {
                Err(StoreError::Conflict(message)) => assert_eq!(message, expected),
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }
}
