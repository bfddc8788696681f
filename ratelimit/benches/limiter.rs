//! Decision cost of the limiters: one in-process GCRA check (target under
//! 200 ns) and one shared check in Redis, which is one round trip. The Redis
//! check is measured only when `WRAPS_BENCH_REDIS_URL` names a Redis server
//! on this machine.

use std::time::Duration;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ratelimit::{LocalLimiter, RedisLimiter, Window};

fn local(c: &mut Criterion) {
    let mut group = c.benchmark_group("local_gcra");
    group.throughput(Throughput::Elements(1));
    let limiter = LocalLimiter::default();
    let minute = [Window::per_minute(u64::MAX / 2)];
    let both = [
        Window::per_minute(u64::MAX / 2),
        Window::per_day(u64::MAX / 2),
    ];
    // A realistic population of organisations, so lookups miss caches.
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("api:3f9a1c2e-0000-4000-8000-{i:012}"))
        .collect();
    let mut next = 0;
    group.bench_function("check_one_window", |b| {
        b.iter(|| {
            next = (next + 1) % keys.len();
            black_box(limiter.check(&keys[next], &minute, 1))
        })
    });
    group.bench_function("check_two_windows", |b| {
        b.iter(|| {
            next = (next + 1) % keys.len();
            black_box(limiter.check(&keys[next], &both, 1))
        })
    });
    group.finish();
}

fn shared(c: &mut Criterion) {
    let Ok(url) = std::env::var("WRAPS_BENCH_REDIS_URL") else {
        eprintln!(
            "shared_gcra skipped: set WRAPS_BENCH_REDIS_URL=redis://127.0.0.1:6379 to run it"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let prefix = format!("bench-{}:", std::process::id());
    let limiter = runtime
        .block_on(RedisLimiter::connect(&url, &prefix, Duration::from_secs(2)))
        .expect("connecting to WRAPS_BENCH_REDIS_URL failed");
    let windows = [Window::per_second(u64::MAX / 4)];
    let mut group = c.benchmark_group("shared_gcra");
    group.throughput(Throughput::Elements(1));
    group.bench_function("check_per_call", |b| {
        b.iter(|| {
            runtime
                .block_on(limiter.check("send:org", &windows, 50))
                .expect("redis check")
        })
    });
    group.finish();
}

criterion_group!(benches, local, shared);
criterion_main!(benches);
