// Package redcore is the Go face of redcore, a Redis / Valkey client whose engine is written
// in Rust: connections, RESP2/RESP3, TLS, authentication, reconnection, pipelining and the
// event loop all live in the library (linked in through cgo), and this package makes them
// feel like Go.
//
//	client, err := redcore.Open("redis://127.0.0.1:6379")
//	if err != nil { ... }
//	defer client.Close()
//	if err := client.Set(ctx, "greeting", "hello", redcore.TTL(time.Hour)); err != nil { ... }
//	v, err := client.Get(ctx, "greeting")          // ErrNil when the key is missing
//	r, err := client.Do(ctx, "HGETALL", "user:1")  // any command; r.Map(), r.Slice(), ...
//	if errors.Is(err, redcore.ErrConnection) { ... } // the error hierarchy, as in redis-py
//
// A Client is safe for any number of goroutines and should be shared: their commands are
// pipelined on the library's multiplexed connection (one per server by default). Contexts
// are honoured: a cancelled call returns at once and its late reply is dropped inside the
// library; a blocking command (BLPOP, XREAD BLOCK, ...) is cancelled there
// (redcore_client_cancel_queued), so that the server drops it rather than pop an element for
// nobody, and its dedicated connection is free at once. Pipeline and TxPipeline send many commands in one round trip; Watch runs
// optimistic transactions on a held connection.
//
// How a command travels. A lone caller makes one blocking cgo call in which the library
// writes the command and reads the reply on the calling thread (when its context can be
// cancelled, a worker goroutine makes it, so that the caller can return when the context
// ends). Concurrent calls join a batch: whichever goroutine finds no submission under way
// crosses into the library once for everything waiting (redcore_client_submit_batch), and
// the library appends each result to a completion queue that one goroutine drains in batches
// (redcore_completion_queue_poll), sleeping in the runtime's poller on the queue's
// descriptor when it is empty and waking callers through channels. Concurrent goroutines
// therefore share cgo crossings and wake-ups instead of paying one of each per command, and
// no Go code runs on the library's threads for replies. Go values never cross into C: calls
// are matched to completions by integer tokens, and the Go callbacks the library does make
// (a credential provider, a lock's loss, a transaction's function, a subscriber's and a
// monitor's deliveries) find their Go side through a handle (handles.go).
//
// Linking: by default the package links the static library that `make` builds in this
// source tree (target/release/libredcore.a). Build with -tags redcore_pkgconfig to link an
// installed redcore (`make install`) found by pkg-config.
//
// A Redis Cluster is reached the same way, through its URL
// (redis+cluster://host:port,host:port): the library routes each command by slot. So is a
// master watched by Redis Sentinel (redis+sentinel://host:port,host:port/service): the
// client asks the sentinels for the master and follows failovers by itself.
//
// The features built on the client:
//
//	ps, err := client.Subscribe(ctx, "orders")     // also PSubscribe, SSubscribe, NewPubSub(opts)
//	defer ps.Close()
//	for m := range ps.Channel() {                  // or ps.ReceiveMessage(ctx)
//		if m.IsEvent() { ... }                        // MessageResubscribed (a gap), MessageDropped
//		fmt.Println(m.Channel, m.Payload)
//	}
//
//	script := redcore.NewScript("return redis.call('GET', KEYS[1])")
//	r, err := script.Run(ctx, client, []string{"k"}) // EVALSHA, SCRIPT LOAD on NOSCRIPT
//
//	results, err := client.Transaction(ctx, func(tx *redcore.TxAttempt) error {
//		r, err := tx.Do(ctx, "GET", "balance")     // reads on the watching connection
//		...
//		tx.Queue("SET", "balance", next)           // sent in MULTI / EXEC
//		return nil
//	}, 10, "balance")                             // retried while a watched key changed
//
// NewLock gives distributed locks with fencing tokens, Monitor streams what the server runs,
// and WithCache turns on client-side caching (CacheStats reads its counters).
//
// A subscriber's and a monitor's items come from a library thread of their own: the library
// calls into Go once per item (finding the Go side through a handle, handles.go) and that call waits
// while the Go channel is full, so a slow reader leaves the items in the library's bounded
// queue, whose overflow policy applies (drop the oldest and say how many, or stop).
package redcore
