//! Routers: list, create with a gateway to an external network, add a subnet
//! as an interface, delete.

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
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/routers", get(index).post(create))
        .route("/console/routers/{id}/interfaces", post(add_interface))
        .route("/console/routers/{id}/delete", post(delete))
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let routers = list(&api, "/network/v2.0/routers", "routers").await;
    let networks = list(&api, "/network/v2.0/networks", "networks").await;
    let subnets = list(&api, "/network/v2.0/subnets", "subnets").await;
    let external: Vec<_> = networks
        .iter()
        .filter(|n| n["router:external"].as_bool().unwrap_or(false))
        .collect();
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Gateway" } th { "Add an interface" } th { span class="skip" { "Actions" } } } }
            tbody { @for r in &routers { tr {
                td { (s(r, "name")) }
                td { (r["external_gateway_info"]["network_id"].as_str()
                        .and_then(|id| networks.iter().find(|n| s(n, "id") == id))
                        .map(|n| s(n, "name")).unwrap_or("")) }
                td { form method="post" action={ "/console/routers/" (s(r, "id")) "/interfaces" } class="inline" {
                    (csrf_field(&csrf))
                    label for={ "if-" (s(r, "id")) } class="skip" { "Subnet" }
                    select id={ "if-" (s(r, "id")) } name="subnet_id" {
                        @for sn in &subnets { option value=(s(sn, "id")) { (s(sn, "name")) " " (s(sn, "cidr")) } }
                    }
                    " " button type="submit" { "Add interface" }
                } }
                td { (button_form(&format!("/console/routers/{}/delete", s(r, "id")), &csrf, "Delete", true)) }
            } } }
        }
        h2 { "New router" }
        form method="post" action="/console/routers" class="stacked" {
            (csrf_field(&csrf))
            label for="r-name" { "Name" } input id="r-name" name="name" required;
            label for="r-gw" { "External network" }
            select id="r-gw" name="gateway" {
                option value="" { "(none)" }
                @for n in &external { option value=(s(n, "id")) { (s(n, "name")) } }
            }
            button type="submit" { "Create router" }
        }
    };
    page(&ctx, "Routers", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let mut router = json!({"name": form.fields.get("name")});
    if let Some(gw) = form.fields.get("gateway") {
        router["external_gateway_info"] = json!({"network_id": gw});
    }
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/network/v2.0/routers", &json!({ "router": router }))
        .await
        .map(|v| format!("Router {} created.", s(&v["router"], "name")));
    back("/console/routers", outcome)
}

async fn add_interface(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .put(
            &format!("/network/v2.0/routers/{id}/add_router_interface"),
            Some(&json!({"subnet_id": form.fields.get("subnet_id")})),
        )
        .await
        .map(|_| "Interface added.".to_string());
    back("/console/routers", outcome)
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
        "/network/v2.0/routers",
        "Router deleted.",
        "/console/routers",
    )
    .await
}
