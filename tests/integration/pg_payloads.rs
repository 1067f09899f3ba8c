//! Message payloads in Postgres: compressed with LZ4 where the server has it, and sent
//! byte for byte whatever their size.

use crate::pg_support::fresh_pg_store;
use crate::store_conformance::{claim, message, new_app, plain_endpoint, post};
use hookline::store::Sealer;
use sqlx::{Connection, PgConnection};

/// About 6 KB of invoice lines: past the size at which Postgres compresses a value.
fn large_payload() -> String {
    let lines: Vec<String> = (0..80)
        .map(|n| {
            format!(
                r#"{{"id":"li_{:016x}","object":"line_item","amount":{},"currency":"usd"}}"#,
                n * 7_919_u64 * 104_729,
                n * 131
            )
        })
        .collect();
    format!(r#"{{"type":"invoice.paid","lines":[{}]}}"#, lines.join(","))
}

#[tokio::test]
async fn large_payloads_are_stored_compressed_and_claimed_byte_for_byte() {
    let (store, db) = fresh_pg_store(Sealer::new(None)).await;
    let mut admin = PgConnection::connect(db.url())
        .await
        .expect("connecting to the test database");
    let lz4 = sqlx::query("CREATE TEMPORARY TABLE lz4_probe (t text COMPRESSION lz4)")
        .execute(&mut admin)
        .await
        .is_ok();

    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let payload = large_payload();
    assert!(payload.len() > 6000, "{} bytes", payload.len());
    let mut msg = message(&app.id, "invoice.paid", None);
    msg.message.payload = Some(payload.clone());
    let (id, _) = post(&store, msg).await;

    let (method, stored): (Option<String>, i32) = sqlx::query_as(
        "SELECT pg_column_compression(payload), pg_column_size(payload) FROM messages
         WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_one(&mut admin)
    .await
    .expect("reading the stored payload");
    let expected = if lz4 { "lz4" } else { "pglz" };
    assert_eq!(method.as_deref(), Some(expected));
    assert!(
        (stored as usize) < payload.len() / 2,
        "{stored} bytes stored for {}",
        payload.len()
    );

    let claimed = claim(&store, "worker-a", 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].payload.as_deref(), Some(payload.as_bytes()));
}
