//! What goes to several nodes: fan-outs merged as the command means, commands split per
//! slot, SCAN steps, keys asked of the server, and pipelines grouped per node.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// A cluster pipeline: each command to its slot's node (grouped, one write per node),
    /// results in the caller's order; redirected commands are sent on one by one. A
    /// transaction goes whole to the primary of its one slot.
    pub(in crate::client) fn submit_cluster_pipeline(
        &self,
        pipeline: &crate::client::pipeline::Pipeline,
        run: Arc<PipelineRun>,
        meta: RequestMeta,
    ) -> Result<()> {
        let nodes = self.nodes.load();
        let frames: Vec<&[u8]> = pipeline.frames().collect();
        let mut args_of = Vec::with_capacity(frames.len());
        for frame in &frames {
            args_of.push(
                frame_args(frame).ok_or_else(|| {
                    Error::new(ErrorKind::Internal, "a pipeline frame is malformed")
                })?,
            );
        }
        if pipeline.transaction || pipeline.blocking.is_some() {
            // One node for all: the slot of the keys (they must share one).
            let mut slot = None;
            for args in &args_of {
                if let Some(s) = self.command_slot(args.as_slice())? {
                    match slot {
                        Some(bound) if bound != s => {
                            return Err(crate::client::cross_slot_transaction(s, bound))
                        }
                        _ => slot = Some(s),
                    }
                }
            }
            return self.send_whole(pipeline, &run, slot, meta);
        }
        // Route everything first (one table and topology for all): a command that cannot be
        // pipelined fails the pipeline before anything is sent. Each node's commands, in the
        // caller's order.
        let cluster = self.cluster();
        let table = cluster.table.load();
        let mut per_node: Vec<Vec<(usize, bool)>> = vec![Vec::new(); nodes.pools.len()];
        let mut later: Vec<(usize, Error)> = Vec::new();
        for (i, args) in args_of.iter().enumerate() {
            match self.route_index(cluster, &table, &nodes, args.as_slice())? {
                Routing::Node(index, read_only) => per_node[index].push((i, read_only)),
                Routing::Later(cause) => later.push((i, cause)),
                Routing::Plan(_) => {
                    return Err(Error::new(
                        ErrorKind::ClusterException,
                        format!(
                            "command {} of the pipeline ({}) goes to several nodes of the \
                             cluster (a fan-out or a split across slots): send it alone",
                            i + 1,
                            String::from_utf8_lossy(args.as_slice()[0])
                        ),
                    ))
                }
            }
        }
        for (pool, mine) in nodes.pools.iter().zip(per_node) {
            if mine.is_empty() {
                continue;
            }
            let conn = pool.pick();
            let mut st = conn.lock();
            if let Some(err) = st.refuses(&self.config) {
                drop(st);
                for (i, read_only) in mine {
                    let meta = RequestMeta { read_only, ..meta };
                    let completion = Completion::Pipeline(run.clone(), i);
                    let frame = frames[i].to_vec();
                    self.retry_unsent(completion, frame, meta, err.clone());
                }
                continue;
            }
            for (i, read_only) in mine {
                let meta = RequestMeta { read_only, ..meta };
                st.ex
                    .enqueue_frame(frames[i], Completion::Pipeline(run.clone(), i), meta);
            }
            let notify = self.after_enqueue(&mut st, false, conn.reactor, false, None);
            drop(st);
            if notify {
                self.reactors[conn.reactor].flush(conn.clone());
            }
        }
        for (i, cause) in later {
            let completion = Completion::Pipeline(run.clone(), i);
            self.retry_unsent(completion, frames[i].to_vec(), meta, cause);
        }
        Ok(())
    }

    /// Sends a pipeline that goes whole to one node (a transaction, or one with blocking
    /// commands) to the primary of `slot` (any primary for `None`), where it may not move
    /// (`pinned`). A node that refuses it (down) left it unwritten: it waits for the topology
    /// to move and is routed again, as an unwritten command is. An error means nothing was
    /// queued.
    pub(super) fn send_whole(
        &self,
        pipeline: &Pipeline,
        run: &Arc<PipelineRun>,
        slot: Option<u16>,
        meta: RequestMeta,
    ) -> Result<()> {
        let nodes = self.nodes.load();
        let pool = match slot {
            Some(slot) => self.primary_of_slot(&nodes, slot)?,
            None => self.some_primary(&nodes)?,
        };
        let pinned = RequestMeta {
            pinned: true,
            ..meta
        };
        let sent = match pipeline.blocking {
            Some(_) => self.submit_pipeline_dedicated(pool, pipeline, run.clone(), pinned),
            None => self.enqueue_pipeline(pool.pick(), None, pipeline, run, pinned),
        };
        match sent {
            // Dedicated connections are turned off: nothing to wait for.
            Err(err) if err.kind() != ErrorKind::MaxConnections => {
                let what = Waiting::Whole {
                    pipeline: pipeline.clone(),
                    run: run.clone(),
                    slot,
                };
                self.retry_waiting(what, meta, err);
                Ok(())
            }
            sent => sent,
        }
    }

    /// A plan that is not one node.
    pub(super) fn submit_plan(
        &self,
        nodes: &NodeSet,
        plan: Plan,
        args: &[&[u8]],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let Some(topology) = nodes.topology.clone() else {
            return Err((no_topology(None), completion));
        };
        match plan.target {
            Target::AllPrimaries(how) | Target::AllNodes(how) => {
                let all = matches!(plan.target, Target::AllNodes(_));
                let targets: Vec<Arc<NodePool>> = if all {
                    // The nodes that serve: a failed one stays in the topology until it is
                    // forgotten, and would fail every such command (SCRIPT LOAD, CONFIG
                    // SET). All of them when none does: then the command says why.
                    let healthy = |&i: &usize| topology.node(i).healthy;
                    let serving: Vec<usize> = topology.all_nodes().filter(healthy).collect();
                    let chosen = match serving.is_empty() {
                        true => topology.all_nodes().collect(),
                        false => serving,
                    };
                    chosen
                        .into_iter()
                        .filter_map(|i| nodes.pools.get(i).cloned())
                        .collect()
                } else {
                    topology
                        .primaries()
                        .filter_map(|i| nodes.pools.get(i).cloned())
                        .collect()
                };
                let mut frame = Vec::new();
                encode_command(&mut frame, args);
                let done = move |replies: Vec<Result<Reply>>| {
                    completion.run(merge(how, replies));
                };
                let frames = targets.iter().map(|_| frame.as_slice()).collect();
                self.scatter(&targets, frames, Box::new(done), meta, true);
                Ok(())
            }
            Target::Split { kind, parts } => {
                let argc = args.len();
                let mut frames = Vec::with_capacity(parts.len());
                let mut targets = Vec::with_capacity(parts.len());
                for part in &parts {
                    let Some(pool) =
                        self.slot_pool(self.cluster(), nodes, &topology, part.slot, plan.read_only)
                    else {
                        return Err((no_owner(part.slot), completion));
                    };
                    targets.push(pool.clone());
                    let mut part_args: Vec<&[u8]> = Vec::with_capacity(part.args.len() + 1);
                    part_args.push(args[0]);
                    part_args.extend(part.args.iter().map(|&i| args[i as usize]));
                    let mut frame = Vec::new();
                    encode_command(&mut frame, &part_args);
                    frames.push(frame);
                }
                let done = move |replies: Vec<Result<Reply>>| {
                    completion.run(join_split(kind, &parts, argc, replies));
                };
                let meta = RequestMeta {
                    read_only: plan.read_only,
                    ..meta
                };
                let frames = frames.iter().map(Vec::as_slice).collect();
                self.scatter(&targets, frames, Box::new(done), meta, false);
                Ok(())
            }
            Target::Scan => self.scan_step(nodes, &topology, args, completion, meta),
            Target::KeysFromServer => {
                self.keys_from_server(nodes, &topology, args, completion, meta)
            }
            Target::Slot(_) | Target::Keyless | Target::AnyNode => Err((
                Error::new(ErrorKind::Internal, "a one-node plan reached submit_plan"),
                completion,
            )),
        }
    }

    /// Sends `frames[i]` to `targets[i]` and runs `done` with every reply, in order.
    /// `pinned`: the parts may not move (a fan-out part belongs to its node).
    pub(super) fn scatter(
        &self,
        targets: &[Arc<NodePool>],
        frames: Vec<&[u8]>,
        done: Box<dyn FnOnce(Vec<Result<Reply>>) + Send>,
        meta: RequestMeta,
        pinned: bool,
    ) {
        if targets.is_empty() {
            // No node at all: the merge of nothing (a run of no slot would never finish).
            let nothing = Completion::Boxed(Box::new(move |_| done(Vec::new())));
            self.deliver_now(vec![(nothing, Err(no_topology(None)))]);
            return;
        }
        let run = PipelineRun::new(targets.len(), false, PipelineDone::Parts(done));
        let meta = RequestMeta { pinned, ..meta };
        let mut failed = Vec::new();
        for (i, (pool, frame)) in targets.iter().zip(frames).enumerate() {
            let completion = Completion::Pipeline(run.clone(), i);
            let write = |buf: &mut Vec<u8>| buf.extend_from_slice(frame);
            if let Err((err, completion)) =
                self.enqueue(pool.pick(), write, completion, meta, false)
            {
                if pinned {
                    failed.push((completion, Err(err)));
                } else {
                    self.retry_unsent(completion, frame.to_vec(), meta, err);
                }
            }
        }
        self.deliver_now(failed);
    }

    /// One step of a cluster SCAN: the cursor names a shard and that primary's own cursor.
    pub(super) fn scan_step(
        &self,
        nodes: &NodeSet,
        topology: &Arc<Topology>,
        args: &[&[u8]],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let Some(raw) = args.get(1) else {
            return Err((Error::invalid_argument("SCAN needs a cursor"), completion));
        };
        let at = match scan_cursor_decode(raw) {
            Ok(at) => at,
            Err(e) => return Err((e, completion)),
        };
        let target = scan_target(topology, at)
            .and_then(|(shard, at)| Some((nodes.pools.get(topology.shards()[shard].primary)?, at)));
        let Some((pool, at)) = target else {
            // The shard is gone (the topology changed under the scan): nothing more to scan.
            let done = Reply::from_value(&Value::Array(vec![
                Value::bulk(b"0"),
                Value::Array(Vec::new()),
            ]));
            self.deliver_now(vec![(completion, Ok(done))]);
            return Ok(());
        };
        let cursor = at.cursor.to_string();
        let mut node_args: Vec<&[u8]> = args.to_vec();
        node_args[1] = cursor.as_bytes();
        let topology = topology.clone();
        let step = move |result: Result<Reply>| {
            completion.run(result.and_then(|reply| scan_reply(&topology, at, &reply)));
        };
        let meta = RequestMeta {
            pinned: true,
            read_only: true,
            ..meta
        };
        let completion = Completion::Boxed(Box::new(step));
        self.enqueue(
            pool.pick(),
            |buf| encode_command(buf, &node_args),
            completion,
            meta,
            false,
        )
    }

    /// Keys only the server can find: `COMMAND GETKEYS` first, then the command to the slot
    /// of its keys.
    pub(super) fn keys_from_server(
        &self,
        nodes: &NodeSet,
        topology: &Topology,
        args: &[&[u8]],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let Some(pool) = self.any_primary(self.cluster(), nodes, topology) else {
            return Err((no_topology(None), completion));
        };
        let mut frame = Vec::new();
        encode_command(&mut frame, args);
        let mut ask: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        ask.extend_from_slice(args);
        let engine = self.me.clone();
        let then = move |result: Result<Reply>| {
            let Some(engine) = engine.upgrade() else {
                completion.run(Err(crate::reactor::completion::closed_error()));
                return;
            };
            let slot = result.and_then(|keys| slot_of_keys(&keys));
            match slot {
                // No key after all: any primary will do.
                Ok(None) => {
                    if let Err((err, completion)) =
                        engine.send_to_slot(None, frame, completion, meta)
                    {
                        completion.run(Err(err));
                    }
                }
                Ok(Some(slot)) => {
                    if let Err((err, completion)) =
                        engine.send_to_slot(Some(slot), frame, completion, meta)
                    {
                        completion.run(Err(err));
                    }
                }
                Err(err) => completion.run(Err(err)),
            }
        };
        let ask_meta = RequestMeta {
            pinned: true,
            ..meta
        };
        self.enqueue(
            pool.pick(),
            |buf| encode_command(buf, &ask),
            Completion::Boxed(Box::new(then)),
            ask_meta,
            false,
        )
    }

    /// Sends an encoded frame to the node of `slot` (any primary for `None`).
    pub(super) fn send_to_slot(
        &self,
        slot: Option<u16>,
        frame: Vec<u8>,
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let cluster = self.cluster();
        let nodes = self.nodes.load();
        let Some(topology) = nodes.topology.as_deref() else {
            self.retry_unsent(completion, frame, meta, no_topology(None));
            return Ok(());
        };
        let pool = match slot {
            Some(slot) => self.slot_pool(cluster, &nodes, topology, slot, meta.read_only),
            None => self.any_primary(cluster, &nodes, topology),
        };
        let Some(pool) = pool else {
            let cause = slot.map_or_else(|| no_topology(None), no_owner);
            self.retry_unsent(completion, frame, meta, cause);
            return Ok(());
        };
        let write = |buf: &mut Vec<u8>| buf.extend_from_slice(&frame);
        if let Err((err, completion)) = self.enqueue(pool.pick(), write, completion, meta, false) {
            self.retry_unsent(completion, frame, meta, err);
        }
        Ok(())
    }
}

/// The one slot of `COMMAND GETKEYS`'s keys (`None`: no key), or CROSS_SLOT.
fn slot_of_keys(keys: &Reply) -> Result<Option<u16>> {
    let mut slot = None;
    for key in keys.value().children() {
        let Some(bytes) = key.as_bytes() else {
            continue;
        };
        let s = key_slot(bytes);
        match slot {
            None => slot = Some(s),
            Some(first) if first != s => {
                return Err(Error::new(
                    ErrorKind::CrossSlot,
                    "the command's keys hash to different slots",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(slot)
}
