use axum::http::{Method, StatusCode};

use crate::TestApp;

/// The committed `openapi.json` must match what the routes generate. After
/// changing a route, regenerate it with
/// `cargo run -p wrapsd -- openapi > openapi.json`.
#[test]
fn committed_document_matches_routes() {
    let generated = control_plane::openapi_document("http://127.0.0.1:8080");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    let committed =
        std::fs::read_to_string(path).expect("openapi.json is missing at the workspace root");
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(
        committed == generated,
        "openapi.json is out of date; regenerate it with `cargo run -p wrapsd -- openapi > openapi.json`"
    );
}

#[test]
fn document_is_openapi_3_0_3_with_shared_errors() {
    let document = control_plane::openapi_document("http://127.0.0.1:8080");
    assert_eq!(document["openapi"], "3.0.3");
    assert_eq!(document["info"]["title"], "Wraps Platform API");
    let create = &document["paths"]["/v1/contacts"]["post"];
    for status in ["400", "401", "403", "404", "422", "429", "500"] {
        assert!(
            create["responses"][status].is_object(),
            "POST /v1/contacts lacks {status}"
        );
    }
    assert!(create["responses"]["429"]["headers"]["Retry-After"].is_object());
    let text = document.to_string();
    assert!(
        !text.contains("\"null\""),
        "3.1 null types must be rewritten"
    );
}

#[tokio::test]
async fn swagger_serves_json_and_ui() {
    let app = TestApp::new().await;
    let json = app.call_as(None, Method::GET, "/swagger/json", None).await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.body["openapi"], "3.0.3");

    let ui = app.call_as(None, Method::GET, "/swagger/", None).await;
    assert_eq!(ui.status, StatusCode::OK);
    assert!(
        ui.body.as_str().unwrap().contains("swagger-ui"),
        "Swagger UI page expected"
    );
}
