//! How each identity resource looks on the wire (Keystone v3 representations),
//! with its `links.self`.

use crate::directory::Snapshot;
use crate::types::*;
use chrono::{DateTime, Utc};
use nimbus_api::links::PublicUrl;
use serde_json::{json, Map, Value};

/// Keystone's timestamp format: `2026-11-26T00:12:03.000000Z`.
pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn self_link(url: &PublicUrl, collection: &str, id: &str) -> Value {
    json!({"self": url.join(&format!("/identity/v3/{collection}/{id}"))})
}

fn with_extra(mut v: Value, extra: &Map<String, Value>) -> Value {
    if let Value::Object(o) = &mut v {
        for (k, x) in extra {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

pub fn domain(url: &PublicUrl, d: &Domain) -> Value {
    with_extra(
        json!({
            "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": d.tags, "options": {}, "links": self_link(url, "domains", &d.id),
        }),
        &d.extra,
    )
}

pub fn project(url: &PublicUrl, p: &Project) -> Value {
    with_extra(
        json!({
            "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
            "enabled": p.enabled, "parent_id": p.parent_id.as_deref().unwrap_or(&p.domain_id),
            "is_domain": false, "tags": p.tags, "options": {},
            "links": self_link(url, "projects", &p.id),
        }),
        &p.extra,
    )
}

pub fn user(url: &PublicUrl, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": null, "options": {},
        "links": self_link(url, "users", &u.id),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if !u.description.is_empty() {
        v["description"] = json!(u.description);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    with_extra(v, &u.extra)
}

pub fn group(url: &PublicUrl, g: &Group) -> Value {
    with_extra(
        json!({
            "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
            "links": self_link(url, "groups", &g.id),
        }),
        &g.extra,
    )
}

pub fn role(url: &PublicUrl, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
        "options": r.options, "links": self_link(url, "roles", &r.id),
    })
}

/// A role in the short form used inside implications and assignments.
pub fn role_ref(url: &PublicUrl, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": self_link(url, "roles", &r.id)})
}

pub fn region(url: &PublicUrl, r: &Region) -> Value {
    json!({
        "id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
        "links": self_link(url, "regions", &r.id),
    })
}

pub fn service(url: &PublicUrl, s: &Service) -> Value {
    json!({
        "id": s.id, "type": s.service_type, "name": s.name, "description": s.description,
        "enabled": s.enabled, "links": self_link(url, "services", &s.id),
    })
}

pub fn endpoint(url: &PublicUrl, e: &Endpoint) -> Value {
    json!({
        "id": e.id, "service_id": e.service_id, "interface": e.interface, "url": e.url,
        "region_id": e.region_id, "region": e.region_id, "enabled": e.enabled,
        "links": self_link(url, "endpoints", &e.id),
    })
}

pub fn application_credential(
    url: &PublicUrl,
    snap: &Snapshot,
    a: &ApplicationCredential,
) -> Value {
    let roles: Vec<Value> = a
        .roles
        .iter()
        .filter_map(|r| snap.roles.get(r))
        .map(|r| json!({"id": r.id, "name": r.name, "domain_id": r.domain_id}))
        .collect();
    json!({
        "id": a.id, "name": a.name, "user_id": a.user_id, "project_id": a.project_id,
        "description": a.description, "expires_at": a.expires_at.as_ref().map(time),
        "unrestricted": a.unrestricted, "roles": roles, "access_rules": [],
        "links": json!({"self": url.join(&format!(
            "/identity/v3/users/{}/application_credentials/{}", a.user_id, a.id))}),
    })
}

/// The service catalog as tokens and `/v3/auth/catalog` carry it.
pub fn catalog(snap: &Snapshot) -> Value {
    snap.catalog.get_or_init(|| build_catalog(snap)).clone()
}

fn build_catalog(snap: &Snapshot) -> Value {
    let services: Vec<Value> = snap
        .services
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            let endpoints: Vec<Value> = snap
                .endpoints
                .iter()
                .filter(|e| e.service_id == s.id && e.enabled)
                .map(|e| {
                    json!({"id": e.id, "interface": e.interface, "url": e.url,
                           "region": e.region_id, "region_id": e.region_id})
                })
                .collect();
            json!({"id": s.id, "type": s.service_type, "name": s.name, "endpoints": endpoints})
        })
        .collect();
    Value::Array(services)
}
