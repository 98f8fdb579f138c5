//! The value types a manifest and the recipes share, as written in a manifest: the Service,
//! Queue and ElectionGroup specs and ACL entries. They live below both `manifest/` (which
//! parses them and re-exports them from `manifest::spec`) and `recipes/` (which expands them),
//! so recipes never import the manifest's document types. serde types with schemars derives:
//! the JSON Schema in `schemas/` is generated from them, so the doc comments are what an editor
//! shows.
use schemars::JsonSchema;
use serde::Deserialize;

/// One ACL entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AclSpec {
    pub scheme: AclScheme,
    /// `anyone` for `world`, `user:BASE64SHA1` for `digest`, an address or CIDR for `ip`.
    pub id: String,
    /// Permissions granted.
    #[schemars(length(min = 1))]
    pub perms: Vec<PermWord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AclScheme {
    World,
    Digest,
    Ip,
    Auth,
    Sasl,
    X509,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermWord {
    Read,
    Write,
    Create,
    Delete,
    Admin,
    All,
}

/// Service registrations at `<basePath>/<metadata.name>/<instance id>`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `curator` (curator-x-discovery ServiceInstance JSON) or `json` (plain kazoo-style JSON).
    pub format: ServiceFormat,
    /// Absolute path; instances live at `<basePath>/<service name>/<instance id>`.
    pub base_path: String,
    /// `cluster` (default): persistent, reconciled like config. `host`: ephemeral, kept by the
    /// agent on this host for its own session.
    #[serde(default)]
    pub scope: ScopeSpec,
    /// The instances.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
    /// ACL for the nodes this service creates.
    #[serde(default)]
    pub acl: Option<Vec<AclSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceFormat {
    Curator,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeSpec {
    /// Ephemeral, owned by the agent session on this host.
    Host,
    /// Persistent, reconciled like config.
    #[default]
    Cluster,
}

/// One service instance.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstanceSpec {
    /// Instance id: the znode name.
    pub id: String,
    /// Host name or IP address clients connect to.
    pub address: String,
    /// The service's port (1-65535).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u32,
    /// The service's TLS port (1-65535), if any.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub ssl_port: Option<u32>,
    /// Free-form payload object.
    #[serde(default)]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// Curator format: the payload's `@class` (default `java.util.LinkedHashMap`).
    #[serde(default)]
    pub payload_class: Option<String>,
    /// Curator format: the `uriSpec` template, e.g. `{scheme}://{address}:{port}`.
    #[serde(default)]
    pub uri_spec: Option<String>,
    /// Registered only while this check passes (agent, `scope: host`).
    #[serde(default)]
    pub check: Option<CheckSpec>,
}

/// A health check.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `host:port` that must accept a TCP connection.
    pub tcp: String,
    /// How often to check, e.g. `5s` (default 10s).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)( ?[0-9]+(ms|s|m|h))*$"))]
    pub interval: Option<String>,
}

/// A distributed queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QueueSpec {
    /// Absolute znode path of the queue.
    pub path: String,
    /// `kazoo` (Queue), `kazoo-locking` (LockingQueue) or `curator` (DistributedQueue).
    pub format: QueueFormat,
    /// `status` and metrics flag the queue above this depth.
    #[serde(default)]
    pub alert_depth: Option<u64>,
    /// Items enqueued once, when zkstate creates the queue.
    #[serde(default)]
    pub seed: Vec<String>,
    /// ACL for the queue nodes zkstate creates.
    #[serde(default)]
    pub acl: Option<Vec<AclSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QueueFormat {
    Kazoo,
    KazooLocking,
    Curator,
}

/// A leader-election group.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ElectionGroupSpec {
    /// Absolute znode path of the group.
    pub path: String,
    /// `kazoo` (Election) or `curator` (LeaderLatch).
    pub format: ElectionFormat,
    /// This host runs for leader while the agent runs.
    #[serde(default)]
    pub participate: Option<ParticipateSpec>,
    /// ACL for the group node.
    #[serde(default)]
    pub acl: Option<Vec<AclSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ElectionFormat {
    Kazoo,
    Curator,
}

/// Participation of this host in an election.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParticipateSpec {
    /// The contender's identifier (node data), e.g. `${HOSTNAME}`.
    pub identifier: String,
    /// Command run when this host becomes leader (argv).
    #[serde(default)]
    pub on_elected: Vec<String>,
    /// Command run when this host stops being leader (argv).
    #[serde(default)]
    pub on_revoked: Vec<String>,
}
