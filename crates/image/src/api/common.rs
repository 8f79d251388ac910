//! Pieces every image route uses: loading an image the caller may act on, and
//! writing a changed image back with its audit record.

use crate::access::{authorize_image, membership, not_found};
use crate::types::{Image, MemberStatus};
use crate::Images;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Principal;
use nimbus_api::ApiResult;
use nimbus_store::Tx;

/// Loads an image and authorizes `action` on it: 404 when it does not exist or
/// the caller may not see it, 403 when she sees it but may not do this.
/// Returns the image, its store revision and the caller's membership.
pub async fn load(
    svc: &Images,
    caller: &Principal,
    action: &str,
    id: &str,
) -> ApiResult<(Image, i64, Option<MemberStatus>)> {
    let found = svc
        .store
        .get::<Image>(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let member = membership(&svc.store, caller, id).await?;
    authorize_image(caller, action, &found.value, member)?;
    Ok((found.value, found.revision, member))
}

/// Re-reads an image inside a transaction (writers are serialised, so what is
/// read here is what the write replaces): 404 if it was deleted meanwhile.
pub async fn reload(tx: &mut Tx<'_>, id: &str) -> ApiResult<Image> {
    Ok(tx
        .get::<Image>(id)
        .await?
        .ok_or_else(|| not_found(id))?
        .value)
}

/// Stores a changed image (stamping `updated_at`) with its audit record.
pub async fn save(
    svc: &Images,
    caller: &Principal,
    action: &str,
    image: &mut Image,
    expected_revision: i64,
) -> ApiResult<()> {
    image.updated_at = chrono::Utc::now();
    let mut tx = svc.store.begin().await?;
    tx.update(image, Some(expected_revision)).await?;
    commit_audited(tx, caller, action, "image", &image.id).await
}
