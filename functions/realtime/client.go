package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sqalfn/sqal/shared/tenant"
)

// Send policy (documented in README.md): each client has a bounded queue of QueueSize
// messages, written by the client's own goroutine, so fan-out never waits on a socket.
// When the queue is full, the oldest queued sensor_update (then prediction) is dropped to
// make room (counted per type); control replies and alerts are only dropped when nothing
// else is left. A client that keeps overflowing, i.e. has not drained to half its queue
// for SlowClientTimeout since its first drop, is disconnected (close 1008); a single
// write that takes longer than WriteTimeout also ends the connection.

type outMsg struct {
	kind string
	data []byte
}

type client struct {
	conn *websocket.Conn
	srv  *Server
	log  *slog.Logger
	// scope is the organisation scope of the upgrade request (set before the client is
	// registered, never changed): the messages of other organisations never reach it.
	scope tenant.Scope

	mu            sync.Mutex
	queue         []outMsg
	overflowSince time.Time // first drop since the queue was last at most half full
	filter        filter
	gone          bool

	// serverDown is the runtime's shutdown signal for this request (nil outside the
	// runtime); the Server's own shutdown channel covers Close and the setup context.
	serverDown <-chan struct{}

	notify   chan struct{} // a message was queued
	activity chan struct{} // the client sent something (restarts the ping timer)
	done     chan struct{} // the connection is finished (reader ended or client kicked)
	doneOnce sync.Once
}

func newClient(srv *Server, conn *websocket.Conn) *client {
	return &client{
		conn:     conn,
		srv:      srv,
		log:      srv.log,
		notify:   make(chan struct{}, 1),
		activity: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

func (c *client) finish() { c.doneOnce.Do(func() { close(c.done) }) }

func droppable(kind string) int {
	switch kind {
	case typeSensorUpdate:
		return 2
	case typePrediction, typeGavageRealtime:
		return 1
	}
	return 0
}

// offer queues m without blocking. It returns false when the client must be disconnected
// because it has been overflowing for too long.
func (c *client) offer(m outMsg) bool {
	now := c.srv.now()
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return true
	}
	if len(c.queue) >= c.srv.cfg.QueueSize {
		if c.overflowSince.IsZero() {
			c.overflowSince = now
		} else if now.Sub(c.overflowSince) >= c.srv.cfg.SlowClientTimeout {
			c.gone = true
			c.queue = nil
			c.mu.Unlock()
			return false
		}
		victim := c.victim(m)
		if victim < 0 { // the new message itself is the least valuable
			c.mu.Unlock()
			c.srv.metrics.dropped(m.kind)
			return true
		}
		c.srv.metrics.dropped(c.queue[victim].kind)
		c.queue = append(c.queue[:victim], c.queue[victim+1:]...)
	}
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return true
}

// victim picks which queued message to drop to make room for m: the oldest of the most
// droppable kind queued, or -1 when m itself is more droppable than everything queued.
// The queue is full (non-empty) when this is called.
func (c *client) victim(m outMsg) int {
	best, bestRank := 0, droppable(c.queue[0].kind)
	for i, q := range c.queue[1:] {
		if r := droppable(q.kind); r > bestRank {
			best, bestRank = i+1, r
		}
	}
	if droppable(m.kind) > bestRank {
		return -1
	}
	return best
}

func (c *client) pop() (outMsg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return outMsg{}, false
	}
	m := c.queue[0]
	c.queue[0] = outMsg{}
	c.queue = c.queue[1:]
	if len(c.queue) <= c.srv.cfg.QueueSize/2 {
		c.overflowSince = time.Time{}
	}
	return m, true
}

func (c *client) setFilter(f filter) {
	c.mu.Lock()
	c.filter = f
	c.mu.Unlock()
}

func (c *client) allows(b *broadcast) bool {
	if !c.sees(b) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.filter.allows(b)
}

// sees reports whether b is in the client's organisation scope: every message with the
// cross-organisation scope, its organisation's otherwise, nothing without a scope. No
// filter of the client can widen this.
func (c *client) sees(b *broadcast) bool {
	switch {
	case c.scope.All:
		return true
	case c.scope.Organization == "":
		return false
	}
	return b.organization() == c.scope.Organization
}

func (c *client) write(ctx context.Context, data []byte) error {
	wctx, cancel := context.WithTimeout(ctx, c.srv.cfg.WriteTimeout)
	defer cancel()
	return c.conn.Write(wctx, websocket.MessageText, data)
}

// writeLoop is the only writer of broadcasts and replies. It also sends ping after
// PingInterval of client silence (server messages do not reset the timer) and closes the
// socket with 1001 when the server shuts down.
func (c *client) writeLoop() {
	ping := time.NewTimer(c.srv.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.srv.shutdown:
			c.goAway()
			return
		case <-c.serverDown:
			c.goAway()
			return
		case <-c.activity:
			ping.Reset(c.srv.cfg.PingInterval)
		case <-ping.C:
			if err := c.write(context.Background(), mustJSON(simpleFrame{typePing, stamp(c.srv.now())})); err != nil {
				c.fail("write_error", err)
				return
			}
			ping.Reset(c.srv.cfg.PingInterval)
		case <-c.notify:
			for {
				m, ok := c.pop()
				if !ok {
					break
				}
				if err := c.write(context.Background(), m.data); err != nil {
					c.fail("write_error", err)
					return
				}
				c.srv.metrics.sent(m.kind)
			}
		}
	}
}

// goAway closes the socket with 1001 when the server shuts down; dashboards reconnect.
func (c *client) goAway() {
	c.srv.metrics.disconnected("shutdown")
	_ = c.conn.Close(websocket.StatusGoingAway, "server shutting down")
	c.finish()
}

// fail drops the connection after a failed send (legacy: a failed send removes the client).
func (c *client) fail(reason string, err error) {
	c.log.Debug("realtime client dropped", "reason", reason, "err", err)
	c.srv.metrics.disconnected(reason)
	_ = c.conn.CloseNow()
	c.finish()
}

// kick disconnects a client whose queue kept overflowing.
func (c *client) kick() {
	c.srv.metrics.disconnected("slow")
	c.log.Warn("realtime client too slow, disconnecting", "queue", c.srv.cfg.QueueSize)
	c.finish()
	go func() { _ = c.conn.Close(websocket.StatusPolicyViolation, "too slow: send queue overflow") }()
}

// readLoop handles client frames until the connection ends. It reads continuously, so
// WebSocket ping/pong/close control frames are answered even while broadcasts queue up.
func (c *client) readLoop() {
	defer c.finish()
	for {
		typ, data, err := c.conn.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
				c.log.Debug("realtime read ended", "err", err)
			}
			return
		}
		select {
		case c.activity <- struct{}{}:
		default:
		}
		if typ != websocket.MessageText {
			c.srv.metrics.disconnected("invalid_frame")
			_ = c.conn.Close(websocket.StatusInternalError, "binary frames are not supported")
			return
		}
		f, err := decodeClientFrame(data)
		if err != nil {
			c.srv.metrics.disconnected("invalid_frame")
			_ = c.conn.Close(websocket.StatusInternalError, "invalid JSON")
			return
		}
		if !f.Object {
			continue // legacy closed the socket here; the contract asks to ignore it
		}
		now := stamp(c.srv.now())
		var reply []byte
		switch f.Type {
		case typeHeartbeat:
			reply = mustJSON(simpleFrame{typeHeartbeatAck, now})
		case typeSubscribe:
			echo := f.Filters
			if echo == nil {
				echo = json.RawMessage("{}")
			}
			c.setFilter(parseFilters(f.Filters))
			reply = mustJSON(subscribeAckFrame{typeSubscribeAck, echo, now})
		case typeUnsubscribe:
			c.setFilter(filter{})
			reply = mustJSON(simpleFrame{typeUnsubscribeAck, now})
		default:
			c.log.Debug("realtime: ignored client frame", "type", f.Type)
			continue
		}
		if !c.offer(outMsg{kind: "reply", data: reply}) {
			c.kick()
			return
		}
	}
}
