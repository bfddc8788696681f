//! The bare server of the generator's ceiling: axum on the same runtime
//! settings as wrapsd, returning a small JSON body for every method and path
//! body and no work. It runs as `wrapsd load --serve-hello ADDR`, a process
//! of its own like the wrapsd processes it replaces in the measurement.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use axum::Json;
use serde_json::{json, Value};

/// Serves until the process is stopped. Only loopback addresses are
/// accepted.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("--serve-hello {addr}: only a loopback address is allowed");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let app = axum::Router::new().fallback(hello);
    axum::serve(listener, app)
        .await
        .context("the hello server failed")
}

async fn hello() -> Json<Value> {
    Json(json!({ "hello": "world" }))
}
