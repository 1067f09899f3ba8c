//! Svix-style iterator pagination: `limit` + `iterator` (+ `order`) in, and
//! `{data, iterator, prevIterator, done}` out.
//!
//! An iterator is the sort key of an item; a leading `-` means "page backwards from here".
//! `iterator` in a response is the key of the page's last item, `prevIterator` `-` + the key of
//! its first, and `done` says nothing more exists in the direction that was paged.

use super::error::ApiError;
use super::params::QueryParams;
use crate::domain::{AppId, AttemptId, EndpointId, EventTypeName, MessageId};
use crate::store::{Cursor, Order, Page, PageRequest};
use serde::Serialize;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 250;

/// What a listing is sorted by, which decides what a well-formed iterator looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `app_…` ids.
    App,
    /// `ep_…` ids.
    Endpoint,
    /// `msg_…` ids.
    Message,
    /// `atmpt_…` ids.
    Attempt,
    /// Event-type names.
    EventType,
}

impl KeyKind {
    fn accepts(self, key: &str) -> bool {
        match self {
            Self::App => AppId::parse(key).is_some(),
            Self::Endpoint => EndpointId::parse(key).is_some(),
            Self::Message => MessageId::parse(key).is_some(),
            Self::Attempt => AttemptId::parse(key).is_some(),
            Self::EventType => EventTypeName::parse(key).is_ok(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::App => "an application id",
            Self::Endpoint => "an endpoint id",
            Self::Message => "a message id",
            Self::Attempt => "an attempt id",
            Self::EventType => "an event type name",
        }
    }
}

/// How one listing paginates: its key and its default order, and whether `order` may be given.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    /// The sort key.
    pub key: KeyKind,
    /// The order when `order` is absent (or not accepted).
    pub default_order: Order,
    /// Whether the reference gives this listing an `order` parameter.
    pub orderable: bool,
}

/// `limit`: 1 to 250, 50 when absent.
///
/// # Errors
/// A 422 for anything else.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::validation("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
        })
}

/// `iterator`: a key of the listing's kind, optionally prefixed with `-` to page backwards.
///
/// # Errors
/// A 422 when the key is not of the right kind.
pub fn parse_iterator(raw: Option<&str>, kind: KeyKind) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let (key, backwards) = match raw.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    if !kind.accepts(key) {
        return Err(ApiError::validation(
            "iterator",
            format!(
                "{raw:?} is not {}; pass back an iterator from a previous page",
                kind.describe()
            ),
        ));
    }
    Ok(Some(Cursor {
        key: key.to_owned(),
        backwards,
    }))
}

/// `order`: `ascending` or `descending`.
///
/// # Errors
/// A 422 for anything else.
pub fn parse_order(raw: Option<&str>) -> Result<Option<Order>, ApiError> {
    raw.map(|v| match v {
        "ascending" => Ok(Order::Ascending),
        "descending" => Ok(Order::Descending),
        _ => Err(ApiError::validation(
            "order",
            "must be ascending or descending",
        )),
    })
    .transpose()
}

impl Listing {
    /// Reads `limit`, `iterator` and (if orderable) `order` from the query.
    ///
    /// # Errors
    /// A 422 naming the bad parameter.
    pub fn request(self, params: &QueryParams) -> Result<PageRequest, ApiError> {
        let order = if self.orderable {
            parse_order(params.str("order")?)?
        } else {
            None
        };
        Ok(PageRequest {
            limit: parse_limit(params.str("limit")?)?,
            cursor: parse_iterator(params.str("iterator")?, self.key)?,
            order: order.unwrap_or(self.default_order),
        })
    }

    /// The documentation of the parameters [`Listing::request`] reads.
    pub fn params(self) -> Vec<utoipa::openapi::path::Parameter> {
        use super::openapi;
        let mut params = vec![openapi::limit(), openapi::iterator(self.key)];
        if self.orderable {
            params.push(openapi::order());
        }
        params
    }
}

/// The reference's `ListResponse_*`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// The page's items, in listing order.
    pub data: Vec<T>,
    /// Pass as `iterator` to get the next page; `null` when the page is empty.
    pub iterator: Option<String>,
    /// Pass as `iterator` to get the previous page; `null` when the page is empty.
    pub prev_iterator: Option<String>,
    /// Whether nothing more exists in the direction paged.
    pub done: bool,
}

impl<T> ListResponse<T> {
    /// Builds the response for a store page: `key` gives an item's sort key, `out` its wire form.
    pub fn from_page<I>(
        page: Page<I>,
        key: impl Fn(&I) -> String,
        out: impl FnMut(I) -> T,
    ) -> Self {
        let iterator = page.items.last().map(&key);
        let prev_iterator = page.items.first().map(|i| format!("-{}", key(i)));
        Self {
            data: page.items.into_iter().map(out).collect(),
            iterator,
            prev_iterator,
            done: !page.more,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_50_and_must_be_1_to_250() {
        assert_eq!(parse_limit(None).unwrap(), 50);
        assert_eq!(parse_limit(Some("250")).unwrap(), 250);
        for bad in ["0", "251", "-1", "ten", "99999999999999999999999"] {
            let err = parse_limit(Some(bad)).unwrap_err();
            assert_eq!(err.code(), "validation", "{bad}");
        }
    }

    #[test]
    fn iterators_parse_forwards_and_backwards() {
        let id = MessageId::generate();
        let fwd = parse_iterator(Some(id.as_str()), KeyKind::Message).unwrap();
        assert_eq!(
            fwd,
            Some(Cursor {
                key: id.to_string(),
                backwards: false
            })
        );
        let back = parse_iterator(Some(&format!("-{id}")), KeyKind::Message).unwrap();
        assert!(back.unwrap().backwards);
        let name = parse_iterator(Some("-invoice.paid"), KeyKind::EventType).unwrap();
        assert_eq!(name.unwrap().key, "invoice.paid");
    }

    #[test]
    fn malformed_iterators_are_refused() {
        let app = AppId::generate();
        for bad in ["garbage", "-", "--x", app.as_str()] {
            let err = parse_iterator(Some(bad), KeyKind::Message).unwrap_err();
            assert!(err.to_string().starts_with("iterator: "), "{err}");
        }
    }

    #[test]
    fn order_is_read_only_where_the_listing_allows_it() {
        let params = QueryParams::parse("order=ascending&limit=5");
        let fixed = Listing {
            key: KeyKind::Message,
            default_order: Order::Descending,
            orderable: false,
        };
        assert_eq!(fixed.request(&params).unwrap().order, Order::Descending);
        let orderable = Listing {
            orderable: true,
            ..fixed
        };
        let req = orderable.request(&params).unwrap();
        assert_eq!((req.order, req.limit), (Order::Ascending, 5));
        let bad = QueryParams::parse("order=sideways");
        assert!(orderable.request(&bad).is_err());
    }

    #[test]
    fn responses_point_at_the_first_and_last_items() {
        let page = Page {
            items: vec!["a", "b", "c"],
            more: true,
        };
        let r = ListResponse::from_page(page, |s| (*s).to_owned(), str::to_uppercase);
        assert_eq!(r.data, ["A", "B", "C"]);
        assert_eq!(r.iterator.as_deref(), Some("c"));
        assert_eq!(r.prev_iterator.as_deref(), Some("-a"));
        assert!(!r.done);

        let empty: Page<&str> = Page {
            items: vec![],
            more: false,
        };
        let r = ListResponse::from_page(empty, |s| (*s).to_owned(), |s| s);
        assert!(r.done && r.iterator.is_none() && r.prev_iterator.is_none());
    }
}
