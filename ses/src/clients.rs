//! Settings and the factory of SDK clients, one per AWS connection.
//!
//! Every client shares one HTTP client (one connection pool) and one base
//! configuration, loaded once. The base configuration contains the default
//! credential chain (or credentials the caller supplies) and the
//! `AWS_ENDPOINT_URL_SESV2` and `AWS_ENDPOINT_URL` environment variables.
//! aws-sdk-sesv2 1.145 reads those variables itself when its configuration is
//! built from an `SdkConfig`. An explicit [`SesSettings::endpoint_url`] wins
//! over both.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{
    ProvideCredentials, Region, SharedCredentialsProvider, SharedHttpClient,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use tokio::sync::OnceCell;

use crate::client::SesClient;
use crate::error::SesError;
use crate::sdk::AwsSesClient;

/// Region of the base configuration. Every client sets its connection's own
/// region. Naming one here stops the SDK from looking the region up, because
/// that lookup may query the EC2 instance metadata service.
const BASE_REGION: &str = "us-east-1";

/// Settings of SES clients: endpoints, timeouts, retries of reads and the
/// session name of assumed roles.
#[derive(Clone, Debug, PartialEq)]
pub struct SesSettings {
    /// Endpoint of every SES client in place of the regional AWS endpoint, for
    /// example the simulator's `http://127.0.0.1:4566`.
    pub endpoint_url: Option<String>,
    /// Endpoint of STS for `AssumeRole`, in place of the regional one.
    pub sts_endpoint_url: Option<String>,
    /// Time allowed to open a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of a call, credentials and connecting
    /// included. A send that runs out of it ends as `Unknown` once the
    /// request was written.
    pub call_timeout: Duration,
    /// Attempts of calls that do not send (`GetAccount`, templates), the
    /// first included. Sends always make exactly one.
    pub read_max_attempts: u32,
    /// `RoleSessionName` of assumed roles, shown in the customer's CloudTrail.
    pub role_session_name: String,
}

impl Default for SesSettings {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            sts_endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(15),
            read_max_attempts: 3,
            role_session_name: "wrapsd".to_owned(),
        }
    }
}

impl SesSettings {
    /// Checks the settings; the error names the setting that is invalid.
    pub fn validate(&self) -> Result<(), SesError> {
        let invalid = |setting, reason: String| Err(SesError::InvalidSetting { setting, reason });

        for (setting, url) in [
            ("endpoint_url", &self.endpoint_url),
            ("sts_endpoint_url", &self.sts_endpoint_url),
        ] {
            if let Some(url) = url {
                if let Err(reason) = check_endpoint(url) {
                    return invalid(setting, reason);
                }
            }
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout", "must be above zero".to_owned());
        }
        if self.call_timeout <= self.connect_timeout {
            return invalid(
                "call_timeout",
                format!(
                    "must be longer than connect_timeout ({:?}), so that a slow connect \
                     is reported as a connect failure",
                    self.connect_timeout
                ),
            );
        }
        if self.read_max_attempts == 0 {
            return invalid("read_max_attempts", "must be at least 1".to_owned());
        }
        if !is_session_name(&self.role_session_name) {
            return invalid(
                "role_session_name",
                "must be 2 to 64 characters of letters, digits and +=,.@_-".to_owned(),
            );
        }
        Ok(())
    }
}

/// Returns the HTTPS client (rustls with ring) every factory uses unless it
/// is given one. It makes plain HTTP requests too, for a loopback simulator.
// NOTE: this client ignores HTTPS_PROXY and related variables; a deployment
// behind a proxy passes its own client to `SesClients::with_http_client`.
pub fn default_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn check_endpoint(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|err| format!("{url:?} is not a URL: {err}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(format!(
            "{url:?} must be an http:// or https:// URL with a host"
        )),
    }
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// An AWS account and region to send through, and how to get its
/// credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AwsConnection {
    /// 12-digit AWS account id.
    pub account_id: String,
    pub region: String,
    /// Role to assume; `None` uses the base credentials directly.
    pub role: Option<AssumeRole>,
}

/// An IAM role in the customer's account that wrapsd assumes to send.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AssumeRole {
    pub role_arn: String,
    /// `sts:ExternalId` required by the role's trust policy.
    pub external_id: Option<String>,
}

impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Builds SES clients lazily and keeps one per connection (account id,
/// region and role).
pub struct SesClients {
    settings: SesSettings,
    /// Credentials of every connection without a role, and the ones that
    /// assume roles; `None` uses the default credential chain.
    base_credentials: Option<SharedCredentialsProvider>,
    http_client: SharedHttpClient,
    base_config: OnceCell<SdkConfig>,
    clients: Mutex<HashMap<AwsConnection, Arc<AwsSesClient>>>,
}

impl fmt::Debug for SesClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesClients")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SesClients {
    /// Creates the factory with the default credential chain (environment,
    /// profile, web identity, ECS, EC2 instance metadata) as base
    /// credentials.
    pub fn new(settings: SesSettings) -> Result<Self, SesError> {
        Self::with_http_client(settings, None, default_http_client())
    }

    /// Creates the factory with `credentials` as base credentials, for
    /// example static keys in tests or for the simulator.
    pub fn with_credentials(
        settings: SesSettings,
        credentials: impl ProvideCredentials + 'static,
    ) -> Result<Self, SesError> {
        let credentials = SharedCredentialsProvider::new(credentials);
        Self::with_http_client(settings, Some(credentials), default_http_client())
    }

    /// Creates the factory with its own HTTP client, for example one with a
    /// proxy or a custom DNS resolver. `None` credentials use the default
    /// chain.
    pub fn with_http_client(
        settings: SesSettings,
        base_credentials: Option<SharedCredentialsProvider>,
        http_client: SharedHttpClient,
    ) -> Result<Self, SesError> {
        settings.validate()?;
        Ok(Self {
            settings,
            base_credentials,
            http_client,
            base_config: OnceCell::new(),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Returns the client of `connection`, building it on first use.
    pub async fn client(&self, connection: &AwsConnection) -> Arc<dyn SesClient> {
        if let Some(client) = self.cached(connection) {
            return client;
        }

        // Two tasks may build the same client at once; the first one stored
        // wins and the other is dropped, which costs nothing but the build.
        let built = Arc::new(self.build_client(connection).await);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let client = clients.entry(connection.clone()).or_insert(built).clone();
        client
    }

    /// Drops the cached client of `connection`, for example after its role or
    /// external id changed. Calls in flight keep their client.
    pub fn evict(&self, connection: &AwsConnection) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.remove(connection);
    }

    fn cached(&self, connection: &AwsConnection) -> Option<Arc<dyn SesClient>> {
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .get(connection)
            .map(|client| client.clone() as Arc<dyn SesClient>)
    }

    async fn base_config(&self) -> &SdkConfig {
        self.base_config
            .get_or_init(|| async {
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(self.settings.connect_timeout)
                    .operation_attempt_timeout(self.settings.call_timeout)
                    .build();
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(self.http_client.clone())
                    .region(Region::from_static(BASE_REGION))
                    .timeout_config(timeouts)
                    .retry_config(self.read_retry());
                if let Some(credentials) = &self.base_credentials {
                    loader = loader.credentials_provider(credentials.clone());
                }
                loader.load().await
            })
            .await
    }

    fn read_retry(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.settings.read_max_attempts)
    }

    async fn build_client(&self, connection: &AwsConnection) -> AwsSesClient {
        let base = self.base_config().await;
        let region = Region::new(connection.region.clone());

        let mut config = aws_sdk_sesv2::config::Builder::from(base)
            .region(region.clone())
            .retry_config(RetryConfig::disabled());
        if let Some(role) = &connection.role {
            let provider = self.assume_role_provider(base, role, region).await;
            config = config.credentials_provider(provider);
        }
        if let Some(url) = &self.settings.endpoint_url {
            config = config.endpoint_url(url);
        }

        tracing::info!(
            account = %connection.account_id,
            region = %connection.region,
            assumes_role = connection.role.is_some(),
            "SES client created"
        );
        AwsSesClient::new(
            aws_sdk_sesv2::Client::from_conf(config.build()),
            self.read_retry(),
            format!("{}/{}", connection.account_id, connection.region),
        )
    }

    /// Builds the credentials of `role`. The SES client's identity cache
    /// keeps the session and assumes the role again shortly before it
    /// expires.
    async fn assume_role_provider(
        &self,
        base: &SdkConfig,
        role: &AssumeRole,
        region: Region,
    ) -> SharedCredentialsProvider {
        let mut sts_config = base.clone().into_builder();
        if let Some(url) = &self.settings.sts_endpoint_url {
            sts_config = sts_config.endpoint_url(url);
        }

        let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
            .session_name(self.settings.role_session_name.clone())
            .region(region)
            .configure(&sts_config.build());
        if let Some(external_id) = &role.external_id {
            builder = builder.external_id(external_id.clone());
        }
        SharedCredentialsProvider::new(builder.build().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_are_valid() {
        SesSettings::default().validate().unwrap();
    }

    #[test]
    fn settings_reject_bad_values() {
        let cases: Vec<(SesSettings, &str)> = vec![
            (
                SesSettings {
                    endpoint_url: Some("localhost:4566".to_owned()),
                    ..SesSettings::default()
                },
                "endpoint_url",
            ),
            (
                SesSettings {
                    sts_endpoint_url: Some("ftp://127.0.0.1".to_owned()),
                    ..SesSettings::default()
                },
                "sts_endpoint_url",
            ),
            (
                SesSettings {
                    connect_timeout: Duration::ZERO,
                    ..SesSettings::default()
                },
                "connect_timeout",
            ),
            (
                SesSettings {
                    call_timeout: Duration::from_secs(1),
                    ..SesSettings::default()
                },
                "call_timeout",
            ),
            (
                SesSettings {
                    read_max_attempts: 0,
                    ..SesSettings::default()
                },
                "read_max_attempts",
            ),
            (
                SesSettings {
                    role_session_name: "has space".to_owned(),
                    ..SesSettings::default()
                },
                "role_session_name",
            ),
        ];

        for (settings, expected) in cases {
            match settings.validate() {
                Err(SesError::InvalidSetting { setting, .. }) => assert_eq!(setting, expected),
                other => panic!("{expected}: expected an invalid setting, got {other:?}"),
            }
        }
    }

    #[test]
    fn endpoint_accepts_loopback_http() {
        assert!(check_endpoint("http://127.0.0.1:4566").is_ok());
        assert!(check_endpoint("https://email.us-east-1.amazonaws.com").is_ok());
    }

    #[test]
    fn assume_role_debug_hides_external_id() {
        let role = AssumeRole {
            role_arn: "arn:aws:iam::123456789012:role/wraps".to_owned(),
            external_id: Some("secret-external-id".to_owned()),
        };
        let debug = format!("{role:?}");
        assert!(!debug.contains("secret-external-id"), "{debug}");
        assert!(debug.contains("role/wraps"), "{debug}");
    }
}
