//! `POST /servers`: validation of everything Nova's schema and API check, then
//! one transaction that creates the server(s) with their ports, group membership,
//! `create` instance action and audit record, under the project's quota.
//!
//! Everything a request names (flavor, image, keypair, networks, ports, security
//! groups, server group, the volumes of `block_device_mapping_v2`) is resolved
//! before anything is written, so a bad reference is a 400/404 at once and never
//! a server stuck in BUILD. New volumes are made and all volumes attached in the
//! same transaction (`server_volumes`).

use super::common::*;
use super::server_input::*;
use super::server_volumes;
use crate::lifecycle::{record_action, request_id};
use crate::quota;
use crate::server::{Hypervisor, Server, ServerGroup};
use crate::Compute;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::{ApiError, ApiResult};
use nimbus_image::types::Status as ImageStatus;
use nimbus_network::types::{Port, OWNER_COMPUTE};
use nimbus_network::PortRequest;
use serde_json::{json, Value};
use std::sync::Arc;

/// One NIC to give each server, resolved.
enum Nic {
    /// A new port on this network (optionally with this address).
    Network {
        id: String,
        fixed_ip: Option<String>,
    },
    /// The user's own port.
    Port(String),
}

/// 400 with the message of a lookup that answered 404 (Nova turns the
/// `*NotFound` of a referenced object into a bad request).
fn as_bad_request(e: ApiError) -> ApiError {
    if e.status == StatusCode::NOT_FOUND {
        ApiError::bad_request(e.message)
    } else {
        e
    }
}

/// `POST /servers`
pub async fn create(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Value>)> {
    let req = CreateRequest::parse(mv, &body)?;
    let project = caller
        .project_id()
        .ok_or_else(|| ApiError::forbidden("Creating a server needs a project-scoped token."))?
        .to_string();
    authorize(
        &caller,
        "compute:servers:create",
        &Target::new("server", "").project(&project),
    )?;
    if let Some(h) = &req.requested_host {
        authorize(
            &caller,
            "compute:servers:create:requested_destination",
            &Target::new("server", "").project(&project),
        )?;
        if c.store.get::<Hypervisor>(h).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "Compute host {h} could not be found."
            )));
        }
    }
    let resolved = resolve(&c, &caller, &req).await?;
    let volumes =
        server_volumes::plan(&c, &caller, &project, &req.block_devices, &resolved.flavor).await?;
    let request = request_id();
    let reservation = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    let mut tx = c.store.begin().await?;
    let limits = quota::limits(&mut tx, &project).await?;
    let used = quota::usage(&mut tx, &project).await?;
    let meta_limit = limits.limit("metadata_items");
    if meta_limit >= 0 && req.metadata.len() as i64 > meta_limit {
        return Err(ApiError::forbidden(format!(
            "Quota exceeded for metadata_items: maximum number of metadata items exceeds \
             {meta_limit}"
        )));
    }
    let count = quota::fit_servers(
        &limits,
        &used,
        resolved.flavor.vcpus,
        resolved.flavor.ram,
        req.min_count,
        req.max_count,
    )?;
    let mut group = match &req.group {
        Some(id) => tx.get::<ServerGroup>(id).await?,
        None => None,
    };
    if let (Some(id), None) = (&req.group, &group) {
        // Deleted since it was looked up.
        return Err(ApiError::bad_request(format!(
            "Instance group {id} could not be found."
        )));
    }
    if let Some(g) = &group {
        let limit = limits.limit("server_group_members");
        if limit >= 0 && g.value.members.len() as i64 + i64::from(count) > limit {
            return Err(ApiError::forbidden(format!(
                "Quota exceeded, too many servers in group: Requested {count}, but already \
                 used {} of {limit} server_group_members",
                g.value.members.len()
            )));
        }
    }
    let now = Utc::now();
    let mut servers = Vec::new();
    for index in 1..=count {
        let id = uuid::Uuid::new_v4().to_string();
        let name = if req.max_count > 1 {
            format!("{}-{index}", req.name)
        } else {
            req.name.clone()
        };
        let mut port_ids = Vec::new();
        let mut user_ports = Vec::new();
        for nic in &resolved.nics {
            let port = match nic {
                Nic::Port(p) => {
                    // Checked again here: another create may have taken it since.
                    let taken = tx
                        .get::<Port>(p)
                        .await?
                        .is_none_or(|cur| !cur.value.device_id.is_empty());
                    if taken {
                        return Err(ApiError::conflict(format!("Port {p} is still in use.")));
                    }
                    user_ports.push(p.clone());
                    c.networking
                        .bind_port_in(&mut tx, p, &id, OWNER_COMPUTE)
                        .await?
                }
                Nic::Network { id: net, fixed_ip } => c
                    .networking
                    .create_port_in(
                        &mut tx,
                        PortRequest {
                            project_id: project.clone(),
                            network_id: net.clone(),
                            fixed_ip: fixed_ip.clone(),
                            security_groups: resolved.security_groups.clone(),
                            device_id: id.clone(),
                            device_owner: OWNER_COMPUTE.to_string(),
                            name: String::new(),
                        },
                    )
                    .await
                    .map_err(as_bad_request)?,
            };
            port_ids.push(port.id);
        }
        let server = Server {
            id: id.clone(),
            hostname: hostname(&name, &id),
            name,
            project_id: project.clone(),
            user_id: caller.user_id.clone(),
            description: req.description.clone(),
            flavor: resolved.flavor.clone(),
            image_id: req.image_id.clone(),
            key_name: req.key_name.clone(),
            key_data: resolved.key_data.clone(),
            user_data: req.user_data.clone(),
            metadata: req.metadata.clone(),
            tags: req.tags.clone(),
            config_drive: req.config_drive,
            security_groups: resolved.security_groups.clone(),
            server_group: req.group.clone(),
            port_ids,
            user_ports,
            disk_config: req.disk_config.clone(),
            availability_zone: "nova".to_string(),
            locked: false,
            locked_reason: None,
            access_ipv4: req.access_ipv4.clone(),
            access_ipv6: req.access_ipv6.clone(),
            launch_index: index,
            reservation_id: reservation.clone(),
            created_at: now,
            updated_at: now,
            requested_host: req.requested_host.clone(),
            // Intent and status of a new server: to run, building, scheduling.
            ..Server::default()
        };
        tx.create(&server).await?;
        server_volumes::create_in(&mut tx, &caller, &project, &id, &volumes).await?;
        record_action(&mut tx, &caller, &server, "create", &request).await?;
        AuditRecord::new(Some(&caller), "compute.server.create", "server", &id, true)
            .write(&mut tx)
            .await?;
        if let Some(g) = &mut group {
            g.value.members.push(id.clone());
        }
        servers.push(server);
    }
    if let Some(g) = &group {
        tx.update(&g.value, Some(g.revision)).await?;
    }
    tx.commit().await?;

    let first = &servers[0];
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&url.join(&format!("{PREFIX}/servers/{}", first.id))) {
        headers.insert("location", v);
    }
    if req.return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            headers,
            Json(json!({"reservation_id": reservation})),
        ));
    }
    let mut doc = json!({
        "id": first.id,
        "links": links(&url, "servers", &first.id),
        "OS-DCF:diskConfig": first.disk_config,
    });
    if !resolved.security_group_names.is_empty() {
        let sgs: Vec<Value> = resolved
            .security_group_names
            .iter()
            .map(|n| json!({"name": n}))
            .collect();
        doc["security_groups"] = json!(sgs);
    }
    Ok((StatusCode::ACCEPTED, headers, Json(json!({"server": doc}))))
}

/// The image of a local root disk: visible, active, and fitting the flavor.
async fn check_image(
    c: &Compute,
    caller: &Principal,
    image_id: &str,
    flavor: &crate::types::Flavor,
) -> ApiResult<()> {
    let image = c
        .images
        .visible_image(caller, image_id)
        .await
        .map_err(|e| match e.status {
            // Nova's own words for an image it cannot see.
            StatusCode::NOT_FOUND => ApiError::bad_request("Can not find requested image"),
            _ => e,
        })?;
    if image.status != ImageStatus::Active {
        return Err(ApiError::bad_request(format!(
            "Image {} is not active.",
            image_id
        )));
    }
    if flavor.disk > 0 {
        let needed = image.virtual_size.or(image.size).unwrap_or(0);
        if needed > flavor.disk << 30 || image.min_disk > flavor.disk {
            return Err(ApiError::bad_request(
                "Flavor's disk is too small for requested image.",
            ));
        }
    }
    if image.min_ram > flavor.ram {
        return Err(ApiError::bad_request(
            "Flavor's memory is too small for requested image.",
        ));
    }
    Ok(())
}

/// What the request names, looked up.
struct Resolved {
    flavor: crate::types::Flavor,
    key_data: Option<String>,
    nics: Vec<Nic>,
    security_groups: Vec<String>,
    security_group_names: Vec<String>,
}

async fn resolve(c: &Compute, caller: &Principal, req: &CreateRequest) -> ApiResult<Resolved> {
    let flavor = c
        .flavor(caller, &req.flavor_id)
        .await
        .map_err(as_bad_request)?;
    if flavor.disabled {
        return Err(ApiError::bad_request(format!(
            "Flavor {} could not be found.",
            req.flavor_id
        )));
    }
    // A server booted from a volume has no image to check here (its volumes
    // are checked by `server_volumes::plan`).
    if !req.image_id.is_empty() {
        check_image(c, caller, &req.image_id, &flavor).await?;
    }
    let key_data = match &req.key_name {
        None => None,
        Some(k) => Some(
            c.keypair(&caller.user_id, k)
                .await
                .map_err(|_| ApiError::bad_request("Invalid key_name provided."))?
                .public_key,
        ),
    };
    let mut nics = Vec::new();
    match &req.networks {
        Networks::None => {}
        Networks::Auto => {
            // As Nova: the project's own networks, else the shared ones.
            let all = c.networking.auto_networks(caller).await?;
            let (own, shared): (Vec<_>, Vec<_>) = all
                .into_iter()
                .partition(|n| caller.project_id() == Some(n.project_id.as_str()));
            let nets = if own.is_empty() { shared } else { own };
            if nets.len() > 1 {
                return Err(ApiError::conflict(
                    "Multiple possible networks found, use a Network ID to be more specific.",
                ));
            }
            if nets.is_empty() && req.networks_given {
                return Err(ApiError::bad_request(format!(
                    "Unable to automatically allocate a network for project {}",
                    caller.project_id().unwrap_or_default()
                )));
            }
            nics.extend(nets.into_iter().map(|n| Nic::Network {
                id: n.id,
                fixed_ip: None,
            }));
        }
        Networks::List(list) => {
            for n in list {
                match n {
                    RequestedNic::Port(p) => {
                        c.networking
                            .usable_port(caller, p)
                            .await
                            .map_err(|e| match e.status {
                                StatusCode::NOT_FOUND => ApiError::bad_request(format!(
                                    "Port id {p} could not be found."
                                )),
                                _ => e,
                            })?;
                        nics.push(Nic::Port(p.clone()));
                    }
                    RequestedNic::Network { id, fixed_ip } => {
                        c.networking.usable_network(caller, id).await.map_err(|e| {
                            match e.status {
                                StatusCode::NOT_FOUND => ApiError::bad_request(format!(
                                    "Network {id} could not be found."
                                )),
                                _ => e,
                            }
                        })?;
                        nics.push(Nic::Network {
                            id: id.clone(),
                            fixed_ip: fixed_ip.clone(),
                        });
                    }
                }
            }
        }
    }
    let groups = c
        .networking
        .resolve_security_groups(caller, &req.security_groups)
        .await
        .map_err(as_bad_request)?;
    if let Some(g) = &req.group {
        let found = c.store.get::<ServerGroup>(g).await?;
        let usable = found.is_some_and(|f| {
            caller.project_id() == Some(f.value.project_id.as_str()) || caller.is_cloud_admin()
        });
        if !usable {
            return Err(ApiError::bad_request(format!(
                "Instance group {g} could not be found."
            )));
        }
    }
    Ok(Resolved {
        flavor,
        key_data,
        nics,
        security_groups: groups.iter().map(|g| g.id.clone()).collect(),
        security_group_names: groups.into_iter().map(|g| g.name).collect(),
    })
}
