package redcore

// Pub/sub: a subscriber (the library's redcore_pubsub) on connections of its own, its
// messages delivered on a Go channel. The library reconnects and subscribes again by itself
// and says so with a Resubscribed event (messages published meanwhile were lost); its
// bounded inbox drops the oldest messages when the reader falls behind and says how many
// with a Dropped event. Both events come in the same channel as the messages, in order, so
// a reader sees exactly where the gaps are.

// #include <redcore.h>
// extern void redcoreGoPubSubMessage(void *userdata, redcore_pubsub_message *message);
// extern void redcoreGoRelease(void *userdata);
import "C"

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// MessageKind says what a Message is: a message (on a channel, a pattern or a shard
// channel) or an event about the subscription.
type MessageKind uint8

// The kinds of Message.
const (
	// MessageChannel is a message on a channel (SUBSCRIBE).
	MessageChannel MessageKind = C.REDCORE_PUBSUB_KIND_MESSAGE
	// MessagePattern is a message on a channel matching a pattern (PSUBSCRIBE): Pattern
	// says which.
	MessagePattern MessageKind = C.REDCORE_PUBSUB_KIND_PMESSAGE
	// MessageShard is a message on a shard channel (SSUBSCRIBE).
	MessageShard MessageKind = C.REDCORE_PUBSUB_KIND_SMESSAGE
	// MessageResubscribed is the gap event: a connection was lost (Err says how) and the
	// subscriptions were made again by themselves; messages published in between were
	// lost. RestoreErr is set when some subscription could not be made again (it is tried
	// again at the next reconnect).
	MessageResubscribed MessageKind = C.REDCORE_PUBSUB_KIND_RESUBSCRIBED
	// MessageDropped says that Dropped messages were dropped, the oldest first, because
	// the reader fell behind and the inbox was full.
	MessageDropped MessageKind = C.REDCORE_PUBSUB_KIND_DROPPED
)

func (k MessageKind) String() string {
	switch k {
	case MessageChannel:
		return "message"
	case MessagePattern:
		return "pmessage"
	case MessageShard:
		return "smessage"
	case MessageResubscribed:
		return "resubscribed"
	case MessageDropped:
		return "dropped"
	}
	return "unknown"
}

// Message is a message published on a channel the subscriber listens to, or an event
// about the subscription (IsEvent).
type Message struct {
	Kind    MessageKind
	Channel string // the channel it was published on
	Pattern string // the pattern that matched (MessagePattern)
	Payload string // binary-safe

	Dropped    uint64 // MessageDropped: how many messages were dropped
	Err        error  // MessageResubscribed: the loss behind the gap
	RestoreErr error  // MessageResubscribed: the first subscription that could not be made again
}

// IsEvent reports whether m is an event (Resubscribed, Dropped) rather than a message.
func (m *Message) IsEvent() bool {
	return m.Kind == MessageResubscribed || m.Kind == MessageDropped
}

// PubSubOptions are a subscriber's settings; the zero value takes the defaults.
type PubSubOptions struct {
	// MaxPendingMessages and MaxPendingBytes bound what waits in the library for the
	// reader (defaults 10,000 messages and 64 MiB), beyond the ChannelSize messages that
	// wait in the channel.
	MaxPendingMessages int
	MaxPendingBytes    int
	// DisconnectOnOverflow stops the subscriber when the bound is reached, instead of
	// dropping the oldest messages: what it holds is still delivered, then the channel
	// closes and Err returns an ErrPubSub error.
	DisconnectOnOverflow bool
	// HealthCheckInterval is the idle time after which the subscriber's connection is
	// checked with a PING, so that a dead one is found and replaced even when no message
	// comes (default 30 s; negative turns the checks off).
	HealthCheckInterval time.Duration
	// ChannelSize is the capacity of the channel messages are delivered on (default 100).
	ChannelSize int
}

// PubSub is a subscriber with connections of its own. Its messages and events come on
// Channel, or one at a time from ReceiveMessage (the same stream). Safe for concurrent use.
// Close it when done; closing its Client stops it (the channel closes with ErrClosed). A
// finalizer closes a forgotten one, but not once Channel was called: the channel may be
// all its reader keeps, so the subscriber then runs until Close or its Client's Close.
type PubSub struct {
	c    *Client // kept alive: the subscriber stops when its client is closed
	feed *feed[*Message]

	// use is held (read) around every C call on ps; Close takes it to free ps.
	use       sync.RWMutex
	ps        *C.redcore_pubsub
	closeOnce sync.Once
}

// Subscribe makes a subscriber with the default options and subscribes it to channels.
func (c *Client) Subscribe(ctx context.Context, channels ...string) (*PubSub, error) {
	return c.subscribed(ctx, (*PubSub).Subscribe, channels)
}

// PSubscribe makes a subscriber with the default options and subscribes it to glob-style
// patterns.
func (c *Client) PSubscribe(ctx context.Context, patterns ...string) (*PubSub, error) {
	return c.subscribed(ctx, (*PubSub).PSubscribe, patterns)
}

// SSubscribe makes a subscriber with the default options and subscribes it to shard
// channels (on a cluster, each on its slot's primary, following the slot when it moves).
func (c *Client) SSubscribe(ctx context.Context, channels ...string) (*PubSub, error) {
	return c.subscribed(ctx, (*PubSub).SSubscribe, channels)
}

func (c *Client) subscribed(ctx context.Context, subscribe func(*PubSub, context.Context, ...string) error, names []string) (*PubSub, error) {
	ps, err := c.NewPubSub(PubSubOptions{})
	if err != nil {
		return nil, err
	}
	if err := subscribe(ps, ctx, names...); err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

// NewPubSub makes a subscriber subscribed to nothing yet. Its connection opens in the
// background; the first subscription waits for it.
func (c *Client) NewPubSub(opts PubSubOptions) (*PubSub, error) {
	defer runtime.KeepAlive(c)
	copts, err := pubsubOptions(opts)
	if err != nil {
		return nil, err
	}
	defer C.redcore_pubsub_options_free(copts)
	size := opts.ChannelSize
	if size <= 0 {
		size = 100
	}
	ps := &PubSub{c: c, feed: newFeed[*Message](size)}
	if err := c.e.newPubSub(ps, copts); err != nil {
		return nil, err
	}
	var cerr *C.redcore_error
	// The handle reaches the feed only, so that a forgotten PubSub can still be finalized.
	code := C.redcore_pubsub_set_callbacks(ps.ps, C.redcore_pubsub_callback(C.redcoreGoPubSubMessage),
		C.redcore_pubsub_callback(C.redcoreGoPubSubMessage), newHandle(ps.feed),
		C.redcore_userdata_free(C.redcoreGoRelease), &cerr)
	if code != C.REDCORE_OK {
		C.redcore_pubsub_free(ps.ps)
		return nil, takeError(code, cerr)
	}
	runtime.SetFinalizer(ps, func(ps *PubSub) { ps.Close() })
	return ps, nil
}

func pubsubOptions(opts PubSubOptions) (*C.redcore_pubsub_options, error) {
	var copts *C.redcore_pubsub_options
	if code := C.redcore_pubsub_options_new(&copts); code != C.REDCORE_OK {
		return nil, takeError(code, nil)
	}
	var code C.enum_redcore_error_code = C.REDCORE_OK
	if opts.MaxPendingMessages > 0 || opts.MaxPendingBytes > 0 {
		messages, bytes := opts.MaxPendingMessages, opts.MaxPendingBytes
		if messages <= 0 {
			messages = 10000
		}
		if bytes <= 0 {
			bytes = 64 << 20
		}
		code = C.redcore_pubsub_options_set_max_pending(copts, C.size_t(messages), C.size_t(bytes))
	}
	if code == C.REDCORE_OK && opts.DisconnectOnOverflow {
		code = C.redcore_pubsub_options_set_overflow_disconnect(copts, true)
	}
	if code == C.REDCORE_OK && opts.HealthCheckInterval != 0 {
		code = C.redcore_pubsub_options_set_health_check_ms(copts, millis(opts.HealthCheckInterval))
	}
	if code != C.REDCORE_OK {
		C.redcore_pubsub_options_free(copts)
		return nil, takeError(code, nil)
	}
	return copts, nil
}

// newPubSub makes the C subscriber while the client is open.
func (e *engine) newPubSub(ps *PubSub, opts *C.redcore_pubsub_options) error {
	e.use.RLock()
	defer e.use.RUnlock()
	if e.client == nil {
		return closedError()
	}
	var cerr *C.redcore_error
	return check(C.redcore_pubsub_new(e.client, opts, &ps.ps, &cerr), cerr)
}

// Subscribe subscribes to channels and returns once the server confirmed them all (or the
// command timeout passed: ErrTimeout). A channel the server refuses (an ACL) is
// ErrNoPermission and is not kept; after a connection error the channels stay wanted and
// are subscribed when the connection is back. When ctx ends first, Subscribe returns at
// once and the subscription completes in the background.
func (ps *PubSub) Subscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, channels, subscribeChannels)
}

// PSubscribe subscribes to glob-style patterns (as Subscribe).
func (ps *PubSub) PSubscribe(ctx context.Context, patterns ...string) error {
	return ps.change(ctx, patterns, subscribePatterns)
}

// SSubscribe subscribes to shard channels (as Subscribe).
func (ps *PubSub) SSubscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, channels, subscribeShards)
}

// Unsubscribe unsubscribes from channels; from every channel when none is given.
func (ps *PubSub) Unsubscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, channels, unsubscribeChannels)
}

// PUnsubscribe unsubscribes from patterns; from every pattern when none is given.
func (ps *PubSub) PUnsubscribe(ctx context.Context, patterns ...string) error {
	return ps.change(ctx, patterns, unsubscribePatterns)
}

// SUnsubscribe unsubscribes from shard channels; from every one when none is given.
func (ps *PubSub) SUnsubscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, channels, unsubscribeShards)
}

// The subscription calls of the C API, which all take the same arguments.
type subscription int

const (
	subscribeChannels subscription = iota
	subscribePatterns
	subscribeShards
	unsubscribeChannels
	unsubscribePatterns
	unsubscribeShards
)

func (s subscription) call(ps *C.redcore_pubsub, v *cArgv, cerr **C.redcore_error) C.enum_redcore_error_code {
	n, argv, lens := C.size_t(v.count()), v.argv(), v.argvlen()
	switch s {
	case subscribeChannels:
		return C.redcore_pubsub_subscribe(ps, n, argv, lens, cerr)
	case subscribePatterns:
		return C.redcore_pubsub_psubscribe(ps, n, argv, lens, cerr)
	case subscribeShards:
		return C.redcore_pubsub_ssubscribe(ps, n, argv, lens, cerr)
	case unsubscribeChannels:
		return C.redcore_pubsub_unsubscribe(ps, n, argv, lens, cerr)
	case unsubscribePatterns:
		return C.redcore_pubsub_punsubscribe(ps, n, argv, lens, cerr)
	default:
		return C.redcore_pubsub_sunsubscribe(ps, n, argv, lens, cerr)
	}
}

func (ps *PubSub) change(ctx context.Context, names []string, s subscription) error {
	if len(names) == 0 && s <= subscribeShards {
		return &Error{Code: CodeInvalidArgument, Message: "nothing to subscribe to"}
	}
	_, err := withContext(ctx, func() (struct{}, error) {
		v := stringArgv(names)
		defer v.free()
		return struct{}{}, ps.op(func(p *C.redcore_pubsub, cerr **C.redcore_error) C.enum_redcore_error_code {
			return s.call(p, v, cerr)
		})
	})
	return err
}

// op runs one C call on the subscriber while it is open.
func (ps *PubSub) op(call func(*C.redcore_pubsub, **C.redcore_error) C.enum_redcore_error_code) error {
	defer runtime.KeepAlive(ps)
	ps.use.RLock()
	defer ps.use.RUnlock()
	if ps.ps == nil {
		return &Error{Code: CodeClosed, Message: "the subscriber is closed"}
	}
	var cerr *C.redcore_error
	return check(call(ps.ps, &cerr), cerr)
}

// Channel is where messages and events arrive, in order. It is closed when the subscriber
// stops: by Close, when its client is closed, or by the DisconnectOnOverflow policy (Err
// says which). Reading it and calling ReceiveMessage take from the same stream.
// Once it was called, the subscriber is not finalized: it runs until it is closed (or its
// client is), however little of it the reader keeps.
func (ps *PubSub) Channel() <-chan *Message { return ps.feed.channel(ps) }

// ReceiveMessage waits for the next message or event. Once the subscriber has stopped, it
// returns why (ErrClosed after Close or the client's Close; ErrPubSub when it fell behind
// with DisconnectOnOverflow); when ctx ends first, the context's error.
func (ps *PubSub) ReceiveMessage(ctx context.Context) (*Message, error) {
	return ps.feed.receive(ctx)
}

// Err is why the subscriber stopped; nil while it runs.
func (ps *PubSub) Err() error { return ps.feed.reason() }

// Do sends a command on the subscriber's connection and waits for its reply. On RESP3 any
// command that neither blocks nor changes the connection's state; on RESP2 only PING.
// Messages that arrive meanwhile stay in the channel.
func (ps *PubSub) Do(ctx context.Context, args ...any) (Reply, error) {
	var a flatArgs
	a.addAll(args)
	if a.err != nil {
		return Reply{}, a.err
	}
	return withContext(ctx, func() (Reply, error) {
		v := newCArgv(&a)
		defer v.free()
		var out *C.redcore_reply
		err := ps.op(func(p *C.redcore_pubsub, cerr **C.redcore_error) C.enum_redcore_error_code {
			return C.redcore_pubsub_command_blocking(p, C.int(v.count()), v.argv(), v.argvlen(), &out, cerr)
		})
		if err != nil {
			return Reply{}, err
		}
		return takeReply(out, &itemBuffer{}), nil
	})
}

// Ping checks the subscriber's connection (PING in subscribed mode).
func (ps *PubSub) Ping(ctx context.Context) error {
	_, err := ps.Do(ctx, "PING")
	return err
}

// PubSubStats are a subscriber's counters.
type PubSubStats struct {
	Received uint64 // messages received since it was made
	Dropped  uint64 // messages dropped because the reader fell behind
	Pending  uint64 // messages waiting in the library now (not counting the channel's)
}

// Stats reads the subscriber's counters.
func (ps *PubSub) Stats() (PubSubStats, error) {
	var received, dropped, pending C.uint64_t
	err := ps.op(func(p *C.redcore_pubsub, _ **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_pubsub_stats(p, &received, &dropped, &pending)
	})
	return PubSubStats{Received: uint64(received), Dropped: uint64(dropped), Pending: uint64(pending)}, err
}

// Subscriptions counts the channels, patterns and shard channels the subscriber wants.
func (ps *PubSub) Subscriptions() (channels, patterns, shardChannels int, err error) {
	var c, p, s C.size_t
	err = ps.op(func(sub *C.redcore_pubsub, _ **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_pubsub_counts(sub, &c, &p, &s)
	})
	return int(c), int(p), int(s), err
}

// Close stops the subscriber: its connections close, messages not yet taken are dropped,
// and the channel closes (Err: ErrClosed). A ReceiveMessage waiting meanwhile returns, and
// so does a subscription call or Do still running in the background after its context
// ended (with ErrClosed): Close does not wait for the server. Safe to call more than once
// and from any goroutine.
func (ps *PubSub) Close() error {
	ps.closeOnce.Do(func() {
		ps.feed.halt() // a delivery waiting for room gives up, so the free below can join
		// Calls in progress in the library (a Subscribe whose context ended while the
		// server did not answer) return now, so that taking ps.use below does not wait.
		ps.use.RLock()
		C.redcore_pubsub_shutdown(ps.ps)
		ps.use.RUnlock()
		ps.use.Lock()
		C.redcore_pubsub_free(ps.ps) // no delivery after this
		ps.ps = nil
		ps.use.Unlock()
		ps.feed.end(&Error{Code: CodeClosed, Message: "the subscriber is closed"})
	})
	runtime.SetFinalizer(ps, nil)
	return nil
}

// messageOf copies a message the library lends into Go memory.
func messageOf(m *C.redcore_pubsub_message) *Message {
	out := &Message{Kind: MessageKind(C.redcore_pubsub_message_kind(m))}
	var n C.size_t
	if p := C.redcore_pubsub_message_channel(m, &n); p != nil {
		out.Channel = goString(p, n)
	}
	if p := C.redcore_pubsub_message_pattern(m, &n); p != nil {
		out.Pattern = goString(p, n)
	}
	if p := C.redcore_pubsub_message_payload(m, &n); p != nil {
		out.Payload = goString(p, n)
	}
	out.Dropped = uint64(C.redcore_pubsub_message_dropped(m))
	if e := C.redcore_pubsub_message_error(m); e != nil {
		out.Err = lentError(e)
	}
	if e := C.redcore_pubsub_message_restore_error(m); e != nil {
		out.RestoreErr = lentError(e)
	}
	return out
}
