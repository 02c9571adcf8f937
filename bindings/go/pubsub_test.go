package redcore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"redcore"
)

// waitCtx bounds one test's waits; every wait below is bounded by it.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publish sends PUBLISH and returns how many subscribers got the message.
func publish(t *testing.T, ctx context.Context, c *redcore.Client, channel, payload string) int64 {
	t.Helper()
	r, err := c.Do(ctx, "PUBLISH", channel, payload)
	if err != nil {
		t.Fatalf("PUBLISH %s: %v", channel, err)
	}
	n, _ := r.Int64()
	return n
}

// publishMany publishes 0, 1, ... count-1 on channel, in one pipeline.
func publishMany(t *testing.T, ctx context.Context, c *redcore.Client, channel string, count int) {
	t.Helper()
	p := c.Pipeline()
	for i := 0; i < count; i++ {
		p.Do("PUBLISH", channel, strconv.Itoa(i))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitReceived waits until the library has received count messages for ps.
func waitReceived(t *testing.T, ctx context.Context, ps *redcore.PubSub, count uint64) redcore.PubSubStats {
	t.Helper()
	for {
		s, err := ps.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.Received >= count {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("the library received %d of %d messages", s.Received, count)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// behindSubscriber subscribes to channel with a channel of 1 and publishes count messages
// there, none read: it returns once the channel is full and the library holds the rest.
// Closed when the test ends.
func behindSubscriber(t *testing.T, ctx context.Context, c *redcore.Client, channel string, count int) *redcore.PubSub {
	t.Helper()
	ps, err := c.NewPubSub(redcore.PubSubOptions{ChannelSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	if err := ps.Subscribe(ctx, channel); err != nil {
		t.Fatal(err)
	}
	publishMany(t, ctx, c, channel, count)
	waitReceived(t, ctx, ps, uint64(count))
	return ps
}

// returns runs f on another goroutine and fails the test when it has not returned before
// ctx ends.
func returns(t *testing.T, ctx context.Context, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s hung", what)
	}
}

// next takes the next message or event, failing the test when none comes in time.
func next(t *testing.T, ctx context.Context, ps *redcore.PubSub) *redcore.Message {
	t.Helper()
	m, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return m
}

func TestPubSubMessagesInOrder(t *testing.T) {
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", protocol), func(t *testing.T) {
			ctx := waitCtx(t)
			c := open(t, redcore.WithProtocol(protocol))
			channel := key(t, "orders")
			ps, err := c.Subscribe(ctx, channel)
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			if n, p, s, err := ps.Subscriptions(); n != 1 || p != 0 || s != 0 || err != nil {
				t.Fatalf("Subscriptions: %d %d %d %v", n, p, s, err)
			}

			// Published from another connection in one pipeline, taken from the channel.
			const count = 2000
			p := c.Pipeline()
			for i := 0; i < count; i++ {
				p.Do("PUBLISH", channel, strconv.Itoa(i))
			}
			p.Do("PUBLISH", channel, "binary\x00\xff\r\n")
			results, err := p.Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := results[0].Reply.Int64(); n != 1 {
				t.Fatalf("PUBLISH reached %d subscribers", n)
			}
			for i := 0; i < count; i++ {
				var m *redcore.Message
				select {
				case m = <-ps.Channel():
				case <-ctx.Done():
					t.Fatalf("message %d did not come", i)
				}
				if m.Kind != redcore.MessageChannel || m.Channel != channel || m.Payload != strconv.Itoa(i) {
					t.Fatalf("message %d: %+v", i, m)
				}
			}
			if m := next(t, ctx, ps); m.Payload != "binary\x00\xff\r\n" {
				t.Fatalf("binary payload: %q", m.Payload)
			}
			if s, err := ps.Stats(); s.Received != count+1 || s.Dropped != 0 || err != nil {
				t.Fatalf("Stats: %+v %v", s, err)
			}
			if err := ps.Ping(ctx); err != nil {
				t.Fatalf("Ping on the subscriber's connection: %v", err)
			}
		})
	}
}

func TestPubSubPatternsAndUnsubscribe(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	prefix := key(t, "")
	ps, err := c.PSubscribe(ctx, prefix+"prices.*")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.Subscribe(ctx, prefix+"news", prefix+"alerts"); err != nil {
		t.Fatal(err)
	}
	if n, p, _, _ := ps.Subscriptions(); n != 2 || p != 1 {
		t.Fatalf("Subscriptions: %d channels, %d patterns", n, p)
	}
	publish(t, ctx, c, prefix+"prices.apples", "1.20")
	publish(t, ctx, c, prefix+"stock.apples", "not matched")
	publish(t, ctx, c, prefix+"news", "hello")
	m := next(t, ctx, ps)
	if m.Kind != redcore.MessagePattern || m.Pattern != prefix+"prices.*" || m.Channel != prefix+"prices.apples" || m.Payload != "1.20" {
		t.Fatalf("pattern message: %+v", m)
	}
	if m := next(t, ctx, ps); m.Kind != redcore.MessageChannel || m.Channel != prefix+"news" || m.Pattern != "" || m.IsEvent() {
		t.Fatalf("channel message: %+v", m)
	}

	if err := ps.Unsubscribe(ctx, prefix+"news"); err != nil {
		t.Fatal(err)
	}
	if n := publish(t, ctx, c, prefix+"news", "unheard"); n != 0 {
		t.Fatalf("PUBLISH after UNSUBSCRIBE reached %d subscribers", n)
	}
	if err := ps.PUnsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if n := publish(t, ctx, c, prefix+"prices.pears", "unheard"); n != 0 {
		t.Fatalf("PUBLISH after PUNSUBSCRIBE reached %d subscribers", n)
	}
	if n, p, _, _ := ps.Subscriptions(); n != 1 || p != 0 {
		t.Fatalf("Subscriptions after unsubscribing: %d channels, %d patterns", n, p)
	}
	// Still listening on what is left.
	publish(t, ctx, c, prefix+"alerts", "still here")
	if m := next(t, ctx, ps); m.Channel != prefix+"alerts" || m.Payload != "still here" {
		t.Fatalf("after unsubscribing: %+v", m)
	}

	// Shard channels, on one server.
	shard, err := c.SSubscribe(ctx, prefix+"shard")
	if err != nil {
		t.Fatal(err)
	}
	defer shard.Close()
	if _, err := c.Do(ctx, "SPUBLISH", prefix+"shard", "s1"); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ctx, shard); m.Kind != redcore.MessageShard || m.Payload != "s1" {
		t.Fatalf("shard message: %+v", m)
	}
	if err := shard.Subscribe(ctx); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Fatalf("Subscribe to nothing: %v", err)
	}
}

// A server restart: the subscriber reconnects and subscribes again by itself, the gap event
// comes, and messages published afterwards arrive with nothing done by the reader.
func TestPubSubServerRestartRestoresSubscriptions(t *testing.T) {
	ctx := waitCtx(t)
	s, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	c := openURL(t, s.url())
	ps, err := c.Subscribe(ctx, "restart:news")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.PSubscribe(ctx, "restart:p.*"); err != nil {
		t.Fatal(err)
	}
	publish(t, ctx, c, "restart:news", "before")
	if m := next(t, ctx, ps); m.Payload != "before" {
		t.Fatalf("before the restart: %+v", m)
	}

	if err := s.restart(); err != nil {
		t.Fatal(err)
	}
	m := next(t, ctx, ps)
	if m.Kind != redcore.MessageResubscribed || !m.IsEvent() || m.Err == nil || m.RestoreErr != nil {
		t.Fatalf("after the restart, want the gap event: %+v", m)
	}
	// The event comes once the server confirmed every subscription, so a message published
	// now reaches it. The publishing client's own connection may still be finding out that
	// the old one is gone: it retries.
	var receivers int64
	for receivers == 0 {
		r, err := c.Do(ctx, "PUBLISH", "restart:news", "after")
		if ctx.Err() != nil {
			t.Fatalf("PUBLISH after the restart: %v", err)
		}
		if err == nil {
			receivers, _ = r.Int64()
		}
	}
	if m := next(t, ctx, ps); m.Kind != redcore.MessageChannel || m.Payload != "after" {
		t.Fatalf("after the restart: %+v", m)
	}
	if n := publish(t, ctx, c, "restart:p.x", "pattern too"); n != 1 {
		t.Fatalf("the pattern was not restored: %d receivers", n)
	}
	if m := next(t, ctx, ps); m.Kind != redcore.MessagePattern || m.Payload != "pattern too" {
		t.Fatalf("pattern after the restart: %+v", m)
	}
}

func TestPubSubCloseWhileReceiving(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	handles := redcore.LiveHandles()
	ps, err := c.Subscribe(ctx, key(t, "quiet"))
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan error, 1)
	ranged := make(chan int, 1)
	go func() {
		_, err := ps.ReceiveMessage(context.Background())
		received <- err
	}()
	go func() {
		n := 0
		for range ps.Channel() {
			n++
		}
		ranged <- n
	}()
	time.Sleep(50 * time.Millisecond) // let both wait (the test holds either way)
	ps.Close()
	select {
	case err := <-received:
		if !errors.Is(err, redcore.ErrClosed) {
			t.Fatalf("ReceiveMessage after Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("ReceiveMessage did not return after Close")
	}
	select {
	case n := <-ranged:
		if n != 0 {
			t.Fatalf("%d messages on a quiet channel", n)
		}
	case <-ctx.Done():
		t.Fatal("the channel was not closed by Close")
	}
	if !errors.Is(ps.Err(), redcore.ErrClosed) {
		t.Fatalf("Err after Close: %v", ps.Err())
	}
	ps.Close() // again: nothing happens
	if err := ps.Subscribe(ctx, "more"); !errors.Is(err, redcore.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if n := redcore.LiveHandles(); n != handles {
		t.Fatalf("%d handles live after Close, %d before", n, handles)
	}
}

// Close while the library waits to hand a message to a full channel: the wait ends at once.
func TestPubSubCloseWithFullChannel(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	ps := behindSubscriber(t, ctx, c, key(t, "busy"), 20)
	returns(t, ctx, "the subscriber's Close, while a delivery waited for room", func() { ps.Close() })
	// What was in the channel may still be read; then it is closed.
	n := 0
	for range ps.Channel() {
		n++
	}
	if n > 1 {
		t.Fatalf("%d messages in a channel of 1", n)
	}
}

// A slow reader: the library's bound holds, the oldest messages are dropped and counted, and
// what arrives is in order with the drops accounted for.
func TestPubSubSlowReaderBound(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	channel := key(t, "firehose")
	const bound, channelSize, count = 10, 2, 500
	ps, err := c.NewPubSub(redcore.PubSubOptions{MaxPendingMessages: bound, ChannelSize: channelSize})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.Subscribe(ctx, channel); err != nil {
		t.Fatal(err)
	}
	publishMany(t, ctx, c, channel, count)
	// Nothing read until the library has received everything.
	if s := waitReceived(t, ctx, ps, count); s.Pending > bound {
		t.Fatalf("%d messages pending over a bound of %d", s.Pending, bound)
	}
	var messages, dropped, events uint64
	last := -1
	for messages+dropped < count {
		m := next(t, ctx, ps)
		switch m.Kind {
		case redcore.MessageDropped:
			events++
			dropped += m.Dropped
		case redcore.MessageChannel:
			v, _ := strconv.Atoi(m.Payload)
			if v <= last {
				t.Fatalf("message %d after %d", v, last)
			}
			// Every message skipped since the last one was counted as dropped before it.
			if uint64(v) != messages+dropped {
				t.Fatalf("message %d: %d messages and %d dropped before it", v, messages, dropped)
			}
			last = v
			messages++
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	// The reader saw what waited in the channel, the one delivery waiting for room, and what
	// the library's bound kept.
	if events == 0 || messages > bound+channelSize+1 || last != count-1 {
		t.Fatalf("%d messages, %d dropped in %d events, last %d", messages, dropped, events, last)
	}
	if s, _ := ps.Stats(); s.Dropped != dropped {
		t.Fatalf("Stats.Dropped %d, events said %d", s.Dropped, dropped)
	}
}

// With DisconnectOnOverflow the subscriber stops instead: what it held is delivered, then
// the channel closes and Err says why.
func TestPubSubDisconnectOnOverflow(t *testing.T) {
	ctx := waitCtx(t)
	c := open(t)
	channel := key(t, "firehose")
	ps, err := c.NewPubSub(redcore.PubSubOptions{MaxPendingMessages: 5, ChannelSize: 1, DisconnectOnOverflow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.Subscribe(ctx, channel); err != nil {
		t.Fatal(err)
	}
	publishMany(t, ctx, c, channel, 100)
	n := 0
	for {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			if !errors.Is(err, redcore.ErrPubSub) || ctx.Err() != nil {
				t.Fatalf("after %d messages: %v", n, err)
			}
			break
		}
		if m.Payload != strconv.Itoa(n) {
			t.Fatalf("message %d: %+v", n, m)
		}
		n++
	}
	if n == 0 || n >= 100 {
		t.Fatalf("%d messages before the overflow", n)
	}
	if !errors.Is(ps.Err(), redcore.ErrPubSub) {
		t.Fatalf("Err: %v", ps.Err())
	}
}

// Closing the client stops its subscribers, even one whose reader fell behind: what they
// hold is still delivered, then the channel closes with ErrClosed.
func TestPubSubClientClose(t *testing.T) {
	ctx := waitCtx(t)
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	ps := behindSubscriber(t, ctx, c, key(t, "x"), 20)
	returns(t, ctx, "the client's Close, with a subscriber whose reader fell behind", func() { c.Close() })
	for i := 0; ; i++ {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			if !errors.Is(err, redcore.ErrClosed) || ctx.Err() != nil || i != 20 {
				t.Fatalf("after %d messages, after the client's Close: %v", i, err)
			}
			break
		}
		if m.Payload != strconv.Itoa(i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if _, err := c.Subscribe(ctx, "y"); !errors.Is(err, redcore.ErrClosed) {
		t.Fatalf("Subscribe on a closed client: %v", err)
	}
}

// collect runs the GC a few times, giving finalizers the time to run.
func collect() {
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
}

// A reader that keeps only the channel (a function that returns ps.Channel(), go-redis's
// habit) keeps the subscriber running: the finalizer used to close it at the next GC. One
// whose channel was never taken is still finalized, and the kept one still stops with its
// client.
func TestPubSubReadThroughItsChannelOnlyIsNotFinalized(t *testing.T) {
	ctx := waitCtx(t)
	c, err := redcore.Open(server.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read, forgotten := key(t, "read"), key(t, "forgotten")
	listen := func() <-chan *redcore.Message {
		ps, err := c.Subscribe(ctx, read)
		if err != nil {
			t.Fatal(err)
		}
		return ps.Channel()
	}
	ch := listen()
	func() {
		if _, err := c.Subscribe(ctx, forgotten); err != nil {
			t.Fatal(err)
		}
	}()
	collect()
	if n := publish(t, ctx, c, read, "hello"); n != 1 {
		t.Fatalf("PUBLISH after a GC reached %d subscribers; the one whose channel is read was closed", n)
	}
	select {
	case m, ok := <-ch:
		if !ok || m.Payload != "hello" {
			t.Fatalf("from the channel: %v, %v", m, ok)
		}
	case <-ctx.Done():
		t.Fatal("nothing came on the channel")
	}
	if n := publish(t, ctx, c, forgotten, "x"); n != 0 {
		t.Fatalf("a forgotten subscriber was not finalized: PUBLISH reached %d", n)
	}
	c.Close()
	for range ch { // closes with the client
	}
}
