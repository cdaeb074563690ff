// Package resp reads and writes the Redis serialization protocol (RESP2 and RESP3).
//
// It is the leaf package of redchain: it depends on nothing but the standard library and
// redcon's encoders, and every other package speaks in its types.
//
//   - [Command] is one client command: its arguments, and optionally the exact bytes it
//     arrived as, so that a proxy can forward it without encoding it again.
//   - [Value] is one reply of any RESP2 or RESP3 type, nested to any depth. A Value may be
//     "raw": it then carries its complete encoded frame and is decoded only on demand.
//   - [CommandParser] and [ReplyParser] find commands and replies in a byte stream
//     incrementally: they remember how far they got in an incomplete message, so data that
//     arrives in small pieces is scanned once (linear time), never re-parsed from its start.
//     Their [Limits] bound bulk lengths, argument counts, inline lengths and nesting depth,
//     like Redis's own proto-max-bulk-len and friends; input beyond them is a
//     [*ProtocolError], never a panic or an unbounded allocation.
//
// # Memory
//
// Parsers never copy: a [Command] or [Value] they return points into the buffer it was
// parsed from (or into the parser's scratch space), and is valid until that buffer is
// modified or the parser is called again. Use [Value.Clone] or [Command.Clone] to keep one.
//
// # Threading
//
// Values and commands are plain data. A parser is not safe for concurrent use; use one per
// stream. The package has no global state.
package resp
