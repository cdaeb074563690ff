package observe

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/redchain/redchain/command"
)

// Bounds on the values of the attributes that come from clients, so that a client
// sending made-up names cannot grow the number of series (or this package's memory)
// without bound. Redis's own command names and error codes do not count.
const (
	maxNames    = 512 // other command names, then "other"
	maxNameLen  = 32
	maxCodes    = 64 // other error codes, then "_OTHER"
	maxCodeLen  = 32
	maxOpErrors = 16 // error codes with ready-made attributes per command
)

// Values for names and codes beyond the bounds.
const (
	otherName = "other"
	otherCode = "_OTHER" // semconv's fallback for error.type
)

// knownCommands are the names of the command model's commands: they always get their
// own db.operation.name, however many other names clients have sent.
func knownCommands() []string {
	var names []string
	for _, c := range command.Commands() {
		names = append(names, c.Name)
	}
	return names
}

// knownCodes are the error codes Redis replies with: they always get their own error.type.
const knownCodes = `ERR WRONGTYPE NOAUTH WRONGPASS NOPERM MOVED ASK TRYAGAIN CLUSTERDOWN CROSSSLOT
READONLY LOADING BUSY BUSYKEY BUSYGROUP NOGROUP NOSCRIPT NOREPLICAS MASTERDOWN MISCONF EXECABORT
OOM NOPROTO NOTBUSY UNKILLABLE UNBLOCKED`

// table maps names to values, built on first use. Lookups read an immutable map through
// an atomic pointer: no lock, no allocation, no contention between event loops. A new
// name copies the map under mu (rare: at most max times in the table's life). Names that
// are not valid, or come after max new ones, get other.
type table[V any] struct {
	m     atomic.Pointer[map[string]V]
	full  atomic.Bool
	mu    sync.Mutex
	added int // guarded by mu
	max   int
	valid func([]byte) bool
	build func(string) V
	other V
}

func newTable[V any](known []string, max int, valid func([]byte) bool, build func(string) V, other V) *table[V] {
	t := &table[V]{max: max, valid: valid, build: build, other: other}
	m := make(map[string]V, len(known))
	for _, k := range known {
		m[k] = build(k)
	}
	t.m.Store(&m)
	t.full.Store(max <= 0)
	return t
}

// get returns the value of key. Safe for concurrent use.
func (t *table[V]) get(key []byte) V {
	if v, ok := (*t.m.Load())[string(key)]; ok {
		return v
	}
	if t.full.Load() || !t.valid(key) {
		return t.other
	}
	return t.add(string(key))
}

// getString is get for a key held as a string.
func (t *table[V]) getString(key string) V {
	if v, ok := (*t.m.Load())[key]; ok {
		return v
	}
	if t.full.Load() || !t.valid([]byte(key)) {
		return t.other
	}
	return t.add(key)
}

func (t *table[V]) add(key string) V {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if v, ok := old[key]; ok {
		return v
	}
	if t.added >= t.max {
		return t.other
	}
	v := t.build(key)
	m := make(map[string]V, len(old)+1)
	maps.Copy(m, old)
	m[key] = v
	t.m.Store(&m)
	t.added++
	if t.added >= t.max {
		t.full.Store(true)
	}
	return v
}

// commandLike reports whether b could be a command name: a lower-case letter, then
// letters, digits, '.', '_' or '-' (module commands are "json.get"), at most maxNameLen.
func commandLike(b []byte) bool {
	if len(b) == 0 || len(b) > maxNameLen || b[0] < 'a' || b[0] > 'z' {
		return false
	}
	for _, c := range b[1:] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// codeLike reports whether b could be an error code: an upper-case letter, then upper-case
// letters, digits or '_', at most maxCodeLen.
func codeLike(b []byte) bool {
	if len(b) == 0 || len(b) > maxCodeLen || b[0] < 'A' || b[0] > 'Z' {
		return false
	}
	for _, c := range b[1:] {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// op is what observe records for one db.operation.name, ready made so that recording
// builds nothing.
type op struct {
	name   string
	record []metric.RecordOption   // the attribute set of a success
	start  []trace.SpanStartOption // kind and attributes of its spans
	errs   *table[*opError]        // attributes of its error replies, by error code
}

// opError is what observe records for an error reply to one operation.
type opError struct {
	code   string
	record []metric.RecordOption
}

var systemRedis = semconv.DBSystemNameRedis

func newOp(name string) *op {
	attrs := []attribute.KeyValue{systemRedis, semconv.DBOperationNameKey.String(name)}
	o := &op{
		name:   name,
		record: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))},
		start:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)},
	}
	// Codes come from the codes table, so they are valid and bounded already; the bound
	// here only caps how many are kept ready per command (the rest are built per use).
	o.errs = newTable(nil, maxOpErrors, func([]byte) bool { return true }, o.newError, nil)
	return o
}

func (o *op) newError(code string) *opError {
	set := attribute.NewSet(systemRedis, semconv.DBOperationNameKey.String(o.name), semconv.ErrorTypeKey.String(code))
	return &opError{code: code, record: []metric.RecordOption{metric.WithAttributeSet(set)}}
}

// errorOf returns the ready-made attributes of an error reply with code to o.
func (o *op) errorOf(code string) *opError {
	if e := o.errs.getString(code); e != nil {
		return e
	}
	return o.newError(code)
}

// names maps command names to their ops, and error codes to their interned strings.
type names struct {
	ops   *table[*op]
	codes *table[string]
}

func newNames() *names {
	return &names{
		ops:   newTable(knownCommands(), maxNames, commandLike, newOp, newOp(otherName)),
		codes: newTable(strings.Fields(knownCodes), maxCodes, codeLike, func(s string) string { return s }, otherCode),
	}
}
