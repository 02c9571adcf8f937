//! Sentinel decisions, sans-I/O: what sentinels say about an instance (`state`), which master
//! and replicas a set of answers adds up to (`discovery`), the events they publish (`event`),
//! and how a master client reacts to a failover of its master (`watch`). Time comes in as
//! arguments; nothing here opens a connection.

mod discovery;
mod event;
mod state;
mod watch;

pub use discovery::{Discovery, DiscoveryRules, Found, SentinelAnswer, Verdict};
pub use event::{SentinelEvent, CHANNELS};
pub use state::{parse_master_addr, InstanceState};
pub use watch::{FailoverWatch, Reaction};
