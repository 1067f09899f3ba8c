//! Micro-benchmarks of the send path's CPU work.
#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, criterion_group, criterion_main};
use hookline::domain::EndpointSecret;
use hookline::signing;
use std::hint::black_box;

fn sign(c: &mut Criterion) {
    let secret = EndpointSecret::generate();
    let body = vec![b'x'; 1024];
    c.bench_function("sign 1 KiB payload", |b| {
        b.iter(|| signing::sign(&secret, black_box("msg_01JXYZ"), 1_614_265_330, &body));
    });
}

criterion_group!(benches, sign);
criterion_main!(benches);
