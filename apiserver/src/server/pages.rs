//! Paged lists (`limit`, `continue`): the first page takes a snapshot of the whole list, later
//! pages are cut from it, so every page shows the same resourceVersion as the API server's do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netverdict_engine::Quoted;
use serde_json::Value;

use crate::error::ApiError;

/// How long a continue token stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// How many unfinished paged lists are kept at once.
const MAX_SNAPSHOTS: usize = 64;

struct Snapshot {
    token: String,
    /// What was listed (resource, namespace, selectors): a token only continues its own list.
    list: String,
    items: Arc<Vec<Value>>,
    resource_version: u64,
    taken: Instant,
}

/// One page: its items, the list's resourceVersion, the token of the next page and how many
/// items remain after this one.
#[derive(Debug)]
pub(super) struct Page {
    pub(super) items: Vec<Value>,
    pub(super) resource_version: u64,
    pub(super) next: Option<(String, usize)>,
}

#[derive(Default)]
pub(super) struct Pages {
    snapshots: Mutex<VecDeque<Snapshot>>,
}

impl Pages {
    /// The first page of `items` (all of them without a limit).
    pub(super) fn first(
        &self,
        list: &str,
        items: Vec<Value>,
        resource_version: u64,
        limit: Option<usize>,
    ) -> Page {
        match limit.filter(|limit| *limit < items.len()) {
            None => Page {
                items,
                resource_version,
                next: None,
            },
            Some(limit) => self.cut(list, Arc::new(items), resource_version, 0, limit),
        }
    }

    /// The page a continue token points to.
    ///
    /// # Errors
    /// `410 Expired` for an unknown or expired token, as the API server answers a compacted one.
    pub(super) fn next(
        &self,
        list: &str,
        token: &str,
        limit: Option<usize>,
    ) -> Result<Page, ApiError> {
        let (id, offset) = token
            .rsplit_once(':')
            .and_then(|(id, offset)| Some((id, offset.parse::<usize>().ok()?)))
            .ok_or_else(|| {
                ApiError::bad_request(format!("continue key is not valid: {}", Quoted(token)))
            })?;
        let (items, resource_version) = {
            let mut snapshots = self
                .snapshots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            snapshots.retain(|s| s.taken.elapsed() < TOKEN_LIFETIME);
            let found = snapshots.iter().find(|s| s.token == id && s.list == list).ok_or_else(|| {
                ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new \
                     list without the continue parameter.",
                )
            })?;
            (found.items.clone(), found.resource_version)
        };
        Ok(self.cut(
            list,
            items,
            resource_version,
            offset,
            limit.unwrap_or(usize::MAX),
        ))
    }

    fn cut(
        &self,
        list: &str,
        items: Arc<Vec<Value>>,
        resource_version: u64,
        offset: usize,
        limit: usize,
    ) -> Page {
        let start = offset.min(items.len());
        let end = start.saturating_add(limit).min(items.len());
        let page = items[start..end].to_vec();
        let next = if end < items.len() {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let remaining = items.len() - end;
            let mut snapshots = self
                .snapshots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            snapshots.push_back(Snapshot {
                token: id.clone(),
                list: list.to_owned(),
                items,
                resource_version,
                taken: Instant::now(),
            });
            while snapshots.len() > MAX_SNAPSHOTS {
                snapshots.pop_front();
            }
            Some((format!("{id}:{end}"), remaining))
        } else {
            None
        };
        Page {
            items: page,
            resource_version,
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pages_cover_the_snapshot_once() {
        let pages = Pages::default();
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let first = pages.first("l", items.clone(), 9, Some(2));
        assert_eq!(first.items, [json!(0), json!(1)]);
        let (token, remaining) = first.next.unwrap();
        assert_eq!(remaining, 3);
        assert_eq!(pages.next("other", &token, Some(2)).unwrap_err().code, 410);
        let second = pages.next("l", &token, Some(2)).unwrap();
        assert_eq!(
            (second.items, second.resource_version),
            (vec![json!(2), json!(3)], 9)
        );
        let third = pages.next("l", &second.next.unwrap().0, Some(2)).unwrap();
        assert_eq!(third.items, [json!(4)]);
        assert!(third.next.is_none());
        assert!(pages.first("l", items, 9, None).next.is_none());
        assert_eq!(pages.next("l", "nope:1", None).unwrap_err().code, 410);
        assert_eq!(pages.next("l", "garbage", None).unwrap_err().code, 400);
    }
}
