//! Organisations (tenants). Managed from the command line, so these methods
//! are not tenant-scoped.

use chrono::{DateTime, Utc};
use schemas::OrgId;
use sqlx::any::AnyRow;
use sqlx::Any;

use crate::db::Store;
use crate::error::StoreError;
use crate::row::{now_millis, RowExt};

/// An organisation and the plan its limits come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    /// Plan id such as `free` or `pro`. Ids missing from the plan
    /// configuration count as `free`.
    pub plan: String,
    pub created_at: DateTime<Utc>,
}

const ORG_COLUMNS: &str = "id, name, plan, created_at";

fn org_from_row(row: &AnyRow) -> Result<Org, StoreError> {
    Ok(Org {
        id: row.id("id")?,
        name: row.text("name")?,
        plan: row.text("plan")?,
        created_at: row.ts("created_at")?,
    })
}

impl Store {
    pub async fn create_org(&self, name: &str, plan: &str) -> Result<Org, StoreError> {
        let id = OrgId::new();
        let now = now_millis();
        sqlx::query::<Any>(
            "INSERT INTO organizations (id, name, plan, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(plan)
        .bind(now)
        .execute(&self.writer)
        .await?;
        tracing::info!(org_id = %id, plan, "organisation created");

        Ok(Org {
            id,
            name: name.to_owned(),
            plan: plan.to_owned(),
            created_at: schemas::time::from_millis(now),
        })
    }

    /// Lists every organisation, oldest first.
    pub async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY created_at, id");
        let rows = sqlx::query::<Any>(&sql).fetch_all(&self.reader).await?;
        rows.iter().map(org_from_row).collect()
    }

    pub async fn get_org(&self, org: OrgId) -> Result<Option<Org>, StoreError> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1");
        let row = sqlx::query::<Any>(&sql)
            .bind(org.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// Sets the organisation's plan and returns false when it does not exist.
    pub async fn set_org_plan(&self, org: OrgId, plan: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<Any>("UPDATE organizations SET plan = $1 WHERE id = $2")
            .bind(plan)
            .bind(org.to_string())
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn count_orgs(&self) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar::<Any, i64>("SELECT COUNT(*) FROM organizations")
            .fetch_one(&self.reader)
            .await?;
        Ok(count)
    }
}
