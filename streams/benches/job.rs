//! Cost of putting a job on a shard stream and taking it off again, without
//! the I/O. The producer wraps the payload in a `Job` (new id, payload to a
//! JSON value) and writes the job as JSON text, the value of the stream
//! entry's `job` field. The consumer parses that text back into a `Job`, and
//! the dispatcher decodes the payload for the job's kind.
//!
//! The Redis backend's field encoding is private, so the bench calls
//! `serde_json::to_string` and `serde_json::from_str` on `Job` as it does.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use schemas::ids::{BatchId, OrgId};
use schemas::jobs::{ChunkJob, FanOutJob, BATCH_CHUNK, BATCH_FAN_OUT};
use serde::de::DeserializeOwned;
use serde::Serialize;
use streams::Job;

/// Encodes a payload as the producer does: payload to job to stream text.
fn encode<T: Serialize>(kind: &str, payload: &T) -> String {
    let job = Job::from_payload(kind, payload).expect("payload encodes");
    serde_json::to_string(&job).expect("job encodes")
}

/// Decodes stream text as the consumer and the dispatcher do: text to job,
/// then job to the payload its kind promises.
fn decode<T: DeserializeOwned>(raw: &str) -> (Job, T) {
    let job: Job = serde_json::from_str(raw).expect("job decodes");
    let payload = job.decode_payload().expect("payload decodes");
    (job, payload)
}

fn chunk_jobs(c: &mut Criterion) {
    let batch_id = BatchId::new();
    let organization_id = OrgId::new();
    // Chunk indexes of a 250,000-recipient batch in chunks of 500.
    let chunks: Vec<ChunkJob> = (0..500)
        .map(|chunk_index| ChunkJob {
            batch_id,
            organization_id,
            chunk_index,
        })
        .collect();
    let encoded: Vec<String> = chunks
        .iter()
        .map(|chunk| encode(BATCH_CHUNK, chunk))
        .collect();

    let mut group = c.benchmark_group("chunk_job");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("encode", |b| {
        b.iter(|| {
            next = (next + 1) % chunks.len();
            black_box(encode(BATCH_CHUNK, &chunks[next]))
        })
    });
    let mut next = 0;
    group.bench_function("decode", |b| {
        b.iter(|| {
            next = (next + 1) % encoded.len();
            black_box(decode::<ChunkJob>(&encoded[next]))
        })
    });
    group.finish();
}

fn fan_out_jobs(c: &mut Criterion) {
    let job = FanOutJob {
        batch_id: BatchId::new(),
        organization_id: OrgId::new(),
    };
    let encoded = encode(BATCH_FAN_OUT, &job);

    let mut group = c.benchmark_group("fan_out_job");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| black_box(encode(BATCH_FAN_OUT, &job)))
    });
    group.bench_function("decode", |b| {
        b.iter(|| black_box(decode::<FanOutJob>(&encoded)))
    });
    group.finish();
}

criterion_group!(benches, chunk_jobs, fan_out_jobs);
criterion_main!(benches);
