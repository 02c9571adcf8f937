package redcore

// Typed helpers for the everyday commands, each a thin layer over the same path as Do that
// builds its arguments without boxing them in interfaces.

import (
	"context"
	"runtime"
	"time"
)

// command starts a call with the command's name and its first arguments.
func command(name string, args ...string) *call {
	cl := newCall()
	cl.args.addString(name)
	for _, a := range args {
		cl.args.addString(a)
	}
	return cl
}

func (c *Client) run(ctx context.Context, cl *call) (Reply, error) {
	r, err := c.e.do(ctx, cl)
	runtime.KeepAlive(c)
	return r, err
}

func (c *Client) text(ctx context.Context, cl *call) (string, error) {
	r, err := c.run(ctx, cl)
	if err != nil {
		return "", err
	}
	return r.Text()
}

func (c *Client) integer(ctx context.Context, cl *call) (int64, error) {
	r, err := c.run(ctx, cl)
	if err != nil {
		return 0, err
	}
	return r.Int64()
}

func (c *Client) strings(ctx context.Context, cl *call) ([]string, error) {
	r, err := c.run(ctx, cl)
	if err != nil {
		return nil, err
	}
	return r.Strings()
}

// Get returns the value of key; ErrNil when there is none.
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	return c.text(ctx, command("GET", key))
}

// SetOption is one of SET's options: TTL, ExpireAt, KeepTTL, NX, XX.
type SetOption struct {
	word string
	n    int64
}

// TTL makes the key expire after d (SET ... PX).
func TTL(d time.Duration) SetOption { return SetOption{"PX", d.Milliseconds()} }

// ExpireAt makes the key expire at t (SET ... PXAT).
func ExpireAt(t time.Time) SetOption { return SetOption{"PXAT", t.UnixMilli()} }

// KeepTTL keeps the key's current expiry (SET ... KEEPTTL).
func KeepTTL() SetOption { return SetOption{word: "KEEPTTL"} }

// NX sets the key only if it does not exist (SET ... NX).
func NX() SetOption { return SetOption{word: "NX"} }

// XX sets the key only if it exists (SET ... XX).
func XX() SetOption { return SetOption{word: "XX"} }

// Set sets key to value (a string, []byte, integer or float). With NX or XX, ErrNil means
// the condition was not met and nothing was set.
func (c *Client) Set(ctx context.Context, key string, value any, opts ...SetOption) error {
	cl := command("SET", key)
	cl.args.add(value)
	for _, o := range opts {
		cl.args.addString(o.word)
		if o.word == "PX" || o.word == "PXAT" {
			cl.args.addInt(o.n)
		}
	}
	r, err := c.run(ctx, cl)
	if err == nil && r.IsNil() {
		err = ErrNil
	}
	return err
}

// Del deletes keys and returns how many existed.
func (c *Client) Del(ctx context.Context, keys ...string) (int64, error) {
	return c.integer(ctx, command("DEL", keys...))
}

// Expire makes key expire after d (PEXPIRE); false when the key does not exist.
func (c *Client) Expire(ctx context.Context, key string, d time.Duration) (bool, error) {
	cl := command("PEXPIRE", key)
	cl.args.addInt(d.Milliseconds())
	n, err := c.integer(ctx, cl)
	return n == 1, err
}

// Incr adds 1 to the integer at key and returns the result.
func (c *Client) Incr(ctx context.Context, key string) (int64, error) {
	return c.integer(ctx, command("INCR", key))
}

// IncrBy adds n to the integer at key and returns the result.
func (c *Client) IncrBy(ctx context.Context, key string, n int64) (int64, error) {
	cl := command("INCRBY", key)
	cl.args.addInt(n)
	return c.integer(ctx, cl)
}

// HGet returns a field of the hash at key; ErrNil when there is none.
func (c *Client) HGet(ctx context.Context, key, field string) (string, error) {
	return c.text(ctx, command("HGET", key, field))
}

// HSet sets fields of the hash at key: HSet(ctx, key, "f1", v1, "f2", v2). Returns how many
// fields were new.
func (c *Client) HSet(ctx context.Context, key string, fieldsAndValues ...any) (int64, error) {
	cl := command("HSET", key)
	if len(fieldsAndValues) == 0 || len(fieldsAndValues)%2 != 0 {
		releaseCall(cl)
		return 0, dataError("HSet takes fields and values in pairs, got %d arguments", len(fieldsAndValues))
	}
	cl.args.addAll(fieldsAndValues)
	return c.integer(ctx, cl)
}

// HGetAll returns every field of the hash at key (an empty map when there is none).
func (c *Client) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	r, err := c.run(ctx, command("HGETALL", key))
	if err != nil {
		return nil, err
	}
	m, err := r.Map()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if out[k], err = v.Text(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LPush prepends values to the list at key and returns its new length.
func (c *Client) LPush(ctx context.Context, key string, values ...any) (int64, error) {
	cl := command("LPUSH", key)
	cl.args.addAll(values)
	return c.integer(ctx, cl)
}

// LRange returns the elements start..stop of the list at key (negative indexes count from
// the end: 0, -1 is the whole list).
func (c *Client) LRange(ctx context.Context, key string, start, stop int64) ([]string, error) {
	return c.strings(ctx, rangeCommand("LRANGE", key, start, stop))
}

// rangeCommand starts NAME key start stop.
func rangeCommand(name, key string, start, stop int64) *call {
	cl := command(name, key)
	cl.args.addInt(start)
	cl.args.addInt(stop)
	return cl
}

// SAdd adds members to the set at key and returns how many were new.
func (c *Client) SAdd(ctx context.Context, key string, members ...any) (int64, error) {
	cl := command("SADD", key)
	cl.args.addAll(members)
	return c.integer(ctx, cl)
}

// SMembers returns the members of the set at key, in no particular order.
func (c *Client) SMembers(ctx context.Context, key string) ([]string, error) {
	return c.strings(ctx, command("SMEMBERS", key))
}

// Z is a member of a sorted set and its score.
type Z struct {
	Score  float64
	Member string
}

// ZAdd adds members with their scores to the sorted set at key (updating the scores of
// those already there) and returns how many were new.
func (c *Client) ZAdd(ctx context.Context, key string, members ...Z) (int64, error) {
	cl := command("ZADD", key)
	for _, m := range members {
		cl.args.addFloat(m.Score)
		cl.args.addString(m.Member)
	}
	return c.integer(ctx, cl)
}

// ZRange returns the members ranked start..stop (lowest score first; 0, -1 is all).
func (c *Client) ZRange(ctx context.Context, key string, start, stop int64) ([]string, error) {
	return c.strings(ctx, rangeCommand("ZRANGE", key, start, stop))
}

// ZRangeWithScores is ZRange with each member's score.
func (c *Client) ZRangeWithScores(ctx context.Context, key string, start, stop int64) ([]Z, error) {
	cl := rangeCommand("ZRANGE", key, start, stop)
	cl.args.addString("WITHSCORES")
	r, err := c.run(ctx, cl)
	if err != nil {
		return nil, err
	}
	elems, err := r.Slice()
	if err != nil {
		return nil, err
	}
	// RESP3: [member, score] pairs; RESP2: member, score, member, score, ...
	var flat []Reply
	for _, e := range elems {
		if e.Kind() == KindArray {
			flat = append(flat, e.elems...)
		} else {
			flat = append(flat, e)
		}
	}
	if len(flat)%2 != 0 {
		return nil, dataError("ZRANGE WITHSCORES sent %d values", len(flat))
	}
	out := make([]Z, len(flat)/2)
	for i := range out {
		if out[i].Member, err = flat[2*i].Text(); err != nil {
			return nil, err
		}
		if out[i].Score, err = flat[2*i+1].Float64(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Scan runs one SCAN step from cursor (0 to start), with an optional MATCH pattern ("" for
// none) and COUNT hint (0 for the server's default). Returns the keys of this step and the
// cursor of the next; 0 means the scan is complete.
func (c *Client) Scan(ctx context.Context, cursor uint64, match string, count int64) ([]string, uint64, error) {
	cl := command("SCAN")
	cl.args.addUint(cursor)
	if match != "" {
		cl.args.addString("MATCH")
		cl.args.addString(match)
	}
	if count > 0 {
		cl.args.addString("COUNT")
		cl.args.addInt(count)
	}
	r, err := c.run(ctx, cl)
	if err != nil {
		return nil, 0, err
	}
	elems, err := r.Slice()
	if err != nil || len(elems) != 2 {
		return nil, 0, dataError("SCAN sent %s", r)
	}
	next, err := elems[0].Int64()
	if err != nil {
		return nil, 0, err
	}
	keys, err := elems[1].Strings()
	return keys, uint64(next), err
}

// ScanIterator walks every key SCAN returns, step by step:
//
//	it := client.ScanIterator(ctx, "user:*", 100)
//	for it.Next() {
//		use(it.Key())
//	}
//	if err := it.Err(); err != nil { ... }
//
// As with SCAN, a key may come more than once; keys added or removed during the walk may
// or may not come.
type ScanIterator struct {
	c      *Client
	ctx    context.Context
	match  string
	count  int64
	cursor uint64
	keys   []string
	key    string
	done   bool
	err    error
}

// ScanIterator starts a walk over the keys matching match ("" for all), count keys per
// step as a hint.
func (c *Client) ScanIterator(ctx context.Context, match string, count int64) *ScanIterator {
	return &ScanIterator{c: c, ctx: ctx, match: match, count: count}
}

// Next moves to the next key; false at the end or on an error (see Err).
func (it *ScanIterator) Next() bool {
	for len(it.keys) == 0 {
		if it.done || it.err != nil {
			return false
		}
		it.keys, it.cursor, it.err = it.c.Scan(it.ctx, it.cursor, it.match, it.count)
		it.done = it.cursor == 0
	}
	it.key, it.keys = it.keys[0], it.keys[1:]
	return true
}

// Key is the current key.
func (it *ScanIterator) Key() string { return it.key }

// Err is the error that ended the walk, if any.
func (it *ScanIterator) Err() error { return it.err }
