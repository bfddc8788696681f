//! `PATCH /v1/contacts/{id}`: change the supplied fields and add topics.

use schemas::contacts::{Contact, ContactWritten, PatchContact, SmsStatus};
use schemas::{ContactId, OrgId};
use serde_json::Value;
use sqlx::{Any, AnyConnection};

use super::status::STATUS_TIME_COLUMNS;
use super::{
    contact_from_row, contact_write_error, hash_identity, identity_taken, millis_to_ts, non_blank,
    Identity, StatusTimes, CONTACT_COLUMNS,
};
use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::row::now_millis;
use crate::subscriptions::{add_subscriptions, resolve_topics};

impl Store {
    /// Updates the fields present in `req`, in one transaction with the
    /// topic additions.
    ///
    /// An external id that another contact has is a `Conflict` before
    /// anything is written. An email or phone that another contact has is
    /// the same `Conflict`, raised by the unique indexes. `properties` are
    /// merged key by key into the stored object, and a `null` value is stored
    /// as `null`. A new email or phone gets a new hash. A phone given to a
    /// contact with no SMS status sets it to `pending_consent` unless
    /// `smsStatus` is given. Status changes stamp their status times. Topics
    /// are only ever added here, never removed.
    pub async fn patch_contact(
        &self,
        org: OrgId,
        id: ContactId,
        req: &PatchContact,
    ) -> Result<ContactWritten, StoreError> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let (mut contact, mut times) = fetch_for_update(&mut tx, self.backend, org, id)
            .await?
            .ok_or(StoreError::NotFound("Contact not found"))?;

        if let Some(Some(external_id)) = &req.external_id {
            if contact.external_id.as_ref() != Some(external_id)
                && identity_taken(&mut tx, org, Identity::ExternalId, external_id, Some(id)).await?
            {
                return Err(Identity::ExternalId.conflict());
            }
        }

        apply_patch(&mut contact, &mut times, req, now);
        update_contact(&mut tx, org, &contact, &times).await?;

        let mut pending_topics = Vec::new();
        if req.touches_topics() {
            let topics = resolve_topics(
                &mut tx,
                self.backend,
                org,
                req.topic_ids.as_deref(),
                req.topic_slugs.as_deref(),
            )
            .await?;
            pending_topics = add_subscriptions(&mut tx, org, id, &topics, now).await?;
        }
        tx.commit().await?;

        // TODO: emit `contact_updated` with the changed field names,
        // `topic_subscribed` for topics subscribed at once and confirmation
        // emails for `pending_topics`, once workflow events exist.
        Ok(ContactWritten {
            contact,
            pending_topics,
        })
    }
}

/// Applies the request to the loaded contact and its status times.
fn apply_patch(contact: &mut Contact, times: &mut StatusTimes, req: &PatchContact, now: i64) {
    if let Some(external_id) = &req.external_id {
        contact.external_id = external_id.clone();
    }
    if let Some(email) = non_blank(req.email.as_deref()) {
        contact.email = Some(email.to_owned());
    }
    if let Some(phone) = non_blank(req.phone.as_deref()) {
        contact.phone = Some(phone.to_owned());
        if contact.sms_status.is_none() && req.sms_status.is_none() {
            contact.sms_status = Some(SmsStatus::PendingConsent);
        }
    }
    for (field, value) in [
        (&mut contact.first_name, &req.first_name),
        (&mut contact.last_name, &req.last_name),
        (&mut contact.company, &req.company),
        (&mut contact.job_title, &req.job_title),
    ] {
        if let Some(value) = value {
            field.clone_from(value);
        }
    }
    if let Some(channel) = req.preferred_channel {
        contact.preferred_channel = channel;
    }

    if let Some(status) = req.email_status {
        times.apply_email(contact.email_status, status, now);
        contact.email_status = Some(status);
    }
    if let Some(status) = req.sms_status {
        times.apply_sms(contact.sms_status, status, now);
        contact.sms_status = Some(status);
    }

    if let Some(properties) = &req.properties {
        for (key, value) in properties {
            contact.properties.insert(key.clone(), value.clone());
        }
    }
    contact.updated_at = millis_to_ts(now);
}

/// Loads a contact with its status times, locking the row on PostgreSQL.
async fn fetch_for_update(
    conn: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
    id: ContactId,
) -> Result<Option<(Contact, StatusTimes)>, StoreError> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS}, {} FROM contacts WHERE organization_id = $1 AND id = $2{}",
        STATUS_TIME_COLUMNS.join(", "),
        backend.for_update()
    );
    let row = sqlx::query::<Any>(&sql)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok(Some((
            contact_from_row(&row)?,
            StatusTimes::from_row(&row)?,
        ))),
        None => Ok(None),
    }
}

/// Writes every mutable column of the contact. Hashes are recomputed from
/// the email and phone, so they cannot drift from the stored values.
pub(crate) async fn update_contact(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: &Contact,
    times: &StatusTimes,
) -> Result<(), StoreError> {
    let time_sets: Vec<String> = STATUS_TIME_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 14))
        .collect();
    let sql = format!(
        "UPDATE contacts SET external_id = $1, email = $2, email_hash = $3, phone = $4, phone_hash = $5, \
         first_name = $6, last_name = $7, company = $8, job_title = $9, email_status = $10, \
         sms_status = $11, preferred_channel = $12, properties = $13, {}, updated_at = $22 \
         WHERE organization_id = $23 AND id = $24",
        time_sets.join(", ")
    );

    let mut query = sqlx::query::<Any>(&sql)
        .bind(contact.external_id.clone())
        .bind(contact.email.clone())
        .bind(contact.email.as_deref().map(hash_identity))
        .bind(contact.phone.clone())
        .bind(contact.phone.as_deref().map(hash_identity))
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
        .bind(contact.updated_at.timestamp_millis())
        .bind(org.to_string())
        .bind(contact.id.to_string())
        .execute(conn)
        .await
        .map_err(contact_write_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::contacts::EmailStatus;
    use serde_json::json;

    fn contact() -> Contact {
        Contact {
            id: ContactId::new(),
            external_id: Some("crm-1".into()),
            email: Some("a@b.co".into()),
            phone: None,
            first_name: Some("Ada".into()),
            last_name: None,
            company: None,
            job_title: None,
            email_status: Some(EmailStatus::Active),
            sms_status: None,
            preferred_channel: None,
            properties: json!({"plan": "pro", "seats": 3})
                .as_object()
                .unwrap()
                .clone(),
            emails_sent: 0,
            emails_opened: 0,
            emails_clicked: 0,
            sms_sent: 0,
            sms_clicked: 0,
            created_at: millis_to_ts(0),
            updated_at: millis_to_ts(0),
        }
    }

    #[test]
    fn patch_merges_properties_shallowly() {
        let mut c = contact();
        let req: PatchContact =
            serde_json::from_value(json!({"properties": {"seats": null, "tier": 2}})).unwrap();
        apply_patch(&mut c, &mut StatusTimes::default(), &req, 1);
        assert_eq!(
            Value::Object(c.properties),
            json!({"plan": "pro", "seats": null, "tier": 2})
        );
    }

    #[test]
    fn patch_null_clears_and_absent_keeps() {
        let mut c = contact();
        let req: PatchContact =
            serde_json::from_value(json!({"firstName": null, "externalId": null})).unwrap();
        apply_patch(&mut c, &mut StatusTimes::default(), &req, 1);
        assert_eq!(c.first_name, None);
        assert_eq!(c.external_id, None);
        assert_eq!(c.email.as_deref(), Some("a@b.co"));
    }

    #[test]
    fn new_phone_sets_pending_consent() {
        let mut c = contact();
        let req: PatchContact = serde_json::from_value(json!({"phone": "+15550100"})).unwrap();
        apply_patch(&mut c, &mut StatusTimes::default(), &req, 1);
        assert_eq!(c.sms_status, Some(SmsStatus::PendingConsent));
    }

    #[test]
    fn explicit_sms_status_wins_over_default() {
        let mut c = contact();
        let req: PatchContact =
            serde_json::from_value(json!({"phone": "+15550100", "smsStatus": "opted_in"})).unwrap();
        let mut times = StatusTimes::default();
        apply_patch(&mut c, &mut times, &req, 7);
        assert_eq!(c.sms_status, Some(SmsStatus::OptedIn));
        assert_eq!(times.sms_consented_at, Some(7));
    }
}
