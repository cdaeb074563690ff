package resp

// CommandParser finds client commands in a byte stream: RESP arrays of bulk strings, and
// inline commands (a line of space-separated words, with Redis's quoting rules).
//
// The zero CommandParser is ready to use, with default limits.
type CommandParser struct {
	Limits Limits
	// Unauthenticated applies the limits Redis sets on a client that must authenticate
	// and has not: an array of more than UnauthMaxArgs arguments, or an argument longer
	// than UnauthMaxBulkLen, is an ErrUnauthenticated protocol error, found from its
	// header before any of its payload is read.
	Unauthenticated bool

	seen int // length of the buffer the last Parse was given

	// Progress through the current command; see Parse. All positions are offsets into
	// the buffer, so that it may move between calls.
	c     cursor
	mode  uint8 // modeIdle, modeMultibulk or modeInline
	nargs int   // arguments the *<n> header announced; -1 until it is parsed
	bulk  int   // length of the argument whose $<n> header is parsed; -1 before that
	spans []span

	// Reused from command to command so that parsing does not allocate.
	args    [][]byte
	scratch []byte // unescaped inline arguments
}

const (
	modeIdle = iota
	modeMultibulk
	modeInline
)

// span is where one argument lies: buf[start:end], or scratch[start:end] when inScratch.
type span struct {
	start, end int
	inScratch  bool
}

// maxKeep is the most argument slots a parser keeps between commands; a rare huge
// command should not pin its memory for the connection's lifetime.
const maxKeep = 1 << 14

// Parse looks for one complete command at the start of buf.
//
// When the command is complete it returns the command and n > 0, the number of bytes it
// took. The command's Args point into buf (or, for an inline command with quoting, into
// the parser's scratch space); Raw is buf[:n] for a RESP array and nil for an inline
// command. Both are valid until buf changes or Parse is called again.
//
// When buf holds only part of a command it returns n == 0 and a nil error. The parser
// remembers how far it got: call Parse again once more data has been appended, with a
// buffer that starts with the same bytes (it may be a different slice, moved or grown).
// Work already done is not repeated, so a command that arrives in many small pieces costs
// linear time. Call Reset before parsing a buffer that starts elsewhere.
//
// Malformed or over-limit input returns a [*ProtocolError]. An empty line (a bare CRLF)
// is skipped as Redis does: Parse returns n > 0 with a command of no Args.
//
// Inline commands are split as Redis's sdssplitargs splits them: blanks separate
// arguments, "double quotes" understand the escapes \n \r \t \b \a \xHH and a backslash
// before any other byte, 'single quotes' understand only \', and a closing quote must be
// followed by a blank or the end of the line. Unlike Redis, which reads the line as a C
// string, a NUL byte is an ordinary byte. Empty arrays (*0, *-1) are skipped like empty
// lines, as Redis skips them.
func (p *CommandParser) Parse(buf []byte) (cmd Command, n int, err error) {
	p.seen = len(buf)
	if p.mode == modeIdle {
		p.Release() // the last command's arguments are stale now
		if len(buf) == 0 {
			return Command{}, 0, nil
		}
		p.start(buf[0])
	}
	lim := p.Limits.withDefaults()
	if p.mode == modeInline {
		cmd, n, err = p.parseInline(buf, lim)
	} else {
		cmd, n, err = p.parseMultibulk(buf, lim)
	}
	if n > 0 || err != nil {
		p.Reset() // the next command starts afresh, as does a retry after an error
	}
	return cmd, n, err
}

// Missing returns how many bytes the command being parsed is known to need beyond the
// buffer the last Parse was given, when that Parse returned no command: the rest of an
// argument whose header announced its length. 0 when nothing is known. A server reads
// a big argument into a buffer of that size at once, as Redis does, rather than
// growing one step by step.
func (p *CommandParser) Missing() int {
	if p.mode != modeMultibulk || p.bulk < 0 {
		return 0
	}
	return max(p.c.pos+p.bulk+2-p.seen, 0)
}

// Release lets go of the last command's arguments, which the parser keeps (pointing into
// the buffer they came from) until the next Parse. A caller that hands that buffer on,
// to be dropped by whoever takes it, calls Release so that the parser does not keep it
// alive; the Command returned last is not valid afterwards.
func (p *CommandParser) Release() {
	clear(p.args)
	p.args = p.args[:0]
}

// Reset forgets any partial command.
func (p *CommandParser) Reset() {
	p.mode = modeIdle
	p.spans = p.spans[:0]
}

// start begins a command whose first byte is first. Like Redis, a '*' makes it a RESP
// array and anything else an inline command.
func (p *CommandParser) start(first byte) {
	if cap(p.spans) > maxKeep {
		p.spans = nil
	}
	if cap(p.args) > maxKeep {
		p.args = nil
	}
	p.spans = p.spans[:0]
	p.nargs, p.bulk = -1, -1
	if first == '*' {
		p.mode = modeMultibulk
		p.c.next(0)
	} else {
		p.mode = modeInline
		p.c.pos, p.c.scan = 0, 0 // the first byte may be the LF of an empty line
	}
}

// parseMultibulk continues parsing a RESP array of bulk strings: its *<n> header, then
// for each argument a $<len> header and, once all of it has arrived, the payload. A
// payload is never scanned: once its length is known Parse only waits until the buffer
// is long enough, so a big value arriving in many pieces costs nothing per piece.
// Argument slots grow as arguments arrive, never ahead of them to what the header claims.
func (p *CommandParser) parseMultibulk(buf []byte, lim Limits) (Command, int, error) {
	if p.nargs < 0 {
		cr, err := p.c.line(buf, lim.MaxInlineLen, errBigMultibulk)
		if cr < 0 {
			return Command{}, 0, err
		}
		ll, ok := parseInt(buf[p.c.pos+1 : cr])
		if !ok || ll > int64(lim.MaxArgs) {
			return Command{}, 0, protoErr(errMultibulkLen)
		}
		if ll > UnauthMaxArgs && p.Unauthenticated {
			return Command{}, 0, errUnauthArgs
		}
		p.c.next(cr + 2)
		if ll <= 0 {
			return Command{}, p.c.pos, nil // *0, *-1, *-10: skipped, as Redis does
		}
		p.nargs = int(ll)
	}
	for len(p.spans) < p.nargs {
		if p.bulk < 0 {
			if p.c.pos >= len(buf) {
				return Command{}, 0, nil
			}
			if c := buf[p.c.pos]; c != '$' {
				return Command{}, 0, protoErr("expected '$', got '" + quoteByte(c) + "'")
			}
			cr, err := p.c.line(buf, lim.MaxInlineLen, errBigBulk)
			if cr < 0 {
				return Command{}, 0, err
			}
			ll, ok := parseInt(buf[p.c.pos+1 : cr])
			if !ok || ll < 0 || ll > lim.MaxBulkLen {
				return Command{}, 0, protoErr(errBulkLen)
			}
			if ll > UnauthMaxBulkLen && p.Unauthenticated {
				return Command{}, 0, errUnauthBulk
			}
			p.bulk = int(ll)
			p.c.next(cr + 2)
		}
		// Written so that it cannot overflow, whatever MaxBulkLen is.
		if p.bulk > len(buf)-p.c.pos-2 {
			return Command{}, 0, nil
		}
		end := p.c.pos + p.bulk
		// Redis skips the two bytes after a payload unseen; checking them catches a
		// client whose lengths are wrong before it desynchronises the stream.
		if buf[end] != '\r' || buf[end+1] != '\n' {
			return Command{}, 0, protoErr(errBulkTerminator)
		}
		p.spans = append(p.spans, span{start: p.c.pos, end: end})
		p.c.next(end + 2)
		p.bulk = -1
	}
	n := p.c.pos
	return Command{Args: p.argsOf(buf), Raw: buf[:n:n]}, n, nil
}

// argsOf turns the spans of the command into arguments, in the reused p.args. Each
// argument's capacity ends with it, so that appending to one cannot overwrite the next.
func (p *CommandParser) argsOf(buf []byte) [][]byte {
	p.args = p.args[:0]
	for _, s := range p.spans {
		src := buf
		if s.inScratch {
			src = p.scratch
		}
		p.args = append(p.args, src[s.start:s.end:s.end])
	}
	return p.args
}

// parseInline continues looking for the LF that ends an inline command; once it is there
// the line is split in one pass.
func (p *CommandParser) parseInline(buf []byte, lim Limits) (Command, int, error) {
	lf, err := p.c.find(buf, '\n', lim.MaxInlineLen, errBigInline)
	if lf < 0 {
		return Command{}, 0, err
	}
	line := buf[:lf]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if err := p.split(line, lim.MaxArgs); err != nil {
		return Command{}, 0, err
	}
	if len(p.spans) == 0 {
		return Command{}, lf + 1, nil // an empty or blank line: skipped, as Redis does
	}
	return Command{Args: p.argsOf(buf)}, lf + 1, nil
}

// isSpace is C's isspace, which sdssplitargs uses to skip blanks between arguments.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// split splits an inline line into p.spans following Redis's sdssplitargs (sds.c),
// branch for branch. line starts at the start of the buffer, so its indexes are the
// buffer's.
func (p *CommandParser) split(line []byte, maxArgs int) error {
	p.scratch = p.scratch[:0]
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return nil
		}
		if len(p.spans) == maxArgs {
			return protoErr(errInlineArgs)
		}
		t := token{line: line, scratch: p.scratch}
		inq, insq := false, false // in "double" or 'single' quotes
		for done := false; !done; {
			switch {
			case inq:
				switch {
				case i >= len(line):
					return protoErr(errQuotes)
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' &&
					isHex(line[i+2]) && isHex(line[i+3]):
					t.addByte(unhex(line[i+2])<<4 | unhex(line[i+3]))
					i += 4
				case line[i] == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						t.addByte('\n')
					case 'r':
						t.addByte('\r')
					case 't':
						t.addByte('\t')
					case 'b':
						t.addByte('\b')
					case 'a':
						t.addByte('\a')
					default:
						t.add(i) // the escaped byte itself, as it is in the line
					}
					i++
				case line[i] == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return protoErr(errQuotes)
					}
					done = true
					i++
				default:
					t.add(i)
					i++
				}
			case insq:
				switch {
				case i >= len(line):
					return protoErr(errQuotes)
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					t.add(i + 1)
					i += 2
				case line[i] == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return protoErr(errQuotes)
					}
					done = true
					i++
				default:
					t.add(i)
					i++
				}
			default:
				if i >= len(line) {
					done = true
					break
				}
				// Note: only these end a word; \v and \f do not, though they are
				// skipped between words. That is sdssplitargs's behaviour too.
				switch line[i] {
				case ' ', '\n', '\r', '\t':
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					t.add(i)
				}
				i++
			}
		}
		p.scratch = t.scratch
		if t.inScratch {
			p.spans = append(p.spans, span{start: t.scratchStart, end: len(t.scratch), inScratch: true})
		} else {
			p.spans = append(p.spans, span{start: t.start, end: t.end})
		}
	}
}

// token builds one inline argument. While its bytes are a contiguous run of the line it
// is just that run (no copy); the first escape or skipped quote that breaks the run
// moves it to the scratch space.
type token struct {
	line         []byte
	scratch      []byte
	start, end   int // the run in line, while !inScratch
	inScratch    bool
	scratchStart int
}

// add appends the byte at line[i].
func (t *token) add(i int) {
	if !t.inScratch {
		if t.start == t.end {
			t.start, t.end = i, i+1
			return
		}
		if t.end == i {
			t.end++
			return
		}
		t.toScratch()
	}
	t.scratch = append(t.scratch, t.line[i])
}

// addByte appends c, which is not in the line as it is (an escape's value).
func (t *token) addByte(c byte) {
	if !t.inScratch {
		t.toScratch()
	}
	t.scratch = append(t.scratch, c)
}

func (t *token) toScratch() {
	t.inScratch = true
	t.scratchStart = len(t.scratch)
	t.scratch = append(t.scratch, t.line[t.start:t.end]...)
}
