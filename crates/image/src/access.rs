//! Who sees which image: Glance's visibility rules, expressed as policy targets so
//! that `nimbus_api::policy` decides (and answers 404 for what the caller may not
//! know exists).
//!
//! - `public` and `community` images are open to everyone (community ones are listed
//!   only when asked for, or to their owner);
//! - `shared` images are open to the projects they are shared with ([`ImageMember`]);
//!   a list shows them once the member accepted (or with `member_status`);
//! - `private` images, and everything else, only to the owner project;
//! - cloud admins and system readers see every image.

use crate::types::{Image, ImageMember, MemberStatus, Visibility};
use nimbus_api::auth::Principal;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Store;

/// Whether the caller's project owns the image.
pub fn is_owner(p: &Principal, image: &Image) -> bool {
    image.owner.is_some() && p.project_id() == image.owner.as_deref()
}

/// Whether the image is open to non-owners: public, community, or shared with the
/// caller's project (`member`: its membership, whatever its status).
pub fn open_to(image: &Image, member: Option<MemberStatus>) -> bool {
    match image.visibility {
        Visibility::Public | Visibility::Community => true,
        Visibility::Shared => member.is_some(),
        Visibility::Private => false,
    }
}

/// The policy target of an image: its owner project, hidden (404) from other
/// projects unless the image is open to them.
pub fn target(image: &Image, open: bool) -> Target<'_> {
    let mut t = Target::new("image", &image.id).project(image.owner.as_deref().unwrap_or(""));
    t.hidden_outside_project = !open;
    t
}

/// Authorizes `action` on the image, with Glance's wording for a hidden image.
pub fn authorize_image(
    p: &Principal,
    action: &str,
    image: &Image,
    member: Option<MemberStatus>,
) -> ApiResult<()> {
    authorize(p, action, &target(image, open_to(image, member))).map_err(|e| {
        if e.status == axum::http::StatusCode::NOT_FOUND {
            not_found(&image.id)
        } else {
            e
        }
    })
}

/// Glance's 404 for an image.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("No image found with ID {id}"))
}

/// The caller's project's membership of an image, if any.
pub async fn membership(
    store: &Store,
    p: &Principal,
    image_id: &str,
) -> nimbus_store::Result<Option<MemberStatus>> {
    let Some(project) = p.project_id() else {
        return Ok(None);
    };
    Ok(store
        .get::<ImageMember>(&ImageMember::key(image_id, project))
        .await?
        .map(|m| m.value.status))
}

/// Which images a list is limited to by visibility.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisibilityFilter {
    /// No filter: everything the caller sees except others' community images.
    Default,
    /// `visibility=all`
    All,
    Only(Visibility),
}

/// Whether an image belongs in the caller's list. `member` is the caller project's
/// membership; `member_status` the statuses that count (`None`: all).
pub fn listed(
    p: &Principal,
    image: &Image,
    member: Option<MemberStatus>,
    visibility: VisibilityFilter,
    member_status: Option<MemberStatus>,
) -> bool {
    let own = is_owner(p, image);
    let seen = p.is_cloud_admin()
        || p.is_system_reader()
        || own
        || match image.visibility {
            Visibility::Public | Visibility::Community => true,
            Visibility::Shared => {
                member.is_some_and(|m| member_status.is_none_or(|wanted| m == wanted))
            }
            Visibility::Private => false,
        };
    seen && match visibility {
        VisibilityFilter::Default => image.visibility != Visibility::Community || own,
        VisibilityFilter::All => true,
        VisibilityFilter::Only(v) => image.visibility == v,
    }
}

/// An image the caller may see (for other services, e.g. compute booting it):
/// 404 when it does not exist or is hidden from the caller.
pub async fn visible_image(store: &Store, p: &Principal, id: &str) -> ApiResult<Image> {
    let image = store
        .get::<Image>(id)
        .await?
        .ok_or_else(|| not_found(id))?
        .value;
    let member = membership(store, p, id).await?;
    authorize_image(p, "image:get_image", &image, member)?;
    Ok(image)
}
