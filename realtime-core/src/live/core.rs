//! `Core`: the live side of one server: its namespaces, created and removed as sockets
//! come and go.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use super::namespace::{Namespace, NamespaceDef, Shared};

pub(crate) type NamespacePredicate = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The live side of a server: its namespaces (fixed and dynamic), what every namespace can
/// reach, and the open plain WebSocket connections.
pub(crate) struct Core {
    /// Itself, for the hooks of the dynamic namespaces it creates.
    pub(crate) me: std::sync::Weak<Core>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) namespaces: RwLock<HashMap<Arc<str>, Arc<Namespace>>>,
    pub(crate) dynamic: Vec<(NamespacePredicate, Arc<NamespaceDef>)>,
    /// Open plain WebSocket connections, so shutdown can close them too.
    pub(crate) plain_sessions:
        dashmap::DashMap<crate::engine::Sid, Arc<crate::engine::EngineSession>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Core {
    /// The namespace a new socket called `name` joins (a fixed one, or a dynamic one created
    /// on first use), with the socket counted as its user.
    pub(crate) fn namespace_for(&self, name: &str) -> Option<Arc<Namespace>> {
        {
            let map = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
            if let Some(ns) = map.get(name) {
                ns.add_user();
                return Some(ns.clone());
            }
        }
        let (_, def) = self.dynamic.iter().find(|(matches, _)| matches(name))?;
        let mut map = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        let ns = map.entry(Arc::from(name)).or_insert_with(|| {
            tracing::debug!(ns = name, "creating dynamic namespace");
            let on_empty = self.shared.config.remove_empty_dynamic_namespaces.then(|| {
                let core = self.me.clone();
                let hook: super::namespace::EmptyHook = Arc::new(move |name: &str| {
                    if let Some(core) = core.upgrade() {
                        core.remove_if_unused(name);
                    }
                });
                hook
            });
            if let Some(cluster) = &self.shared.cluster {
                cluster.add_namespace(name);
            }
            Namespace::new(name, def.clone(), self.shared.clone(), on_empty)
        });
        ns.add_user();
        Some(ns.clone())
    }

    /// A namespace by name (fixed, or dynamic once created).
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Namespace>> {
        let map = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
        map.get(name).cloned()
    }

    /// Removes the dynamic namespace `name` if nobody uses it. Under the table's write lock:
    /// a socket about to join is either counted already, or will find the name free and
    /// create the namespace anew.
    fn remove_if_unused(&self, name: &str) {
        let mut map = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        if map.get(name).is_some_and(|ns| ns.unused()) {
            map.remove(name);
            if let Some(cluster) = &self.shared.cluster {
                cluster.remove_namespace(name);
            }
            tracing::debug!(ns = name, "removed empty dynamic namespace");
        }
    }

    /// The names of the namespaces that exist now.
    pub(crate) fn namespace_names(&self) -> Vec<Arc<str>> {
        let map = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }
}
