// Package cmdgen builds invocations of Redis commands from the commands' own argument
// docs (COMMAND DOCS of a real server), with random values from a vocabulary, for tests
// that run every command a server has: the key-finding differential test of package
// command, the crosstalk tests of the router and the cluster backend, and the namespace
// test of middleware/rewrite.
//
// A Gen is seeded, so that a failure can be replayed. Invocations follow the docs
// (tokens, optional and repeated arguments, choices, blocks; a numkeys matches the keys
// that follow it), and, with Chaos above 0, sometimes do not: an argument dropped,
// repeated or replaced by a word of the vocabulary, for the malformed commands a server
// must refuse as Redis does.
package cmdgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// Doc is the argument docs of one command or subcommand.
type Doc struct {
	Name  string   // lower case: "get", "client|kill"
	Words []string // what an invocation starts with: "CLIENT", "KILL"
	Args  []Arg
}

// Arg is one argument of COMMAND DOCS.
type Arg struct {
	Name, Type, Token      string
	Optional, Multiple     bool
	MultipleToken          bool
	Args                   []Arg // of a oneof or a block
	Value                  string
	Since, DeprecatedSince string
}

// Docs are the docs of a server's commands and subcommands, by Doc.Name.
type Docs map[string]*Doc

// Names returns the names of the docs, sorted.
func (d Docs) Names() []string {
	var names []string
	for n := range d {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Fetch asks the redis-server at addr for COMMAND DOCS.
func Fetch(t testing.TB, addr string) Docs {
	t.Helper()
	d, err := Parse(proxytest.Dial(t, addr).Do("COMMAND", "DOCS"))
	if err != nil {
		t.Fatalf("COMMAND DOCS: %v", err)
	}
	return d
}

// Parse reads a reply to COMMAND DOCS (RESP2 or RESP3).
func Parse(v resp.Value) (Docs, error) {
	v, err := v.Decode()
	if err != nil {
		return nil, err
	}
	if v.IsError() {
		return nil, errors.New(string(v.Str))
	}
	docs := Docs{}
	var add func(name string, m map[string]resp.Value)
	add = func(name string, m map[string]resp.Value) {
		name = strings.ToLower(name)
		d := &Doc{Name: name, Words: strings.Split(strings.ToUpper(name), "|")}
		for _, a := range m["arguments"].Elems {
			d.Args = append(d.Args, parseArg(a))
		}
		docs[name] = d
		sub := m["subcommands"]
		for i := 0; i+1 < len(sub.Elems); i += 2 {
			add(string(sub.Elems[i].Str), fields(sub.Elems[i+1]))
		}
	}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		add(string(v.Elems[i].Str), fields(v.Elems[i+1]))
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no docs in %s", v)
	}
	return docs, nil
}

func parseArg(v resp.Value) Arg {
	m := fields(v)
	a := Arg{
		Name: string(m["name"].Str), Type: string(m["type"].Str), Token: string(m["token"].Str),
		Value: string(m["value"].Str), Since: string(m["since"].Str),
		DeprecatedSince: string(m["deprecated_since"].Str),
	}
	for _, f := range m["flags"].Elems {
		switch string(f.Str) {
		case "optional":
			a.Optional = true
		case "multiple":
			a.Multiple = true
		case "multiple_token":
			a.MultipleToken = true
		}
	}
	for _, sub := range m["arguments"].Elems {
		a.Args = append(a.Args, parseArg(sub))
	}
	return a
}

// fields reads a map, or an array of keys and values, by lower-case key.
func fields(v resp.Value) map[string]resp.Value {
	m := map[string]resp.Value{}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[strings.ToLower(string(v.Elems[i].Str))] = v.Elems[i+1]
	}
	return m
}

// HasKeys reports whether the docs have a key argument.
func (d *Doc) HasKeys() bool {
	var has func([]Arg) bool
	has = func(args []Arg) bool {
		for _, a := range args {
			if a.Type == "key" || has(a.Args) {
				return true
			}
		}
		return false
	}
	return has(d.Args)
}

// Vocab is the values a Gen picks arguments from, by type.
type Vocab struct {
	Keys    []string // for arguments of type key
	Strings []string // string and pattern arguments, and chaos
	Ints    []string // integer arguments (numkeys excepted)
	Doubles []string // double arguments
}

// DefaultVocab has keys that hash to a few slots, and values that are keywords of
// Redis's commands, so that the generated commands probe how options are read.
var DefaultVocab = Vocab{
	Keys: []string{"k1", "k2", "{t}a", "{t}b", "STORE", "streams", "by", "key with space", ""},
	Strings: []string{"v", "0", "1", "-1", "*", "#", "k1", "{t}a", "STORE", "STOREDIST", "BY", "GET",
		"LIMIT", "STREAMS", "KEYS", "AUTH", "COUNT", "MATCH", "x*", "$", ">", "withscores", "ASC"},
	Ints:    []string{"0", "1", "2", "3", "-1", "10", "01", "1.5", "x"},
	Doubles: []string{"0", "1", "1.5", "-2", "inf", "x"},
}

// Gen builds invocations. Its zero value is not usable: set R and V.
type Gen struct {
	R *rand.Rand
	V Vocab
	// Chaos is the probability that an argument is dropped, repeated or replaced by a
	// word of the vocabulary.
	Chaos float64
}

// New returns a Gen seeded with seed, with DefaultVocab and chaos.
func New(seed uint64, chaos float64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), V: DefaultVocab, Chaos: chaos}
}

// Args returns an invocation of d: its words, then arguments built from its docs.
func (g *Gen) Args(d *Doc) []string {
	out := slices.Clone(d.Words)
	out = append(out, g.args(d.Args)...)
	if g.Chaos > 0 && g.R.Float64() < g.Chaos && len(out) > len(d.Words) {
		out = g.mangle(out, len(d.Words))
	}
	return out
}

// mangle drops, repeats or replaces one argument after the first n words, or appends a
// word of the vocabulary.
func (g *Gen) mangle(out []string, n int) []string {
	i := n + g.R.IntN(len(out)-n)
	switch g.R.IntN(4) {
	case 0:
		return slices.Delete(out, i, i+1)
	case 1:
		return slices.Insert(out, i, out[i])
	case 2:
		out[i] = g.pick(g.V.Strings)
		return out
	}
	return append(out, g.pick(g.V.Strings))
}

func (g *Gen) pick(from []string) string { return from[g.R.IntN(len(from))] }

// args builds a list of arguments. A numkeys becomes the number of keys that follow it;
// the repeated arguments of one list repeat as many times each (XREAD's streams and
// IDs).
func (g *Gen) args(specs []Arg) []string {
	var out []string
	times := 1 + g.R.IntN(3)
	for i := 0; i < len(specs); i++ {
		a := specs[i]
		if a.Optional && g.R.IntN(2) == 0 {
			continue
		}
		if isNumkeys(a) && i+1 < len(specs) && specs[i+1].Multiple {
			// numkeys, then its keys: count them.
			n := 1 + g.R.IntN(3)
			keys := g.repeat(specs[i+1], n)
			if a.Token != "" {
				out = append(out, a.Token)
			}
			out = append(out, fmt.Sprint(n))
			out = append(out, keys...)
			i++
			continue
		}
		n := 1
		if a.Multiple {
			n = times
		}
		out = append(out, g.repeat(a, n)...)
	}
	return out
}

// isNumkeys reports whether a says how many keys follow it.
func isNumkeys(a Arg) bool {
	return a.Type == "integer" && strings.Contains(a.Name, "numkeys")
}

// repeat builds n occurrences of a (the token once, or before each with MultipleToken).
func (g *Gen) repeat(a Arg, n int) []string {
	var out []string
	for j := range n {
		if a.Token != "" && (j == 0 || a.MultipleToken) {
			out = append(out, a.Token)
		}
		out = append(out, g.value(a)...)
	}
	return out
}

// value builds one occurrence of a, without its token.
func (g *Gen) value(a Arg) []string {
	switch a.Type {
	case "key":
		return []string{g.pick(g.V.Keys)}
	case "pure-token":
		return nil
	case "oneof":
		if len(a.Args) == 0 {
			return nil
		}
		c := a.Args[g.R.IntN(len(a.Args))]
		var out []string
		if c.Token != "" {
			out = append(out, c.Token)
		}
		return append(out, g.value(c)...)
	case "block":
		return g.args(a.Args)
	case "integer":
		return []string{g.pick(g.V.Ints)}
	case "double":
		return []string{g.pick(g.V.Doubles)}
	case "unix-time":
		return []string{g.pick([]string{"1", "2000000000", "0"})}
	}
	return []string{g.pick(g.V.Strings)}
}
