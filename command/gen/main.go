// Command gen writes package command's table (table_gen.go) from the command files of a
// Redis source tree (src/commands/*.json, the files Redis generates its own command table
// from): every command and subcommand with its arity, flags, ACL categories, key specs,
// getkeys procedure and command tips.
//
//	go generate ./command   # runs: go run ./gen -src $REDIS_SRC -out table_gen.go
//
// REDIS_SRC is a redis/redis tree at the newest version the table covers (7.4.x: it
// holds every command of 7.0, 7.2 and 7.4). CI does not run it: the table is checked in.
// Sentinel-only commands are left out: a proxy fronts data servers.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	src := flag.String("src", os.Getenv("REDIS_SRC"), "a redis/redis source tree (default $REDIS_SRC)")
	out := flag.String("out", "table_gen.go", "the Go file to write")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// doc is one command file's entry, as far as the table needs it.
type doc struct {
	Since     string    `json:"since"`
	Arity     int       `json:"arity"`
	Container string    `json:"container"`
	Flags     []string  `json:"command_flags"`
	ACL       []string  `json:"acl_categories"`
	KeySpecs  []keySpec `json:"key_specs"`
	GetKeys   string    `json:"get_keys_function"`
	Tips      []string  `json:"command_tips"`
}

type keySpec struct {
	Flags       []string `json:"flags"`
	BeginSearch struct {
		Index *struct {
			Pos int `json:"pos"`
		} `json:"index"`
		Keyword *struct {
			Keyword   string `json:"keyword"`
			StartFrom int    `json:"startfrom"`
		} `json:"keyword"`
	} `json:"begin_search"`
	FindKeys struct {
		Range *struct {
			LastKey int `json:"lastkey"`
			Step    int `json:"step"`
			Limit   int `json:"limit"`
		} `json:"range"`
		Keynum *struct {
			KeynumIdx int `json:"keynumidx"`
			FirstKey  int `json:"firstkey"`
			Step      int `json:"step"`
		} `json:"keynum"`
	} `json:"find_keys"`
}

// command is a command of the table, with its subcommands.
type command struct {
	name string // lower case; "client|kill" for a subcommand
	doc
	subs []*command
}

func run(src, out string) error {
	if src == "" {
		return errors.New("no Redis source tree: give -src or set REDIS_SRC")
	}
	dir := filepath.Join(src, "src", "commands")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no command files in %s", dir)
	}
	version, err := sourceVersion(src)
	if err != nil {
		return err
	}
	top := map[string]*command{}
	var subs []*command
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var m map[string]doc
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for name, d := range m {
			if slices.Contains(d.Flags, "ONLY_SENTINEL") {
				continue
			}
			c := &command{name: strings.ToLower(name), doc: d}
			if d.Container != "" {
				c.name = strings.ToLower(d.Container) + "|" + c.name
				subs = append(subs, c)
				continue
			}
			top[c.name] = c
		}
	}
	for _, s := range subs {
		parent, _, _ := strings.Cut(s.name, "|")
		p, ok := top[parent]
		if !ok {
			return fmt.Errorf("%s: no container command %q", s.name, parent)
		}
		p.subs = append(p.subs, s)
	}
	var cmds []*command
	for _, c := range top {
		slices.SortFunc(c.subs, func(a, b *command) int { return strings.Compare(a.name, b.name) })
		cmds = append(cmds, c)
	}
	slices.SortFunc(cmds, func(a, b *command) int { return strings.Compare(a.name, b.name) })
	code, err := render(version, cmds)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, code, 0o644); err != nil {
		return err
	}
	n := 0
	for _, c := range cmds {
		n += 1 + len(c.subs)
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d commands and subcommands from Redis %s\n", out, n, version)
	return nil
}

// sourceVersion reads REDIS_VERSION from src/version.h.
func sourceVersion(src string) (string, error) {
	b, err := os.ReadFile(filepath.Join(src, "src", "version.h"))
	if err != nil {
		return "", err
	}
	_, v, ok := strings.Cut(string(b), "REDIS_VERSION \"")
	if !ok {
		return "", errors.New("src/version.h has no REDIS_VERSION")
	}
	v, _, _ = strings.Cut(v, "\"")
	return v, nil
}

// Names of the Go constants of package command for Redis's words.
var (
	flagConsts = map[string]string{
		"WRITE": "Write", "READONLY": "ReadOnly", "DENYOOM": "DenyOOM", "ADMIN": "Admin",
		"PUBSUB": "PubSub", "NOSCRIPT": "NoScript", "BLOCKING": "Blocking", "LOADING": "Loading",
		"STALE": "Stale", "FAST": "Fast", "NO_AUTH": "NoAuth", "MAY_REPLICATE": "MayReplicate",
		"NO_MULTI": "NoMulti", "NO_MANDATORY_KEYS": "NoMandatoryKeys", "ALLOW_BUSY": "AllowBusy",
		"NO_ASYNC_LOADING": "NoAsyncLoading", "SKIP_MONITOR": "SkipMonitor",
		"SKIP_SLOWLOG": "SkipSlowlog", "ASKING": "Asking", "PROTECTED": "Protected",
		"TOUCHES_ARBITRARY_KEYS": "TouchesArbitraryKeys",
		"SENTINEL":               "", // also served by Sentinel: nothing for a proxy
	}
	aclConsts = map[string]string{
		"KEYSPACE": "CatKeyspace", "READ": "CatRead", "WRITE": "CatWrite", "SET": "CatSet",
		"SORTEDSET": "CatSortedSet", "LIST": "CatList", "HASH": "CatHash", "STRING": "CatString",
		"BITMAP": "CatBitmap", "HYPERLOGLOG": "CatHyperLogLog", "GEO": "CatGeo", "STREAM": "CatStream",
		"PUBSUB": "CatPubSub", "ADMIN": "CatAdmin", "FAST": "CatFast", "SLOW": "CatSlow",
		"BLOCKING": "CatBlocking", "DANGEROUS": "CatDangerous", "CONNECTION": "CatConnection",
		"TRANSACTION": "CatTransaction", "SCRIPTING": "CatScripting",
	}
	specFlagConsts = map[string]string{
		"RO": "specRO", "RW": "specRW", "OW": "specOW", "RM": "specRM",
		"ACCESS": "specAccess", "UPDATE": "specUpdate", "INSERT": "specInsert", "DELETE": "specDelete",
		"NOT_KEY": "specNotKey", "INCOMPLETE": "specIncomplete", "VARIABLE_FLAGS": "specVariableFlags",
	}
	// Redis's getkeys procedures (db.c), for the commands whose specs cannot find every
	// key or whose key flags depend on the arguments.
	procConsts = map[string]string{
		"sortGetKeys": "procSort", "sortROGetKeys": "procSortRO", "migrateGetKeys": "procMigrate",
		"georadiusGetKeys": "procGeoradius", "xreadGetKeys": "procXread", "setGetKeys": "procFirst",
		"bitfieldGetKeys": "procFirst", "evalGetKeys": "procNumkeys2", "functionGetKeys": "procNumkeys2",
		"lmpopGetKeys": "procNumkeys1", "zmpopGetKeys": "procNumkeys1", "sintercardGetKeys": "procNumkeys1",
		"zunionInterDiffGetKeys": "procNumkeys1", "blmpopGetKeys": "procNumkeys2",
		"bzmpopGetKeys": "procNumkeys2", "zunionInterDiffStoreGetKeys": "procNumkeys2Store",
	}
	requestConsts = map[string]string{
		"ALL_NODES": "AllNodes", "ALL_SHARDS": "AllShards", "MULTI_SHARD": "MultiShard", "SPECIAL": "RequestSpecial",
	}
	responseConsts = map[string]string{
		"ONE_SUCCEEDED": "OneSucceeded", "ALL_SUCCEEDED": "AllSucceeded", "AGG_LOGICAL_AND": "AggLogicalAnd",
		"AGG_LOGICAL_OR": "AggLogicalOr", "AGG_MIN": "AggMin", "AGG_MAX": "AggMax", "AGG_SUM": "AggSum",
		"SPECIAL": "ResponseSpecial",
	}
)

func render(version string, cmds []*command) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command/gen from the command files of Redis %s. DO NOT EDIT.\n\n", version)
	b.WriteString("package command\n\n")
	b.WriteString("// TableVersion is the Redis version whose command files the table was generated from;\n")
	b.WriteString("// the table holds every command of Redis 7.0 up to it.\n")
	fmt.Fprintf(&b, "const TableVersion = %q\n\n", version)
	b.WriteString("var table = [...]Info{\n")
	for _, c := range cmds {
		if err := writeCommand(&b, c); err != nil {
			return nil, err
		}
	}
	b.WriteString("}\n\n")
	b.WriteString("var tableIndex = map[string]int{\n")
	for i, c := range cmds {
		fmt.Fprintf(&b, "%q: %d,\n", c.name, i)
	}
	b.WriteString("}\n")
	code, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format: %w\n%s", err, b.Bytes())
	}
	return code, nil
}

func writeCommand(b *bytes.Buffer, c *command) error {
	fmt.Fprintf(b, "{Name: %q, Arity: %d, Since: %q", c.name, c.Arity, c.Since)
	if fl, err := consts(c.name, "flag", c.Flags, flagConsts); err != nil {
		return err
	} else if fl != "" {
		fmt.Fprintf(b, ", Flags: %s", fl)
	}
	if cat, err := consts(c.name, "ACL category", c.ACL, aclConsts); err != nil {
		return err
	} else if cat != "" {
		fmt.Fprintf(b, ", ACL: %s", cat)
	}
	for _, t := range c.Tips {
		kind, val, _ := strings.Cut(t, ":")
		switch kind {
		case "REQUEST_POLICY":
			k, ok := requestConsts[val]
			if !ok {
				return fmt.Errorf("%s: request policy %q", c.name, val)
			}
			fmt.Fprintf(b, ", Request: %s", k)
		case "RESPONSE_POLICY":
			k, ok := responseConsts[val]
			if !ok {
				return fmt.Errorf("%s: response policy %q", c.name, val)
			}
			fmt.Fprintf(b, ", Response: %s", k)
		case "NONDETERMINISTIC_OUTPUT", "NONDETERMINISTIC_OUTPUT_ORDER":
		default:
			return fmt.Errorf("%s: command tip %q", c.name, t)
		}
	}
	needsProc := false
	if len(c.KeySpecs) > 0 {
		b.WriteString(", specs: []keySpec{")
		for i, s := range c.KeySpecs {
			if i > 0 {
				b.WriteString(", ")
			}
			parts, unknown, err := specParts(c.name, s)
			if err != nil {
				return err
			}
			needsProc = needsProc || unknown
			b.WriteString("{" + strings.Join(parts, ", ") + "}")
		}
		b.WriteString("}")
	}
	if c.GetKeys != "" {
		p, ok := procConsts[c.GetKeys]
		if !ok {
			return fmt.Errorf("%s: getkeys procedure %s is not known to package command", c.name, c.GetKeys)
		}
		fmt.Fprintf(b, ", proc: %s", p)
	} else if needsProc {
		return fmt.Errorf("%s has incomplete or unknown key specs and no getkeys procedure", c.name)
	}
	if len(c.subs) > 0 {
		b.WriteString(", subs: []Info{\n")
		for _, s := range c.subs {
			if err := writeCommand(b, s); err != nil {
				return err
			}
		}
		b.WriteString("}")
	}
	b.WriteString("},\n")
	return nil
}

// specParts returns the Go fields of one key spec, and whether the spec cannot find its
// keys by itself (unknown search, or incomplete).
func specParts(name string, s keySpec) (parts []string, unknown bool, err error) {
	switch bs := s.BeginSearch; {
	case bs.Index != nil:
		parts = append(parts, "bs: bsIndex", fmt.Sprintf("start: %d", bs.Index.Pos))
	case bs.Keyword != nil:
		parts = append(parts, "bs: bsKeyword", fmt.Sprintf("keyword: %q", strings.ToLower(bs.Keyword.Keyword)),
			fmt.Sprintf("start: %d", bs.Keyword.StartFrom))
	default:
		unknown = true
	}
	switch fk := s.FindKeys; {
	case fk.Range != nil:
		parts = append(parts, "fk: fkRange", fmt.Sprintf("lastKey: %d", fk.Range.LastKey), fmt.Sprintf("keyStep: %d", fk.Range.Step))
		if fk.Range.Limit != 0 {
			parts = append(parts, fmt.Sprintf("limit: %d", fk.Range.Limit))
		}
	case fk.Keynum != nil:
		parts = append(parts, "fk: fkKeynum", fmt.Sprintf("keyNumIdx: %d", fk.Keynum.KeynumIdx),
			fmt.Sprintf("firstKey: %d", fk.Keynum.FirstKey), fmt.Sprintf("keyStep: %d", fk.Keynum.Step))
	default:
		unknown = true
	}
	if fl, err := consts(name, "key spec flag", s.Flags, specFlagConsts); err != nil {
		return nil, false, err
	} else if fl != "" {
		parts = append(parts, "flags: "+fl)
	}
	if slices.Contains(s.Flags, "INCOMPLETE") {
		unknown = true
	}
	return parts, unknown, nil
}

// consts joins the Go constants of words with "|"; a word with no constant is an error,
// so that a new word of Redis is looked at before it enters the table.
func consts(name, what string, words []string, m map[string]string) (string, error) {
	var out []string
	for _, w := range words {
		k, ok := m[w]
		if !ok {
			return "", fmt.Errorf("%s: %s %q is not known to package command", name, what, w)
		}
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return strings.Join(out, " | "), nil
}
