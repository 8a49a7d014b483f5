//! Keyset paging: a page is "up to `limit` rows after this id", which stays
//! fast and consistent however deep an operator pages.

/// Which page to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows at most.
    pub limit: u32,
    /// Continue after this row id (ascending lists) or before it (newest-first
    /// lists); `None` for the first page.
    pub cursor: Option<i64>,
}

impl Page {
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: u32 = 500;

    /// A first page of the given size, clamped to 1..=MAX_LIMIT (0 = default).
    pub fn first(limit: u32) -> Self {
        Self::after(limit, None)
    }

    /// A page after `cursor`, size clamped as in [`Page::first`].
    pub fn after(limit: u32, cursor: Option<i64>) -> Self {
        let limit = match limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        };
        Self { limit, cursor }
    }

    /// The SQL LIMIT to use: one more row than asked, to learn whether another
    /// page follows.
    pub(crate) fn probe_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the probe row off and returns the page with its next cursor.
    pub(crate) fn finish<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> PageOf<T> {
        let next = if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            rows.last().map(&id_of)
        } else {
            None
        };
        PageOf { items: rows, next }
    }
}

/// One page of rows and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOf<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next: Option<i64>,
}
