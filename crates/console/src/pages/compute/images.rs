//! Images: list, and upload (the form makes the image record; the page's script
//! then streams the chosen file through the console into Glance's upload, with
//! the page's CSRF token in a header), delete.

use crate::form::{csrf_ok, Form};
use crate::pages::identity::list;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, delete_and_back, error_page, id_segment, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use axum::Router;
use maud::html;
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/images", get(index).post(create))
        .route("/console/images/{id}/file", put(upload))
        .route("/console/images/{id}/delete", post(delete))
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let images = list(&ctx.api(), "/image/v2/images", "images").await;
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Status" } th { "Format" } th { "Size" } th { "Visibility" } th { span class="skip" { "Actions" } } } }
            tbody id="images" data-live { @for i in &images { tr {
                td { (s(i, "name")) }
                td { (s(i, "status")) }
                td { (s(i, "disk_format")) }
                td { (i["size"].as_u64().map(|b| format!("{:.1} MiB", b as f64 / 1048576.0)).unwrap_or_default()) }
                td { (s(i, "visibility")) }
                td { @if s(i, "owner") == ctx.session.principal.project_id().unwrap_or("-") {
                    (button_form(&format!("/console/images/{}/delete", s(i, "id")), &csrf, "Delete", true))
                } }
            } } }
        }
        h2 { "Upload an image" }
        form method="post" action="/console/images" class="stacked" id="image-upload" {
            (csrf_field(&csrf))
            label for="i-name" { "Name" } input id="i-name" name="name" required;
            label for="i-format" { "Disk format" }
            select id="i-format" name="disk_format" { option { "qcow2" } option { "raw" } option { "iso" } }
            label for="i-file" { "File" } input id="i-file" name="file" type="file";
            button type="submit" { "Upload" }
        }
    };
    page(&ctx, "Images", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, headers: HeaderMap, form: Form) -> Response {
    let body = json!({
        "name": form.fields.get("name"),
        "disk_format": form.fields.get("disk_format").unwrap_or("qcow2"),
        "container_format": "bare",
    });
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/image/v2/images", &body)
        .await;
    // The page's script asks for JSON to send the file next.
    let wants_json = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    match (outcome, wants_json) {
        (Ok(v), true) => Json(json!({"id": v["id"]})).into_response(),
        (Err(e), true) => (e.status, Json(json!({"message": e.message}))).into_response(),
        (outcome, false) => back(
            "/console/images",
            outcome.map(|v| format!("Image {} created (queued).", s(&v, "name"))),
        ),
    }
}

/// Streams the request body into Glance's upload, as the user.
async fn upload(
    State(console): State<Arc<Console>>,
    session: Session,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !csrf_ok(&console, &session.token, token) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The upload did not come from this console.",
        );
    }
    let (_, body) = req.into_parts();
    let inner = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("/image/v2/images/{id}/file"))
        .header("x-auth-token", &session.token)
        .header("content-type", "application/octet-stream")
        .body(Body::new(body));
    let Ok(inner) = inner else {
        return error_page(StatusCode::BAD_REQUEST, "The upload could not be read.");
    };
    match console.api().clone().oneshot(inner).await {
        Ok(resp) => resp.into_response(),
        Err(e) => match e {},
    }
}

async fn delete(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    delete_and_back(
        &console,
        &form,
        &id,
        "/image/v2/images",
        "Image deleted.",
        "/console/images",
    )
    .await
}
