//! `wrapsd`: the self-hosted Wraps Platform API server, its dispatcher and
//! the administration commands, in one executable.

mod admin;
mod bench;
mod config;
mod fidelity;
mod import;
mod load;
mod quickstart;
mod serve;
mod telemetry;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use schemas::{ApiKeyId, OrgId};

use crate::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "wrapsd",
    version,
    about = "Self-hosted Wraps Platform API: broadcasts and workflows through your own Amazon SES accounts"
)]
struct Cli {
    /// TOML configuration file; `WRAPS_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a real broadcast end to end on the embedded default: an SES
    /// simulator, SQLite, the bundled contact export and live progress.
    Quickstart(quickstart::QuickstartArgs),
    /// Run the API and the dispatcher in one process (the embedded default).
    Serve,
    /// Run only the API; needs PostgreSQL and Redis shared with dispatchers.
    Api,
    /// Run only a dispatcher; needs PostgreSQL and Redis shared with the API.
    Dispatch,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage organisations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Manage contacts.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// Inspect and re-drive jobs that failed too often.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
    /// Rotate the key that signs one-click unsubscribe links. Links signed
    /// before stay valid; processes sign with the new key after a restart.
    #[command(name = "rotate-unsubscribe-key")]
    RotateUnsubscribeKey,
    /// Print the OpenAPI document.
    Openapi,
    /// Print the metrics catalogue as Markdown (docs/metrics.md).
    #[command(name = "metrics-doc")]
    MetricsDoc,
    /// Run an SES v2 simulator for tests, demos and load tests.
    #[command(name = "ses-sim")]
    SesSim(load_tests::SesSimArgs),
    /// Benchmark one broadcast to N recipients through separate API,
    /// dispatcher and simulator processes on 127.0.0.1, with PostgreSQL and
    /// Redis.
    #[command(name = "bench-broadcast")]
    BenchBroadcast(bench::BenchArgs),
    /// Run a load scenario of load-tests/scenarios (or list them) on
    /// 127.0.0.1 and write its JSON results and Markdown summary.
    Load(load::LoadArgs),
    /// Check that three dispatchers sharing one AWS account send at 0.95 to
    /// 1.0 of its MaxSendRate without a throttle, against a strict SES
    /// simulator, PostgreSQL and Redis on 127.0.0.1.
    #[command(name = "rate-fidelity")]
    RateFidelity(fidelity::FidelityArgs),
}

#[derive(Subcommand, Debug)]
enum OrgsCommand {
    /// Create an organisation and print its id.
    Create {
        #[arg(long)]
        name: String,
        /// A plan id of the plan table: free, pro, business, the legacy
        /// starter, growth and scale, or one added in the configuration.
        #[arg(long, default_value = "free")]
        plan: String,
    },
    /// List organisations.
    List,
    /// Move an organisation to another plan. Its limits and feature gates
    /// change with its next request; running broadcasts pick up the new
    /// send limits with their next chunk.
    SetPlan {
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        plan: String,
    },
    /// Print the plan table in effect, with the configuration applied.
    Plans,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create an API key and print it alone on stdout. It is shown once.
    Create {
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        name: String,
        #[arg(long = "type", value_enum, default_value_t = KeyType::Live)]
        key_type: KeyType,
        /// Days until the key expires; without it the key does not expire.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// List an organisation's API keys (prefixes only).
    List {
        #[arg(long)]
        org: OrgId,
    },
    /// Revoke an API key by its id.
    Revoke { id: ApiKeyId },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum KeyType {
    Live,
    Test,
    Restricted,
}

#[derive(Subcommand, Debug)]
enum TopicsCommand {
    /// Create a topic.
    Create {
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        name: String,
        /// Unique per organisation: lower-case letters, digits, '-' and '_'.
        #[arg(long)]
        slug: String,
        #[arg(long)]
        description: Option<String>,
        /// New subscriptions wait for the contact's confirmation.
        #[arg(long)]
        double_opt_in: bool,
    },
    /// List topics; `--org` may be left out when there is one organisation.
    List {
        #[arg(long)]
        org: Option<OrgId>,
    },
}

#[derive(Subcommand, Debug)]
enum ContactsCommand {
    /// Import contacts from a CSV file with a header row.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
struct ImportArgs {
    #[arg(long)]
    org: OrgId,
    /// CSV file; common ESP export columns are recognised, others become
    /// properties.
    file: PathBuf,
    /// Subscribe every imported contact to the topic with this slug.
    #[arg(long, value_name = "SLUG")]
    topic: Option<String>,
}

#[derive(Subcommand, Debug)]
enum DeadLettersCommand {
    /// List dead-lettered jobs.
    List {
        /// Maximum number of entries to show.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Move dead-lettered jobs back to their shard's stream.
    Redrive {
        /// Entry id to re-drive; without it every entry is re-driven.
        id: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("wrapsd: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let quiet = matches!(
        cli.command,
        Command::Quickstart(_) | Command::RateFidelity(_)
    );
    telemetry::init_logging(config.log_format, if quiet { "warn" } else { "info" });

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("wrapsd: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wrapsd: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Quickstart(args) => quickstart::run(args, config).await,
        Command::SesSim(args) => load_tests::run_ses_sim(args).await,
        Command::BenchBroadcast(args) => bench::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::RateFidelity(args) => fidelity::run(args).await,
        Command::Serve => serve::run(config, serve::Role::Both).await,
        Command::Api => serve::run(config, serve::Role::Api).await,
        Command::Dispatch => serve::run(config, serve::Role::Dispatcher).await,
        Command::Migrate => admin::migrate(&config).await,
        Command::RotateUnsubscribeKey => {
            let store = admin::open_store(&config).await?;
            let version = store.rotate_unsubscribe_key().await?;
            eprintln!("unsubscribe links are now signed with key version {version} after each process restarts; older links stay valid");
            Ok(())
        }
        Command::MetricsDoc => {
            print!("{}", metrics_catalogue::markdown());
            Ok(())
        }
        Command::Openapi => {
            let document = control_plane::openapi_document(&config.public_url());
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        }
        Command::Orgs(OrgsCommand::Create { name, plan }) => {
            admin::create_org(&config, &name, &plan).await
        }
        Command::Orgs(OrgsCommand::List) => admin::list_orgs(&config).await,
        Command::Orgs(OrgsCommand::SetPlan { org, plan }) => {
            admin::set_plan(&config, org, &plan).await
        }
        Command::Orgs(OrgsCommand::Plans) => admin::print_plans(&config),
        Command::Keys(KeysCommand::Create {
            org,
            name,
            key_type,
            expires_in_days,
        }) => {
            let key_type = match key_type {
                KeyType::Live => store::KeyType::Live,
                KeyType::Test => store::KeyType::Test,
                KeyType::Restricted => store::KeyType::Restricted,
            };
            admin::create_key(&config, org, &name, key_type, expires_in_days).await
        }
        Command::Keys(KeysCommand::List { org }) => admin::list_keys(&config, org).await,
        Command::Keys(KeysCommand::Revoke { id }) => admin::revoke_key(&config, id).await,
        Command::Topics(TopicsCommand::Create {
            org,
            name,
            slug,
            description,
            double_opt_in,
        }) => admin::create_topic(&config, org, name, slug, description, double_opt_in).await,
        Command::Topics(TopicsCommand::List { org }) => admin::list_topics(&config, org).await,
        Command::Contacts(ContactsCommand::Import(args)) => {
            admin::import(&config, args.org, args.file, args.topic).await
        }
        Command::DeadLetters(DeadLettersCommand::List { limit }) => {
            admin::list_dead_letters(&config, limit).await
        }
        Command::DeadLetters(DeadLettersCommand::Redrive { id }) => {
            admin::redrive(&config, id).await
        }
    }
}
