//! Networks: list (with their subnets), create a network with one subnet, delete.

use crate::form::Form;
use crate::pages::identity::list;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, delete_and_back, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/networks", get(index).post(create))
        .route("/console/networks/{id}/delete", post(delete))
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let networks = list(&api, "/network/v2.0/networks", "networks").await;
    let subnets = list(&api, "/network/v2.0/subnets", "subnets").await;
    let project = session.principal.project_id().unwrap_or("-");
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Subnets" } th { "External" } th { "Shared" } th { span class="skip" { "Actions" } } } }
            tbody { @for n in &networks { tr {
                td { (s(n, "name")) }
                td { @for sn in subnets.iter().filter(|sn| s(sn, "network_id") == s(n, "id")) { (s(sn, "cidr")) " " } }
                td { @if n["router:external"].as_bool().unwrap_or(false) { "yes" } }
                td { @if n["shared"].as_bool().unwrap_or(false) { "yes" } }
                td { @if s(n, "project_id") == project {
                    (button_form(&format!("/console/networks/{}/delete", s(n, "id")), &csrf, "Delete", true))
                } }
            } } }
        }
        h2 { "New network" }
        form method="post" action="/console/networks" class="stacked" {
            (csrf_field(&csrf))
            label for="n-name" { "Name" } input id="n-name" name="name" required;
            label for="n-cidr" { "Subnet range (CIDR)" } input id="n-cidr" name="cidr" placeholder="192.168.10.0/24" required;
            button type="submit" { "Create network" }
        }
    };
    page(&ctx, "Networks", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let api = Ctx::new(&console, &form.session).api();
    let name = form.fields.get("name");
    let outcome = async {
        let net = api
            .post(
                "/network/v2.0/networks",
                &json!({"network": {"name": name}}),
            )
            .await?;
        let net_id = s(&net["network"], "id").to_string();
        let subnet = json!({"subnet": {"network_id": net_id, "ip_version": 4,
            "cidr": form.fields.get("cidr"), "name": name}});
        if let Err(e) = api.post("/network/v2.0/subnets", &subnet).await {
            // No half-made network left behind.
            let _ = api
                .delete(&format!("/network/v2.0/networks/{net_id}"))
                .await;
            return Err(e);
        }
        Ok(format!("Network {} created.", name.unwrap_or("")))
    }
    .await;
    back("/console/networks", outcome)
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
        "/network/v2.0/networks",
        "Network deleted.",
        "/console/networks",
    )
    .await
}
