//! The audit trail: who did what to which object, when, and with what outcome.
//! Records are store objects written in the same transaction as the change they
//! describe, so there is never a change without its record (nor the reverse).

use crate::auth::Principal;
use crate::ApiResult;
use chrono::{DateTime, Utc};
use nimbus_store::{Resource, Tx};
use serde::{Deserialize, Serialize};

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Time-ordered: microseconds since the epoch, then a random suffix.
    pub id: String,
    pub at: DateTime<Utc>,
    /// The acting user, when known (a failed login names the user it tried).
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    /// `identity.user.create`, `identity.login`, ...
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    /// `success` or `failure`.
    pub outcome: String,
    #[serde(default)]
    pub detail: String,
}

impl Resource for AuditRecord {
    const KIND: &'static str = "audit";
    fn id(&self) -> &str {
        &self.id
    }
}

impl AuditRecord {
    /// A record of `action` on `kind`/`id` by `by` (None for anonymous callers).
    pub fn new(by: Option<&Principal>, action: &str, kind: &str, id: &str, success: bool) -> Self {
        let at = Utc::now();
        AuditRecord {
            id: format!(
                "{:016x}{}",
                at.timestamp_micros(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            at,
            user_id: by.map(|p| p.user_id.clone()),
            project_id: by.and_then(|p| p.project_id().map(str::to_string)),
            action: action.to_string(),
            target_kind: kind.to_string(),
            target_id: id.to_string(),
            outcome: if success { "success" } else { "failure" }.to_string(),
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Writes the record into the caller's transaction.
    pub async fn write(&self, tx: &mut Tx<'_>) -> nimbus_store::Result<()> {
        tx.create(self).await.map(|_| ())
    }
}

/// Writes the audit record of a successful change into its transaction, then commits:
/// the change and its record land together or not at all. Every service's handlers
/// end their writes with this.
pub async fn commit_audited(
    mut tx: Tx<'_>,
    by: &Principal,
    action: &str,
    kind: &str,
    id: &str,
) -> ApiResult<()> {
    AuditRecord::new(Some(by), action, kind, id, true)
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
