//! Servers: the project's servers with their status kept live, the create form
//! in the order of workflow 9.1 (name, flavor, image, boot volume size, network,
//! security group, keypair, a volume to attach), the console log, and start,
//! stop, reboot and delete.

use crate::form::Form;
use crate::pages::identity::list;
use crate::pages::layout::{csrf_field, page, s};
use crate::pages::{back, id_segment, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use nimbus_api::policy::Target;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/servers", get(index).post(create))
        .route("/console/servers/{id}", get(show))
        .route("/console/servers/{id}/action", post(action))
}

fn in_project<'a>(kind: &'a str, project: Option<&'a str>) -> Target<'a> {
    Target {
        kind,
        id: "",
        project_id: project,
        ..Default::default()
    }
}

/// `addresses` as "net: 10.0.0.5, 203.0.113.12".
fn addresses(server: &Value) -> String {
    let mut out = Vec::new();
    if let Some(nets) = server["addresses"].as_object() {
        for (net, addrs) in nets {
            let ips: Vec<&str> = addrs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["addr"].as_str())
                .collect();
            out.push(format!("{net}: {}", ips.join(", ")));
        }
    }
    out.join("; ")
}

fn server_rows(servers: &[Value]) -> Markup {
    html! {
        @for v in servers { tr {
            td { a href={ "/console/servers/" (s(v, "id")) } { (s(v, "name")) } }
            td class={ "status-" (s(v, "status")) } { (s(v, "status")) }
            td { (addresses(v)) }
            td { (v["flavor"]["original_name"].as_str().unwrap_or("")) }
        } }
    }
}

/// Servers shown per page (Nova's `limit`; the next page starts at a marker).
const PAGE: usize = 100;

#[derive(serde::Deserialize)]
struct Paging {
    marker: Option<String>,
}

/// The marker of the next page from Nova's `servers_links`.
fn next_marker(answer: &Value) -> Option<String> {
    answer["servers_links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == "next")?["href"]
        .as_str()?
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("marker="))
        .map(str::to_string)
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
    Query(paging): Query<Paging>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let mut path = format!("/compute/v2.1/servers/detail?limit={PAGE}");
    if let Some(m) = paging.marker.as_deref().filter(|m| id_segment(m).is_ok()) {
        path.push_str(&format!("&marker={m}"));
    }
    let answer = api.get(&path).await.unwrap_or_default();
    let servers = answer["servers"].as_array().cloned().unwrap_or_default();
    let next = next_marker(&answer);
    let project = session.principal.project_id();
    let can_create = ctx.can("compute:servers:create", &in_project("server", project));
    let form = if can_create {
        create_form(&ctx).await
    } else {
        html! {}
    };
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Status" } th { "Addresses" } th { "Flavor" } } }
            tbody id="servers" data-live { (server_rows(&servers)) }
        }
        @if let Some(m) = &next { p { a href={ "/console/servers?marker=" (m) } { "Next " (PAGE) " servers" } } }
        (form)
    };
    page(&ctx, "Servers", &notice, content).await
}

async fn create_form(ctx: &Ctx<'_>) -> Markup {
    let api = ctx.api();
    let flavors = list(&api, "/compute/v2.1/flavors", "flavors").await;
    let images = list(&api, "/image/v2/images", "images").await;
    let networks = list(&api, "/network/v2.0/networks", "networks").await;
    let groups = list(&api, "/network/v2.0/security-groups", "security_groups").await;
    let keypairs = list(&api, "/compute/v2.1/os-keypairs", "keypairs").await;
    let volumes = list(
        &api,
        "/volume/v3/volumes/detail?status=available",
        "volumes",
    )
    .await;
    let project = ctx.session.principal.project_id().unwrap_or("");
    let csrf = ctx.csrf();
    html! {
        h2 { "Launch a server" }
        form method="post" action="/console/servers" class="stacked" {
            (csrf_field(&csrf))
            label for="s-name" { "1. Name" } input id="s-name" name="name" required;
            label for="s-flavor" { "2. Flavor (size)" }
            select id="s-flavor" name="flavor" {
                @for f in &flavors { option value=(s(f, "id")) { (s(f, "name")) } }
            }
            label for="s-image" { "3. Image" }
            select id="s-image" name="image" {
                @for i in images.iter().filter(|i| s(i, "status") == "active" && s(i, "container_format") != "aki" && s(i, "container_format") != "ari") {
                    option value=(s(i, "id")) { (s(i, "name")) }
                }
            }
            label for="s-boot-size" { "4. Boot volume size in GiB (empty: the flavor's local disk)" }
            input id="s-boot-size" name="boot_volume_size" type="number" min="1" max="1024";
            label for="s-network" { "5. Network" }
            select id="s-network" name="network" {
                @for n in networks.iter().filter(|n| !n["router:external"].as_bool().unwrap_or(false)) {
                    option value=(s(n, "id")) { (s(n, "name")) }
                }
            }
            label for="s-group" { "6. Security group" }
            select id="s-group" name="security_group" {
                @for g in groups.iter().filter(|g| s(g, "project_id") == project || project.is_empty()) {
                    option value=(s(g, "id")) selected[s(g, "name") == "default"] { (s(g, "name")) }
                }
            }
            label for="s-key" { "7. Key pair" }
            select id="s-key" name="key_name" {
                option value="" { "(none)" }
                @for k in &keypairs { option value=(s(&k["keypair"], "name")) { (s(&k["keypair"], "name")) } }
            }
            label for="s-volume" { "8. Volume to attach (optional)" }
            select id="s-volume" name="volume" {
                option value="" { "(none)" }
                @for v in &volumes { option value=(s(v, "id")) { (s(v, "name")) " (" (v["size"]) " GiB)" } }
            }
            button type="submit" { "Launch" }
        }
    }
}

/// The Nova create body the form asks for.
fn server_body(f: &crate::form::Fields) -> Result<Value, String> {
    let name = f.get("name").ok_or("Give the server a name.")?;
    let image = f.get("image").ok_or("Choose an image.")?;
    let mut server = json!({
        "name": name,
        "flavorRef": f.get("flavor").ok_or("Choose a flavor.")?,
        "networks": [{"uuid": f.get("network").ok_or("Choose a network.")?}],
    });
    if let Some(g) = f.get("security_group") {
        server["security_groups"] = json!([{"name": g}]);
    }
    if let Some(k) = f.get("key_name") {
        server["key_name"] = json!(k);
    }
    let mut bdm = Vec::new();
    match f.get("boot_volume_size") {
        Some(size) => {
            let size: u32 = size
                .parse()
                .map_err(|_| "The boot volume size is a number of GiB.")?;
            server["imageRef"] = json!("");
            bdm.push(
                json!({"boot_index": 0, "uuid": image, "source_type": "image",
                "destination_type": "volume", "volume_size": size, "delete_on_termination": true}),
            );
        }
        None => server["imageRef"] = json!(image),
    }
    if let Some(v) = f.get("volume") {
        bdm.push(json!({"boot_index": -1, "uuid": v, "source_type": "volume",
            "destination_type": "volume", "delete_on_termination": false}));
    }
    if !bdm.is_empty() {
        server["block_device_mapping_v2"] = json!(bdm);
    }
    Ok(json!({ "server": server }))
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let body = match server_body(&form.fields) {
        Ok(b) => b,
        Err(message) => {
            return back(
                "/console/servers",
                Err(crate::api_client::failure(
                    axum::http::StatusCode::BAD_REQUEST,
                    message,
                )),
            )
        }
    };
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/compute/v2.1/servers", &body)
        .await
        .map(|_| {
            format!(
                "Server {} is being built.",
                form.fields.get("name").unwrap_or("")
            )
        });
    back("/console/servers", outcome)
}

async fn show(
    State(console): State<Arc<Console>>,
    session: Session,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let server = match api.get(&format!("/compute/v2.1/servers/{id}")).await {
        Ok(v) => v["server"].clone(),
        Err(e) => return back("/console/servers", Err(e)),
    };
    let log = api
        .post(
            &format!("/compute/v2.1/servers/{id}/action"),
            &json!({"os-getConsoleOutput": {"length": 50}}),
        )
        .await
        .ok()
        .and_then(|v| v["output"].as_str().map(str::to_string))
        .unwrap_or_default();
    let target = Target {
        kind: "server",
        id,
        project_id: server["tenant_id"].as_str(),
        hidden_outside_project: true,
        ..Default::default()
    };
    let csrf = ctx.csrf();
    let act = format!("/console/servers/{id}/action");
    let content = html! {
        dl id="server" data-live {
            dt { "Status" } dd class={ "status-" (s(&server, "status")) } { (s(&server, "status")) }
            dt { "Addresses" } dd { (addresses(&server)) }
            dt { "Volumes" } dd { @for v in server["os-extended-volumes:volumes_attached"].as_array().into_iter().flatten() { (s(v, "id")) " " } }
        }
        p {
            @for (op, label, action) in [("start", "Start", "compute:servers:start"),
                                         ("stop", "Stop", "compute:servers:stop"),
                                         ("reboot", "Reboot", "compute:servers:reboot")] {
                @if ctx.can(action, &target) {
                    form method="post" action=(act) class="inline" {
                        (csrf_field(&csrf)) input type="hidden" name="op" value=(op);
                        button type="submit" { (label) }
                    }
                    " "
                }
            }
            @if ctx.can("compute:servers:delete", &target) {
                form method="post" action=(act) class="inline" {
                    (csrf_field(&csrf)) input type="hidden" name="op" value="delete";
                    button type="submit" class="danger" { "Delete" }
                }
            }
        }
        (extras(&ctx, id, &csrf).await)
        h2 { "Console log (last 50 lines)" }
        pre id="console-log" data-live { (log) }
    };
    page(
        &ctx,
        &format!("Server {}", s(&server, "name")),
        &notice,
        content,
    )
    .await
}

/// The server's volumes and floating IPs, with forms to attach a volume and
/// to give a port a floating IP.
async fn extras(ctx: &Ctx<'_>, id: &str, csrf: &str) -> Markup {
    let api = ctx.api();
    let attached = list(
        &api,
        &format!("/compute/v2.1/servers/{id}/os-volume_attachments"),
        "volumeAttachments",
    )
    .await;
    let available = list(
        &api,
        "/volume/v3/volumes/detail?status=available",
        "volumes",
    )
    .await;
    let ports = list(
        &api,
        &format!("/network/v2.0/ports?device_id={id}"),
        "ports",
    )
    .await;
    let free_fips: Vec<Value> = list(&api, "/network/v2.0/floatingips", "floatingips")
        .await
        .into_iter()
        .filter(|f| f["port_id"].is_null())
        .collect();
    html! {
        h2 { "Volumes" }
        ul { @for a in &attached { li {
            (s(a, "volumeId")) " on " (s(a, "device")) " "
            form method="post" action={ "/console/volumes/" (s(a, "volumeId")) "/detach" } class="inline" {
                (csrf_field(csrf)) input type="hidden" name="server" value=(id);
                button type="submit" { "Detach" }
            }
        } } }
        @if !available.is_empty() {
            form method="post" action={ "/console/volumes/" "-" "/attach" } class="row" id="attach-volume" {
                (csrf_field(csrf)) input type="hidden" name="server" value=(id);
                label for="a-volume" { "Volume" }
                select id="a-volume" name="volume" {
                    @for v in &available { option value=(s(v, "id")) { (s(v, "name")) " (" (v["size"]) " GiB)" } }
                }
                button type="submit" { "Attach volume" }
            }
        }
        h2 { "Floating IP" }
        @if !free_fips.is_empty() && !ports.is_empty() {
            form method="post" action="/console/floating-ips/-/port" class="row" {
                (csrf_field(csrf))
                input type="hidden" name="back" value={ "/console/servers/" (id) };
                label for="a-fip" { "Address" }
                select id="a-fip" name="floatingip" { @for f in &free_fips { option value=(s(f, "id")) { (s(f, "floating_ip_address")) } } }
                label for="a-port" { "On port" }
                select id="a-port" name="port_id" { @for p in &ports {
                    option value=(s(p, "id")) { (p["fixed_ips"][0]["ip_address"].as_str().unwrap_or("")) }
                } }
                button type="submit" { "Associate" }
            }
        } @else { p { "No free floating IP: allocate one on the " a href="/console/floating-ips" { "floating IPs" } " page." } }
    }
}

async fn action(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let api = Ctx::new(&console, &form.session).api();
    let path = format!("/compute/v2.1/servers/{id}/action");
    let outcome = match form.fields.get("op") {
        Some("start") => api
            .post(&path, &json!({"os-start": null}))
            .await
            .map(|_| "Starting."),
        Some("stop") => api
            .post(&path, &json!({"os-stop": null}))
            .await
            .map(|_| "Stopping."),
        Some("reboot") => api
            .post(&path, &json!({"reboot": {"type": "SOFT"}}))
            .await
            .map(|_| "Rebooting."),
        Some("delete") => {
            let done = api.delete(&format!("/compute/v2.1/servers/{id}")).await;
            return back(
                "/console/servers",
                done.map(|_| "Server deleted.".to_string()),
            );
        }
        _ => Ok("Nothing to do."),
    };
    back(
        &format!("/console/servers/{id}"),
        outcome.map(str::to_string),
    )
}
