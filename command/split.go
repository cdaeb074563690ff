package command

import "github.com/redchain/redchain/proxy/resp"

// Splittable reports whether the command args (name first) may be split into one command
// per group of its keys and the replies merged, as Redis Cluster clients split MGET,
// MSET, DEL, UNLINK, EXISTS and TOUCH (the commands of request policy MultiShard), and
// with what step its keys come (2 for MSET's keys and values). It does not allocate.
func Splittable(args [][]byte) (c *Info, step int, ok bool) {
	if len(args) == 0 {
		return nil, 0, false
	}
	c, ok = Lookup(args[0])
	if !ok || c.Request != MultiShard || !c.fast.ok || c.fast.first != 1 || c.fast.last != -1 {
		return nil, 0, false
	}
	return c, c.fast.step, true
}

// Plan is a multi-key command split by group: one part per group its keys live in, in
// the order the groups first appear among the keys. Make one with [Split]; a Plan is
// reused from split to split, so that a steady stream of splits allocates nothing. The
// zero Plan is ready to use. A Plan is not safe for concurrent use.
type Plan struct {
	// Response is how the parts' replies merge: the command's response policy
	// (ResponseDefault for MGET: each part's values go back to their keys' positions,
	// see Part.Pos).
	Response Response
	// Parts are the commands to send, one per distinct group.
	Parts []Part
	// Keys is the number of keys of the command.
	Keys int
	// Shards is the number of distinct shards the parts go to (at most len(Parts)).
	Shards int

	args    [][]byte    // every part's arguments, part after part
	pos     []int       // every part's Pos, part after part
	keyPart []int       // the part of each key
	index   map[int]int // group → part, once indexed
	indexed bool
	seen    []uint64 // shards seen, as a bit set
}

// Part is one command of a [Plan]: the original command's name, then the keys of one
// group (each followed by its value for MSET), in their original order.
type Part struct {
	// Group and Shard are where the part's keys live, as locate gave them.
	Group, Shard int
	// Cmd is the command to send. Its arguments point into the original command's and
	// the Plan's memory: valid until the Plan's next Split or the original command's
	// end, whichever comes first. Cmd.Raw is nil.
	Cmd resp.Command
	// Pos holds, for each key of Cmd, its index among the keys of the original command
	// (0 for the first key): where the element of the part's MGET reply goes.
	Pos []int

	fill int
}

// linearParts is how many parts Split looks through one by one for a key's group before
// it indexes them with a map: most commands touch a few groups.
const linearParts = 16

// maxKeepArgs bounds what a Plan keeps between splits; a rare huge command should not pin
// its memory.
const maxKeepArgs = 1 << 14

// Split splits cmd, a command whose keys may live in different groups, into p: one part
// per distinct group that locate (backend.Sharded's Locate) gives its keys, in the order
// the groups first appear. It reports false, leaving p empty, when cmd is not one of the
// commands Redis lets a proxy split (see [Splittable]: MGET, MSET, DEL, UNLINK, EXISTS,
// TOUCH) or is malformed (no key, an MSET key without its value); such commands are for
// the backend to answer as they are.
//
// With all keys in one group, p has one part, the same as cmd: pass cmd on untouched.
// locate is called once per key, on the caller's goroutine. Split allocates nothing once
// p's buffers have grown to the size of the commands it splits.
func Split(cmd resp.Command, locate func(key []byte) (group, shard int), p *Plan) bool {
	p.reset()
	if len(cmd.Args) == 0 {
		return false
	}
	c, step, ok := Splittable(cmd.Args)
	if !ok {
		return false
	}
	nargs := len(cmd.Args) - 1
	if nargs == 0 || nargs%step != 0 {
		return false
	}
	p.Response = c.Response
	p.Keys = nargs / step

	// Find each key's part, making a part for each new group.
	for i := range p.Keys {
		g, s := locate(cmd.Args[1+i*step])
		pi := p.find(g)
		if pi < 0 {
			pi = len(p.Parts)
			p.Parts = append(p.Parts, Part{Group: g, Shard: s})
			p.addShard(s)
			if p.indexed {
				p.index[g] = pi
			} else if len(p.Parts) > linearParts {
				p.makeIndex()
			}
		}
		p.keyPart = append(p.keyPart, pi)
		p.Parts[pi].fill++
	}

	// Lay the parts out in the shared buffers, then fill them in key order.
	p.args = grow(p.args, len(p.Parts)+p.Keys*step)
	p.pos = grow(p.pos, p.Keys)
	a, k := 0, 0
	for i := range p.Parts {
		pt := &p.Parts[i]
		n := 1 + pt.fill*step
		pt.Cmd.Args = p.args[a : a+n : a+n]
		pt.Cmd.Args[0] = cmd.Args[0]
		pt.Pos = p.pos[k : k+pt.fill : k+pt.fill]
		a += n
		k += pt.fill
		pt.fill = 0
	}
	for i, pi := range p.keyPart {
		pt := &p.Parts[pi]
		j := pt.fill
		pt.Cmd.Args[1+j*step] = cmd.Args[1+i*step]
		if step == 2 {
			pt.Cmd.Args[2+j*step] = cmd.Args[2+i*step]
		}
		pt.Pos[j] = i
		pt.fill++
	}
	return true
}

// reset empties p for a new split, keeping its buffers unless they grew too big.
func (p *Plan) reset() {
	for i := range p.Parts {
		if s := p.Parts[i].Shard; s >= 0 && s/64 < len(p.seen) {
			p.seen[s/64] = 0
		}
	}
	clear(p.Parts) // drop references to the last command's arguments
	clear(p.args)
	p.Parts, p.args, p.pos, p.keyPart = p.Parts[:0], p.args[:0], p.pos[:0], p.keyPart[:0]
	if cap(p.args) > maxKeepArgs {
		p.Parts, p.args, p.pos, p.keyPart, p.index = nil, nil, nil, nil, nil
	}
	if p.indexed {
		clear(p.index)
		p.indexed = false
	}
	p.Response, p.Keys, p.Shards = ResponseDefault, 0, 0
}

// find returns the part of group g, or -1.
func (p *Plan) find(g int) int {
	if p.indexed {
		if pi, ok := p.index[g]; ok {
			return pi
		}
		return -1
	}
	for i := range p.Parts {
		if p.Parts[i].Group == g {
			return i
		}
	}
	return -1
}

// makeIndex indexes the parts by group once there are too many to look through.
func (p *Plan) makeIndex() {
	if p.index == nil {
		p.index = make(map[int]int, 2*len(p.Parts))
	}
	p.indexed = true
	for i := range p.Parts {
		p.index[p.Parts[i].Group] = i
	}
}

// addShard counts shard s if it is new.
func (p *Plan) addShard(s int) {
	if s < 0 {
		p.Shards++ // out of the contract; counted rather than lost
		return
	}
	w := s / 64
	for len(p.seen) <= w {
		p.seen = append(p.seen, 0)
	}
	if bit := uint64(1) << (s % 64); p.seen[w]&bit == 0 {
		p.seen[w] |= bit
		p.Shards++
	}
}

// grow returns s with length n, reusing its memory when it is big enough.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/4)
}
