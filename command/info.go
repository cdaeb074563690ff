package command

import (
	"bytes"
	"strconv"

	"github.com/redchain/redchain/proxy/resp"
)

// MergeInfo merges the INFO replies of the shards of a sharded backend (raw or decoded;
// RESP2 bulk strings or RESP3 verbatim strings) into the one reply of one Redis that
// holds them all, and presents it as a standalone server: the proxy is what clients
// talk to, and a client that read "redis_mode:cluster" would look for the nodes behind
// it.
//
// Sections and fields keep the first shard's order; a field only some shards have is
// added after. Per field:
//
//   - counts and sizes (integers: connected_clients, used_memory, keyspace_hits,
//     total_commands_processed, ...) are summed, and so are the integer subfields of
//     commandstats, errorstats and keyspace lines (calls=, usec=, keys=, expires=);
//     usec_per_call is worked out again from the sums, avg_ttl is the largest;
//   - fields that describe one server rather than count anything (process_id, tcp_port,
//     uptime_in_seconds, hz, run_id, versions, ratios, percentiles, timestamps, ...)
//     are the first shard's;
//   - redis_mode is "standalone" and cluster_enabled 0; the replication section is the
//     first shard's.
//
// An error reply of a shard is the merged reply.
func MergeInfo(parts []resp.Value) resp.Value {
	var m infoMerge
	verbatim := false
	for i, v := range parts {
		d, bad := decodeReply(v)
		if bad.Type != 0 {
			return bad
		}
		text := d.Str
		switch d.Type {
		case resp.TypeVerbatimString:
			verbatim = true
			if len(text) >= 4 && text[3] == ':' {
				text = text[4:]
			}
		case resp.TypeBulkString:
		default:
			return errUnexpected
		}
		m.add(text, i == 0)
	}
	out := m.text()
	if verbatim {
		return resp.Value{Type: resp.TypeVerbatimString, Str: append([]byte("txt:"), out...)}
	}
	return resp.Bulk(out)
}

// infoMerge accumulates INFO texts: a list of lines, each a section header, a blank or
// a field with its merged value.
type infoMerge struct {
	lines   []infoLine
	index   map[string]int // "section\x00field" to its line
	section string
}

type infoLine struct {
	header string // "# Server", or "" for a field
	field  string
	value  []byte
	fixed  bool // the first shard's value stands
}

func (m *infoMerge) add(text []byte, first bool) {
	if m.index == nil {
		m.index = map[string]int{}
	}
	for line := range bytes.Lines(text) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			m.section = string(line)
			if _, ok := m.index[m.section]; !ok {
				m.index[m.section] = len(m.lines)
				m.lines = append(m.lines, infoLine{header: m.section})
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key := m.section + "\x00" + string(name)
		i, seen := m.index[key]
		if !seen {
			m.index[key] = m.insertAt(string(name), standalone(string(name), value))
			continue
		}
		l := &m.lines[i]
		if !l.fixed && !first {
			l.value = mergeInfoValue(l.field, l.value, value)
		}
	}
}

// insertAt adds field to the end of the current section and returns its line.
func (m *infoMerge) insertAt(field string, value []byte) int {
	at := len(m.lines)
	if h, ok := m.index[m.section]; ok {
		at = h + 1
		for at < len(m.lines) && m.lines[at].header == "" {
			at++
		}
	}
	l := infoLine{field: field, value: bytes.Clone(value), fixed: fixedInfo(m.section, field, value)}
	m.lines = append(m.lines, infoLine{})
	copy(m.lines[at+1:], m.lines[at:])
	m.lines[at] = l
	for k, j := range m.index {
		if j >= at {
			m.index[k] = j + 1
		}
	}
	return at
}

func (m *infoMerge) text() []byte {
	var out []byte
	for i, l := range m.lines {
		if l.header != "" {
			if i > 0 {
				out = append(out, "\r\n"...)
			}
			out = append(out, l.header...)
			out = append(out, "\r\n"...)
			continue
		}
		out = append(out, l.field...)
		out = append(out, ':')
		out = append(out, l.value...)
		out = append(out, "\r\n"...)
	}
	return out
}

// standalone is the value a standalone server gives for field, when it differs from a
// cluster node's.
func standalone(field string, value []byte) []byte {
	switch field {
	case "redis_mode":
		return []byte("standalone")
	case "cluster_enabled":
		return []byte("0")
	}
	return value
}

// perServer lists the integer fields that describe one server rather than count
// something all shards add up to.
var perServer = map[string]bool{
	"maxclients": true, "cluster_connections": true, "total_system_memory": true,
	"client_recent_max_input_buffer": true, "client_recent_max_output_buffer": true,
	"rdb_last_save_time": true, "rdb_last_bgsave_time_sec": true, "rdb_current_bgsave_time_sec": true,
	"aof_last_rewrite_time_sec": true, "aof_current_rewrite_time_sec": true, "aof_enabled": true,
	"loading": true, "async_loading": true, "rdb_bgsave_in_progress": true,
	"aof_rewrite_in_progress": true, "aof_rewrite_scheduled": true,
	"current_fork_perc": true, "current_save_keys_processed": true, "current_save_keys_total": true,
	"latest_fork_usec": true,
	// the same on every shard that has the same scripts and functions
	"number_of_cached_scripts": true, "number_of_functions": true, "number_of_libraries": true,
}

// fixedInfo reports whether the first shard's value of field stands.
func fixedInfo(section, field string, value []byte) bool {
	switch section {
	case "# Server", "# Replication", "# Latencystats":
		return true // about one server, or percentiles, which do not add up
	}
	if perServer[field] || field == "cluster_enabled" {
		return true
	}
	if bytes.IndexByte(value, '=') >= 0 {
		return false // commandstats, errorstats, keyspace: subfields merged one by one
	}
	_, err := strconv.ParseInt(string(value), 10, 64)
	return err != nil // text, ratios and other floats: the first shard's
}

// mergeInfoValue merges b into a for field: a sum of integers, or of the integer
// subfields of "k=v,k=v" values.
func mergeInfoValue(field string, a, b []byte) []byte {
	if bytes.IndexByte(a, '=') < 0 {
		x, err1 := strconv.ParseInt(string(a), 10, 64)
		y, err2 := strconv.ParseInt(string(b), 10, 64)
		if err1 != nil || err2 != nil {
			return a
		}
		return strconv.AppendInt(nil, x+y, 10)
	}
	other := map[string][]byte{}
	for kv := range bytes.SplitSeq(b, []byte(",")) {
		if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
			other[string(k)] = v
		}
	}
	var out []byte
	var calls, usec int64
	perCall := false
	for kv := range bytes.SplitSeq(a, []byte(",")) {
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			continue
		}
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = append(out, k...)
		out = append(out, '=')
		if string(k) == "usec_per_call" {
			perCall = true
			out = append(out, 0) // filled in below
			continue
		}
		x, err1 := strconv.ParseInt(string(v), 10, 64)
		y, err2 := strconv.ParseInt(string(other[string(k)]), 10, 64)
		switch {
		case err1 != nil || err2 != nil:
			out = append(out, v...)
		case string(k) == "avg_ttl":
			out = strconv.AppendInt(out, max(x, y), 10)
		default:
			out = strconv.AppendInt(out, x+y, 10)
			switch string(k) {
			case "calls":
				calls = x + y
			case "usec":
				usec = x + y
			}
		}
	}
	if perCall {
		per := 0.0
		if calls > 0 {
			per = float64(usec) / float64(calls)
		}
		i := bytes.IndexByte(out, 0)
		out = append(out[:i:i], append(strconv.AppendFloat(nil, per, 'f', 2, 64), out[i+1:]...)...)
	}
	return out
}
