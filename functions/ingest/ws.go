package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/sqalfn/sqal/shared/sample"
)

// One /ws/sensors/ connection runs three goroutines joined by bounded queues:
//
//	reader    - calls Read continuously, so WebSocket pings are answered even while
//	            a sample is being stored (coder/websocket handles control frames inside
//	            Read); a full frame queue blocks it, which is TCP back-pressure.
//	processor - decodes/validates each frame in order, builds its row and event, and
//	            submits it to the store without waiting: frame N+1 is validated while
//	            frame N commits.
//	writer    - writes the replies in frame order, each after its sample committed
//	            (an ack is never sent before the data is durable).
//
// The legacy simulator stops reading replies after its first frame (§1.1 quirk). Replies
// are small (~200 bytes), so the kernel socket buffers absorb thousands of them; a write
// that still cannot complete within INGEST_WRITE_TIMEOUT means the peer is gone or
// stuck, and the connection is closed (the simulator reconnects and resends, and
// replayed samples are acked "duplicate").

type reply struct {
	msg    []byte        // ready reply, or nil
	wait   <-chan Result // store result to turn into msg
	s      *sample.Sample
	frame  []byte // echoed on a storage error
	close  bool   // close with 1011 after the previous replies
	reason string
	buf    *bytes.Buffer // the frame's pooled buffer, released after the reply
	raw    []byte        // the raw_message buffer, released after the reply
	read   time.Time     // when the frame had been read (reply latency metric)
}

// inFrame is a frame read by the reader: its pooled buffer (nil for a binary frame) and
// when its last byte arrived.
type inFrame struct {
	buf  *bytes.Buffer
	read time.Time
}

var framePool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 192<<10)) }}

func getFrameBuf() *bytes.Buffer {
	b := framePool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// putFrameBuf recycles a frame buffer; oversized ones (rare multi-MiB frames) are left
// to the garbage collector so the pool does not pin memory.
func putFrameBuf(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 1<<20 {
		framePool.Put(b)
	}
}

func (s *Service) serveWS(w http.ResponseWriter, r *http.Request) {
	key, err := s.auth.authenticate(r.Context(), deviceKey(r, true))
	if err != nil {
		s.httpAuthError(w, r, err)
		return
	}
	device := key.id
	r = r.WithContext(withKeyScope(r.Context(), key))
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Stations send no Origin; dashboards never connect here. Any origin (legacy).
		InsecureSkipVerify: true,
		// Legacy clients offer permessage-deflate; declining it is always allowed and
		// saves inflating 140 KB per frame (frames travel on the plant LAN).
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept already answered
	}
	c.SetReadLimit(s.cfg.ReadLimit)
	s.metrics.connected(r.Context(), 1)
	defer s.metrics.connected(context.WithoutCancel(r.Context()), -1)

	// The connection lives until the peer goes or the service shuts down; on shutdown
	// the station gets a proper close (1001 going away) and reconnects elsewhere.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	stopOnShutdown := context.AfterFunc(s.ctx, func() {
		_ = c.Close(websocket.StatusGoingAway, "server shutting down")
		cancel()
	})
	defer stopOnShutdown()

	if err := s.write(ctx, c, encode(connectionEstablished{Type: "connection_established", Timestamp: now(), Message: connectedMessage})); err != nil {
		return
	}
	frames := make(chan inFrame, s.cfg.FrameQueue)
	replies := make(chan reply, s.cfg.ReplyQueue)
	writerDone := make(chan struct{})
	go func() { // processor
		defer close(replies)
		for in := range frames {
			var data []byte
			if in.buf != nil {
				data = in.buf.Bytes()
			}
			rp := s.handleFrame(ctx, device, data)
			rp.buf, rp.read = in.buf, in.read
			select {
			case replies <- rp:
			case <-ctx.Done():
				return
			}
			if rp.close {
				return
			}
		}
	}()
	go func() { // writer
		defer close(writerDone)
		defer cancel()
		for rp := range replies {
			if rp.close {
				// Legacy closed with 1011 and the parser message as reason (<= 123 bytes).
				_ = c.Close(websocket.StatusInternalError, rp.reason)
				return
			}
			msg := rp.msg
			var res Result
			if rp.wait != nil {
				select {
				case res = <-rp.wait:
				case <-ctx.Done():
					return
				}
				msg = s.storeReply(rp.s, rp.frame, res)
			}
			err := s.write(ctx, c, msg)
			if rp.wait != nil && err == nil {
				s.metrics.replied(res.replyStatus(), rp.read)
			}
			putFrameBuf(rp.buf) // the store and the reply are done with the frame
			putRawBuf(rp.raw)
			if err != nil {
				return
			}
		}
	}()

	// reader (this goroutine). Frames are read into pooled buffers: a 140 KB frame read
	// with Conn.Read would allocate ~0.5 MB while its slice grows.
	for {
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			break
		}
		var buf *bytes.Buffer
		if typ == websocket.MessageText {
			buf = getFrameBuf()
			if _, err := buf.ReadFrom(rd); err != nil {
				putFrameBuf(buf)
				break // read limit exceeded or connection lost: coder/websocket closes it
			}
		} else if _, err := io.Copy(io.Discard, rd); err != nil {
			break
		}
		// A binary frame (buf == nil) is not JSON text: legacy closed with 1011 like any
		// unparsable frame.
		select {
		case frames <- inFrame{buf: buf, read: time.Now()}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(frames)
	cancel()
	<-writerDone
	c.CloseNow()
}

func (s *Service) write(ctx context.Context, c *websocket.Conn, msg []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, msg)
}

// handleFrame dispatches one inbound frame (contract §1.2).
func (s *Service) handleFrame(ctx context.Context, device string, data []byte) reply {
	if data == nil {
		return reply{close: true, reason: "invalid JSON: binary frames are not accepted"}
	}
	f, err := sample.Decode(data)
	switch {
	case errors.Is(err, sample.ErrNotJSON):
		return reply{close: true, reason: closeReason(err.Error())}
	case err != nil:
		return reply{msg: errorFrame(err.Error(), data)}
	}
	switch f.Type {
	case sample.TypePing:
		return reply{msg: encode(pong{Type: "pong", Timestamp: now()})}
	case sample.TypeHello:
		id, ok := f.DeviceID()
		if err := s.checkDevice(device, id, ok); err != nil {
			return reply{msg: errorFrame(err.Error(), f.JSON)}
		}
		s.touchDevice(ctx, f, "hello")
		if !ok {
			id = "unknown"
		}
		return reply{msg: encode(helloAck{Type: "hello_ack", Timestamp: now(), Message: "HELLO acknowledged for " + id})}
	case sample.TypeHeartbeat:
		id, ok := f.DeviceID()
		if err := s.checkDevice(device, id, ok); err != nil {
			return reply{msg: errorFrame(err.Error(), f.JSON)}
		}
		s.touchDevice(ctx, f, "heartbeat")
		ack := heartbeatAck{Type: "heartbeat_ack", Timestamp: now()}
		if ok {
			ack.DeviceID = &id
		}
		return reply{msg: encode(ack)}
	}
	p, err := s.prepare(ctx, device, f)
	if err != nil {
		return reply{msg: errorFrame(err.Error(), f.JSON)}
	}
	return reply{wait: s.store.Submit(ctx, p), s: p.Sample, frame: f.JSON, raw: p.raw}
}

// storeReply turns a store result into the ack or error frame.
func (s *Service) storeReply(smp *sample.Sample, frame []byte, res Result) []byte {
	if res.Err != nil {
		s.log.Warn("sample not stored", "sample_id", smp.SampleID, "device_id", smp.DeviceID, "err", res.Err)
		return errorFrame(res.Err.Error(), frame)
	}
	return encode(ackFor(smp, res.Status))
}

// touchDevice records a hello/heartbeat on the device row. Failures are logged, never
// answered with an error (a heartbeat must always be acknowledged, §1.2).
func (s *Service) touchDevice(ctx context.Context, f *sample.Frame, kind string) {
	id, ok := f.DeviceID()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	org, err := s.organizationOf(ctx, id)
	if err == nil {
		err = s.store.TouchDevice(ctx, f, kind, org)
	}
	if err != nil {
		s.log.Warn("device "+kind+" not recorded", "err", err)
	}
}

// closeReason fits a close reason into the 123 bytes a close frame allows.
func closeReason(s string) string {
	if len(s) <= 123 {
		return s
	}
	s = s[:120]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}
