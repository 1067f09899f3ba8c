//! The CPU-only steps: signing a body, and the message's JSON in and out of the API.

use crate::fixtures::{KIB, flat_payload};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use hookline::api::extract::parse_json;
use hookline::api::wire::{MessageIn, MessageOut};
use hookline::domain::{AppId, EndpointSecret};
use hookline::signing;
use std::hint::black_box;

/// Body sizes of the signing and payload cases.
const SIZES: [(usize, &str); 2] = [(KIB, "1KiB"), (64 * KIB, "64KiB")];

/// `signing/{1KiB,64KiB}`: one `v1,…` signature, as the sender computes per attempt.
pub fn signing(c: &mut Criterion) {
    let secret = EndpointSecret::generate();
    let mut group = c.benchmark_group("signing");
    for (size, label) in SIZES {
        let body = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(label, |b| {
            b.iter(|| signing::sign(&secret, black_box("msg_01JXYZ"), 1_614_265_330, &body));
        });
    }
    group.finish();
}

/// A payload of about `size` bytes made of small nested objects and arrays: many tokens per
/// byte, the opposite of [`flat_payload`]'s one long string.
fn nested_payload(size: usize) -> String {
    let mut items = Vec::new();
    let mut len = "{\"items\":[]}".len();
    for i in 0.. {
        let item = format!(
            r#"{{"id":{i},"sku":"s{i}","qty":{},"price":{}.5,"tags":["a","b"],"meta":{{"ok":true,"n":null}}}}"#,
            i % 7,
            i % 100
        );
        if len + item.len() + 1 > size && !items.is_empty() {
            break;
        }
        len += item.len() + 1;
        items.push(item);
    }
    format!("{{\"items\":[{}]}}", items.join(","))
}

/// A `POST …/msg` body carrying `payload`.
fn message_body(payload: &str) -> Vec<u8> {
    format!(r#"{{"eventType":"invoice.paid","eventId":"evt-42","channels":["billing"],"payload":{payload}}}"#)
        .into_bytes()
}

/// `payload/{parse,serialise}_{flat,nested}/{1KiB,64KiB}` and `payload/value_nested/…`.
///
/// `parse` is what the create handler does before the store: `parse_json::<MessageIn>`,
/// then `into_parts` (validation, the payload copied out of the body) and `for_app`.
/// `serialise` is the 202 answer: `MessageOut::new` (which re-checks the stored payload as
/// a `RawValue`) and `serde_json::to_vec`. `value_nested` parses the nested payload alone
/// into a `serde_json::Value`, the cost the raw payload avoids. Throughput is the payload's
/// bytes.
pub fn payload(c: &mut Criterion) {
    let app = AppId::generate();
    let mut group = c.benchmark_group("payload");
    for (size, label) in SIZES {
        for (shape, payload) in [
            ("flat", flat_payload(size)),
            ("nested", nested_payload(size)),
        ] {
            let body = message_body(&payload);
            group.throughput(Throughput::Bytes(payload.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("parse_{shape}"), label),
                &body,
                |b, body| {
                    b.iter(|| {
                        let message: MessageIn = parse_json(black_box(body)).expect("a valid body");
                        let (draft, _) = message.into_parts().expect("a valid message");
                        draft.for_app(&app)
                    });
                },
            );
            let stored = parse_json::<MessageIn>(&body)
                .and_then(MessageIn::into_parts)
                .expect("a valid message")
                .0
                .for_app(&app)
                .message;
            group.bench_function(BenchmarkId::new(format!("serialise_{shape}"), label), |b| {
                b.iter_batched(
                    || stored.clone(),
                    |message| serde_json::to_vec(&MessageOut::new(message, true)).expect("JSON"),
                    BatchSize::SmallInput,
                );
            });
            if shape == "nested" {
                group.bench_function(BenchmarkId::new("value_nested", label), |b| {
                    b.iter(|| {
                        serde_json::from_slice::<serde_json::Value>(black_box(payload.as_bytes()))
                            .expect("JSON")
                    });
                });
            }
        }
    }
    group.finish();
}
