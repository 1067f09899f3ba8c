//! Iterator pagination shared by every listing.

/// Sort direction of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest (or alphabetically first) first.
    Ascending,
    /// Newest first.
    #[default]
    Descending,
}

/// A position in a listing: the sort key of the last item seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Sort key (an id, or an event-type name) of the item the page starts after.
    pub key: String,
    /// `true` to page towards the start of the listing (a `prevIterator`).
    pub backwards: bool,
}

/// Which page of a listing to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Maximum items on the page.
    pub limit: usize,
    /// Where the page starts; `None` for the first page.
    pub cursor: Option<Cursor>,
    /// Sort direction.
    pub order: Order,
}

/// One page of a listing, items always in the listing's order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether items exist beyond this page in the direction paged.
    pub more: bool,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with `LIMIT limit + 1` in paging direction:
    /// the extra row only signals `more`; rows of a backwards page are put back in order.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest) -> Self {
        let more = rows.len() > request.limit;
        rows.truncate(request.limit);
        if request.cursor.as_ref().is_some_and(|c| c.backwards) {
            rows.reverse();
        }
        Self { items: rows, more }
    }

    /// Applies `f` to every item.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            more: self.more,
        }
    }
}

impl PageRequest {
    /// Whether rows must be fetched in ascending key order to serve this request.
    pub fn fetch_ascending(&self) -> bool {
        let backwards = self.cursor.as_ref().is_some_and(|c| c.backwards);
        (self.order == Order::Ascending) != backwards
    }
}
