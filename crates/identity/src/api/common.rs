//! Pieces every identity route uses: name checks, the domain a list is limited to,
//! the Keystone collection document; committing a change with its audit record is
//! [`nimbus_api::audit::commit_audited`], re-exported here.

pub use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Principal;
use nimbus_api::links::{collection_links, paginate, PublicUrl};
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};

/// Query parameters every collection accepts.
pub const PAGING: &[&str] = &["limit", "marker"];

/// Checks a name: 1 to 255 characters, not only spaces.
pub fn check_name(field: &str, name: &str) -> ApiResult<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field '{field}': must be 1 to 255 characters and not blank."
        )));
    }
    Ok(name.to_string())
}

/// Which domain a list is limited to for this caller: `None` means every domain
/// (cloud admins and system readers, unless they filter), otherwise the caller's own.
pub fn list_domain(
    p: &Principal,
    action: &str,
    kind: &str,
    requested: Option<&str>,
) -> ApiResult<Option<String>> {
    if p.is_cloud_admin() || p.is_system_reader() {
        return Ok(requested.map(str::to_string));
    }
    let own = p.scope_domain_id().unwrap_or(&p.user_domain_id);
    let domain = requested.unwrap_or(own);
    authorize(p, action, &Target::new(kind, "").domain(domain))?;
    Ok(Some(domain.to_string()))
}

/// The Keystone collection document `{key: [...], "links": {...}}`, paginated by
/// `limit`/`marker` over items sorted by id.
pub fn collection<T>(
    key: &str,
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    view: impl Fn(&T) -> Value,
    url: &PublicUrl,
    path_and_query: &str,
    q: &Query,
) -> ApiResult<Value> {
    items.sort_by(|a, b| id(a).cmp(id(b)));
    let limit = q.usize("limit")?;
    let page = paginate(items, &id, q.get("marker"), limit);
    let values: Vec<Value> = page.items.iter().map(view).collect();
    let links = collection_links(
        &url.join(path_and_query),
        page.next_marker.as_deref(),
        limit,
    );
    Ok(json!({ key: values, "links": links }))
}

/// Whether an optional string filter matches.
pub fn matches(filter: Option<&str>, value: &str) -> bool {
    filter.is_none_or(|f| f == value)
}

/// Whether an optional boolean filter matches.
pub fn matches_bool(filter: Option<bool>, value: bool) -> bool {
    filter.is_none_or(|f| f == value)
}
