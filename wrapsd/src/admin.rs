//! Administration commands: organisations, API keys, topics, imports and
//! dead letters. Results go to stdout; progress and logs go to stderr.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{Duration, Utc};
use schemas::topics::CreateTopic;
use schemas::{ApiKeyId, OrgId};
use store::{KeyType, Store};
use streams::EntryId;

use crate::config::Config;
use crate::import::{import_contacts, ImportOptions};

/// Connects to the configured store and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    let store = Store::connect(&config.database_url())
        .await
        .context("cannot connect to the database")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    eprintln!("migrations applied");
    Ok(())
}

/// Refuses a plan id the plan table does not have, listing the ones it has.
fn known_plan(config: &Config, plan: &str) -> anyhow::Result<()> {
    let plans = config.plan_table()?;
    if plans.contains(plan) {
        return Ok(());
    }
    let ids: Vec<&str> = plans.ids().collect();
    anyhow::bail!("unknown plan {plan:?}: expected one of {}", ids.join(", "))
}

pub async fn create_org(config: &Config, name: &str, plan: &str) -> anyhow::Result<()> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "invalid --name: must not be empty");
    known_plan(config, plan)?;
    let store = open_store(config).await?;
    let org = store.create_org(name, plan).await?;
    eprintln!("created organisation {:?} on plan {plan}", org.name);
    println!("{}", org.id);
    Ok(())
}

pub async fn set_plan(config: &Config, org: OrgId, plan: &str) -> anyhow::Result<()> {
    known_plan(config, plan)?;
    let store = open_store(config).await?;
    anyhow::ensure!(
        store.set_org_plan(org, plan).await?,
        "no organisation with id {org}"
    );
    tracing::info!(organization_id = %org, plan, "plan changed");
    eprintln!("organisation {org} is now on plan {plan}");
    Ok(())
}

/// Prints the plan table in effect; `-` is unlimited.
pub fn print_plans(config: &Config) -> anyhow::Result<()> {
    let plans = config.plan_table()?;
    let show = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
    if !plans.enforced {
        eprintln!("plan gates are off (WRAPS_PLAN_GATES=false): no plan limit or gate applies");
    }
    println!(
        "{:<10}  {:>4}  {:>8}  {:>8}  {:>9}  {:>10}  {:>10}  {:>8}",
        "PLAN", "RANK", "API/MIN", "API/DAY", "SENDS/S", "SENDS/DAY", "EVENTS/MO", "ACCOUNTS"
    );
    for id in plans.ids() {
        let plan = plans.get(Some(id));
        println!(
            "{:<10}  {:>4}  {:>8}  {:>8}  {:>9}  {:>10}  {:>10}  {:>8}",
            id,
            plan.rank,
            show(plan.api_requests_per_minute),
            show(plan.api_requests_per_day),
            show(plan.sends_per_second),
            show(plan.sends_per_day),
            show(plan.monthly_events),
            show(plan.aws_accounts.map(u64::from)),
        );
    }
    Ok(())
}

pub async fn list_orgs(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let orgs = store.list_orgs().await?;
    println!("{:<36}  {:<9}  {:<24}  NAME", "ID", "PLAN", "CREATED");
    for org in orgs {
        println!(
            "{:<36}  {:<9}  {:<24}  {}",
            org.id,
            org.plan,
            schemas::time::format(&org.created_at),
            org.name
        );
    }
    Ok(())
}

pub async fn create_key(
    config: &Config,
    org: OrgId,
    name: &str,
    key_type: KeyType,
    expires_in_days: Option<u32>,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    require_org(&store, org).await?;
    let expires_at = expires_in_days.map(|days| Utc::now() + Duration::days(i64::from(days)));
    let key = store
        .create_api_key(org, name, key_type, expires_at)
        .await?;
    eprintln!(
        "created API key {} ({}); it is shown once, store it now",
        key.record.id, key.record.prefix
    );
    println!("{}", key.plaintext);
    Ok(())
}

pub async fn list_keys(config: &Config, org: OrgId) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    require_org(&store, org).await?;
    println!(
        "{:<36}  {:<22}  {:<8}  {:<24}  NAME",
        "ID", "PREFIX", "STATE", "LAST USED"
    );
    for key in store.list_api_keys(org).await? {
        let state = if key.revoked_at.is_some() {
            "revoked"
        } else if key.expires_at.is_some_and(|at| at <= Utc::now()) {
            "expired"
        } else {
            "active"
        };
        let last_used = key
            .last_used_at
            .map(|at| schemas::time::format(&at))
            .unwrap_or_else(|| "never".into());
        println!(
            "{:<36}  {:<22}  {:<8}  {:<24}  {}",
            key.id, key.prefix, state, last_used, key.name
        );
    }
    Ok(())
}

pub async fn revoke_key(config: &Config, id: ApiKeyId) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match store.revoke_api_key(id).await? {
        Some(org) => {
            eprintln!("revoked API key {id} of organisation {org}");
            Ok(())
        }
        None => anyhow::bail!("API key {id} not found"),
    }
}

pub async fn create_topic(
    config: &Config,
    org: OrgId,
    name: String,
    slug: String,
    description: Option<String>,
    double_opt_in: bool,
) -> anyhow::Result<()> {
    let request = CreateTopic {
        name: Some(name),
        slug: Some(slug),
        description,
        double_opt_in: Some(double_opt_in),
    };
    if let Err(errors) = request.validate() {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| format!("--{} {}", flag_name(&e.path), e.message))
            .collect();
        anyhow::bail!("invalid topic: {}", messages.join("; "));
    }
    let store = open_store(config).await?;
    require_org(&store, org).await?;
    let topic = store.create_topic(org, &request).await?;
    eprintln!("created topic {:?} ({})", topic.name, topic.slug);
    println!("{}", topic.id);
    Ok(())
}

fn flag_name(path: &str) -> String {
    match path {
        "doubleOptIn" => "double-opt-in".into(),
        other => other.to_owned(),
    }
}

pub async fn list_topics(config: &Config, org: Option<OrgId>) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let org = match org {
        Some(org) => {
            require_org(&store, org).await?;
            org
        }
        None => {
            let orgs = store.list_orgs().await?;
            match orgs.as_slice() {
                [only] => only.id,
                [] => anyhow::bail!(
                    "there is no organisation yet; create one with `wrapsd orgs create`"
                ),
                _ => anyhow::bail!("there are {} organisations: pass --org ID", orgs.len()),
            }
        }
    };
    println!(
        "{:<36}  {:<24}  {:<13}  NAME",
        "ID", "SLUG", "DOUBLE OPT-IN"
    );
    for topic in store.list_topics(org).await? {
        let opt_in = if topic.double_opt_in { "yes" } else { "no" };
        println!(
            "{:<36}  {:<24}  {:<13}  {}",
            topic.id, topic.slug, opt_in, topic.name
        );
    }
    Ok(())
}

pub async fn import(
    config: &Config,
    org: OrgId,
    path: PathBuf,
    topic: Option<String>,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    require_org(&store, org).await?;
    let options = ImportOptions {
        org,
        path,
        topic_slug: topic,
        batch_rows: 1000,
        progress: true,
    };
    let summary = import_contacts(&store, &options).await?;
    println!("{summary}");
    Ok(())
}

pub async fn list_dead_letters(config: &Config, limit: usize) -> anyhow::Result<()> {
    let streams = open_shared_streams(config).await?;
    let entries = streams.dead_letters.list(None, limit).await?;
    if entries.is_empty() {
        eprintln!("no dead letters");
    }
    for entry in entries {
        println!(
            "{}  shard {}  kind {}  deliveries {}  error: {}",
            entry.id.as_str(),
            entry.shard.0,
            entry.job.kind,
            entry.deliveries,
            entry.error
        );
    }
    Ok(())
}

pub async fn redrive(config: &Config, id: Option<String>) -> anyhow::Result<()> {
    let streams = open_shared_streams(config).await?;
    let moved = match id {
        Some(id) => {
            if !streams
                .dead_letters
                .redrive(&EntryId::new(id.clone()))
                .await?
            {
                anyhow::bail!(
                    "dead letter {id} not found; list them with `wrapsd dead-letters list`"
                );
            }
            1
        }
        None => streams.dead_letters.redrive_all().await?,
    };
    eprintln!("re-drove {moved} dead-lettered job(s)");
    Ok(())
}

/// Opens the Redis streams that the running dispatchers share. In-process
/// streams live inside the `serve` process, so another process cannot see
/// their dead letters.
async fn open_shared_streams(config: &Config) -> anyhow::Result<streams::Streams> {
    if config.redis_url.is_none() {
        anyhow::bail!(
            "dead letters are shared only through Redis: set WRAPS_REDIS_URL (in-process streams keep them inside the serve process)"
        );
    }
    crate::serve::open_streams(config).await
}

async fn require_org(store: &Store, org: OrgId) -> anyhow::Result<()> {
    match store.get_org(org).await? {
        Some(_) => Ok(()),
        None => anyhow::bail!("organisation {org} not found; list them with `wrapsd orgs list`"),
    }
}
