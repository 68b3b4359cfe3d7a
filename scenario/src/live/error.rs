//! Why a live part of a scenario cannot be probed, as the run says it.

/// Why a deployed target cannot be probed or a mimic cannot copy its workload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unresolvable {
    #[error("{what} does not exist (no {kind} {name} in namespace {namespace})")]
    NoWorkload {
        /// `deployment shop/api`.
        what: String,
        kind: &'static str,
        name: String,
        namespace: String,
    },
    #[error("{what} has no pod")]
    NoPod { what: String },
    #[error("{what} has no Ready pod ({states})")]
    NoReadyPod {
        what: String,
        /// `api-1 is not Ready, api-2 has no IP yet`.
        states: String,
    },
    #[error("{what} has no container port named {name} (pod {pod} declares {declared})")]
    NoPortNamed {
        what: String,
        name: String,
        pod: String,
        declared: String,
    },
    #[error(
        "port {name} of {what} is {served} but the probe is {asked}: add `protocol: {protocol}`"
    )]
    ProtocolMismatch {
        what: String,
        name: String,
        /// `5353/UDP`.
        served: String,
        asked: &'static str,
        protocol: &'static str,
    },
    #[error("{what} does not expose port {port} (pod {pod} declares {declared})")]
    NotExposed {
        what: String,
        /// `9090/TCP`.
        port: String,
        pod: String,
        declared: String,
    },
    #[error("{what} does not exist")]
    NoService { what: String },
    #[error("{what} is headless (no ClusterIP): target its pods instead")]
    Headless { what: String },
    #[error(
        "{what} has no selector: its endpoints are not pods netverdict can find; target its pods instead"
    )]
    NoSelector { what: String },
    #[error("{what} has no port {asked} (its ports: {ports})")]
    NoServicePort {
        what: String,
        asked: String,
        ports: String,
    },
    #[error("{what} has no Ready pod (its selector selects {selected})")]
    NoReadyBackend { what: String, selected: String },
    #[error("{what}: none of its Ready pods serves its target port for port {port}")]
    NoBackendPort { what: String, port: u16 },
    #[error(
        "{what}'s Ready pods serve its named target port on different numbers ({numbers}): which one answers is chance"
    )]
    TargetPortsDiffer { what: String, numbers: String },
    #[error("no pod matches {of}: there is nothing to copy")]
    NothingToCopy { of: String },
    #[error(
        "the pods of {of} run as different service accounts ({accounts}): select the pods of one workload"
    )]
    ServiceAccountsDiffer { of: String, accounts: String },
    #[error("placement: {of} has no Ready pod on a node")]
    NoNode { of: String },
}
