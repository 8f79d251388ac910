//! `nimbus audit`: prints the audit trail straight from the store (works whether or
//! not the server is running), newest first.

use nimbus_store::Store;

/// Prints up to `limit` records, one per line.
pub async fn print(store: &Store, limit: usize) -> anyhow::Result<()> {
    let records = nimbus_identity::api::audit::recent(store, limit, |_| true).await?;
    for r in records {
        println!(
            "{}  {:<7}  {:<40}  user={}  {}={}{}",
            r.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            r.outcome,
            r.action,
            r.user_id.as_deref().unwrap_or("-"),
            r.target_kind,
            r.target_id,
            if r.detail.is_empty() {
                String::new()
            } else {
                format!("  ({})", r.detail)
            }
        );
    }
    Ok(())
}
