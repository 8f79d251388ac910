//! Key pairs: list, create (the private key is shown once, on the answer to the
//! form, never stored), import a public key, delete.

use crate::form::Form;
use crate::pages::identity::list;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, Ctx, Notice};
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
        .route("/console/keypairs", get(index).post(create))
        .route("/console/keypairs/{name}/delete", post(delete))
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let keypairs = list(&ctx.api(), "/compute/v2.1/os-keypairs", "keypairs").await;
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Fingerprint" } th { span class="skip" { "Actions" } } } }
            tbody { @for k in &keypairs { @let k = &k["keypair"]; tr {
                td { (s(k, "name")) }
                td { code { (s(k, "fingerprint")) } }
                td { (button_form(&format!("/console/keypairs/{}/delete", urlencode(s(k, "name"))), &csrf, "Delete", true)) }
            } } }
        }
        h2 { "New key pair" }
        form method="post" action="/console/keypairs" class="stacked" {
            (csrf_field(&csrf))
            label for="k-name" { "Name" } input id="k-name" name="name" required;
            label for="k-public" { "Public key to import (empty: make a new key pair)" }
            textarea id="k-public" name="public_key" rows="3" {}
            button type="submit" { "Create key pair" }
        }
    };
    page(&ctx, "Key pairs", &notice, content).await
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap_or_default()[1..].to_string()
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let ctx = Ctx::new(&console, &form.session);
    let mut keypair = json!({"name": form.fields.get("name")});
    if let Some(public) = form.fields.get("public_key") {
        keypair["public_key"] = json!(public);
    }
    match ctx
        .api()
        .post("/compute/v2.1/os-keypairs", &json!({ "keypair": keypair }))
        .await
    {
        Ok(v) => match v["keypair"]["private_key"].as_str() {
            // Shown once, here: the cloud keeps only the public half.
            Some(private) => {
                let content = html! {
                    p role="status" class="notice" { "Key pair " (s(&v["keypair"], "name")) " created. Save the private key now: it is not kept and cannot be shown again." }
                    label for="private" { "Private key" }
                    textarea id="private" readonly rows="8" cols="70" { (private) }
                    p { a href="/console/keypairs" { "Back to the key pairs" } }
                };
                page(&ctx, "New key pair", &Notice::default(), content).await
            }
            None => back("/console/keypairs", Ok("Key pair imported.".into())),
        },
        Err(e) => back("/console/keypairs", Err(e)),
    }
}

async fn delete(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    form: Form,
) -> Response {
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .delete(&format!("/compute/v2.1/os-keypairs/{}", urlencode(&name)))
        .await
        .map(|_| "Key pair deleted.".to_string());
    back("/console/keypairs", outcome)
}
