//! [`Store`]: the objects, their resourceVersions, the change history watches replay, and the
//! lifecycle rules the API server applies on create, update and delete.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::resource::Resource;
use crate::selector::{Matcher, Selection};
use crate::time::{now_rfc3339, rfc3339_after};
use crate::validate::{apply_defaults, normalize, validate};

/// One change seen by a watch, with the object as it is after the change (for `Deleted`, its last
/// state). `Bookmark` says every change up to `resource_version` has been delivered.
#[derive(Clone, Debug)]
pub enum WatchEvent {
    Added(Value),
    Modified(Value),
    Deleted(Value),
    Bookmark { resource_version: u64 },
}

/// How a [`Store`] is set up.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Where Service ClusterIPs come from; the first address goes to `default/kubernetes`.
    pub service_cidr: ipnet::Ipv4Net,
    /// How many changes are kept for watches to replay; older resourceVersions are `410 Gone`.
    pub history_limit: usize,
    /// How many undelivered events a watch may fall behind before it is closed (the client then
    /// resumes from the last resourceVersion it saw, as it does after any closed watch).
    pub watch_buffer: usize,
    /// Whether NetworkPolicy ports know `endPort` (on by default since Kubernetes 1.22); a
    /// server without it drops the field silently, storing a single port.
    pub network_policy_end_port: bool,
    /// A terminating namespace goes as soon as it is empty, the store playing the namespace
    /// controller (`true`, the default). With `false` it stays Terminating, empty, until its
    /// `kubernetes` finalizer is removed ([`Store::finalize_namespace`], or `PUT
    /// namespaces/{name}/finalize`), as a namespace controller does once it gets to it.
    pub finalize_empty_namespaces: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            service_cidr: "10.96.0.0/16".parse().expect("a valid CIDR"),
            history_limit: 10_000,
            watch_buffer: 4_096,
            network_policy_end_port: true,
            finalize_empty_namespaces: true,
        }
    }
}

/// The namespaces a cluster has from the start.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The object store. Cheap to clone; all clones share the same state.
///
/// Objects are JSON values of the k8s-openapi types' wire form; every write bumps one global
/// resourceVersion, and watches replay history from a given resourceVersion (older than the kept
/// window: `410 Gone`).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

struct Change {
    resource_version: u64,
    resource: Resource,
    namespace: String,
    kind: ChangeKind,
    object: Value,
    previous: Option<Value>,
}

struct Watcher {
    resource: Resource,
    namespace: Option<String>,
    matcher: Matcher,
    tx: mpsc::Sender<WatchEvent>,
}

type Key = (String, String);

struct Inner {
    options: StoreOptions,
    resource_version: u64,
    objects: BTreeMap<Resource, BTreeMap<Key, Value>>,
    history: VecDeque<Change>,
    /// The newest resourceVersion dropped from `history`: watches must start at or after it.
    compacted_through: u64,
    watchers: Vec<Watcher>,
    cluster_ips: Allocator,
    node_ports: Allocator,
}

/// Hands out numbered slots (ClusterIP offsets, node ports) in `[first, last]`.
struct Allocator {
    first: u32,
    last: u32,
    /// Where dynamic allocation starts looking, so statically chosen low values stay free.
    dynamic_start: u32,
    used: BTreeSet<u32>,
}

impl Allocator {
    fn allocate(&mut self) -> Option<u32> {
        let found = (self.dynamic_start..=self.last)
            .chain(self.first..self.dynamic_start)
            .find(|n| !self.used.contains(n))?;
        self.used.insert(found);
        Some(found)
    }

    fn reserve(&mut self, n: u32) -> bool {
        (self.first..=self.last).contains(&n) && self.used.insert(n)
    }
}

fn namespace_key(resource: Resource, namespace: Option<&str>) -> String {
    if resource.namespaced() {
        namespace.unwrap_or_default().to_owned()
    } else {
        String::new()
    }
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

fn metadata_mut(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("made an object above")
}

/// The resourceVersion an object carries; 0 when absent.
pub(crate) fn object_resource_version(object: &Value) -> u64 {
    meta_str(object, "resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// The object without its resourceVersion, for telling whether a write changed anything.
fn without_resource_version(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    copy
}

fn has_generation(resource: Resource) -> bool {
    matches!(
        resource,
        Resource::Pods | Resource::NetworkPolicies | Resource::Jobs
    ) || (resource.is_apps() && resource != Resource::ControllerRevisions)
}

/// The finalizer of an object deleted in the foreground: it stays until the garbage collector
/// deleted its blocking dependents.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer of an object deleted with its dependents orphaned: it stays until the garbage
/// collector removed the ownerReferences to it.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// What a deletion does to the object's dependents (`DeleteOptions.propagationPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes at once; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// The object stays, marked and with the [`FOREGROUND_FINALIZER`], until its dependents
    /// that block its deletion are gone.
    Foreground,
    /// The object stays, marked and with the [`ORPHAN_FINALIZER`], until its dependents no
    /// longer name it as their owner; they stay.
    Orphan,
}

impl Propagation {
    /// `propagationPolicy` as the API names it.
    ///
    /// # Errors
    /// `422 Invalid` for another value, worded as the API server words it.
    pub fn parse(value: &str) -> Result<Propagation, ApiError> {
        match value {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(ApiError::invalid(
                "DeleteOptions.meta.k8s.io",
                "",
                vec![(
                    "propagationPolicy".into(),
                    format!(
                        "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                )],
            )),
        }
    }

    /// The object's finalizers after a deletion with this policy: the garbage collector's own
    /// are replaced by the one this policy needs, the others kept.
    fn finalizers(self, object: &Value) -> Vec<Value> {
        let mut finalizers: Vec<Value> = object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| *f != FOREGROUND_FINALIZER && *f != ORPHAN_FINALIZER)
            .cloned()
            .collect();
        match self {
            Propagation::Background => {}
            Propagation::Foreground => finalizers.push(json!(FOREGROUND_FINALIZER)),
            Propagation::Orphan => finalizers.push(json!(ORPHAN_FINALIZER)),
        }
        finalizers
    }
}

fn finalizers_of(object: &Value) -> &[Value] {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Everything but metadata and status: what bumps `metadata.generation` when it changes.
fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

impl Store {
    /// A store holding what a fresh cluster has: the namespaces `default`, `kube-system`,
    /// `kube-public`, `kube-node-lease`, and the `default/kubernetes` Service on 10.96.0.1.
    pub fn new() -> Store {
        Store::with_options(StoreOptions::default())
    }

    pub fn with_options(options: StoreOptions) -> Store {
        let net = options.service_cidr;
        let base = u32::from(net.network());
        let size = u32::try_from(net.hosts().count())
            .unwrap_or(u32::MAX)
            .max(1);
        let band = (size / 16).clamp(16, 256).min(size.saturating_sub(1));
        let first = if net.prefix_len() >= 31 {
            base
        } else {
            base + 1
        };
        let cluster_ips = Allocator {
            first,
            last: first + size - 1,
            dynamic_start: first + band,
            used: BTreeSet::new(),
        };
        let node_ports = Allocator {
            first: 30000,
            last: 32767,
            dynamic_start: 30000,
            used: BTreeSet::new(),
        };
        let inner = Inner {
            options,
            resource_version: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted_through: 0,
            watchers: Vec::new(),
            cluster_ips,
            node_ports,
        };
        let store = Store {
            inner: Arc::new(Mutex::new(inner)),
        };
        for name in INITIAL_NAMESPACES {
            store
                .create(
                    Resource::Namespaces,
                    None,
                    json!({"metadata": {"name": name}}),
                )
                .expect("the initial namespaces are valid");
        }
        let kubernetes = json!({
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "clusterIP": Ipv4Addr::from(first).to_string(),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        });
        store
            .create(Resource::Services, Some("default"), kubernetes)
            .expect("the kubernetes Service is valid");
        store
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    /// The ClusterIP range Services are allocated from.
    pub fn service_cidr(&self) -> ipnet::Ipv4Net {
        self.lock().options.service_cidr
    }

    /// Forgets the change history and closes every watch, as an etcd compaction followed by an
    /// API server restart does: clients resuming from an older resourceVersion get `410 Gone`.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.compacted_through = inner.resource_version;
        inner.history.clear();
        inner.watchers.clear();
    }

    /// Creates an object, filling uid, creationTimestamp, resourceVersion, generation (and for
    /// Services the ClusterIP, for Namespaces the metadata.name label), after validation.
    ///
    /// # Errors
    /// `BadRequest` for a body that is not the resource's kind, `Invalid` with field causes,
    /// `NotFound`/`Forbidden` for a missing/terminating namespace, `AlreadyExists`.
    pub fn create(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        inner.create(resource, namespace, object)
    }

    /// # Errors
    /// `NotFound`.
    pub fn get(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let inner = self.lock();
        inner.get(resource, namespace, name).cloned()
    }

    /// Returns the matching objects (sorted by namespace and name) and the list's resourceVersion.
    /// `namespace` `None` lists a namespaced resource across all namespaces.
    ///
    /// # Errors
    /// `BadRequest` for a selector that does not parse.
    pub fn list(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
    ) -> Result<(Vec<Value>, u64), ApiError> {
        let matcher = Matcher::new(resource, selection)?;
        let inner = self.lock();
        let items = inner
            .objects
            .get(&resource)
            .into_iter()
            .flat_map(|objects| objects.iter())
            .filter(|((ns, _), object)| {
                namespace.is_none_or(|want| !resource.namespaced() || ns == want)
                    && matcher.matches(object)
            })
            .map(|(_, object)| object.clone())
            .collect();
        Ok((items, inner.resource_version))
    }

    /// The `metadata` of every object of the resource (all namespaces), in the order of
    /// [`Store::list`]: what a client that needs no more (the garbage collector) reads, without
    /// copying whole objects.
    pub fn list_metadata(&self, resource: Resource) -> Vec<Value> {
        let inner = self.lock();
        inner
            .objects
            .get(&resource)
            .into_iter()
            .flat_map(|objects| objects.values())
            .map(|object| object.get("metadata").cloned().unwrap_or_else(|| json!({})))
            .collect()
    }

    /// Read-modify-write of one object (spec or status), as a controller does; bumps the
    /// resourceVersion and notifies watchers only when the object changed. Name, namespace, uid
    /// and creationTimestamp cannot be changed this way.
    ///
    /// # Caveats
    /// `f` runs with the store locked: it must not call the store.
    ///
    /// # Errors
    /// `NotFound`, the error `f` returns, `BadRequest` when `f` left an object of the wrong shape.
    pub fn mutate(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let old = inner.get(resource, namespace, name)?.clone();
        let mut new = old.clone();
        f(&mut new)?;
        inner.replace(resource, &old, new)
    }

    /// An update through the API (PUT or a patch): checks the resourceVersion precondition, keeps
    /// what the main resource or the status subresource may not change, defaults and validates.
    pub(crate) fn update(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        new: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let (old, mut merged) =
            inner.prepare_update(resource, namespace, name, new, status_only)?;
        if resource == Resource::Services && !status_only {
            inner.allocate_missing_node_ports(&mut merged)?;
        }
        let annotations_count = !status_only
            && crate::validate::apps::annotations_bump_generation(resource, &old, &merged);
        inner.replace_counting(resource, &old, merged, annotations_count)
    }

    /// What [`Store::update`] would store, for a dry run.
    pub(crate) fn check_update(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        new: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let inner = self.lock();
        Ok(inner
            .prepare_update(resource, namespace, name, new, status_only)?
            .1)
    }

    /// What [`Store::create`] would store, for a dry run (without allocating ClusterIPs).
    pub(crate) fn check_create(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        let inner = self.lock();
        inner.prepare_create(resource, namespace, object)
    }

    /// Deletes an object. Pods bound to a node and namespaces are only marked (deletionTimestamp;
    /// for namespaces phase Terminating, and their contents are deleted) and go away on
    /// [`Store::finalize_delete`] — a namespace by itself once it is empty; other objects go at
    /// once unless they carry finalizers. `grace_period_seconds` `Some(0)` deletes a pod at once.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn delete(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        grace_period_seconds: Option<i64>,
    ) -> Result<Value, ApiError> {
        self.delete_propagating(
            resource,
            namespace,
            name,
            grace_period_seconds,
            Propagation::Background,
        )
    }

    /// [`Store::delete`] with a propagation policy: `Foreground` and `Orphan` keep the object,
    /// marked, with the garbage collector's finalizer (for pods, also through their graceful
    /// termination); an object with finalizers left stays until they are removed.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn delete_propagating(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        grace_period_seconds: Option<i64>,
        propagation: Propagation,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        inner.delete(resource, namespace, name, grace_period_seconds, propagation)
    }

    /// Deletes every matching object in the namespace; returns what was deleted or marked.
    pub(crate) fn delete_collection(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
        grace_period_seconds: Option<i64>,
        propagation: Propagation,
    ) -> Result<Vec<Value>, ApiError> {
        let (items, _) = self.list(resource, namespace, selection)?;
        let mut inner = self.lock();
        let mut out = Vec::new();
        for item in items {
            let name = meta_str(&item, "name").unwrap_or_default().to_owned();
            let ns = meta_str(&item, "namespace").map(str::to_owned);
            match inner.delete(
                resource,
                ns.as_deref(),
                &name,
                grace_period_seconds,
                propagation,
            ) {
                Ok(deleted) => out.push(deleted),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes an object marked for deletion (the kubelet calls this once its processes ended).
    /// Removing a namespace removes whatever it still holds.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn finalize_delete(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
        let mut inner = self.lock();
        let old = inner.get(resource, namespace, name)?.clone();
        if resource == Resource::Namespaces {
            inner.purge_namespace(name);
        }
        if !finalizers_of(&old).is_empty() {
            // The kubelet is done; the finalizers' owners still have to let the object go.
            inner.mark_deleted_now(resource, &old);
            return Ok(());
        }
        inner.remove(resource, namespace, name);
        Ok(())
    }

    /// Whether no object lives in `namespace` any more.
    pub fn namespace_is_empty(&self, namespace: &str) -> bool {
        self.lock().namespace_is_empty(namespace)
    }

    /// What the namespace controller does last: removes the `kubernetes` finalizer of the
    /// terminating namespace `name` (the one with `uid`) once it is empty, and the namespace
    /// goes. Returns whether it went; a namespace that is not terminating, not empty, or was
    /// replaced by another of the same name stays.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn finalize_namespace(&self, name: &str, uid: &str) -> Result<bool, ApiError> {
        let mut inner = self.lock();
        let old = inner.get(Resource::Namespaces, None, name)?.clone();
        if meta_str(&old, "uid") != Some(uid)
            || meta_str(&old, "deletionTimestamp").is_none()
            || !inner.namespace_is_empty(name)
        {
            return Ok(false);
        }
        let mut new = old.clone();
        new["spec"]["finalizers"] = json!([]);
        inner.replace(Resource::Namespaces, &old, new)?;
        inner.remove(Resource::Namespaces, None, name);
        Ok(true)
    }

    /// A stream of changes after `resource_version` (`None` or `Some(0)`: from now, after
    /// synthetic ADDED events for what exists, as a watch without resourceVersion does). An
    /// object that stops matching the selection arrives as DELETED, one that starts as ADDED.
    /// The stream ends when the store is compacted or the receiver falls too far behind.
    ///
    /// # Errors
    /// `Gone` (410) for a resourceVersion older than the kept history; `BadRequest` for a bad
    /// selector.
    pub fn watch(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
        resource_version: Option<u64>,
    ) -> Result<mpsc::Receiver<WatchEvent>, ApiError> {
        self.watch_counted(resource, namespace, selection, resource_version)
            .map(|started| started.events)
    }

    /// [`Store::watch`], also saying where the replayed backlog ends.
    pub(crate) fn watch_counted(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
        resource_version: Option<u64>,
    ) -> Result<StartedWatch, ApiError> {
        let matcher = Matcher::new(resource, selection)?;
        let mut inner = self.lock();
        let namespace = namespace
            .filter(|_| resource.namespaced())
            .map(str::to_owned);
        let mut backlog = Vec::new();
        match resource_version.filter(|rv| *rv > 0) {
            None => {
                for ((ns, _), object) in inner.objects.get(&resource).into_iter().flatten() {
                    if namespace.as_ref().is_none_or(|want| want == ns) && matcher.matches(object) {
                        backlog.push(WatchEvent::Added(object.clone()));
                    }
                }
            }
            Some(rv) => {
                if rv < inner.compacted_through {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        inner.compacted_through + 1
                    )));
                }
                let watcher = Watcher {
                    resource,
                    namespace: namespace.clone(),
                    matcher: matcher.clone(),
                    tx: mpsc::channel(1).0,
                };
                for change in inner.history.iter().filter(|c| c.resource_version > rv) {
                    if let Some(event) = watcher.event_for(change) {
                        backlog.push(event);
                    }
                }
            }
        }
        let backlog_len = backlog.len();
        let (tx, rx) = mpsc::channel(backlog_len + inner.options.watch_buffer.max(1));
        for event in backlog {
            tx.try_send(event)
                .expect("the channel has room for the backlog");
        }
        inner.watchers.push(Watcher {
            resource,
            namespace,
            matcher,
            tx,
        });
        Ok(StartedWatch {
            events: rx,
            backlog: backlog_len,
            resource_version: inner.resource_version,
        })
    }
}

/// A watch as it started: its events, how many of the first ones replay the past (or list
/// what exists), and the resourceVersion they bring the watcher up to.
pub(crate) struct StartedWatch {
    pub(crate) events: mpsc::Receiver<WatchEvent>,
    pub(crate) backlog: usize,
    pub(crate) resource_version: u64,
}

impl Watcher {
    fn event_for(&self, change: &Change) -> Option<WatchEvent> {
        if change.resource != self.resource
            || self
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != change.namespace)
        {
            return None;
        }
        let now = self.matcher.matches(&change.object);
        let before = change
            .previous
            .as_ref()
            .is_some_and(|p| self.matcher.matches(p));
        match (change.kind, before, now) {
            (ChangeKind::Added, _, true) => Some(WatchEvent::Added(change.object.clone())),
            (ChangeKind::Modified, true, true) => Some(WatchEvent::Modified(change.object.clone())),
            (ChangeKind::Modified, false, true) => Some(WatchEvent::Added(change.object.clone())),
            (ChangeKind::Modified, true, false) => Some(WatchEvent::Deleted(change.object.clone())),
            (ChangeKind::Deleted, _, true) => Some(WatchEvent::Deleted(change.object.clone())),
            _ => None,
        }
    }
}

impl Inner {
    fn prepare_update(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        new: Value,
        status_only: bool,
    ) -> Result<(Value, Value), ApiError> {
        let old = self.get(resource, namespace, name)?.clone();
        if !new.is_object() {
            return Err(ApiError::bad_request("the body must be an object"));
        }
        if let Some(body_name) = meta_str(&new, "name").filter(|n| !n.is_empty() && *n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(&resource.qualified(), name));
        }
        let mut merged = if status_only {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            merged
        } else {
            let mut merged = new;
            if resource.has_status() {
                merged["status"] = old.get("status").cloned().unwrap_or(Value::Null);
            }
            merged
        };
        if merged.get("status").is_some_and(Value::is_null)
            && let Some(map) = merged.as_object_mut()
        {
            map.remove("status");
        }
        merged["apiVersion"] = json!(resource.api_version());
        merged["kind"] = json!(resource.kind());
        if !status_only {
            apply_defaults(resource, &mut merged);
            self.check_update(resource, &old, &mut merged)?;
        }
        let merged = normalize(resource, merged)?;
        validate(resource, &merged)?;
        Ok((old, merged))
    }

    fn get(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<&Value, ApiError> {
        let key = (namespace_key(resource, namespace), name.to_owned());
        self.objects
            .get(&resource)
            .and_then(|objects| objects.get(&key))
            .ok_or_else(|| ApiError::not_found(&resource.qualified(), name))
    }

    fn next_resource_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    /// Records a change and tells the watchers; `object` already carries its new resourceVersion.
    fn record(
        &mut self,
        resource: Resource,
        kind: ChangeKind,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Change {
            resource_version: object_resource_version(&object),
            resource,
            namespace: meta_str(&object, "namespace")
                .unwrap_or_default()
                .to_owned(),
            kind,
            object,
            previous,
        };
        self.watchers
            .retain(|watcher| match watcher.event_for(&change) {
                Some(event) => watcher.tx.try_send(event).is_ok(),
                None => !watcher.tx.is_closed(),
            });
        self.history.push_back(change);
        while self.history.len() > self.options.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted_through = dropped.resource_version;
            }
        }
    }

    fn create(
        &mut self,
        resource: Resource,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        let mut object = self.prepare_create(resource, namespace, object)?;
        if resource == Resource::Services {
            self.allocate_service(&mut object)?;
        }
        let ns = meta_str(&object, "namespace")
            .unwrap_or_default()
            .to_owned();
        let name = meta_str(&object, "name").unwrap_or_default().to_owned();
        let rv = self.next_resource_version();
        metadata_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        self.objects
            .entry(resource)
            .or_default()
            .insert((ns, name), object.clone());
        self.record(resource, ChangeKind::Added, object.clone(), None);
        Ok(object)
    }

    /// Everything a create checks and fills, without storing.
    fn prepare_create(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        let Value::Object(_) = object else {
            return Err(ApiError::bad_request(format!(
                "the body of a {} must be a JSON object",
                resource.kind()
            )));
        };
        let mut object = object;
        for (field, want) in [
            ("apiVersion", resource.api_version()),
            ("kind", resource.kind()),
        ] {
            match object.get(field).and_then(Value::as_str) {
                None | Some("") => object[field] = json!(want),
                Some(got) if got == want => {}
                Some(got) => {
                    return Err(ApiError::bad_request(format!(
                        "the {field} of the object ({got}) does not match the {field} of the resource ({want})"
                    )));
                }
            }
        }
        let ns = namespace_key(resource, namespace);
        {
            let meta = metadata_mut(&mut object);
            if resource.namespaced() {
                if ns.is_empty() {
                    return Err(ApiError::bad_request(
                        "the namespace of the object is required",
                    ));
                }
                match meta.get("namespace").and_then(Value::as_str) {
                    None | Some("") => {
                        meta.insert("namespace".into(), json!(ns));
                    }
                    Some(given) if given == ns => {}
                    Some(_) => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                }
            } else {
                meta.remove("namespace");
            }
            let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty()
                && let Some(prefix) = meta
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
            {
                let generated = format!("{prefix}{}", random_suffix());
                meta.insert("name".into(), json!(generated));
            }
            for field in [
                "uid",
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                meta.remove(field);
            }
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if has_generation(resource) {
                meta.insert("generation".into(), json!(1));
            } else {
                meta.remove("generation");
            }
        }
        match resource {
            Resource::Pods => {
                object["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"})
            }
            Resource::Namespaces => object["status"] = json!({"phase": "Active"}),
            Resource::Services => object["status"] = json!({"loadBalancer": {}}),
            r if (r.is_apps() || r == Resource::Jobs) && r.has_status() => {
                object["status"] = json!({})
            }
            _ => {}
        }
        if resource.namespaced() {
            let name = meta_str(&object, "name").unwrap_or_default();
            self.admit_in_namespace(resource, &ns, name)?;
        }
        apply_defaults(resource, &mut object);
        self.drop_unknown_fields(resource, &mut object);
        let object = normalize(resource, object)?;
        validate(resource, &object)?;
        let name = meta_str(&object, "name").unwrap_or_default().to_owned();
        if let Ok(existing) = self.get(resource, Some(&ns), &name) {
            let mut error = ApiError::already_exists(&resource.qualified(), &name);
            if meta_str(existing, "deletionTimestamp").is_some() {
                error.message = format!("object is being deleted: {}", error.message);
            }
            return Err(error);
        }
        Ok(object)
    }

    /// The NamespaceLifecycle admission plugin's check of a create, made (as admission is)
    /// before validation: the namespace must exist and not be terminating.
    fn admit_in_namespace(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let Ok(found) = self.get(Resource::Namespaces, None, namespace) else {
            return Err(ApiError::not_found("namespaces", namespace));
        };
        if found.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
            return Err(ApiError::namespace_terminating(
                &resource.qualified(),
                name,
                namespace,
            ));
        }
        Ok(())
    }

    /// Gives a Service its ClusterIP (unless headless or ExternalName) and node ports.
    fn allocate_service(&mut self, service: &mut Value) -> Result<(), ApiError> {
        let name = meta_str(service, "name").unwrap_or_default().to_owned();
        let kind = service
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned();
        if kind == "ExternalName" {
            return Ok(());
        }
        let requested = service
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let ip = if requested == "None" {
            "None".to_owned()
        } else if requested.is_empty() {
            let n = self.cluster_ips.allocate().ok_or_else(|| {
                ApiError::internal("failed to allocate a serviceIP: range is full")
            })?;
            Ipv4Addr::from(n).to_string()
        } else {
            let parsed: Option<Ipv4Addr> = requested.parse().ok();
            let cidr = self.options.service_cidr;
            match parsed {
                Some(addr) if cidr.contains(&addr) => {
                    if !self.cluster_ips.reserve(u32::from(addr)) {
                        return Err(ApiError::invalid(
                            "Service",
                            &name,
                            vec![(
                                "spec.clusterIPs".into(),
                                format!(
                                    "Invalid value: [\"{requested}\"]: failed to allocate IP {requested}: provided IP is already allocated"
                                ),
                            )],
                        ));
                    }
                    requested.clone()
                }
                _ => {
                    return Err(ApiError::invalid(
                        "Service",
                        &name,
                        vec![(
                            "spec.clusterIPs".into(),
                            format!(
                                "Invalid value: [\"{requested}\"]: failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {cidr}"
                            ),
                        )],
                    ));
                }
            }
        };
        let spec = &mut service["spec"];
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        if ip != "None" {
            spec["ipFamilies"] = json!(["IPv4"]);
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
        if kind == "NodePort" || kind == "LoadBalancer" {
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for port in ports {
                    let given = port
                        .get("nodePort")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| *n > 0);
                    let n = match given {
                        Some(n) if self.node_ports.reserve(n) => n,
                        Some(n) => {
                            return Err(ApiError::invalid(
                                "Service",
                                &name,
                                vec![(
                                    "spec.ports[0].nodePort".into(),
                                    format!(
                                        "Invalid value: {n}: provided port is already allocated"
                                    ),
                                )],
                            ));
                        }
                        None => self
                            .node_ports
                            .allocate()
                            .ok_or_else(|| ApiError::internal("node port range is full"))?,
                    };
                    port["nodePort"] = json!(n);
                }
            }
            spec["externalTrafficPolicy"] = json!("Cluster");
        }
        Ok(())
    }

    /// Gives node ports to the ports of a Service that became NodePort or LoadBalancer.
    fn allocate_missing_node_ports(&mut self, service: &mut Value) -> Result<(), ApiError> {
        let kind = service
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP");
        if kind != "NodePort" && kind != "LoadBalancer" {
            return Ok(());
        }
        for port in service
            .pointer_mut("/spec/ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if port
                .get("nodePort")
                .and_then(Value::as_u64)
                .is_none_or(|n| n == 0)
            {
                let n = self
                    .node_ports
                    .allocate()
                    .ok_or_else(|| ApiError::internal("node port range is full"))?;
                port["nodePort"] = json!(n);
            }
        }
        if service.pointer("/spec/externalTrafficPolicy").is_none() {
            service["spec"]["externalTrafficPolicy"] = json!("Cluster");
        }
        Ok(())
    }

    fn release_service(&mut self, service: &Value) {
        for ip in service
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(addr) = ip.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
                self.cluster_ips.used.remove(&u32::from(addr));
            }
        }
        for port in service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = port
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
            {
                self.node_ports.used.remove(&n);
            }
        }
    }

    /// The update rules of the main resource: immutable parts stay as they were.
    fn check_update(
        &self,
        resource: Resource,
        old: &Value,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        let name = meta_str(old, "name").unwrap_or_default();
        crate::validate::apps::check_update(resource, old, new)?;
        match resource {
            Resource::Pods => {
                let mutable = |spec: &Value| {
                    let mut spec = spec.clone();
                    for list in ["containers", "initContainers"] {
                        for container in spec
                            .get_mut(list)
                            .and_then(Value::as_array_mut)
                            .into_iter()
                            .flatten()
                        {
                            if let Some(map) = container.as_object_mut() {
                                map.remove("image");
                            }
                        }
                    }
                    if let Some(map) = spec.as_object_mut() {
                        for field in [
                            "activeDeadlineSeconds",
                            "tolerations",
                            "terminationGracePeriodSeconds",
                        ] {
                            map.remove(field);
                        }
                    }
                    spec
                };
                // A client that sends back a pod without the bound node keeps the binding.
                if new.pointer("/spec/nodeName").is_none()
                    && let Some(node) = old.pointer("/spec/nodeName").cloned()
                {
                    new["spec"]["nodeName"] = node;
                }
                let old_spec = old.get("spec").cloned().unwrap_or_default();
                let new_spec = new.get("spec").cloned().unwrap_or_default();
                if mutable(&old_spec) != mutable(&new_spec) {
                    return Err(ApiError::invalid(
                        "Pod",
                        name,
                        vec![(
                            "spec".into(),
                            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,\
                             `spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only \
                             additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be \
                             set to 1 if it was previously negative)"
                                .into(),
                        )],
                    ));
                }
            }
            Resource::Services => {
                for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                    let old_value = old.pointer(&format!("/spec/{field}")).cloned();
                    let new_value = new.pointer(&format!("/spec/{field}")).cloned();
                    match (old_value, new_value) {
                        (Some(o), None) => new["spec"][field] = o,
                        (Some(o), Some(n)) if o != n && field == "clusterIP" => {
                            return Err(ApiError::invalid(
                                "Service",
                                name,
                                vec![(
                                    "spec.clusterIPs[0]".into(),
                                    format!("Invalid value: {n}: may not change once set"),
                                )],
                            ));
                        }
                        _ => {}
                    }
                }
                // Node ports given once are kept when an update leaves them out.
                let old_ports = old
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for port in new
                    .pointer_mut("/spec/ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if port.get("nodePort").is_none()
                        && let Some(kept) = old_ports
                            .iter()
                            .find(|p| p.get("port") == port.get("port"))
                            .and_then(|p| p.get("nodePort"))
                    {
                        port["nodePort"] = kept.clone();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Drops what this server's API version does not know, silently, as an older server does.
    fn drop_unknown_fields(&self, resource: Resource, object: &mut Value) {
        if resource != Resource::NetworkPolicies || self.options.network_policy_end_port {
            return;
        }
        for direction in ["ingress", "egress"] {
            let rules = object
                .pointer_mut(&format!("/spec/{direction}"))
                .and_then(Value::as_array_mut);
            for rule in rules.into_iter().flatten() {
                let ports = rule.get_mut("ports").and_then(Value::as_array_mut);
                for port in ports.into_iter().flatten() {
                    if let Some(port) = port.as_object_mut() {
                        port.remove("endPort");
                    }
                }
            }
        }
    }

    /// Stores `new` in place of `old` if it differs; keeps identity metadata; bumps the
    /// resourceVersion and generation; completes a deletion whose finalizers are gone.
    fn replace(&mut self, resource: Resource, old: &Value, new: Value) -> Result<Value, ApiError> {
        self.replace_counting(resource, old, new, false)
    }

    /// [`Inner::replace`]; `count_anyway` bumps the generation also when the spec is unchanged.
    fn replace_counting(
        &mut self,
        resource: Resource,
        old: &Value,
        mut new: Value,
        count_anyway: bool,
    ) -> Result<Value, ApiError> {
        self.drop_unknown_fields(resource, &mut new);
        let mut new = normalize(resource, new)?;
        {
            let meta = metadata_mut(&mut new);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ] {
                match old.get("metadata").and_then(|m| m.get(field)) {
                    Some(value) => meta.insert(field.into(), value.clone()),
                    None => meta.remove(field),
                };
            }
        }
        new["apiVersion"] = json!(resource.api_version());
        new["kind"] = json!(resource.kind());
        if resource == Resource::Namespaces {
            let name = meta_str(old, "name").unwrap_or_default().to_owned();
            let labels = metadata_mut(&mut new)
                .entry("labels")
                .or_insert_with(|| json!({}));
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        if without_resource_version(&new) == without_resource_version(old) {
            return Ok(old.clone());
        }
        if has_generation(resource) && (count_anyway || spec_part(&new) != spec_part(old)) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            metadata_mut(&mut new).insert("generation".into(), json!(generation));
        }
        let rv = self.next_resource_version();
        metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let ns = meta_str(&new, "namespace").unwrap_or_default().to_owned();
        let name = meta_str(&new, "name").unwrap_or_default().to_owned();
        self.objects
            .entry(resource)
            .or_default()
            .insert((ns.clone(), name.clone()), new.clone());
        self.record(
            resource,
            ChangeKind::Modified,
            new.clone(),
            Some(old.clone()),
        );
        let finalizers_gone = finalizers_of(&new).is_empty();
        // A pod goes once the kubelet is done with it too (its grace period then reads 0).
        let releasable = match resource {
            Resource::Namespaces => false,
            Resource::Pods => {
                new.pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    == Some(0)
            }
            _ => true,
        };
        if meta_str(&new, "deletionTimestamp").is_some() && finalizers_gone && releasable {
            return Ok(self.remove(resource, Some(&ns), &name).unwrap_or(new));
        }
        Ok(new)
    }

    /// Takes the object out of the store and reports its DELETED event.
    fn remove(&mut self, resource: Resource, namespace: Option<&str>, name: &str) -> Option<Value> {
        let key = (namespace_key(resource, namespace), name.to_owned());
        let mut object = self.objects.get_mut(&resource)?.remove(&key)?;
        if resource == Resource::Services {
            self.release_service(&object);
        }
        let previous = object.clone();
        let rv = self.next_resource_version();
        metadata_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        self.record(
            resource,
            ChangeKind::Deleted,
            object.clone(),
            Some(previous),
        );
        if resource.namespaced() {
            self.finish_namespace_if_empty(&key.0);
        }
        Some(object)
    }

    fn namespace_is_empty(&self, namespace: &str) -> bool {
        self.objects
            .iter()
            .filter(|(resource, _)| resource.namespaced())
            .all(|(_, objects)| !objects.keys().any(|(ns, _)| ns == namespace))
    }

    fn finish_namespace_if_empty(&mut self, namespace: &str) {
        if !self.options.finalize_empty_namespaces {
            return;
        }
        let terminating = self
            .get(Resource::Namespaces, None, namespace)
            .is_ok_and(|ns| meta_str(ns, "deletionTimestamp").is_some());
        if terminating && self.namespace_is_empty(namespace) {
            self.remove(Resource::Namespaces, None, namespace);
        }
    }

    /// Removes everything in a namespace at once.
    fn purge_namespace(&mut self, namespace: &str) {
        let keys: Vec<(Resource, String)> = self
            .objects
            .iter()
            .filter(|(resource, _)| resource.namespaced())
            .flat_map(|(resource, objects)| {
                objects
                    .keys()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, name)| (*resource, name.clone()))
            })
            .collect();
        for (resource, name) in keys {
            self.remove(resource, Some(namespace), &name);
        }
    }

    fn delete(
        &mut self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        grace: Option<i64>,
        propagation: Propagation,
    ) -> Result<Value, ApiError> {
        let old = self.get(resource, namespace, name)?.clone();
        let marked = meta_str(&old, "deletionTimestamp").is_some();
        let old = self.with_gc_finalizers(resource, old, propagation);
        let has_finalizers = !finalizers_of(&old).is_empty();
        match resource {
            Resource::Pods => {
                let bound = old
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                let terminal = matches!(
                    old.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                );
                let grace = grace
                    .or_else(|| {
                        old.pointer("/spec/terminationGracePeriodSeconds")
                            .and_then(Value::as_i64)
                    })
                    .unwrap_or(30)
                    .max(0);
                if (!bound || terminal || grace == 0) && has_finalizers {
                    return Ok(self.mark_deleted_now(resource, &old));
                }
                if !bound || terminal || grace == 0 {
                    return Ok(self.remove(resource, namespace, name).unwrap_or(old));
                }
                let current = old
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64);
                if marked && current.is_some_and(|c| c <= grace) {
                    return Ok(old);
                }
                let mut new = old.clone();
                let meta = metadata_mut(&mut new);
                meta.insert("deletionTimestamp".into(), json!(rfc3339_after(grace)));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                Ok(self.write_marked(resource, &old, new))
            }
            Resource::Namespaces => {
                if INITIAL_NAMESPACES[..3].contains(&name) {
                    return Err(ApiError::forbidden(format!(
                        "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                    )));
                }
                let finalizers_left = old
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty());
                if marked && finalizers_left {
                    return Err(ApiError::new(
                        409,
                        "Conflict",
                        format!(
                            "Operation cannot be fulfilled on namespaces \"{name}\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."
                        ),
                    ));
                }
                let result = if marked {
                    old
                } else {
                    let mut new = old.clone();
                    metadata_mut(&mut new).insert("deletionTimestamp".into(), json!(now_rfc3339()));
                    new["status"] = json!({"phase": "Terminating"});
                    self.write_marked(resource, &old, new)
                };
                self.delete_namespace_contents(name);
                self.finish_namespace_if_empty(name);
                Ok(result)
            }
            _ => {
                if !has_finalizers {
                    return Ok(self.remove(resource, namespace, name).unwrap_or(old));
                }
                if marked {
                    return Ok(old);
                }
                Ok(self.mark_deleted_now(resource, &old))
            }
        }
    }

    /// The object with the garbage collector's finalizers `propagation` asks for: written at
    /// once when it is marked already, else as part of the deletion's own write.
    fn with_gc_finalizers(
        &mut self,
        resource: Resource,
        old: Value,
        propagation: Propagation,
    ) -> Value {
        let finalizers = propagation.finalizers(&old);
        if resource == Resource::Namespaces || finalizers.as_slice() == finalizers_of(&old) {
            return old;
        }
        let mut new = old.clone();
        metadata_mut(&mut new).insert("finalizers".into(), Value::Array(finalizers));
        if meta_str(&old, "deletionTimestamp").is_some() {
            self.write_marked(resource, &old, new)
        } else {
            new
        }
    }

    /// Marks an object deleted now with no grace period left (its finalizers keep it); an
    /// object marked already keeps its deletionTimestamp.
    fn mark_deleted_now(&mut self, resource: Resource, current: &Value) -> Value {
        let stored = self
            .get(
                resource,
                meta_str(current, "namespace"),
                meta_str(current, "name").unwrap_or_default(),
            )
            .cloned()
            .unwrap_or_else(|_| current.clone());
        let mut new = current.clone();
        let meta = metadata_mut(&mut new);
        if !meta.contains_key("deletionTimestamp") {
            meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
        }
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        if new == stored {
            return new;
        }
        self.write_marked(resource, &stored, new)
    }

    fn delete_namespace_contents(&mut self, namespace: &str) {
        let keys: Vec<(Resource, String)> = self
            .objects
            .iter()
            .filter(|(resource, _)| resource.namespaced())
            .flat_map(|(resource, objects)| {
                objects
                    .keys()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, name)| (*resource, name.clone()))
            })
            .collect();
        for (resource, name) in keys {
            // Objects that are already gone or only marked are fine.
            let _ = self.delete(
                resource,
                Some(namespace),
                &name,
                None,
                Propagation::Background,
            );
        }
    }

    /// Writes an object whose deletion metadata changed (which [`Inner::replace`] keeps).
    fn write_marked(&mut self, resource: Resource, old: &Value, mut new: Value) -> Value {
        let rv = self.next_resource_version();
        metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let ns = meta_str(&new, "namespace").unwrap_or_default().to_owned();
        let name = meta_str(&new, "name").unwrap_or_default().to_owned();
        self.objects
            .entry(resource)
            .or_default()
            .insert((ns, name), new.clone());
        self.record(
            resource,
            ChangeKind::Modified,
            new.clone(),
            Some(old.clone()),
        );
        new
    }
}
