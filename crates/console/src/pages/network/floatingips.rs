//! Floating IPs: list, allocate from an external network, associate with a
//! server's port (from the server's page) or disassociate, release.

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
        .route("/console/floating-ips", get(index).post(create))
        .route("/console/floating-ips/{id}/port", post(associate))
        .route("/console/floating-ips/{id}/delete", post(delete))
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let fips = list(&api, "/network/v2.0/floatingips", "floatingips").await;
    let networks = list(
        &api,
        "/network/v2.0/networks?router:external=true",
        "networks",
    )
    .await;
    let csrf = ctx.csrf();
    // Associating happens on a server's page (it knows the server's ports);
    // here an address can be let go of or released.
    let content = html! {
        table {
            thead { tr { th { "Address" } th { "Fixed address" } th { span class="skip" { "Actions" } } } }
            tbody id="floating-ips" data-live { @for f in &fips { tr {
                td { (s(f, "floating_ip_address")) }
                td { (s(f, "fixed_ip_address")) }
                td {
                    @if f["port_id"].is_string() {
                        form method="post" action={ "/console/floating-ips/" (s(f, "id")) "/port" } class="inline" {
                            (csrf_field(&csrf)) button type="submit" { "Disassociate" }
                        }
                        " "
                    }
                    (button_form(&format!("/console/floating-ips/{}/delete", s(f, "id")), &csrf, "Release", true))
                }
            } } }
        }
        h2 { "Allocate a floating IP" }
        form method="post" action="/console/floating-ips" class="row" {
            (csrf_field(&csrf))
            label for="f-net" { "From" }
            select id="f-net" name="network" { @for n in &networks { option value=(s(n, "id")) { (s(n, "name")) } } }
            button type="submit" { "Allocate" }
        }
    };
    page(&ctx, "Floating IPs", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post(
            "/network/v2.0/floatingips",
            &json!({"floatingip": {"floating_network_id": form.fields.get("network")}}),
        )
        .await
        .map(|v| format!("Allocated {}.", s(&v["floatingip"], "floating_ip_address")));
    back("/console/floating-ips", outcome)
}

async fn associate(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let port = form.fields.get("port_id");
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .call(
            axum::http::Method::PUT,
            &format!("/network/v2.0/floatingips/{id}"),
            Some(&json!({"floatingip": {"port_id": port}})),
            &[],
        )
        .await
        .map(|_| {
            if port.is_some() {
                "Associated."
            } else {
                "Disassociated."
            }
            .to_string()
        });
    let to = form
        .fields
        .get("back")
        .filter(|b| b.starts_with("/console/servers/"));
    back(to.unwrap_or("/console/floating-ips"), outcome)
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
        "/network/v2.0/floatingips",
        "Released.",
        "/console/floating-ips",
    )
    .await
}
