//! What the first start creates, and every start re-checks: the `default` domain,
//! the `admin` project and user, the four personas' roles with their implications
//! (admin → manager → member → reader), region `RegionOne`, and the catalog entries
//! pointing at this server's public URL (which may change between starts).

use crate::password;
use crate::types::*;
use nimbus_store::{Store, StoreError, Tx};
use rand::distributions::{Alphanumeric, DistString};

pub const DEFAULT_DOMAIN_ID: &str = "default";
pub const DEFAULT_REGION: &str = "RegionOne";
/// The persona roles, most powerful first; each implies the next.
pub const PERSONA_ROLES: &[&str] = &["admin", "manager", "member", "reader"];

/// What bootstrap found or made.
pub struct Bootstrapped {
    pub admin_project_id: String,
    pub admin_user_id: String,
    /// Set only when the admin user was created now with a generated password.
    pub generated_admin_password: Option<String>,
}

/// Creates whatever is missing. `admin_password` (from `NIMBUS_ADMIN_PASSWORD`) sets
/// the admin password when the user is created, and resets it when it differs.
pub async fn run(
    store: &Store,
    admin_password: Option<String>,
) -> Result<Bootstrapped, StoreError> {
    let mut tx = store.begin().await?;
    if tx.get::<Domain>(DEFAULT_DOMAIN_ID).await?.is_none() {
        tx.create(&Domain {
            id: DEFAULT_DOMAIN_ID.into(),
            name: "Default".into(),
            description: "The default domain".into(),
            enabled: true,
            tags: vec![],
            extra: Default::default(),
        })
        .await?;
    }
    let mut role_ids = Vec::new();
    for name in PERSONA_ROLES {
        role_ids.push(ensure_role(&mut tx, name).await?);
    }
    for pair in role_ids.windows(2) {
        let key = RoleImplication::key(&pair[0], &pair[1]);
        if tx.get::<RoleImplication>(&key).await?.is_none() {
            tx.create(&RoleImplication::new(&pair[0], &pair[1])).await?;
        }
    }
    let admin_role = role_ids[0].clone();

    let projects = tx.list::<Project>(Some(DEFAULT_DOMAIN_ID)).await?;
    let admin_project_id = match projects.iter().find(|p| p.value.name == "admin") {
        Some(p) => p.value.id.clone(),
        None => {
            let p = Project {
                id: new_id(),
                name: "admin".into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                parent_id: None,
                description: "Bootstrap project for cloud administration".into(),
                enabled: true,
                tags: vec![],
                extra: Default::default(),
            };
            tx.create(&p).await?;
            p.id
        }
    };

    let users = tx.list::<User>(Some(DEFAULT_DOMAIN_ID)).await?;
    let mut generated_admin_password = None;
    let admin_user_id = match users.iter().find(|u| u.value.name == "admin") {
        Some(u) => {
            let mut user = u.value.clone();
            if let Some(pw) = admin_password {
                let same = match &user.password_hash {
                    Some(h) => password::verify(pw.clone(), h.clone()).await,
                    None => false,
                };
                if !same {
                    user.password_hash = Some(password::hash(pw).await);
                    user.password_changed_at = Some(chrono::Utc::now());
                    user.tokens_revoked_at = tx.revision().await?;
                    tx.update(&user, None).await?;
                }
            }
            user.id
        }
        None => {
            let pw = match admin_password {
                Some(pw) => pw,
                None => {
                    let pw = Alphanumeric.sample_string(&mut rand::thread_rng(), 20);
                    generated_admin_password = Some(pw.clone());
                    pw
                }
            };
            let user = User {
                id: new_id(),
                name: "admin".into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                enabled: true,
                default_project_id: Some(admin_project_id.clone()),
                description: "Cloud administrator".into(),
                email: None,
                password_hash: Some(password::hash(pw).await),
                password_changed_at: Some(chrono::Utc::now()),
                tokens_revoked_at: 0,
                extra: Default::default(),
            };
            tx.create(&user).await?;
            user.id
        }
    };
    for (target, target_id) in [
        (TargetType::Project, admin_project_id.as_str()),
        (TargetType::System, SYSTEM_ALL),
    ] {
        let a = Assignment::new(Actor::User, &admin_user_id, target, target_id, &admin_role);
        if tx.get::<Assignment>(&a.id).await?.is_none() {
            tx.create(&a).await?;
        }
    }
    if tx.get::<Region>(DEFAULT_REGION).await?.is_none() {
        tx.create(&Region {
            id: DEFAULT_REGION.into(),
            description: String::new(),
            parent_region_id: None,
        })
        .await?;
    }
    tx.commit().await?;
    Ok(Bootstrapped {
        admin_project_id,
        admin_user_id,
        generated_admin_password,
    })
}

async fn ensure_role(tx: &mut Tx<'_>, name: &str) -> Result<String, StoreError> {
    let roles = tx.list::<Role>(None).await?;
    if let Some(r) = roles
        .iter()
        .find(|r| r.value.name == name && r.value.domain_id.is_none())
    {
        return Ok(r.value.id.clone());
    }
    let role = Role {
        id: new_id(),
        name: name.into(),
        domain_id: None,
        description: String::new(),
        options: Default::default(),
    };
    tx.create(&role).await?;
    Ok(role.id)
}

/// Registers (or re-points) a service in the catalog: one service of `service_type`
/// with public, internal and admin endpoints at `url` in RegionOne. Every Nimbus
/// service calls this at start-up with its own type and URL.
pub async fn ensure_service(
    store: &Store,
    service_type: &str,
    name: &str,
    url: &str,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let services = tx.list::<Service>(None).await?;
    let service_id = match services
        .iter()
        .find(|s| s.value.service_type == service_type)
    {
        Some(s) => s.value.id.clone(),
        None => {
            let s = Service {
                id: new_id(),
                service_type: service_type.into(),
                name: name.into(),
                description: String::new(),
                enabled: true,
            };
            tx.create(&s).await?;
            s.id
        }
    };
    let endpoints = tx.list::<Endpoint>(Some(&service_id)).await?;
    for interface in ["public", "internal", "admin"] {
        match endpoints.iter().find(|e| e.value.interface == interface) {
            Some(e) if e.value.url == url => {}
            Some(e) => {
                let mut e = e.value.clone();
                e.url = url.into();
                tx.update(&e, None).await?;
            }
            None => {
                tx.create(&Endpoint {
                    id: new_id(),
                    service_id: service_id.clone(),
                    interface: interface.into(),
                    url: url.into(),
                    region_id: Some(DEFAULT_REGION.into()),
                    enabled: true,
                })
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
