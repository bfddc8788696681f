//! `AWS_ENDPOINT_URL_SESV2` redirects clients that have no explicit
//! endpoint. This is its own test binary with a single test because it sets
//! a process environment variable, which no other thread may read meanwhile.

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use load_tests::sim::{self, SimConfig};
use ses::{
    AwsConnection, Credentials, SendOutcome, SesClients, SesSettings, SharedCredentialsProvider,
};

/// Resolves every name to 127.0.0.1. Should the SDK ignore the variable, the
/// request for the AWS endpoint lands on a closed loopback port instead of
/// leaving the machine.
#[derive(Clone, Debug)]
struct LoopbackResolver;

impl ResolveDns for LoopbackResolver {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![std::net::Ipv4Addr::LOCALHOST.into()]))
    }
}

#[test]
fn endpoint_environment_variable_redirects_client() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    runtime.block_on(async {
        let server = sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        // Only this thread runs: the runtime is single-threaded and the test
        // harness waits for the test.
        std::env::set_var("AWS_ENDPOINT_URL_SESV2", server.endpoint());

        let credentials = Credentials::new("AKIDENVTEST", "env-test-secret", None, None, "test");
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_with_resolver(LoopbackResolver);
        let clients = SesClients::with_http_client(
            SesSettings::default(),
            Some(SharedCredentialsProvider::new(credentials)),
            http_client,
        )
        .unwrap();
        let connection = AwsConnection {
            account_id: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            role: None,
        };
        let ses = clients.client(&connection).await;
        std::env::remove_var("AWS_ENDPOINT_URL_SESV2");

        let quota = ses.get_account().await;
        let outcome = ses
            .send_email(&ses::EmailMessage {
                from: "a@acme.test".to_owned(),
                to: "b@example.com".to_owned(),
                subject: "s".to_owned(),
                html: "<p>h</p>".to_owned(),
                ..ses::EmailMessage::default()
            })
            .await;

        assert!(quota.is_ok(), "{quota:?}");
        assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
        assert_eq!(server.stats().calls["GetAccount"], 1);
        assert_eq!(server.stats().accepted, 1);
        server.shutdown().await;
    });
}
