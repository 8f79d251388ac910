//! Floating IPs: list, allocate from an external network, associate with a
//! server's port or disassociate, release.

use crate::form::Form;
use crate::pages::identity::list;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, id_segment, Ctx, Notice};
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
    let ports = list(
        &api,
        "/network/v2.0/ports?device_owner=compute:nova",
        "ports",
    )
    .await;
    let servers = list(&api, "/compute/v2.1/servers", "servers").await;
    let server_name = |port: &Value| {
        servers
            .iter()
            .find(|sv| s(sv, "id") == s(port, "device_id"))
            .map(|sv| s(sv, "name").to_string())
            .unwrap_or_default()
    };
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Address" } th { "Fixed address" } th { "Associate with" } th { span class="skip" { "Actions" } } } }
            tbody { @for f in &fips { tr {
                td { (s(f, "floating_ip_address")) }
                td { (s(f, "fixed_ip_address")) }
                td { form method="post" action={ "/console/floating-ips/" (s(f, "id")) "/port" } class="inline" {
                    (csrf_field(&csrf))
                    label for={ "fp-" (s(f, "id")) } class="skip" { "Port" }
                    select id={ "fp-" (s(f, "id")) } name="port_id" {
                        option value="" { "(none)" }
                        @for p in &ports {
                            option value=(s(p, "id")) selected[s(p, "id") == s(f, "port_id")] {
                                (server_name(p)) " " (p["fixed_ips"][0]["ip_address"].as_str().unwrap_or(""))
                            }
                        }
                    }
                    " " button type="submit" { "Set" }
                } }
                td { (button_form(&format!("/console/floating-ips/{}/delete", s(f, "id")), &csrf, "Release", true)) }
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
    back("/console/floating-ips", outcome)
}

async fn delete(
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
        .delete(&format!("/network/v2.0/floatingips/{id}"))
        .await
        .map(|_| "Released.".to_string());
    back("/console/floating-ips", outcome)
}
