//! Where each endpoint's pending deliveries start in `deliveries_ready` (its head): the
//! first read of every claim, which the claim's other reads of an endpoint's queue start
//! from.
//!
//! The leading entries of an endpoint's range of `deliveries_ready` are those of its
//! deliveries leased since the last vacuum: a lease takes a row out of the index's
//! predicate, but not its entry out of the index. A probe from the start of the range steps
//! over all of them, with a heap visit for each one leased too recently to be marked dead.
//! [`SCAN`] probes every endpoint so, and grows dearer between vacuums with every delivery
//! leased. [`FROM_BOUNDS`] instead probes the endpoints the last read found from a bound at
//! or before each one's head, and checks the gaps between them in the index for endpoints
//! it does not know (if there is one, a full scan follows). A process uses whichever has
//! lately cost the server less ([`Costs`]), and scans at least every [`RESCAN`].
//!
//! A bound is the head a read found, or the start of the oldest transaction that was open in
//! the database when the read before it ran (`OLDEST`), whichever is earlier. Ingest,
//! releases, resends and recoveries make a delivery due at their transaction's start
//! (`now()`), and that transaction either was open when `OLDEST` was read or began after: a
//! row that commits after a read went past its place is still ahead of the next bound. Two
//! writers date rows earlier. A retry is due at the time its worker chose, which can be past
//! by the time it is written: the process that records it lowers its endpoint's bound
//! ([`Remembered::lower`]). The reaper puts expired leases back due at their lease's end:
//! rows a process reaps make its next read a full scan. Other processes find either at
//! their next full scan, as they find rows written by roles whose activity this role may
//! not read (`OLDEST` does not see their transactions).
//!
//! With more than [`MAX_KNOWN`] endpoints with pending deliveries, every read is a full
//! scan, which returns the heads due first (one more than [`MAX_KNOWN`]).

use super::codec::column;
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where an endpoint's pending deliveries start in `deliveries_ready`: the `due_at` and
/// `id` of its oldest.
pub(super) type Head = (DateTime<Utc>, i64);

/// Before any delivery: a probe from here starts at the beginning of the endpoint's range.
pub(super) const START: Head = (DateTime::UNIX_EPOCH, i64::MIN);

/// Longest a process goes without reading every endpoint's head from the start of its
/// range.
const RESCAN: Duration = Duration::from_secs(1);

/// Most endpoints a process remembers, and most heads a full scan returns.
const MAX_KNOWN: usize = 1000;

/// The oldest start of a transaction open in this database, as far as this role may see
/// (`pg_stat_activity` without its joins).
const OLDEST: &str = "(SELECT min(s.xact_start) FROM pg_stat_get_activity(NULL) s
    WHERE s.datid = (SELECT oid FROM pg_database WHERE datname = current_database()))";

/// Every endpoint with pending deliveries and its head, the `$1` due first, with the
/// database clock and `OLDEST`. The recursive CTE is a loose index scan over
/// `deliveries_ready`: one probe per endpoint with pending deliveries, however deep its
/// backlog (but see the module's notes on the entries each probe steps over). Takes no
/// locks.
const SCAN: &str = "
WITH RECURSIVE heads AS (
    (SELECT endpoint_id, due_at, id FROM deliveries
     WHERE status = 1 ORDER BY endpoint_id, due_at, id LIMIT 1)
    UNION ALL
    SELECT n.endpoint_id, n.due_at, n.id FROM heads h CROSS JOIN LATERAL (
        SELECT endpoint_id, due_at, id FROM deliveries
        WHERE status = 1 AND endpoint_id > h.endpoint_id
        ORDER BY endpoint_id, due_at, id LIMIT 1) n
)
SELECT now(), OLDEST, false, array_agg(endpoint_id), array_agg(due_at), array_agg(id), TOOK
FROM (SELECT * FROM heads ORDER BY due_at LIMIT $1) h";

/// The heads of the known endpoints `$1` (in ascending order) from their bounds (`$2`,
/// `$3`), those that have any, with the database clock, `OLDEST`, and whether any endpoint
/// outside `$1` has pending deliveries: one probe per gap between known endpoints, each
/// stopping at the first entry it meets (a gap's probe steps over the dead entries of at
/// most one index page of the known endpoint after it). Every subquery is ordered, so that
/// even a generic plan walks `deliveries_ready` rather than scanning the table.
const FROM_BOUNDS: &str = "
WITH heads AS (
    SELECT k.endpoint_id, h.due_at, h.id
    FROM UNNEST($1::text[], $2::timestamptz[], $3::bigint[]) AS k(endpoint_id, due_at, id)
    CROSS JOIN LATERAL (
        SELECT d.due_at, d.id FROM deliveries d
        WHERE d.endpoint_id = k.endpoint_id AND d.status = 1
          AND (d.due_at, d.id) >= (k.due_at, k.id)
        ORDER BY d.due_at, d.id LIMIT 1) h
)
SELECT now(), OLDEST,
       (SELECT d.endpoint_id FROM deliveries d WHERE d.status = 1 AND d.endpoint_id < $1[1]
        ORDER BY d.endpoint_id LIMIT 1) IS NOT NULL
       OR (SELECT d.endpoint_id FROM deliveries d
           WHERE d.status = 1 AND d.endpoint_id > $1[cardinality($1)]
           ORDER BY d.endpoint_id LIMIT 1) IS NOT NULL
       OR EXISTS (
           SELECT FROM UNNEST($1[:cardinality($1) - 1], $1[2:]) AS g(lo, hi)
           CROSS JOIN LATERAL (
               SELECT d.endpoint_id FROM deliveries d
               WHERE d.status = 1 AND d.endpoint_id > g.lo AND d.endpoint_id < g.hi
               ORDER BY d.endpoint_id LIMIT 1) x),
       array_agg(endpoint_id), array_agg(due_at), array_agg(id), TOOK
FROM heads";

/// How long the statement has run, in seconds: the server's time, which is what the two
/// kinds of read are compared by (the round trip and the wait for this process's turn on a
/// busy machine are the same for both, and would drown the difference).
const TOOK: &str = "extract(epoch FROM clock_timestamp() - statement_timestamp())::float8";

/// A row of [`SCAN`] or [`FROM_BOUNDS`]: the database clock, `OLDEST`, whether an
/// endpoint outside the known ones has pending deliveries, the heads found, and `TOOK`.
type Row = (
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    bool,
    Option<Vec<String>>,
    Option<Vec<DateTime<Utc>>>,
    Option<Vec<i64>>,
    f64,
);

/// A statement with `OLDEST` and `TOOK` filled in.
fn statement(sql: &str) -> String {
    sql.replace("OLDEST", OLDEST).replace("TOOK", TOOK)
}

/// [`SCAN`] and [`FROM_BOUNDS`] as sent, built once: every claim sends one or both.
static SCAN_SQL: LazyLock<String> = LazyLock::new(|| statement(SCAN));
static FROM_BOUNDS_SQL: LazyLock<String> = LazyLock::new(|| statement(FROM_BOUNDS));

/// What a read found: every endpoint with pending deliveries (or, between full scans, every
/// known one with any) and its head, and the database clock.
pub(super) struct Heads {
    pub heads: Vec<(String, Head)>,
    pub db_now: DateTime<Utc>,
}

/// The endpoints a process knows to have pending deliveries, with their bounds.
#[derive(Default)]
pub(super) struct Remembered(Mutex<State>);

#[derive(Default)]
struct State {
    /// Bumped whenever rows may have been put back behind a bound, so that a read that
    /// started before does not write its bounds back.
    generation: u64,
    known: Option<Known>,
    /// `OLDEST` as the last read saw it.
    oldest: Option<DateTime<Utc>>,
    costs: Costs,
}

/// How long the two kinds of read have taken this process lately, to choose between them.
/// Probing from the bounds pays when claims lease many deliveries each (a full scan then
/// steps over many entries), and costs more than it saves when they lease a few: reading
/// `OLDEST` and probing the gaps is a fixed cost, and a full scan on every claim marks the
/// entries it steps over dead as soon as they are, which keeps `deliveries_ready` compact.
#[derive(Default)]
struct Costs {
    /// Moving average of full scans that came soon after the one before, as they would on
    /// every claim.
    scan: Option<Duration>,
    /// Moving average of probes from the bounds.
    probe: Option<Duration>,
    last_scan: Option<Instant>,
    last_probe: Option<Instant>,
    /// The last full scan came long after the one before, stepping over more than a scan
    /// on every claim would: the next read is a full scan again, and is timed.
    time_a_scan: bool,
    /// Probe whenever the bounds allow, whatever the costs (see
    /// [`PostgresStore::always_probe_heads`](super::PostgresStore::always_probe_heads)).
    always_probe: bool,
}

impl Costs {
    /// Whether the next read is to probe from the bounds: unless a full scan is to be
    /// timed, while probes are not known to cost more than full scans, and once every
    /// [`RESCAN`] even if they are, to keep their cost current.
    fn probe_next(&self) -> bool {
        if self.always_probe {
            return true;
        }
        if self.time_a_scan {
            return false;
        }
        match (self.probe, self.scan) {
            (Some(probe), Some(scan)) if probe > scan => {
                self.last_probe.is_none_or(|t| t.elapsed() >= RESCAN)
            }
            _ => true,
        }
    }

    fn scanned(&mut self, took: Duration) {
        let typical = self.last_scan.is_some_and(|t| t.elapsed() < RESCAN / 2);
        if typical {
            self.scan = Some(average(self.scan, took));
        }
        self.time_a_scan = !typical;
        self.last_scan = Some(Instant::now());
    }

    fn probed(&mut self, took: Duration) {
        self.probe = Some(average(self.probe, took));
        self.last_probe = Some(Instant::now());
    }
}

/// `sample` folded into the moving average `avg`.
fn average(avg: Option<Duration>, sample: Duration) -> Duration {
    avg.map_or(sample, |avg| avg.mul_f64(0.875) + sample.mul_f64(0.125))
}

struct Known {
    /// When the endpoints were last all read from the start.
    scanned: Instant,
    /// Each known endpoint's bound, by endpoint id.
    bounds: BTreeMap<String, Head>,
}

/// What a read starts from: the state's generation, the known endpoints and their bounds
/// (if they are to be probed from there), and the last `OLDEST` seen.
struct Start {
    generation: u64,
    bounds: Option<Vec<(String, Head)>>,
    oldest: Option<DateTime<Utc>>,
}

impl Remembered {
    /// Makes every read probe from the bounds while they are fresh, whatever the costs.
    pub(super) fn always_probe(&self) {
        self.lock().costs.always_probe = true;
    }

    /// Makes the next read a full scan: rows may have been put back behind the bounds.
    pub(super) fn forget(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.known = None;
    }

    /// Moves the bounds of the endpoints of `due` (endpoint id, due time) back to those times
    /// where they are past them, and keeps reads that started before from writing theirs.
    pub(super) fn lower<'a>(&self, due: impl IntoIterator<Item = (&'a str, DateTime<Utc>)>) {
        let mut state = self.lock();
        let State {
            generation, known, ..
        } = &mut *state;
        let Some(known) = known else {
            return;
        };
        for (endpoint_id, at) in due {
            if let Some(b) = known.bounds.get_mut(endpoint_id) {
                if b.0 >= at {
                    *b = (at, i64::MIN);
                    *generation += 1;
                }
            }
        }
    }

    /// Every endpoint with pending deliveries and its head, read as the module describes.
    pub(super) async fn read(&self, conn: &mut PgConnection) -> StoreResult<Heads> {
        let start = self.start();
        if let Some(bounds) = &start.bounds {
            let row: Row = sqlx::query_as(FROM_BOUNDS_SQL.as_str())
                .bind(column(bounds, |b| b.0.as_str()))
                .bind(column(bounds, |b| b.1.0))
                .bind(column(bounds, |b| b.1.1))
                .fetch_one(&mut *conn)
                .await?;
            let unknown = row.2;
            let (found, oldest, took) = decode(row);
            self.finished(Read::Probe(took), &start, &found, oldest);
            if !unknown {
                return Ok(found);
            }
        }
        // One more than is remembered, to tell whether there are too many.
        let row: Row = sqlx::query_as(SCAN_SQL.as_str())
            .bind(i64::try_from(MAX_KNOWN + 1).unwrap_or(i64::MAX))
            .fetch_one(&mut *conn)
            .await?;
        let (found, oldest, took) = decode(row);
        self.finished(Read::Scan(took), &start, &found, oldest);
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start(&self) -> Start {
        let state = self.lock();
        let known = state.known.as_ref();
        Start {
            generation: state.generation,
            bounds: known
                .filter(|k| k.scanned.elapsed() < RESCAN && !k.bounds.is_empty())
                .filter(|_| state.costs.probe_next())
                .map(|k| k.bounds.iter().map(|(id, b)| (id.clone(), *b)).collect()),
            oldest: state.oldest,
        }
    }

    /// Folds a finished read of `kind` into the state: its time, its `OLDEST`, and the
    /// bounds it moves. After a full scan the endpoints it found are the known ones,
    /// unless it found too many; after a probe from the bounds, every known endpoint's
    /// bound moves up to its head, or to the last `OLDEST` if it has no pending deliveries
    /// left.
    fn finished(&self, kind: Read, start: &Start, read: &Heads, oldest: Option<DateTime<Utc>>) {
        let mut state = self.lock();
        state.oldest = oldest.max(state.oldest);
        match kind {
            Read::Scan(took) => state.costs.scanned(took),
            Read::Probe(took) => state.costs.probed(took),
        }
        if matches!(kind, Read::Scan(_)) && read.heads.len() > MAX_KNOWN {
            state.known = None;
            return;
        }
        if state.generation != start.generation {
            return;
        }
        if matches!(kind, Read::Scan(_)) {
            let bounds = read
                .heads
                .iter()
                .map(|(id, head)| (id.clone(), bound(*head, start.oldest)))
                .collect();
            state.known = Some(Known {
                scanned: Instant::now(),
                bounds,
            });
            return;
        }
        let Some(known) = state.known.as_mut() else {
            return;
        };
        let found: BTreeMap<&str, Head> =
            read.heads.iter().map(|(id, h)| (id.as_str(), *h)).collect();
        for (id, b) in &mut known.bounds {
            let moved = match found.get(id.as_str()) {
                Some(head) => bound(*head, start.oldest),
                None => start.oldest.map_or(START, |t| (t, i64::MIN)),
            };
            // Never back: a read that started before another one finished may write last.
            *b = (*b).max(moved);
        }
    }
}

/// A kind of read, and how long the server took for it.
#[derive(Clone, Copy)]
enum Read {
    /// Every endpoint's head, from the start of its range ([`SCAN`]).
    Scan(Duration),
    /// The known endpoints' heads, from their bounds ([`FROM_BOUNDS`]).
    Probe(Duration),
}

/// Where the next probe of an endpoint whose head is `head` starts, `oldest` being the
/// `OLDEST` read before the read that found it.
fn bound(head: Head, oldest: Option<DateTime<Utc>>) -> Head {
    oldest.map_or(START, |t| head.min((t, i64::MIN)))
}

/// The heads of a [`Row`], its `OLDEST` and its `TOOK`.
fn decode(row: Row) -> (Heads, Option<DateTime<Utc>>, Duration) {
    let (db_now, oldest, _, ids, due_ats, head_ids, took) = row;
    let heads = ids
        .unwrap_or_default()
        .into_iter()
        .zip(due_ats.unwrap_or_default())
        .zip(head_ids.unwrap_or_default())
        .map(|((id, due_at), head_id)| (id, (due_at, head_id)))
        .collect();
    let took = Duration::try_from_secs_f64(took).unwrap_or_default();
    (Heads { heads, db_now }, oldest, took)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_scan_long_after_the_last_is_followed_by_a_timed_one() {
        let mut costs = Costs::default();
        assert!(costs.probe_next(), "nothing known yet: try a probe");
        costs.scanned(ms(9));
        assert!(!costs.probe_next(), "the first scan is not typical");
        assert_eq!(costs.scan, None);
        costs.scanned(ms(2));
        assert_eq!(costs.scan, Some(ms(2)));
        assert!(costs.probe_next(), "probes not timed yet");
    }

    #[test]
    fn the_cheaper_read_is_chosen_and_the_dearer_one_retimed_every_rescan() {
        let mut costs = Costs::default();
        costs.scanned(ms(9));
        costs.scanned(ms(2));
        costs.probed(ms(1));
        assert!(costs.probe_next(), "probes are cheaper");
        costs.probed(ms(17));
        assert_eq!(costs.probe, Some(ms(3)), "a moving average");
        assert!(!costs.probe_next(), "scans are cheaper now");
        costs.last_probe = Instant::now().checked_sub(RESCAN);
        assert!(
            costs.probe_next(),
            "a probe a second keeps its cost current"
        );
        costs.always_probe = true;
        costs.last_probe = Some(Instant::now());
        assert!(costs.probe_next());
    }
}
