//! `PUT /v2/images/{id}/file` and `GET /v2/images/{id}/file`: image data.
//!
//! Upload: `queued` → `saving` (committed), the body streamed to a temporary file
//! while MD5 and SHA-512 are computed and the owner's quota is watched, the data's
//! format checked against `disk_format`, the file renamed into place, then `active`
//! with `size`, `checksum`, `os_hash_*` and `virtual_size`. Any failure puts the image
//! back to `queued` and removes the data. The work runs in its own task, so a client
//! that goes away mid-upload still gets its image rolled back.
//!
//! Download streams the file (`Range: bytes=...` gives 206); an image without data
//! answers 204.

use super::common::{load, reload};
use crate::data::{self, ReceiveError, Stored};
use crate::types::{Image, Status, HASH_ALGO};
use crate::Images;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::{ApiError, ApiResult};
use std::io::SeekFrom;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Fills in the data fields of an image whose data was stored; it becomes active.
pub fn set_data(image: &mut Image, stored: &Stored, virtual_size: Option<u64>) {
    image.status = Status::Active;
    image.size = Some(stored.size);
    image.virtual_size = virtual_size;
    image.checksum = Some(stored.md5.clone());
    image.os_hash_algo = Some(HASH_ALGO.to_string());
    image.os_hash_value = Some(stored.sha512.clone());
    image.updated_at = chrono::Utc::now();
}

fn quota_exceeded(quota: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Denying attempt to upload image because it exceeds the quota: the project may \
             store {quota} bytes of image data."
        ),
    )
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

pub async fn upload(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut stream = body.into_data_stream();
    let result = match prepare(&svc, caller, id, &headers).await {
        Ok(job) => match tokio::spawn(job.run(stream)).await {
            Ok((result, rest)) => {
                stream = rest;
                result
            }
            Err(e) => {
                return refuse(ApiError::internal(format!("upload task failed: {e}")), None).await
            }
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refuse(e, Some(&mut stream)).await,
    }
}

/// The most of a refused upload's body that is read (and dropped) so that the
/// client gets the answer on a healthy connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Answers `err` to an upload: reads what is left of the body (up to
/// [`DRAIN_LIMIT`], for 30 s at most), else closes the connection after the
/// answer, so a client that keeps the connection never finds it broken.
async fn refuse(err: ApiError, stream: Option<&mut BodyDataStream>) -> Response {
    let drained = match stream {
        None => false,
        Some(stream) => {
            let mut left = DRAIN_LIMIT;
            let read_all = async {
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(c) if (c.len() as u64) <= left => left -= c.len() as u64,
                        _ => return false,
                    }
                }
                true
            };
            tokio::time::timeout(std::time::Duration::from_secs(30), read_all)
                .await
                .unwrap_or(false)
        }
    };
    let mut resp = err.into_response();
    if !drained {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Checks an upload and moves the image to `saving`; the returned job receives it.
async fn prepare(
    svc: &Arc<Images>,
    caller: Arc<Principal>,
    id: String,
    headers: &HeaderMap,
) -> ApiResult<Upload> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !ct.eq_ignore_ascii_case("application/octet-stream") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {ct:?} is not supported; send application/octet-stream."),
            ));
        }
    }
    let (image, _, _) = load(svc, &caller, "image:upload_image", &id).await?;
    let (Some(disk_format), Some(_)) = (image.disk_format.clone(), &image.container_format) else {
        return Err(ApiError::bad_request(
            "Properties disk_format, container_format must be set prior to saving data.",
        ));
    };
    let project = image.owner.clone().unwrap_or_default();
    let quota = svc.config.quota_bytes;
    let used = svc.used_bytes(&project, &id).await?;
    let declared = header_u64(headers, "x-openstack-image-size")
        .or_else(|| header_u64(headers, header::CONTENT_LENGTH.as_str()));
    if declared.is_some_and(|n| used + svc.inflight.total(&project) + n > quota) {
        return Err(quota_exceeded(quota));
    }
    let mut tx = svc.store.begin().await?;
    let mut current = reload(&mut tx, &id).await?;
    if current.status != Status::Queued {
        return Err(ApiError::conflict(format!(
            "Image status transition from {} to saving is not allowed",
            current.status.as_str()
        )));
    }
    current.status = Status::Saving;
    current.updated_at = chrono::Utc::now();
    tx.update(&current, None).await?;
    AuditRecord::new(Some(&caller), "image.image.upload", "image", &id, true)
        .with_detail("saving")
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Upload {
        svc: svc.clone(),
        caller,
        id,
        disk_format,
        project,
        used,
    })
}

/// One upload after `saving` was committed.
struct Upload {
    svc: Arc<Images>,
    caller: Arc<Principal>,
    id: String,
    disk_format: String,
    project: String,
    /// Bytes the project stored when the upload began.
    used: u64,
}

impl Upload {
    /// Receives the data; gives the body back (for draining after a refusal).
    async fn run(self, mut body: BodyDataStream) -> (ApiResult<()>, BodyDataStream) {
        let result = self.receive(&mut body).await;
        (result, body)
    }

    async fn receive(&self, body: &mut BodyDataStream) -> ApiResult<()> {
        let partial = data::partial_path(&self.svc.config.dir, &self.id);
        let quota = self.svc.config.quota_bytes;
        let inflight = self.svc.inflight.clone();
        let mut reservation = inflight.reserve(&self.project);
        let received = data::receive(body, &partial, |total| {
            reservation.set(total);
            self.used + inflight.total(&self.project) <= quota
        })
        .await;
        let stored = match received {
            Ok(stored) => stored,
            Err(e) => {
                let err = match e {
                    ReceiveError::Quota => quota_exceeded(quota),
                    ReceiveError::Body(m) => {
                        ApiError::bad_request(format!("Error reading the image data: {m}"))
                    }
                    ReceiveError::Io(e) => {
                        tracing::error!(image = %self.id, error = %e, "writing image data failed");
                        ApiError::internal("Failed to store the image data.")
                    }
                };
                return Err(self.roll_back(err).await);
            }
        };
        let virtual_size = match data::inspect(&self.disk_format, &stored.head, stored.size) {
            Ok(v) => v,
            Err(msg) => {
                data::remove(&partial).await;
                return Err(self.roll_back(ApiError::bad_request(msg)).await);
            }
        };
        let dest = self.svc.file_path(&self.id);
        if let Err(e) = tokio::fs::rename(&partial, &dest).await {
            tracing::error!(image = %self.id, error = %e, "moving image data into place failed");
            data::remove(&partial).await;
            return Err(self
                .roll_back(ApiError::internal("Failed to store the image data."))
                .await);
        }
        let result = self.finish(&stored, virtual_size).await;
        if let Err(e) = &result {
            data::remove(&dest).await;
            if e.status != StatusCode::GONE {
                return Err(self.roll_back(e.clone()).await);
            }
        }
        drop(reservation);
        result
    }

    /// `saving` → `active`, unless the image went away or the quota is now exceeded.
    async fn finish(&self, stored: &Stored, virtual_size: Option<u64>) -> ApiResult<()> {
        let mut tx = self.svc.store.begin().await?;
        let Some(found) = tx.get::<Image>(&self.id).await? else {
            return Err(ApiError::new(
                StatusCode::GONE,
                format!("Image {} was deleted during the upload.", self.id),
            ));
        };
        let mut image = found.value;
        if image.status != Status::Saving {
            return Err(ApiError::conflict(format!(
                "Image {} is no longer saving.",
                self.id
            )));
        }
        let used: u64 = tx
            .list::<Image>(Some(&self.project))
            .await?
            .iter()
            .filter(|i| i.value.id != self.id)
            .filter_map(|i| i.value.size)
            .sum();
        if used + stored.size > self.svc.config.quota_bytes {
            return Err(quota_exceeded(self.svc.config.quota_bytes));
        }
        set_data(&mut image, stored, virtual_size);
        tx.update(&image, Some(found.revision)).await?;
        AuditRecord::new(
            Some(&self.caller),
            "image.image.upload",
            "image",
            &self.id,
            true,
        )
        .with_detail(format!("active, {} bytes", stored.size))
        .write(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts the image back to `queued` after a failed upload; returns `err`.
    async fn roll_back(&self, err: ApiError) -> ApiError {
        let outcome: ApiResult<()> = async {
            let mut tx = self.svc.store.begin().await?;
            let Some(found) = tx.get::<Image>(&self.id).await? else {
                return Ok(());
            };
            let mut image = found.value;
            if image.status == Status::Saving {
                image.status = Status::Queued;
                image.clear_data();
                image.updated_at = chrono::Utc::now();
                tx.update(&image, Some(found.revision)).await?;
            }
            AuditRecord::new(
                Some(&self.caller),
                "image.image.upload",
                "image",
                &self.id,
                false,
            )
            .with_detail(format!("back to queued: {}", err.message))
            .write(&mut tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            tracing::error!(image = %self.id, error = %e, "rolling back a failed upload failed");
        }
        err
    }
}

/// A single `bytes=` range of a file of `size` bytes: `(start, length)`.
fn range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let spec = spec.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, size.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end && end < size).then(|| (start, end - start + 1))
}

pub async fn download(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (image, _, _) = load(&svc, &caller, "image:download_image", &id).await?;
    if image.status == Status::Deactivated && !caller.is_cloud_admin() {
        return Err(ApiError::forbidden(
            "The requested image has been deactivated. Image data download is prohibited.",
        ));
    }
    if !image.has_data() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut file = match tokio::fs::File::open(svc.file_path(&id)).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(image = %id, error = %e, "the data of an active image is missing");
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    };
    let size = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(format!("reading image data: {e}")))?
        .len();
    let wanted = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| range(r, size));
    let mut resp_headers = HeaderMap::new();
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let (status, start, len) = match wanted {
        None => {
            if let Some(v) = image.checksum.as_deref().and_then(|c| c.parse().ok()) {
                resp_headers.insert("content-md5", v);
            }
            (StatusCode::OK, 0, size)
        }
        Some(Some((start, len))) => {
            let v = format!("bytes {start}-{}/{size}", start + len - 1);
            resp_headers.insert(header::CONTENT_RANGE, v.parse().expect("ascii"));
            (StatusCode::PARTIAL_CONTENT, start, len)
        }
        Some(None) => {
            let mut e = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Requested range not satisfiable",
            )
            .into_response();
            let v = format!("bytes */{size}");
            e.headers_mut()
                .insert(header::CONTENT_RANGE, v.parse().expect("ascii"));
            return Ok(e);
        }
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|e| ApiError::internal(format!("reading image data: {e}")))?;
    }
    resp_headers.insert(header::CONTENT_LENGTH, len.into());
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
    Ok((status, resp_headers, Body::from_stream(stream)).into_response())
}

#[cfg(test)]
mod tests {
    use super::range;

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(range("bytes=90-", 100), Some((90, 10)));
        assert_eq!(range("bytes=-5", 100), Some((95, 5)));
        assert_eq!(range("bytes=10-500", 100), Some((10, 90)));
        assert_eq!(range("bytes=100-", 100), None);
        assert_eq!(range("bytes=5-1", 100), None);
        assert_eq!(range("items=0-1", 100), None);
        assert_eq!(range("bytes=0-0", 0), None);
    }
}
