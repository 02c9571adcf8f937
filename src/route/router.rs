//! The `Router` trait: which node a command goes to. Standalone is the first router; cluster
//! (slots, redirections) and sentinel (master discovery) come next and plug in here, so the
//! engine never special-cases a topology.

use crate::config::Endpoint;
use crate::error::Result;

/// A node, by its index in `Router::nodes`.
pub type NodeId = usize;

/// Where a command goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To this node's pool.
    Node(NodeId),
}

/// A topology policy, sans-I/O: read from callers' threads on every submit.
pub trait Router: Send + Sync {
    /// The nodes to connect to at start, by `NodeId`.
    fn nodes(&self) -> Vec<Endpoint>;
    /// Where `args` goes.
    fn route(&self, args: &[&[u8]]) -> Result<Route>;
}

/// One server: every command goes to it.
pub struct Standalone {
    endpoint: Endpoint,
}

impl Standalone {
    /// A router for the server at `endpoint`.
    pub fn new(endpoint: Endpoint) -> Standalone {
        Standalone { endpoint }
    }
}

impl Router for Standalone {
    fn nodes(&self) -> Vec<Endpoint> {
        vec![self.endpoint.clone()]
    }

    fn route(&self, _args: &[&[u8]]) -> Result<Route> {
        Ok(Route::Node(0))
    }
}
