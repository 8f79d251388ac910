//! What the status page stores. Field names on the wire are the SCS Status Page
//! API's (camelCase); these structs are the stored form, turned into the wire form
//! by [`crate::api::views`].
//!
//! - [`Component`]: a part of the cloud users care about (one per Nimbus service at
//!   first), with free-form labels;
//! - [`Incident`]: something that happened or will happen (maintenance), with the
//!   [`Impact`]s it has on components, its phase and its ordered [`IncidentUpdate`]s
//!   (kept inside the incident so that an update and the incident change together);
//! - [`ImpactType`] and [`Severity`]: the vocabulary impacts use;
//! - [`PhaseList`]: one generation of the list of incident phases; a new list is a
//!   new generation, old ones stay so that incidents keep pointing at their phase.

use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A component of the cloud shown on the status page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

impl Resource for Component {
    const KIND: &'static str = "status_component";
    fn id(&self) -> &str {
        &self.id
    }
}

/// How an incident affects one component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    /// The component's id.
    pub reference: String,
    /// The impact type's id.
    #[serde(rename = "type")]
    pub impact_type: String,
    /// 0..=100; absent when the writer gave none.
    pub severity: Option<u8>,
}

/// A phase of a generation of the phase list, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRef {
    pub generation: u64,
    pub order: u64,
}

/// One update of an incident; `order` is unique within the incident and never
/// reused, so a deleted update's number does not come back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub order: u64,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// An incident (or a planned maintenance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub affects: Vec<Impact>,
    pub began_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub phase: PhaseRef,
    #[serde(default)]
    pub updates: Vec<IncidentUpdate>,
    /// The order the next update gets.
    #[serde(default)]
    pub next_update_order: u64,
    pub created_at: DateTime<Utc>,
}

impl Resource for Incident {
    const KIND: &'static str = "status_incident";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Incident {
    /// Whether the incident is going on at `at`: begun, and not (yet) ended.
    pub fn active_at(&self, at: DateTime<Utc>) -> bool {
        self.began_at <= at && self.ended_at.is_none_or(|end| end > at)
    }

    /// Whether the incident overlaps the time frame `[start, end]`.
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.began_at <= end && self.ended_at.is_none_or(|e| e >= start)
    }
}

/// A type of impact ("Performance Degradation", ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactType {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
}

impl Resource for ImpactType {
    const KIND: &'static str = "status_impact_type";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A named severity; its value is the upper end of the range of impact severities
/// it names. Identified by its name (the API addresses it so); values are unique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    pub display_name: String,
    pub value: u8,
}

impl Resource for Severity {
    const KIND: &'static str = "status_severity";
    fn id(&self) -> &str {
        &self.display_name
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("value/{}", self.value)]
    }
}

/// One generation of the phase list; stored under its generation number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseList {
    /// The generation as a string (the store id).
    pub id: String,
    pub generation: u64,
    pub phases: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl PhaseList {
    pub fn new(generation: u64, phases: Vec<String>) -> Self {
        PhaseList {
            id: generation.to_string(),
            generation,
            phases,
            created_at: Utc::now(),
        }
    }
}

impl Resource for PhaseList {
    const KIND: &'static str = "status_phases";
    fn id(&self) -> &str {
        &self.id
    }
}
