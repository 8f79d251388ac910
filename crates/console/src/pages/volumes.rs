//! Volumes: list with live status, create (blank or from an image, of a type),
//! detach, delete. Attaching is offered on a server's page (through Nova, as
//! `server add volume` does); this module serves that form's route too.

use crate::form::Form;
use crate::pages::identity::list;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, delete_and_back, id_segment, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/volumes", get(index).post(create))
        .route("/console/volumes/{id}/attach", post(attach))
        .route("/console/volumes/{id}/detach", post(detach))
        .route("/console/volumes/{id}/delete", post(delete))
}

fn server_of(v: &Value) -> Option<&str> {
    v["attachments"][0]["server_id"].as_str()
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let volumes = list(&api, "/volume/v3/volumes/detail", "volumes").await;
    let types = list(&api, "/volume/v3/types", "volume_types").await;
    let images = list(&api, "/image/v2/images?status=active", "images").await;
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Size" } th { "Status" } th { "Type" } th { "Attached to" } th { span class="skip" { "Actions" } } } }
            tbody id="volumes" data-live { @for v in &volumes { tr {
                td { (s(v, "name")) }
                td { (v["size"]) " GiB" }
                td class={ "status-" (s(v, "status")) } { (s(v, "status")) }
                td { (s(v, "volume_type")) }
                td { @if let Some(sv) = server_of(v) { a href={ "/console/servers/" (sv) } { "server" } } }
                td {
                    @if let Some(server) = server_of(v) {
                        form method="post" action={ "/console/volumes/" (s(v, "id")) "/detach" } class="inline" {
                            (csrf_field(&csrf)) input type="hidden" name="server" value=(server);
                            button type="submit" { "Detach" }
                        }
                    } @else if s(v, "status") == "available" {
                        (button_form(&format!("/console/volumes/{}/delete", s(v, "id")), &csrf, "Delete", true))
                    }
                }
            } } }
        }
        h2 { "New volume" }
        form method="post" action="/console/volumes" class="stacked" {
            (csrf_field(&csrf))
            label for="v-name" { "Name" } input id="v-name" name="name" required;
            label for="v-size" { "Size (GiB)" } input id="v-size" name="size" type="number" min="1" value="1" required;
            label for="v-type" { "Type" }
            select id="v-type" name="volume_type" { @for t in &types { option value=(s(t, "name")) { (s(t, "name")) } } }
            label for="v-image" { "From image (optional)" }
            select id="v-image" name="image" {
                option value="" { "(blank)" }
                @for i in images.iter().filter(|i| s(i, "disk_format") == "qcow2" || s(i, "disk_format") == "raw") {
                    option value=(s(i, "id")) { (s(i, "name")) }
                }
            }
            button type="submit" { "Create volume" }
        }
    };
    page(&ctx, "Volumes", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let f = &form.fields;
    let size: Value = f
        .get("size")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Value::from)
        .unwrap_or(json!(f.get("size")));
    let mut volume =
        json!({"name": f.get("name"), "size": size, "volume_type": f.get("volume_type")});
    if let Some(image) = f.get("image") {
        volume["imageRef"] = json!(image);
    }
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/volume/v3/volumes", &json!({ "volume": volume }))
        .await
        .map(|v| format!("Volume {} is being made.", s(&v["volume"], "name")));
    back("/console/volumes", outcome)
}

async fn attach(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let (id, server) = match (id_segment(&id), form.fields.get("server").map(id_segment)) {
        (Ok(id), Some(Ok(sv))) => (id.to_string(), sv.to_string()),
        (Err(r), _) | (_, Some(Err(r))) => return r.into_response(),
        (Ok(_), None) => return back("/console/volumes", Ok("Choose a server.".into())),
    };
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post(
            &format!("/compute/v2.1/servers/{server}/os-volume_attachments"),
            &json!({"volumeAttachment": {"volumeId": id}}),
        )
        .await
        .map(|_| "Attaching.".to_string());
    back(&format!("/console/servers/{server}"), outcome)
}

async fn detach(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let (id, server) = match (id_segment(&id), form.fields.get("server").map(id_segment)) {
        (Ok(id), Some(Ok(sv))) => (id.to_string(), sv.to_string()),
        (Err(r), _) | (_, Some(Err(r))) => return r.into_response(),
        (Ok(_), None) => return back("/console/volumes", Ok("Not attached.".into())),
    };
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .delete(&format!(
            "/compute/v2.1/servers/{server}/os-volume_attachments/{id}"
        ))
        .await
        .map(|_| "Detaching.".to_string());
    back("/console/volumes", outcome)
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
        "/volume/v3/volumes",
        "Volume deleted.",
        "/console/volumes",
    )
    .await
}
