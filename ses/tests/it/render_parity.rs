//! Local rendering must produce what SES renders from the same stored
//! template and data. The simulator renders with the `handlebars` crate the
//! way SES renders with Handlebars, so each case is rendered both ways and
//! compared part by part.

use load_tests::sim::{SimConfig, SimMessage, SimServer};
use serde_json::{json, Map, Value};
use ses::render::{
    default_template_data, pad, recipient_data, referenced_variables, translate_authoring,
    RecipientFields, Template,
};
use ses::{BulkEntry, BulkMessage, SendOutcome, SesClient};

use crate::support::{client, start_sim, SENDER};

struct Case {
    name: &'static str,
    /// Authoring source used for the subject, the HTML and the text part.
    source: &'static str,
    first_name: Option<&'static str>,
    company: Option<&'static str>,
    properties: Value,
}

fn cases() -> Vec<Case> {
    let case = |name, source, first_name| Case {
        name,
        source,
        first_name,
        company: None,
        properties: json!({}),
    };
    vec![
        case("plain", "Hi {{contact.firstName}}", Some("Ada")),
        case("fallback used", "Hi {{contact.firstName|there}}", None),
        case(
            "fallback unused",
            "Hi {{contact.firstName|there}}",
            Some("Ada"),
        ),
        case("missing without fallback", "Hi {{nickname}}!", Some("Ada")),
        Case {
            company: Some("Acme"),
            ..case(
                "if else with value",
                "{{#if contact.company}}at {{contact.company}}{{else}}independent{{/if}}",
                None,
            )
        },
        case(
            "if else without value",
            "{{#if contact.company}}at {{contact.company}}{{else}}independent{{/if}}",
            None,
        ),
        case(
            "unless",
            "{{#unless contact.lastName}}no last name{{/unless}}",
            Some("Ada"),
        ),
        case(
            "non-ASCII",
            "Grüße {{firstName}} – 你好 🎉",
            Some("Zoë Ñúñez"),
        ),
        case(
            "HTML special characters",
            "Hi {{firstName}} & co",
            Some("Tom & \"Jerry\" <b>'s</b>"),
        ),
        Case {
            properties: json!({"plan": "pro", "seats": 5}),
            ..case(
                "properties",
                "Plan {{contact.properties.plan}} for {{contactPropertiesSeats}} seats",
                None,
            )
        },
        case(
            "unsubscribe link",
            "<a href=\"{{unsubscribeUrl}}\">Unsubscribe</a>",
            None,
        ),
    ]
}

/// One case's template in SES form and the data of its single recipient.
struct Prepared {
    template: String,
    data: Map<String, Value>,
    default_data: Map<String, Value>,
}

fn prepare(case: &Case) -> Prepared {
    let template = translate_authoring(case.source);
    let referenced = referenced_variables(&template).unwrap();
    let fields = RecipientFields {
        email: "ada@example.com".to_owned(),
        first_name: case.first_name.map(str::to_owned),
        company: case.company.map(str::to_owned),
        properties: case.properties.as_object().unwrap().clone(),
        ..RecipientFields::default()
    };
    let mut data = recipient_data(
        &fields,
        "Acme",
        Some("https://api.acme.test/unsubscribe/t?a=1&b=2"),
        None,
        &[],
    );
    pad(&mut data, &referenced);
    Prepared {
        template,
        data,
        default_data: default_template_data(&referenced),
    }
}

/// Publishes `prepared` as template `name` and sends it to one recipient;
/// returns what the simulator recorded.
async fn render_in_simulator(
    server: &SimServer,
    ses: &dyn SesClient,
    name: &str,
    prepared: &Prepared,
) -> SimMessage {
    let source = &prepared.template;
    ses.upsert_template(name, source, source, Some(source))
        .await
        .unwrap();
    let message = BulkMessage {
        from: SENDER.to_owned(),
        template_name: name.to_owned(),
        default_template_data: Value::Object(prepared.default_data.clone()).to_string(),
        default_tags: vec![("batchId".to_owned(), name.to_owned())],
        entries: vec![BulkEntry {
            to: "ada@example.com".to_owned(),
            template_data: Value::Object(prepared.data.clone()).to_string(),
            ..BulkEntry::default()
        }],
        ..BulkMessage::default()
    };
    let outcomes = ses.send_bulk_email(&message).await;
    assert!(
        matches!(outcomes[..], [SendOutcome::Sent { .. }]),
        "{name}: {outcomes:?}"
    );
    server.messages(Some(name)).remove(0)
}

async fn rendered_pairs() -> Vec<(&'static str, String, SimMessage)> {
    let server = start_sim(SimConfig {
        record_content: true,
        ..SimConfig::default()
    })
    .await;
    let ses = client(&server.endpoint()).await;

    let mut pairs = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let prepared = prepare(case);
        let local = Template::compile(&prepared.template)
            .unwrap()
            .render(&prepared.data)
            .unwrap();
        let remote = render_in_simulator(&server, &*ses, &format!("parity-{i}"), &prepared).await;
        pairs.push((case.name, local, remote));
    }
    server.shutdown().await;
    pairs
}

#[tokio::test]
async fn subject_and_text_match_simulator() {
    for (name, local, remote) in rendered_pairs().await {
        assert_eq!(
            remote.subject.as_deref(),
            Some(local.as_str()),
            "subject: {name}"
        );
        assert_eq!(remote.text.as_deref(), Some(local.as_str()), "text: {name}");
    }
}

/// Reports whether the rendered text contains a character that HTML
/// escaping would change.
fn has_html_special(text: &str) -> bool {
    text.contains(['&', '<', '>', '"', '\''])
}

#[tokio::test]
async fn html_matches_simulator() {
    for (name, local, remote) in rendered_pairs().await {
        if has_html_special(&local) {
            continue;
        }
        assert_eq!(remote.html.as_deref(), Some(local.as_str()), "html: {name}");
    }
}

// SES does not escape substituted values (SES Developer Guide, "Advanced
// email personalization"), and neither do the local renderer and the simulator.
#[tokio::test]
async fn html_with_special_characters_matches_simulator() {
    for (name, local, remote) in rendered_pairs().await {
        assert_eq!(remote.html.as_deref(), Some(local.as_str()), "html: {name}");
    }
}

#[tokio::test]
async fn fallbacks_render_as_expected() {
    let expected = [
        ("plain", "Hi Ada"),
        ("fallback used", "Hi there"),
        ("fallback unused", "Hi Ada"),
        ("missing without fallback", "Hi !"),
        ("if else with value", "at Acme"),
        ("if else without value", "independent"),
        ("unless", "no last name"),
        ("non-ASCII", "Grüße Zoë Ñúñez – 你好 🎉"),
        (
            "HTML special characters",
            "Hi Tom & \"Jerry\" <b>'s</b> & co",
        ),
        ("properties", "Plan pro for 5 seats"),
        (
            "unsubscribe link",
            "<a href=\"https://api.acme.test/unsubscribe/t?a=1&b=2\">Unsubscribe</a>",
        ),
    ];
    let cases = cases();
    assert_eq!(cases.len(), expected.len());
    for (case, (name, output)) in cases.iter().zip(expected) {
        assert_eq!(case.name, name);
        let prepared = prepare(case);
        let local = Template::compile(&prepared.template)
            .unwrap()
            .render(&prepared.data)
            .unwrap();
        assert_eq!(local, output, "{name}");
    }
}
