//! The node-local account view cache: an account and its members, as `GET /v1/account`
//! shows them, kept until the account changes (evicted with the account's credentials, see
//! `mod.rs`), so reading one's own account costs no database round trip either.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use easel_db::{Account, Member};

/// Most accounts kept; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

/// An account with its members, as read at `loaded_at`.
#[derive(Debug)]
pub struct AccountView {
    pub account: Account,
    pub members: Vec<Member>,
    /// When its database read began (ms).
    pub loaded_at: i64,
}

/// The cache. Locks are held for map operations only, never across an await.
#[derive(Debug, Default)]
pub struct AccountViews {
    entries: RwLock<HashMap<String, Arc<AccountView>>>,
}

impl AccountViews {
    /// The cached view of an account.
    pub fn get(&self, account_id: &str) -> Option<Arc<AccountView>> {
        self.entries.read().ok()?.get(account_id).cloned()
    }

    /// Caches a view just read from the database.
    pub fn insert(&self, view: AccountView) -> Arc<AccountView> {
        let view = Arc::new(view);
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(view.account.id.clone(), Arc::clone(&view));
        }
        view
    }

    /// Evicts the view if it was loaded before `loaded_before` (always, if `None`).
    pub fn invalidate(&self, account_id: &str, loaded_before: Option<i64>) {
        if let Ok(mut map) = self.entries.write()
            && map
                .get(account_id)
                .is_some_and(|v| loaded_before.is_none_or(|before| v.loaded_at < before))
        {
            map.remove(account_id);
        }
    }
}
