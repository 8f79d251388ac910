//! Security groups: list with their rules, create a group, add an ingress rule
//! (protocol, port, source range), remove a rule, delete a group.

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
        .route("/console/security-groups", get(index).post(create))
        .route("/console/security-groups/{id}/rules", post(add_rule))
        .route(
            "/console/security-groups/rules/{id}/delete",
            post(delete_rule),
        )
        .route("/console/security-groups/{id}/delete", post(delete))
}

/// "ingress tcp 22 from 0.0.0.0/0".
fn rule_text(r: &Value) -> String {
    let ports = match (r["port_range_min"].as_u64(), r["port_range_max"].as_u64()) {
        (Some(a), Some(b)) if a == b => format!(" {a}"),
        (Some(a), Some(b)) => format!(" {a}-{b}"),
        _ => String::new(),
    };
    let from = r["remote_ip_prefix"]
        .as_str()
        .map(|p| format!(" from {p}"))
        .or_else(|| {
            r["remote_group_id"]
                .as_str()
                .map(|_| " from the group".to_string())
        })
        .unwrap_or_default();
    format!(
        "{} {} {}{ports}{from}",
        s(r, "direction"),
        s(r, "ethertype"),
        r["protocol"].as_str().unwrap_or("any")
    )
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let groups = list(
        &ctx.api(),
        "/network/v2.0/security-groups",
        "security_groups",
    )
    .await;
    let csrf = ctx.csrf();
    let content = html! {
        @for g in &groups {
            h2 { (s(g, "name")) }
            ul { @for r in g["security_group_rules"].as_array().into_iter().flatten() {
                li { (rule_text(r)) " " (button_form(&format!("/console/security-groups/rules/{}/delete", s(r, "id")), &csrf, "Remove", true)) }
            } }
            form method="post" action={ "/console/security-groups/" (s(g, "id")) "/rules" } class="row" {
                (csrf_field(&csrf))
                label { "Protocol " select name="protocol" { option { "tcp" } option { "udp" } option { "icmp" } } }
                label { "Port " input name="port" type="number" min="1" max="65535" size="6"; }
                label { "From " input name="remote_ip_prefix" value="0.0.0.0/0" size="16"; }
                button type="submit" { "Allow in" }
            }
            (button_form(&format!("/console/security-groups/{}/delete", s(g, "id")), &csrf, "Delete group", true))
        }
        h2 { "New security group" }
        form method="post" action="/console/security-groups" class="stacked" {
            (csrf_field(&csrf))
            label for="g-name" { "Name" } input id="g-name" name="name" required;
            button type="submit" { "Create group" }
        }
    };
    page(&ctx, "Security groups", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post(
            "/network/v2.0/security-groups",
            &json!({"security_group": {"name": form.fields.get("name")}}),
        )
        .await
        .map(|v| {
            format!(
                "Security group {} created.",
                s(&v["security_group"], "name")
            )
        });
    back("/console/security-groups", outcome)
}

async fn add_rule(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let f = &form.fields;
    let mut rule = json!({"security_group_id": id, "direction": "ingress", "ethertype": "IPv4",
        "protocol": f.get("protocol"), "remote_ip_prefix": f.get("remote_ip_prefix")});
    if let Some(port) = f.get("port") {
        let port: Value = port.parse::<u16>().map(Value::from).unwrap_or(json!(port));
        rule["port_range_min"] = port.clone();
        rule["port_range_max"] = port;
    }
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post(
            "/network/v2.0/security-group-rules",
            &json!({ "security_group_rule": rule }),
        )
        .await
        .map(|_| "Rule added.".to_string());
    back("/console/security-groups", outcome)
}

async fn delete_rule(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    delete_and_back(
        &console,
        &form,
        &id,
        "/network/v2.0/security-group-rules",
        "Rule removed.",
        "/console/security-groups",
    )
    .await
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
        "/network/v2.0/security-groups",
        "Security group deleted.",
        "/console/security-groups",
    )
    .await
}
