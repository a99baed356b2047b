//! Cursor pagination, newest first (Stripe style): `limit` and `starting_after`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// `?limit=&starting_after=`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Objects to return, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// An object id from the previous page; this page starts after it.
    pub starting_after: Option<String>,
}

impl ListParams {
    /// Validates the parameters into a store page.
    pub fn page(&self, id_kind: easel_core::ids::IdKind) -> ApiResult<easel_db::Page> {
        self.page_up_to(id_kind, DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// The same with another default and largest page (exports).
    pub fn page_up_to(
        &self,
        id_kind: easel_core::ids::IdKind,
        default: u32,
        max: u32,
    ) -> ApiResult<easel_db::Page> {
        let limit = check_limit(self.limit, default, max)?;
        if let Some(cursor) = &self.starting_after
            && !id_kind.is_valid(cursor)
        {
            return Err(ApiError::invalid(
                "starting_after",
                format!(
                    "`starting_after` must be an id of this list (`{}_…`).",
                    id_kind.prefix()
                ),
            ));
        }
        Ok(easel_db::Page {
            limit,
            starting_after: self.starting_after.clone(),
        })
    }
}

/// `limit`, or `default`; refused unless between 1 and `max`.
pub fn check_limit(limit: Option<u32>, default: u32, max: u32) -> ApiResult<u32> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("`limit` must be between 1 and {max}."),
        ));
    }
    Ok(limit)
}

/// A page of objects: `{"object": "list", "data": [...], "has_more", "next_cursor"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    /// Always `list`.
    #[schema(value_type = String, example = "list")]
    pub object: &'static str,
    pub data: Vec<T>,
    /// Whether another page exists.
    pub has_more: bool,
    /// Pass as `starting_after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Builds a page from `limit + 1` fetched rows, mapping each with `f`.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: u32,
        id: impl Fn(&R) -> String,
        f: impl Fn(R) -> T,
    ) -> List<T> {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(&id) } else { None };
        List {
            object: "list",
            data: rows.into_iter().map(f).collect(),
            has_more,
            next_cursor,
        }
    }

    /// The same page with its items replaced (built asynchronously from these, say).
    pub fn with_data<U>(self, data: Vec<U>) -> List<U> {
        List {
            object: self.object,
            data,
            has_more: self.has_more,
            next_cursor: self.next_cursor,
        }
    }
}
