//! The directory: an in-memory snapshot of identity state (users, projects, roles,
//! assignments, catalog) that the hot paths read (token validation, role resolution,
//! name lookups). It is rebuilt from the store whenever a directory kind has changed
//! since the snapshot was taken, so it never serves stale authorisation data.

use crate::types::*;
use nimbus_store::{Store, StoreError};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A set of role ids, shared.
pub type RoleSet = Arc<BTreeSet<String>>;

/// One consistent view of the identity state.
#[derive(Default)]
pub struct Snapshot {
    /// The store revision this snapshot includes.
    pub revision: i64,
    pub domains: HashMap<String, Domain>,
    pub projects: HashMap<String, Project>,
    pub users: HashMap<String, User>,
    pub groups: HashMap<String, Group>,
    pub roles: HashMap<String, Role>,
    pub application_credentials: HashMap<String, ApplicationCredential>,
    pub regions: Vec<Region>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoint>,
    pub implications: Vec<RoleImplication>,
    pub assignments: Vec<Assignment>,
    /// user id -> group ids
    pub groups_of_user: HashMap<String, Vec<String>>,
    /// group id -> user ids
    pub users_of_group: HashMap<String, Vec<String>>,
    /// prior role -> directly implied roles
    implied: HashMap<String, Vec<String>>,
    /// The catalog document, built on first use.
    pub catalog: std::sync::OnceLock<serde_json::Value>,
    /// (user, scope) -> effective role ids, memoised
    effective: Mutex<HashMap<(String, TokenScope), RoleSet>>,
}

/// The values of a list, without their revisions.
fn values<T>(v: Vec<nimbus_store::Versioned<T>>) -> impl Iterator<Item = T> {
    v.into_iter().map(|x| x.value)
}

impl Snapshot {
    async fn load(store: &Store) -> Result<Snapshot, StoreError> {
        let revision = store.revision();
        let mut s = Snapshot {
            revision,
            ..Default::default()
        };
        for d in values(store.list::<Domain>(None).await?) {
            s.domains.insert(d.id.clone(), d);
        }
        for p in values(store.list::<Project>(None).await?) {
            s.projects.insert(p.id.clone(), p);
        }
        for u in values(store.list::<User>(None).await?) {
            s.users.insert(u.id.clone(), u);
        }
        for g in values(store.list::<Group>(None).await?) {
            s.groups.insert(g.id.clone(), g);
        }
        for r in values(store.list::<Role>(None).await?) {
            s.roles.insert(r.id.clone(), r);
        }
        for a in values(store.list::<ApplicationCredential>(None).await?) {
            s.application_credentials.insert(a.id.clone(), a);
        }
        for m in values(store.list::<Membership>(None).await?) {
            s.groups_of_user
                .entry(m.user_id.clone())
                .or_default()
                .push(m.group_id.clone());
            s.users_of_group
                .entry(m.group_id)
                .or_default()
                .push(m.user_id);
        }
        s.implications = values(store.list::<RoleImplication>(None).await?).collect();
        for i in &s.implications {
            s.implied
                .entry(i.prior_role_id.clone())
                .or_default()
                .push(i.implied_role_id.clone());
        }
        s.assignments = values(store.list::<Assignment>(None).await?).collect();
        s.regions = values(store.list::<Region>(None).await?).collect();
        s.services = values(store.list::<Service>(None).await?).collect();
        s.endpoints = values(store.list::<Endpoint>(None).await?).collect();
        Ok(s)
    }

    pub fn domain_by_name(&self, name: &str) -> Option<&Domain> {
        self.domains
            .values()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    pub fn user_by_name(&self, domain_id: &str, name: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.domain_id == domain_id && u.name == name)
    }

    pub fn project_by_name(&self, domain_id: &str, name: &str) -> Option<&Project> {
        self.projects
            .values()
            .find(|p| p.domain_id == domain_id && p.name == name)
    }

    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles
            .values()
            .find(|r| r.domain_id.is_none() && r.name == name)
    }

    /// `role` and everything it implies, transitively.
    pub fn expand_role(&self, role: &str, into: &mut BTreeSet<String>) {
        if into.insert(role.to_string()) {
            for implied in self.implied.get(role).into_iter().flatten() {
                self.expand_role(implied, into);
            }
        }
    }

    /// Roles held directly by the actors on the target, without implications.
    pub fn direct_roles(
        &self,
        user_id: &str,
        target: TargetType,
        target_id: &str,
    ) -> BTreeSet<String> {
        let groups = self.groups_of_user.get(user_id);
        self.assignments
            .iter()
            .filter(|a| a.target == target && a.target_id == target_id)
            .filter(|a| match a.actor {
                Actor::User => a.actor_id == user_id,
                Actor::Group => groups.is_some_and(|g| g.contains(&a.actor_id)),
            })
            .map(|a| a.role_id.clone())
            .collect()
    }

    /// Every role a user holds on a scope, through groups and implications.
    pub fn effective_roles(&self, user_id: &str, scope: &TokenScope) -> Arc<BTreeSet<String>> {
        let key = (user_id.to_string(), scope.clone());
        if let Some(hit) = self.effective.lock().get(&key) {
            return hit.clone();
        }
        let direct = match scope {
            TokenScope::Unscoped => BTreeSet::new(),
            TokenScope::Project(p) => self.direct_roles(user_id, TargetType::Project, p),
            TokenScope::Domain(d) => self.direct_roles(user_id, TargetType::Domain, d),
            TokenScope::System => self.direct_roles(user_id, TargetType::System, SYSTEM_ALL),
        };
        let mut all = BTreeSet::new();
        for r in &direct {
            self.expand_role(r, &mut all);
        }
        let all = Arc::new(all);
        self.effective.lock().insert(key, all.clone());
        all
    }

    /// Whether the domain and the project (if any) of a scope are present and enabled.
    pub fn scope_enabled(&self, scope: &TokenScope) -> bool {
        match scope {
            TokenScope::Project(p) => self.projects.get(p).is_some_and(|p| {
                p.enabled && self.domains.get(&p.domain_id).is_some_and(|d| d.enabled)
            }),
            TokenScope::Domain(d) => self.domains.get(d).is_some_and(|d| d.enabled),
            TokenScope::Unscoped | TokenScope::System => true,
        }
    }

    /// The ancestors of a project, nearest first.
    pub fn project_parents(&self, project_id: &str) -> Vec<&Project> {
        let mut out = Vec::new();
        let mut cur = self
            .projects
            .get(project_id)
            .and_then(|p| p.parent_id.clone());
        while let Some(id) = cur {
            match self.projects.get(&id) {
                Some(p) if !out.iter().any(|q: &&Project| q.id == p.id) => {
                    out.push(p);
                    cur = p.parent_id.clone();
                }
                _ => break,
            }
        }
        out
    }

    /// Whether `project_id` is `ancestor_id` or lies below it.
    pub fn in_subtree(&self, project_id: &str, ancestor_id: &str) -> bool {
        project_id == ancestor_id
            || self
                .project_parents(project_id)
                .iter()
                .any(|p| p.id == ancestor_id)
    }
}

/// The shared, self-refreshing directory.
pub struct Directory {
    store: Store,
    current: RwLock<Arc<Snapshot>>,
    reload: tokio::sync::Mutex<()>,
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Directory {
            store,
            current: RwLock::new(Arc::new(Snapshot {
                revision: -1,
                ..Default::default()
            })),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// The current snapshot, rebuilt first if the store has changed under it.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let snap = self.current.read().clone();
        if snap.revision >= 0 && !self.store.changed_since(DIRECTORY_KINDS, snap.revision) {
            return Ok(snap);
        }
        let _one_loader = self.reload.lock().await;
        let snap = self.current.read().clone();
        if snap.revision >= 0 && !self.store.changed_since(DIRECTORY_KINDS, snap.revision) {
            return Ok(snap);
        }
        let fresh = Arc::new(Snapshot::load(&self.store).await?);
        *self.current.write() = fresh.clone();
        Ok(fresh)
    }
}
