//! The wire form of every stored object, as the spec's `*ResponseData` schemas
//! name the fields (camelCase), and the `{"data": ...}` wrapper of every GET.

use super::common::date;
use crate::types::{Component, Impact, ImpactType, Incident, IncidentUpdate, PhaseList, Severity};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `{"data": ...}`.
pub fn data(v: Value) -> Json<Value> {
    Json(json!({ "data": v }))
}

pub fn phase_list(p: &PhaseList) -> Value {
    json!({"generation": p.generation, "phases": p.phases})
}

pub fn impact_type(t: &ImpactType) -> Value {
    json!({"id": t.id, "displayName": t.display_name, "description": t.description})
}

pub fn severity(s: &Severity) -> Value {
    json!({"displayName": s.display_name, "value": s.value})
}

/// An impact; `reference` is a component (in an incident) or an incident (in a
/// component's `activelyAffectedBy`).
fn impact(reference: &str, i: &Impact) -> Value {
    let mut v = json!({"reference": reference, "type": i.impact_type});
    if let Some(s) = i.severity {
        v["severity"] = json!(s);
    }
    v
}

/// A component with the impacts of the incidents active at `at`.
pub fn component(c: &Component, incidents: &[Incident], at: DateTime<Utc>) -> Value {
    let affected: Vec<Value> = incidents
        .iter()
        .filter(|i| i.active_at(at))
        .flat_map(|i| {
            i.affects
                .iter()
                .filter(|imp| imp.reference == c.id)
                .map(|imp| impact(&i.id, imp))
        })
        .collect();
    json!({
        "id": c.id,
        "displayName": c.display_name,
        "labels": c.labels,
        "activelyAffectedBy": affected,
    })
}

pub fn incident(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "displayName": i.display_name,
        "description": i.description,
        "affects": i.affects.iter().map(|a| impact(&a.reference, a)).collect::<Vec<_>>(),
        "beganAt": date(&i.began_at),
        "endedAt": i.ended_at.as_ref().map(date),
        "phase": {"generation": i.phase.generation, "order": i.phase.order},
        "updates": i.updates.iter().map(|u| u.order).collect::<Vec<_>>(),
    })
}

pub fn update(u: &IncidentUpdate) -> Value {
    json!({
        "order": u.order,
        "displayName": u.display_name,
        "description": u.description,
        "createdAt": date(&u.created_at),
    })
}
