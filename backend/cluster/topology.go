package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// node is one cluster node the backend knows, by the address it dials. Nodes live in
// the backend's registry (refresh.go) and are shared by the topologies that name them.
type node struct {
	addr      string // the address dialled: the announced one through AddrMap
	announced string // as the cluster announces it

	// b is the node's backend; nil for a node outside the allow-list (refused) or one
	// the backend has not needed yet (a replica while reads go to primaries).
	b       backend.Backend
	refused error // why a refused node serves no command: backend.ErrUnavailable, wrapped
}

// shard is one primary that serves slots, and its replicas.
type shard struct {
	primary  *node
	replicas []*node // healthy ones with a backend, in address order
	first    int     // the first slot it serves
}

// topology is one immutable snapshot of the slot map. Send reads it without a lock; the
// refresher and -MOVED replace it as a whole (Backend.topo).
type topology struct {
	// slots holds, for each hash slot, 1 + the index in shards of the shard serving
	// it, or 0 when no shard serves it.
	slots  [command.SlotCount]uint16
	shards []shard          // ordered by first slot
	byAddr map[string]*node // every node of the topology, by dial address
	// primaryOf gives the shard index of each primary that serves slots.
	primaryOf map[*node]int
}

// nodeDesc is a node as CLUSTER SHARDS or CLUSTER SLOTS describes it.
type nodeDesc struct {
	id      string
	addr    string // announced "host:port"
	healthy bool
}

// shardDesc is a shard as the cluster describes it: its slot ranges, its primary and
// its replicas.
type shardDesc struct {
	ranges   [][2]int // inclusive
	primary  nodeDesc
	replicas []nodeDesc
}

// parseShards reads the reply to CLUSTER SHARDS (Redis 7). host is that of the node
// asked, for nodes announcing no address of their own.
func parseShards(v resp.Value, host string) ([]shardDesc, error) {
	if v.Type != resp.TypeArray && v.Type != resp.TypeSet {
		return nil, fmt.Errorf("CLUSTER SHARDS: unexpected reply %s", v)
	}
	var out []shardDesc
	for _, sv := range v.Elems {
		var sd shardDesc
		hasPrimary := false
		err := eachField(sv, func(k string, f resp.Value) error {
			switch k {
			case "slots":
				if len(f.Elems)%2 != 0 {
					return errors.New("odd number of slot bounds")
				}
				for i := 0; i < len(f.Elems); i += 2 {
					lo, ok1 := intOf(f.Elems[i])
					hi, ok2 := intOf(f.Elems[i+1])
					if !ok1 || !ok2 {
						return errors.New("slot bound is not a number")
					}
					sd.ranges = append(sd.ranges, [2]int{int(lo), int(hi)})
				}
			case "nodes":
				for _, nv := range f.Elems {
					nd, role, err := parseShardNode(nv, host)
					if err != nil {
						return err
					}
					if nd.addr == "" {
						continue // no plain-text port: TLS only, which backend/redis does not speak
					}
					if role == "master" && !hasPrimary {
						sd.primary, hasPrimary = nd, true
					} else {
						sd.replicas = append(sd.replicas, nd)
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
		}
		if hasPrimary {
			out = append(out, sd)
		}
	}
	return out, nil
}

// parseShardNode reads one node of a CLUSTER SHARDS shard.
func parseShardNode(v resp.Value, host string) (nd nodeDesc, role string, err error) {
	var ip, endpoint string
	var port int64
	health := ""
	err = eachField(v, func(k string, f resp.Value) error {
		switch k {
		case "id":
			nd.id = string(f.Str)
		case "port":
			port, _ = intOf(f)
		case "ip":
			ip = string(f.Str)
		case "endpoint":
			endpoint = string(f.Str)
		case "role":
			role = string(f.Str)
		case "health":
			health = string(f.Str)
		}
		return nil
	})
	if err != nil {
		return nd, "", err
	}
	h := endpoint
	if h == "" || h == "?" {
		h = ip
	}
	if port > 0 {
		nd.addr = announcedAddr(h, int(port), host)
	}
	nd.healthy = health == "online"
	return nd, role, nil
}

// parseSlots reads the reply to CLUSTER SLOTS (Redis 3 to 7): one entry per slot range,
// [start, end, primary, replicas...], each node [host, port, id, ...]. Failed replicas
// are left out by Redis itself.
func parseSlots(v resp.Value, host string) ([]shardDesc, error) {
	if v.Type != resp.TypeArray {
		return nil, fmt.Errorf("CLUSTER SLOTS: unexpected reply %s", v)
	}
	byPrimary := map[string]int{} // primary id (or address) -> index in out
	var out []shardDesc
	for _, e := range v.Elems {
		if len(e.Elems) < 3 {
			return nil, errors.New("CLUSTER SLOTS: short slot range entry")
		}
		lo, ok1 := intOf(e.Elems[0])
		hi, ok2 := intOf(e.Elems[1])
		if !ok1 || !ok2 {
			return nil, errors.New("CLUSTER SLOTS: slot bound is not a number")
		}
		var nodes []nodeDesc
		for _, nv := range e.Elems[2:] {
			if len(nv.Elems) < 2 {
				return nil, errors.New("CLUSTER SLOTS: short node entry")
			}
			port, ok := intOf(nv.Elems[1])
			if !ok {
				return nil, errors.New("CLUSTER SLOTS: port is not a number")
			}
			nd := nodeDesc{addr: announcedAddr(string(nv.Elems[0].Str), int(port), host), healthy: true}
			if len(nv.Elems) >= 3 {
				nd.id = string(nv.Elems[2].Str)
			}
			nodes = append(nodes, nd)
		}
		key := nodes[0].id
		if key == "" {
			key = nodes[0].addr
		}
		i, ok := byPrimary[key]
		if !ok {
			i = len(out)
			byPrimary[key] = i
			out = append(out, shardDesc{primary: nodes[0], replicas: nodes[1:]})
		}
		out[i].ranges = append(out[i].ranges, [2]int{int(lo), int(hi)})
	}
	return out, nil
}

// announcedAddr joins a node's announced host and port; an empty host ("" or "?": the
// node does not know its address) is that of the node that was asked, as Redis
// documents for CLUSTER SLOTS.
func announcedAddr(h string, port int, asked string) string {
	if h == "" || h == "?" {
		h = asked
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}

// eachField calls fn with each key and value of a flat RESP2 map (k1, v1, k2, v2...) or
// a RESP3 map.
func eachField(v resp.Value, fn func(k string, f resp.Value) error) error {
	if len(v.Elems)%2 != 0 {
		return errors.New("odd map")
	}
	for i := 0; i < len(v.Elems); i += 2 {
		if err := fn(string(v.Elems[i].Str), v.Elems[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// intOf returns an integer reply's value, or that of a bulk string holding a number.
func intOf(v resp.Value) (int64, bool) {
	if v.Type == resp.TypeInteger {
		return v.Int, true
	}
	n, err := strconv.ParseInt(string(v.Str), 10, 64)
	return n, err == nil
}

// build makes a topology from the cluster's description, with the nodes of the
// registry (nodeOf returns the node for an announced address, making it if need be).
func build(descs []shardDesc, nodeOf func(announced string) *node) (*topology, error) {
	t := &topology{byAddr: map[string]*node{}, primaryOf: map[*node]int{}}
	type entry struct {
		d     *shardDesc
		first int
	}
	var entries []entry
	for i := range descs {
		d := &descs[i]
		first := -1
		for _, r := range d.ranges {
			if r[0] < 0 || r[1] >= command.SlotCount || r[0] > r[1] {
				return nil, fmt.Errorf("slot range %d-%d out of bounds", r[0], r[1])
			}
			if first < 0 || r[0] < first {
				first = r[0]
			}
		}
		// Every node is known by address, slots or not, for -MOVED and -ASK.
		t.byAddr[nodeOf(d.primary.addr).addr] = nodeOf(d.primary.addr)
		for _, r := range d.replicas {
			n := nodeOf(r.addr)
			t.byAddr[n.addr] = n
		}
		if first >= 0 {
			entries = append(entries, entry{d, first})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.first, b.first) })
	for _, e := range entries {
		p := nodeOf(e.d.primary.addr)
		if _, dup := t.primaryOf[p]; dup {
			// Two shards with one primary (a node seen twice): merge their slots.
			idx := t.primaryOf[p]
			for _, r := range e.d.ranges {
				for s := r[0]; s <= r[1]; s++ {
					t.slots[s] = uint16(idx + 1)
				}
			}
			continue
		}
		idx := len(t.shards)
		sh := shard{primary: p, first: e.first}
		for _, r := range e.d.replicas {
			if n := nodeOf(r.addr); r.healthy && n.b != nil && n != p {
				sh.replicas = append(sh.replicas, n)
			}
		}
		slices.SortFunc(sh.replicas, func(a, b *node) int { return strings.Compare(a.addr, b.addr) })
		t.shards = append(t.shards, sh)
		t.primaryOf[p] = idx
		for _, r := range e.d.ranges {
			for s := r[0]; s <= r[1]; s++ {
				t.slots[s] = uint16(idx + 1)
			}
		}
	}
	return t, nil
}

// withSlot returns a copy of t in which slot is served by shard idx.
func (t *topology) withSlot(slot, idx int) *topology {
	nt := *t
	nt.slots[slot] = uint16(idx + 1)
	return &nt
}

// covered returns how many slots are served.
func (t *topology) covered() int {
	n := 0
	for _, s := range t.slots {
		if s != 0 {
			n++
		}
	}
	return n
}

// nodeAt returns the node of t at dial address addr, or nil. t may be nil.
func (t *topology) nodeAt(addr string) *node {
	if t == nil {
		return nil
	}
	return t.byAddr[addr]
}
