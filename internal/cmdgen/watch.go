package cmdgen

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
)

// Watcher records the keys a redis-server's commands modify, from its keyspace
// notifications: the witness of what a command touched, whatever the command model
// thinks it touches.
type Watcher struct {
	t      testing.TB
	sub    *proxytest.Client // subscribed to every keyspace notification and to markers
	ctl    *proxytest.Client // publishes markers
	marker int
}

// markerChannel is where a Watcher publishes the markers that end a batch.
const markerChannel = "cmdgen:marker"

// Watch turns on every keyspace notification of the server at addr (CONFIG SET
// notify-keyspace-events KEA) and subscribes to them.
func Watch(t testing.TB, addr string) *Watcher {
	t.Helper()
	w := &Watcher{t: t, sub: proxytest.Dial(t, addr), ctl: proxytest.Dial(t, addr)}
	if v := w.ctl.Do("CONFIG", "SET", "notify-keyspace-events", "KEA"); v.IsError() {
		t.Fatalf("CONFIG SET notify-keyspace-events: %s", v.Str)
	}
	w.sub.Send([]string{"PSUBSCRIBE", "__keyspace@*__:*"}, []string{"SUBSCRIBE", markerChannel})
	w.sub.Read()
	w.sub.Read()
	return w
}

// Touched returns the keys modified since the last call (or since Watch), each once,
// with the database each is in ("0:key"), in the order of their first notification.
// Every command whose reply was read before the call is counted: the server sends its
// notifications before it runs the marker's PUBLISH.
func (w *Watcher) Touched() []string {
	w.t.Helper()
	w.marker++
	m := strconv.Itoa(w.marker)
	if v := w.ctl.Do("PUBLISH", markerChannel, m); v.IsError() {
		w.t.Fatalf("PUBLISH: %s", v.Str)
	}
	var keys []string
	seen := map[string]bool{}
	for {
		v := w.sub.Read()
		if len(v.Elems) == 3 && string(v.Elems[0].Str) == "message" && string(v.Elems[2].Str) == m {
			return keys
		}
		if len(v.Elems) != 4 || string(v.Elems[0].Str) != "pmessage" {
			continue
		}
		// __keyspace@<db>__:<key>
		ch := string(v.Elems[2].Str)
		db, key, ok := strings.Cut(strings.TrimPrefix(ch, "__keyspace@"), "__:")
		if !ok {
			continue
		}
		if k := db + ":" + key; !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
}
