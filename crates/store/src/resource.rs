//! The shapes that go in and out of the store: typed resources, raw JSON objects,
//! the revision wrapper and watch events.

use crate::{Result, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A type stored as an object of one kind.
pub trait Resource: Serialize + DeserializeOwned + Send + Sync {
    /// The kind name in the store (`user`, `project`, later `server`, `pod`, ...).
    const KIND: &'static str;
    /// The object's id, unique within its kind.
    fn id(&self) -> &str;
    /// The scope lists are asked for by (domain, project, namespace); empty for none.
    fn parent(&self) -> &str {
        ""
    }
    /// Keys that must be unique within the kind (e.g. `domain/name`).
    fn unique_keys(&self) -> Vec<String> {
        Vec::new()
    }

    /// The object as the store sees it.
    fn to_raw(&self) -> Result<RawObject> {
        Ok(RawObject {
            kind: Self::KIND.to_string(),
            id: self.id().to_string(),
            parent: self.parent().to_string(),
            unique_keys: self.unique_keys(),
            body: serde_json::to_value(self)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", Self::KIND)))?,
        })
    }
}

/// An object of any kind, body as JSON: what dynamic APIs (Kubernetes) store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawObject {
    pub kind: String,
    pub id: String,
    pub parent: String,
    /// Only meaningful on writes; reads leave it empty.
    #[serde(skip)]
    pub unique_keys: Vec<String>,
    pub body: serde_json::Value,
}

/// A stored value with the revisions of its creation and of its last change.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    pub revision: i64,
    pub created_revision: i64,
    pub value: T,
}

impl Versioned<RawObject> {
    /// Decodes the JSON body into its type.
    pub fn decode<T: Resource>(self) -> Result<Versioned<T>> {
        let value = serde_json::from_value(self.value.body)
            .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", T::KIND, self.value.id)))?;
        Ok(Versioned {
            revision: self.revision,
            created_revision: self.created_revision,
            value,
        })
    }
}

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Created,
    Updated,
    Deleted,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Op> {
        match s {
            "created" => Ok(Op::Created),
            "updated" => Ok(Op::Updated),
            "deleted" => Ok(Op::Deleted),
            other => Err(StoreError::Corrupt(format!("unknown event op {other:?}"))),
        }
    }
}

/// One change, as a watch delivers it. A deletion carries the last body.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub revision: i64,
    pub kind: String,
    pub id: String,
    pub parent: String,
    pub op: Op,
    pub body: serde_json::Value,
}
