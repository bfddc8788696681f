//! Topics: named lists contacts subscribe to. Slugs are unique per
//! organisation.

use schemas::topics::{CreateTopic, PatchTopic, Topic};
use schemas::{OrgId, TopicId};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};

use crate::db::Store;
use crate::error::{unique_violation, StoreError};
use crate::row::{now_millis, RowExt};

const TOPIC_COLUMNS: &str = "id, name, slug, description, double_opt_in, created_at, updated_at";

fn topic_from_row(row: &AnyRow) -> Result<Topic, StoreError> {
    Ok(Topic {
        id: row.id("id")?,
        name: row.text("name")?,
        slug: row.text("slug")?,
        description: row.opt_text("description")?,
        double_opt_in: row.flag("double_opt_in")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

fn slug_conflict() -> StoreError {
    StoreError::Conflict("Topic with this slug already exists".to_owned())
}

/// Maps a unique violation on the slug index to the client's 409.
fn topic_write_error(err: sqlx::Error) -> StoreError {
    match unique_violation(&err) {
        Some(target) if target.contains("slug") => slug_conflict(),
        _ => StoreError::Database(err),
    }
}

async fn slug_taken(
    conn: &mut AnyConnection,
    org: OrgId,
    slug: &str,
    except: Option<TopicId>,
) -> Result<bool, StoreError> {
    let row = sqlx::query::<Any>(
        "SELECT id FROM topics WHERE organization_id = $1 AND slug = $2 AND id <> $3",
    )
    .bind(org.to_string())
    .bind(slug)
    .bind(except.map(|id| id.to_string()).unwrap_or_default())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

async fn fetch_topic(
    conn: &mut AnyConnection,
    org: OrgId,
    id: TopicId,
) -> Result<Option<Topic>, StoreError> {
    let sql = format!("SELECT {TOPIC_COLUMNS} FROM topics WHERE organization_id = $1 AND id = $2");
    let row = sqlx::query::<Any>(&sql)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(topic_from_row).transpose()
}

impl Store {
    /// Creates a topic. A slug the organisation already uses is a `Conflict`.
    pub async fn create_topic(&self, org: OrgId, req: &CreateTopic) -> Result<Topic, StoreError> {
        let (Some(name), Some(slug)) = (req.name.as_deref(), req.slug.as_deref()) else {
            return Err(StoreError::Invalid(
                "Topic name and slug are required".to_owned(),
            ));
        };
        let now = now_millis();
        let topic = Topic {
            id: TopicId::new(),
            name: name.to_owned(),
            slug: slug.to_owned(),
            description: req.description.clone(),
            double_opt_in: req.double_opt_in.unwrap_or(false),
            created_at: schemas::time::from_millis(now),
            updated_at: schemas::time::from_millis(now),
        };

        let mut tx = self.begin_write().await?;
        if slug_taken(&mut tx, org, slug, None).await? {
            return Err(slug_conflict());
        }
        sqlx::query::<Any>(
            "INSERT INTO topics (id, organization_id, name, slug, description, double_opt_in, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(topic.id.to_string())
        .bind(org.to_string())
        .bind(name)
        .bind(slug)
        .bind(topic.description.clone())
        .bind(topic.double_opt_in)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(topic_write_error)?;
        tx.commit().await?;

        Ok(topic)
    }

    /// Lists the organisation's topics by name.
    pub async fn list_topics(&self, org: OrgId) -> Result<Vec<Topic>, StoreError> {
        let sql = format!(
            "SELECT {TOPIC_COLUMNS} FROM topics WHERE organization_id = $1 ORDER BY name, id"
        );
        let rows = sqlx::query::<Any>(&sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(topic_from_row).collect()
    }

    pub async fn get_topic(&self, org: OrgId, id: TopicId) -> Result<Option<Topic>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_topic(&mut conn, org, id).await
    }

    pub async fn get_topic_by_slug(
        &self,
        org: OrgId,
        slug: &str,
    ) -> Result<Option<Topic>, StoreError> {
        let sql =
            format!("SELECT {TOPIC_COLUMNS} FROM topics WHERE organization_id = $1 AND slug = $2");
        let row = sqlx::query::<Any>(&sql)
            .bind(org.to_string())
            .bind(slug)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(topic_from_row).transpose()
    }

    /// Updates the fields present in `req`, where `description: null` clears it.
    /// Returns `None` when the organisation has no such topic. Turning double
    /// opt-in on or off leaves existing subscriptions as they are.
    pub async fn patch_topic(
        &self,
        org: OrgId,
        id: TopicId,
        req: &PatchTopic,
    ) -> Result<Option<Topic>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(mut topic) = fetch_topic(&mut tx, org, id).await? else {
            return Ok(None);
        };

        if let Some(slug) = req.slug.as_deref() {
            if slug != topic.slug && slug_taken(&mut tx, org, slug, Some(id)).await? {
                return Err(slug_conflict());
            }
            topic.slug = slug.to_owned();
        }
        if let Some(name) = req.name.as_deref() {
            topic.name = name.to_owned();
        }
        if let Some(description) = &req.description {
            topic.description.clone_from(description);
        }
        if let Some(double_opt_in) = req.double_opt_in {
            topic.double_opt_in = double_opt_in;
        }
        let now = now_millis();
        topic.updated_at = schemas::time::from_millis(now);

        sqlx::query::<Any>(
            "UPDATE topics SET name = $1, slug = $2, description = $3, double_opt_in = $4, updated_at = $5 \
             WHERE organization_id = $6 AND id = $7",
        )
        .bind(topic.name.as_str())
        .bind(topic.slug.as_str())
        .bind(topic.description.clone())
        .bind(topic.double_opt_in)
        .bind(now)
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(topic_write_error)?;
        tx.commit().await?;

        Ok(Some(topic))
    }

    /// Deletes a topic and, through the foreign key, every subscription to
    /// it. Returns false when the organisation has no such topic.
    pub async fn delete_topic(&self, org: OrgId, id: TopicId) -> Result<bool, StoreError> {
        let result =
            sqlx::query::<Any>("DELETE FROM topics WHERE organization_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&self.writer)
                .await?;
        Ok(result.rows_affected() > 0)
    }
}
