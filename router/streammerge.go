package router

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc64"
	"slices"
	"strconv"
	"sync"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/internal/reclaim"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// A MONITOR through a sharded backend shows every shard's commands: the proxy sends
// MONITOR to the primary of each shard, answers +OK once each has, and passes on each
// shard's lines whole, as they come.
//
// A replica's SYNC through a sharded backend gets one server's replication stream made of
// every shard's: the proxy sends SYNC to the primary of each shard, and once each has sent
// its snapshot (an RDB file), gives the client one snapshot made of all of them, and then
// the commands of every shard as they come. The snapshots merge without being decoded:
// an RDB file is a header (version, auxiliary fields, functions), a body of databases and
// their keys, an end marker and a checksum, and the loader takes a database selected
// again as it comes; the shards' keys are disjoint. So the merged file is the first
// shard's header, every shard's body, the end marker and a new checksum. In the stream,
// each shard's SELECTs are folded into one sequence (a SELECT goes out only when the
// database changes), a shard's transaction (MULTI...EXEC) goes out whole, and only the
// first shard's PINGs are passed on, as the keepalive.
// The replica's own writes (REPLCONF ACK with its offset) count bytes of the merged
// stream, which no shard knows: they are dropped.
const (
	// maxSyncSnapshot is the most snapshot bytes held while the shards' come in: the
	// merged snapshot goes to the client as pushes, and a client that leaves more than
	// proxy.MaxPushBuffer of them unread is closed, so half of that.
	maxSyncSnapshot = proxy.MaxPushBuffer / 2
	maxSyncHeld     = 64 << 20 // the most stream bytes held meanwhile
	syncPushPiece   = 64 << 10 // a snapshot goes to the client in pieces this big
)

var (
	errSyncRDB    = resp.Error("ERR", "redchain: SYNC over several shards: a shard's snapshot cannot be read")
	errSyncBig    = resp.Error("ERR", "redchain: SYNC over several shards: the snapshots and the commands held meanwhile are too big")
	errMonitorBig = resp.Error("ERR", "redchain: MONITOR over several shards: too many lines held while the shards answered")
)

// mergedStream is a SYNC or a MONITOR over every shard, as a backend.Tunnel of the
// client's session.
type mergedStream struct {
	c       *proxy.Conn
	tunnels []backend.Tunnel
	monitor bool // a MONITOR, else a SYNC

	mu       sync.Mutex
	parts    []syncPart
	waiting  int // shards whose snapshot (or MONITOR's +OK) has not come yet
	held     []heldCmd
	heldSize int  // bytes of snapshots and held commands
	db       int  // database of the commands sent to the client; -1 before the first
	done     bool // failed or closed: nothing more goes to the client
}

// syncPart is the stream of one shard.
type syncPart struct {
	buf    []byte // received, not yet taken
	rdb    []byte // the snapshot, once its length is known
	need   int    // snapshot bytes still to come; -1 before the header
	body   int    // where the snapshot's body starts (see rdbBody)
	parser resp.CommandParser
	db     int      // the database of the shard's next command
	multi  [][]byte // a transaction being received, sent whole at EXEC
	inTx   bool     // between MULTI and EXEC

	lines   resp.ReplyParser // MONITOR's
	started bool             // MONITOR's +OK has come
}

// heldCmd is a command of shard part received before every snapshot had come.
type heldCmd struct {
	part  int
	kind  cmdKind
	frame []byte
}

// cmdKind is what the merge must know of a command of a shard's stream.
type cmdKind uint8

const (
	kindOther cmdKind = iota
	kindMulti
	kindExec
	kindPing
)

// startMergedStream starts a SYNC on every shard of b for the session's client c.
func startMergedStream(ctx context.Context, b backend.ShardTunneler, c *proxy.Conn, cmd resp.Command, monitor bool) *mergedStream {
	n := b.Shards()
	m := &mergedStream{c: c, parts: make([]syncPart, n), waiting: n, db: -1, monitor: monitor}
	for i := range m.parts {
		m.parts[i].need = -1
	}
	m.tunnels = make([]backend.Tunnel, n)
	for i := range n {
		// Not under m.mu: a tunnel that cannot be made calls closed at once (fail).
		t := b.TunnelShard(ctx, i, func(p []byte) { m.recv(i, p) }, func(error) { m.fail(resp.Value{}) })
		m.mu.Lock()
		m.tunnels[i] = t
		m.mu.Unlock()
	}
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done { // failed while the tunnels were made: close those made after
		m.closeTunnels()
		return m
	}
	for _, t := range m.tunnels {
		t.Write(cmd)
	}
	return m
}

// closeTunnels closes every shard's connection made so far.
func (m *mergedStream) closeTunnels() {
	m.mu.Lock()
	ts := slices.Clone(m.tunnels)
	m.mu.Unlock()
	for _, t := range ts {
		if t != nil {
			t.Close()
		}
	}
}

// Write drops what the replica sends: its offsets are the merged stream's.
func (m *mergedStream) Write(resp.Command) {}

// Close closes every shard's connection.
func (m *mergedStream) Close() {
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
	m.closeTunnels()
}

// fail ends the sync: the client gets v (unless zero) and is disconnected, and every
// shard's connection is closed.
func (m *mergedStream) fail(v resp.Value) {
	m.mu.Lock()
	first := !m.done
	m.done = true
	m.mu.Unlock()
	if !first {
		return
	}
	if v.Type != 0 {
		m.c.Push(v)
	}
	m.c.Post(func() { m.c.CloseAfterReplies() })
	m.closeTunnels()
}

// recv takes bytes of shard i's stream.
func (m *mergedStream) recv(i int, p []byte) {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return
	}
	v := m.take(i, p)
	m.mu.Unlock()
	if v.Type != 0 {
		m.fail(v)
	}
}

// take adds p to shard i's stream and passes on what is complete. m.mu is held; it
// returns the error to end the sync with, if any.
func (m *mergedStream) take(i int, p []byte) resp.Value {
	s := &m.parts[i]
	if m.monitor {
		return m.takeLines(i, p)
	}
	if s.need != 0 { // the snapshot is still coming
		if s.need < 0 {
			s.buf = append(s.buf, p...)
			p = nil
			// Newlines are the server's keepalives while it makes the snapshot.
			s.buf = bytes.TrimLeft(s.buf, "\n")
			end := bytes.Index(s.buf, []byte("\r\n"))
			if end < 0 {
				return resp.Value{}
			}
			line := s.buf[:end]
			if len(line) == 0 || line[0] != '$' {
				if len(line) > 0 && line[0] == '-' {
					return resp.Error("ERR", "redchain: a shard refused SYNC: "+string(line[1:]))
				}
				return resp.Error("ERR", "redchain: unexpected reply to SYNC from a shard")
			}
			size, err := strconv.Atoi(string(line[1:]))
			if err != nil || size < 0 {
				return resp.Error("ERR", "redchain: unexpected reply to SYNC from a shard")
			}
			s.need, p, s.buf = size, s.buf[end+2:], nil
			if m.heldSize += size; m.heldSize > maxSyncSnapshot {
				return errSyncBig
			}
			s.rdb = reclaim.Make(0, size)
		}
		k := min(len(p), s.need)
		s.rdb, p, s.need = append(s.rdb, p[:k]...), p[k:], s.need-k
		if s.need > 0 {
			return resp.Value{}
		}
		body, err := rdbBody(s.rdb)
		if err != nil {
			return errSyncRDB
		}
		s.body = body
		if m.waiting--; m.waiting == 0 {
			if v := m.sendSnapshot(); v.Type != 0 {
				return v
			}
		}
	}
	if len(p) == 0 {
		return resp.Value{}
	}
	s.buf = append(s.buf, p...)
	off := 0
	for {
		cmd, n, err := s.parser.Parse(s.buf[off:])
		if err != nil {
			return resp.Error("ERR", "redchain: unreadable replication stream from a shard")
		}
		if n == 0 {
			break
		}
		off += n
		if len(cmd.Args) > 0 {
			if v := m.command(i, cmd); v.Type != 0 {
				return v
			}
		}
	}
	s.buf = append(s.buf[:0], s.buf[off:]...)
	return resp.Value{}
}

// takeLines adds p to shard i's MONITOR stream and passes on its complete lines, once
// every shard has answered +OK. m.mu is held.
func (m *mergedStream) takeLines(i int, p []byte) resp.Value {
	s := &m.parts[i]
	s.buf = append(s.buf, p...)
	off := 0
	for {
		n, err := s.lines.Next(s.buf[off:])
		if err != nil {
			return resp.Error("ERR", "redchain: unreadable MONITOR stream from a shard")
		}
		if n == 0 {
			break
		}
		frame := s.buf[off : off+n]
		off += n
		switch {
		case !s.started && frame[0] != '+':
			return resp.Raw(bytes.Clone(frame)) // the shard's refusal
		case !s.started:
			s.started = true
			if m.waiting--; m.waiting == 0 {
				m.c.Push(resp.OK)
				for _, h := range m.held {
					m.c.Push(resp.Raw(h.frame))
				}
				m.held, m.heldSize = nil, 0
			}
		case m.waiting > 0:
			if m.heldSize += n; m.heldSize > maxSyncHeld {
				return errMonitorBig
			}
			m.held = append(m.held, heldCmd{part: i, frame: bytes.Clone(frame)})
		default:
			m.c.Push(resp.Raw(frame))
		}
	}
	s.buf = append(s.buf[:0], s.buf[off:]...)
	return resp.Value{}
}

// sendSnapshot sends the client the shards' snapshots merged into one, once every
// shard's has come, then the commands held meanwhile: the first shard's header, every
// shard's body, the end marker and the checksum of all that, pushed from where the
// shards' snapshots lie (Push copies). m.mu is held.
func (m *mergedStream) sendSnapshot() resp.Value {
	size := m.parts[0].body + rdbTrailer
	for i := range m.parts {
		size += len(m.parts[i].rdb) - rdbTrailer - m.parts[i].body
	}
	m.c.Push(resp.Raw([]byte("$" + strconv.Itoa(size) + "\r\n")))
	var crc uint64
	send := func(b []byte) {
		crc = redisCRC64(crc, b)
		for len(b) > 0 {
			k := min(len(b), syncPushPiece)
			m.c.Push(resp.Raw(b[:k]))
			b = b[k:]
		}
	}
	send(m.parts[0].rdb[:m.parts[0].body])
	for i := range m.parts {
		s := &m.parts[i]
		send(s.rdb[s.body : len(s.rdb)-rdbTrailer])
		reclaim.Dropped(cap(s.rdb))
		s.rdb = nil
	}
	send([]byte{rdbEOF})
	m.c.Push(resp.Raw(binary.LittleEndian.AppendUint64(nil, crc)))
	held := m.held
	m.held, m.heldSize = nil, 0
	for _, h := range held {
		m.emit(h.part, h.kind, h.frame)
	}
	return resp.Value{}
}

// command takes one command of shard i's stream. m.mu is held.
func (m *mergedStream) command(i int, cmd resp.Command) resp.Value {
	s := &m.parts[i]
	name := cmd.Args[0]
	switch {
	case bytes.EqualFold(name, []byte("select")):
		if len(cmd.Args) == 2 {
			if db, err := strconv.Atoi(string(cmd.Args[1])); err == nil {
				s.db = db
			}
		}
		return resp.Value{}
	case bytes.EqualFold(name, []byte("ping")) && i != 0:
		return resp.Value{} // the first shard's PINGs keep the replica's link alive
	}
	frame := bytes.Clone(cmd.Raw)
	if frame == nil {
		return resp.Value{} // an inline command: not what a server streams
	}
	kind := kindOther
	switch {
	case bytes.EqualFold(name, []byte("multi")):
		kind = kindMulti
	case bytes.EqualFold(name, []byte("exec")):
		kind = kindExec
	case bytes.EqualFold(name, []byte("ping")):
		kind = kindPing
	}
	if m.waiting > 0 {
		if m.heldSize += len(frame); m.heldSize > maxSyncHeld {
			return errSyncBig
		}
		m.held = append(m.held, heldCmd{part: i, kind: kind, frame: frame})
		return resp.Value{}
	}
	m.emit(i, kind, frame)
	return resp.Value{}
}

// emit sends a command of shard i to the client, in its database, a transaction whole.
// m.mu is held.
func (m *mergedStream) emit(i int, kind cmdKind, frame []byte) {
	s := &m.parts[i]
	switch {
	case kind == kindMulti:
		s.inTx, s.multi = true, append(s.multi[:0], frame)
		return
	case s.inTx && kind != kindExec:
		s.multi = append(s.multi, frame)
		return
	}
	if s.db != m.db && kind != kindPing {
		m.db = s.db
		m.c.Push(resp.Raw(resp.NewCommand("SELECT", strconv.Itoa(s.db)).AppendTo(nil)))
	}
	if s.inTx {
		for _, f := range s.multi {
			m.c.Push(resp.Raw(f))
		}
		s.inTx, s.multi = false, s.multi[:0]
	}
	m.c.Push(resp.Raw(frame))
}

// errRDB is a snapshot that cannot be read.
var errRDB = errors.New("malformed RDB")

// An RDB file ends with the end marker and the 8-byte checksum of all that comes
// before it (Redis's CRC-64, little-endian).
const (
	rdbEOF     = 0xFF
	rdbTrailer = 9
)

// rdbBody returns where an RDB file's body starts: after its magic and version, its
// auxiliary fields (0xFA) and its functions (0xF5), at the first opcode that is none of
// those (a database, module data...) or at the end marker. The body ends where the
// trailer starts.
func rdbBody(b []byte) (int, error) {
	if len(b) < 9+rdbTrailer || string(b[:5]) != "REDIS" || b[len(b)-rdbTrailer] != rdbEOF {
		return 0, errRDB
	}
	r := rdbReader{b: b[:len(b)-rdbTrailer+1], off: 9}
	for {
		start := r.off
		op, ok := r.byte()
		if !ok {
			return 0, errRDB
		}
		switch op {
		case 0xFA: // AUX: key, value
			key := r.skipString()
			if !key || !r.skipString() {
				return 0, errRDB
			}
		case 0xF5: // FUNCTION2: a library's code
			if !r.skipString() {
				return 0, errRDB
			}
		default: // the end marker, a database, module data...
			return start, nil
		}
	}
}

// jones is the table of Redis's CRC-64 (Jones polynomial, reflected), which checks
// RDB files.
var jones = crc64.MakeTable(0x95AC9329AC4BC9B5)

// redisCRC64 returns Redis's CRC-64 of what crc is that of followed by b (0 to start):
// jones with no initial or final inversion (hash/crc64's have them).
func redisCRC64(crc uint64, b []byte) uint64 {
	for _, x := range b {
		crc = jones[byte(crc)^x] ^ crc>>8
	}
	return crc
}

// rdbReader reads an RDB file's length-prefixed fields.
type rdbReader struct {
	b   []byte
	off int
}

func (r *rdbReader) byte() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	r.off++
	return r.b[r.off-1], true
}

// length reads a length; encoded is set, with the length holding the encoding, for the
// special encodings of strings (integers, LZF).
func (r *rdbReader) length() (n uint64, encoded, ok bool) {
	c, ok := r.byte()
	if !ok {
		return 0, false, false
	}
	switch c >> 6 {
	case 0:
		return uint64(c & 0x3F), false, true
	case 1:
		d, ok := r.byte()
		return uint64(c&0x3F)<<8 | uint64(d), false, ok
	case 3:
		return uint64(c & 0x3F), true, true
	}
	size := map[byte]int{0x80: 4, 0x81: 8}[c]
	if size == 0 || r.off+size > len(r.b) {
		return 0, false, false
	}
	p := r.b[r.off : r.off+size]
	r.off += size
	if size == 4 {
		return uint64(binary.BigEndian.Uint32(p)), false, true
	}
	return binary.BigEndian.Uint64(p), false, true
}

// skipString skips a string field.
func (r *rdbReader) skipString() bool {
	n, encoded, ok := r.length()
	if !ok {
		return false
	}
	if encoded {
		switch n {
		case 0, 1, 2: // an integer of 1, 2 or 4 bytes
			n = 1 << n
		case 3: // LZF: compressed length, uncompressed length, compressed bytes
			clen, _, ok := r.length()
			if !ok {
				return false
			}
			if _, _, ok := r.length(); !ok {
				return false
			}
			n = clen
		default:
			return false
		}
	}
	if n > uint64(len(r.b)-r.off) {
		return false
	}
	r.off += int(n)
	return true
}
