//! Background loop that moves due delayed jobs to their shard streams.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{error_chain, Producer, Result};

/// Jobs moved per `Producer::promote_due` call; the loop calls it again while
/// full batches come back.
const PROMOTE_BATCH: usize = 100;

/// Promotes due delayed jobs every `interval` until `shutdown` is cancelled.
///
/// Any number of processes may run this at once. A failure is logged once
/// and retried on every tick until a tick succeeds.
pub async fn run_promoter(
    producer: Arc<dyn Producer>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    info!(?interval, "delayed job promoter started");
    let mut failing = false;

    loop {
        match promote_all_due(producer.as_ref()).await {
            Ok(moved) => {
                if failing {
                    info!(moved, "delayed job promoter recovered");
                    failing = false;
                } else if moved > 0 {
                    debug!(moved, "promoted delayed jobs");
                }
            }
            Err(error) if failing => {
                debug!(error = %error_chain(&error), "failed to promote delayed jobs again");
            }
            Err(error) => {
                warn!(
                    error = %error_chain(&error),
                    ?interval,
                    "failed to promote delayed jobs; retrying every interval",
                );
                failing = true;
            }
        }

        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }

    info!("delayed job promoter stopped");
}

async fn promote_all_due(producer: &dyn Producer) -> Result<usize> {
    let mut total = 0;
    loop {
        let moved = producer.promote_due(PROMOTE_BATCH).await?;
        total += moved;
        if moved < PROMOTE_BATCH {
            return Ok(total);
        }
    }
}
