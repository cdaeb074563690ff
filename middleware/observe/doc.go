// Package observe is the middleware that measures a proxy: an OpenTelemetry histogram of
// command durations (db.client.operation.duration, by command name and error code), an
// optional span per command, a slow log through hclog, and, with RegisterServer and
// RegisterBackend, the gauges and counters of a proxy.Server and of a backend.
//
// It records names and error codes, never keys, values or other arguments. It belongs
// first in the chain, where it sees every command, including the ones a later middleware
// refuses. See README.md for the list of instruments and their attributes.
//
// # Threading
//
// One Observe serves every connection of every event loop at once: ServeRESP is safe for
// concurrent use, and runs on the calling connection's loop without blocking it (the
// caches it shares are read without locks). The duration of a command ends when its reply
// is written: the reply writer that observe hands down records on whatever goroutine
// writes the reply (the loop for a reply written at once, a backend's goroutine for a
// later one), then forwards it. When there is nothing to record (no metrics SDK, no
// spans, no slow log), ServeRESP passes the command on untouched and allocates nothing.
//
// RegisterServer and RegisterBackend register callbacks that the meter provider calls
// when it collects, on its own goroutine; they read Stats, which is safe from any
// goroutine, and the unregister functions they return are safe from any goroutine too.
package observe
