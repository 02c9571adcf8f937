//! The engine half of a cluster client without a cluster: a client whose startup node does
//! not answer (nothing listens on port 1), and topologies given by hand, to check what the
//! engine does with them (what its node set holds, which completions run) where a live
//! cluster cannot be steered into the case.

use std::sync::mpsc;

use super::*;
use crate::client::Client;
use crate::config::Config;

/// A cluster client that never learns a topology by itself, and its engine.
fn lazy_cluster(tune: impl FnOnce(&mut Config)) -> (Client, Arc<Engine>) {
    let mut config = Config {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 1,
        },
        cluster: Some(ClusterOptions::default()),
        lazy_connect: true,
        ..Config::default()
    };
    tune(&mut config);
    let client = Client::new(config).expect("a lazy client starts");
    let engine = client.engine.clone();
    (client, engine)
}

#[test]
fn a_fan_out_to_no_node_completes() {
    let (_client, engine) = lazy_cluster(|_| {});
    let (tx, rx) = mpsc::channel();
    let done = move |replies: Vec<Result<Reply>>| {
        let _ = tx.send(replies.len());
    };
    engine.scatter(
        &[],
        Vec::new(),
        Box::new(done),
        RequestMeta::default(),
        true,
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(0));
}
