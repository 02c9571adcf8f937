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
// library. Pipeline and TxPipeline send many commands in one round trip; Watch runs
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
// (a credential provider) find their function through a cgo.Handle.
//
// Linking: by default the package links the static library that `make` builds in this
// source tree (target/release/libredcore.a). Build with -tags redcore_pkgconfig to link an
// installed redcore (`make install`) found by pkg-config.
//
// A Redis Cluster is reached the same way, through its URL
// (redis+cluster://host:port,host:port): the library routes each command by slot. NewLock
// gives distributed locks with fencing tokens. Not yet here, as the library does not have
// them yet: pub/sub (to come as Subscribe delivering messages on a Go channel) and Sentinel
// (to come through the same Open, with a redis+sentinel:// URL).
package redcore
