//! Keeping every message under the wire's limit: long listings are split
//! into parts that each fit a byte budget, well under the 4 MiB message limit
//! (room left for the envelope and a smaller server limit).

use prost::Message;

/// The most entry bytes one message carries.
pub(crate) const PART_BUDGET: usize = 1024 * 1024;

/// A repeated field's cost of one item: its bytes, its length prefix and tag.
fn cost<T: Message>(item: &T) -> usize {
    let len = item.encoded_len();
    len + prost::length_delimiter_len(len) + 1
}

/// `items` in order, cut into parts of at most `budget` bytes each (an item
/// alone over the budget gets a part of its own). Always at least one part.
pub(crate) fn split<T: Message>(items: Vec<T>, budget: usize) -> Vec<Vec<T>> {
    let mut parts = vec![Vec::new()];
    let mut used = 0;
    for item in items {
        let size = cost(&item);
        if used + size > budget && parts.last().is_some_and(|p| !p.is_empty()) {
            parts.push(Vec::new());
            used = 0;
        }
        used += size;
        if let Some(part) = parts.last_mut() {
            part.push(item);
        }
    }
    parts
}

/// The first of `items` that fit in `budget` bytes, and whether any were left
/// out.
pub(crate) fn within<T: Message>(items: Vec<T>, budget: usize) -> (Vec<T>, bool) {
    let mut used = 0;
    let total = items.len();
    let kept: Vec<T> = items
        .into_iter()
        .take_while(|item| {
            used += cost(item);
            used <= budget
        })
        .collect();
    let cut = kept.len() < total;
    (kept, cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::v1 as pb;

    fn entry(n: usize) -> pb::TreeEntry {
        pb::TreeEntry {
            name: format!("{n:0>200}"),
            path: format!("/dir/{n:0>200}"),
            ..Default::default()
        }
    }

    #[test]
    fn parts_stay_under_the_budget_and_keep_every_item_in_order() {
        let items: Vec<_> = (0..5_000).map(entry).collect();
        let parts = split(items.clone(), 64 * 1024);
        assert!(parts.len() > 1);
        for part in &parts {
            let message = pb::BrowseResult {
                entries: part.clone(),
                ..Default::default()
            };
            assert!(
                message.encoded_len() <= 64 * 1024,
                "{}",
                message.encoded_len()
            );
        }
        assert_eq!(parts.concat(), items);
        assert_eq!(split(Vec::<pb::TreeEntry>::new(), 10), vec![vec![]]);
    }

    #[test]
    fn within_keeps_a_prefix_that_fits() {
        let items: Vec<_> = (0..100).map(entry).collect();
        let (kept, cut) = within(items.clone(), 4096);
        assert!(cut && !kept.is_empty() && kept.len() < 100);
        assert_eq!(kept[..], items[..kept.len()]);
        assert_eq!(within(items.clone(), usize::MAX), (items, false));
    }
}
