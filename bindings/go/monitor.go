package redcore

// MONITOR (the library's redcore_monitor): a connection of its own on which the server
// reports every command it runs, parsed by the library and delivered on a Go channel.

// #include <redcore.h>
// extern void redcoreGoMonitorEvent(void *userdata, redcore_monitor_event *event);
// extern void redcoreGoRelease(void *userdata);
import "C"

import (
	"context"
	"math"
	"runtime"
	"sync"
	"time"
)

// MonitorKind says what a MonitorEvent is.
type MonitorKind uint8

// The kinds of MonitorEvent.
const (
	// MonitorCommand is a command the server ran.
	MonitorCommand MonitorKind = C.REDCORE_MONITOR_KIND_COMMAND
	// MonitorRestarted says the connection was lost (Err says how) and MONITOR runs again
	// on a new one: commands run in between were not seen.
	MonitorRestarted MonitorKind = C.REDCORE_MONITOR_KIND_RESTARTED
	// MonitorDropped says that Dropped commands were dropped: the reader fell behind and
	// the library's queue was full.
	MonitorDropped MonitorKind = C.REDCORE_MONITOR_KIND_DROPPED
)

// MonitorEvent is one command the server ran, or an event of the monitor.
type MonitorEvent struct {
	Kind    MonitorKind
	Time    time.Time // when the command ran (to the microsecond)
	DB      int       // the database it ran in
	Client  string    // who ran it: ip:port, [ipv6]:port, unix:/path, or lua
	Args    []string  // the command's arguments, its name first, unescaped
	Dropped uint64    // MonitorDropped: how many commands were dropped
	Err     error     // MonitorRestarted: the loss behind it
}

// Monitor streams the commands a server runs. Close it when done (or close its Client). A
// finalizer closes a forgotten one, but not once Events was called: the channel may be all
// its reader keeps, so the monitor then runs until Close or its Client's Close.
type Monitor struct {
	c    *Client
	feed *feed[*MonitorEvent]

	mu        sync.Mutex
	m         *C.redcore_monitor
	closeOnce sync.Once
}

// Monitor starts MONITOR on c and returns once the server answered it, so every command run
// after it returns is seen (on a cluster client: the commands of one primary). Up to
// maxPending events wait in the library for the reader beyond the channel's 100 (0: 10,000);
// more are dropped and counted (a MonitorDropped event). MONITOR costs the server: stop it
// with Close. When ctx ends first, Monitor returns at once (context.Canceled, or an
// ErrTimeout error wrapping context.DeadlineExceeded); the start then finishes in the
// background (within the connect and command timeouts, or at once when the client is
// closed) and a monitor it made is stopped.
func (c *Client) Monitor(ctx context.Context, maxPending int) (*Monitor, error) {
	defer runtime.KeepAlive(c)
	if maxPending < 0 {
		return nil, &Error{Code: CodeInvalidArgument, Message: "maxPending must not be negative"}
	}
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	m := &Monitor{c: c, feed: newFeed[*MonitorEvent](100)}
	if ctx.Done() == nil {
		if err := c.e.startMonitor(m, maxPending); err != nil {
			return nil, err
		}
		runtime.SetFinalizer(m, func(m *Monitor) { m.Close() })
		return m, nil
	}
	// The C call cannot be interrupted: it runs on a goroutine of its own, so that the
	// caller can return when ctx ends.
	started := make(chan error, 1)
	go func() { started <- c.e.startMonitor(m, maxPending) }()
	select {
	case err := <-started:
		if err != nil {
			return nil, err
		}
		runtime.SetFinalizer(m, func(m *Monitor) { m.Close() })
		return m, nil
	case <-ctx.Done():
		go func() {
			if <-started == nil {
				m.Close() // started for no one
			}
		}()
		return nil, contextError(ctx)
	}
}

// startMonitor makes m's C monitor while the client is open.
func (e *engine) startMonitor(m *Monitor, maxPending int) error {
	e.use.RLock()
	defer e.use.RUnlock()
	if e.client == nil {
		return closedError()
	}
	var cerr *C.redcore_error
	// The library releases the handle when the monitor stops, or at once on an error.
	code := C.redcore_monitor_start(e.client, C.size_t(maxPending), C.redcore_monitor_callback(C.redcoreGoMonitorEvent),
		newHandle(m.feed), C.redcore_userdata_free(C.redcoreGoRelease), &m.m, &cerr)
	return check(code, cerr)
}

// Events is where the commands and events arrive, in order. It is closed when the monitor
// stops: by Close, or when its client is closed (Err says which). Once it was called, the
// monitor is not finalized: it runs until it is closed (or its client is).
func (m *Monitor) Events() <-chan *MonitorEvent { return m.feed.channel(m) }

// Receive waits for the next command or event; once the monitor stopped, it returns why.
func (m *Monitor) Receive(ctx context.Context) (*MonitorEvent, error) {
	return m.feed.receive(ctx)
}

// Err is why the monitor stopped; nil while it runs.
func (m *Monitor) Err() error { return m.feed.reason() }

// Dropped is the number of commands dropped so far because the reader fell behind.
func (m *Monitor) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(C.redcore_monitor_dropped(m.m))
}

// Close stops the monitor: its connection closes and the channel closes (Err: ErrClosed).
// Safe to call more than once.
func (m *Monitor) Close() error {
	m.closeOnce.Do(func() {
		m.feed.halt() // a delivery waiting for room gives up, so the stop below can join
		m.mu.Lock()
		C.redcore_monitor_stop(m.m) // no delivery after this
		m.m = nil
		m.mu.Unlock()
		m.feed.end(&Error{Code: CodeClosed, Message: "the monitor is stopped"})
	})
	runtime.SetFinalizer(m, nil)
	return nil
}

// monitorEventOf copies an event the library lends into Go memory.
func monitorEventOf(ev *C.redcore_monitor_event) *MonitorEvent {
	out := &MonitorEvent{
		Kind:    MonitorKind(C.redcore_monitor_event_kind(ev)),
		DB:      int(C.redcore_monitor_event_db(ev)),
		Dropped: uint64(C.redcore_monitor_event_dropped(ev)),
	}
	if out.Kind == MonitorCommand {
		secs, frac := math.Modf(float64(C.redcore_monitor_event_time(ev)))
		out.Time = time.Unix(int64(secs), int64(math.Round(frac*1e6))*1e3)
	}
	if p := C.redcore_monitor_event_client(ev); p != nil {
		out.Client = C.GoString(p)
	}
	if n := int(C.redcore_monitor_event_argc(ev)); n > 0 {
		out.Args = make([]string, n)
		for i := range out.Args {
			var l C.size_t
			out.Args[i] = goString(C.redcore_monitor_event_arg(ev, C.size_t(i), &l), l)
		}
	}
	if e := C.redcore_monitor_event_error(ev); e != nil {
		out.Err = lentError(e)
	}
	return out
}
