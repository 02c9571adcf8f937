//! Cluster decisions, sans-I/O, on a `Topology` and a `CommandTable`: where a command goes
//! (`plan`), which node of a shard serves it (`replica`), how the replies of a fan-out or a
//! split command come together (`merge`), the cluster-wide SCAN cursor (`scan`), what to do
//! on MOVED / ASK / TRYAGAIN / CLUSTERDOWN / a lost connection (`redirect`), and when to
//! refresh the topology (`refresh`). Time comes in as arguments, randomness as a number.

mod merge;
mod plan;
mod redirect;
mod refresh;
mod replica;
mod scan;

pub use merge::{join_split, merge};
pub use plan::{plan, plan_from_getkeys, plan_with_keys, Plan, SplitPart, Target};
pub use redirect::{decide, Decision, Failure, RedirectPolicy, RetryTo};
pub use refresh::RefreshSchedule;
pub use replica::{pick_any_node, pick_any_primary, pick_node, ReadFrom};
pub use scan::{
    scan_cursor_decode, scan_cursor_encode, scan_next, scan_reply, scan_target, ScanCursor,
};
