package command

import (
	"bytes"

	"github.com/redchain/redchain/proxy/resp"
)

// Check finds the command args (name first) invoke and checks it as Redis does before
// running anything (processCommand in server.c): that the command, and the subcommand
// of a container, exist, and that the number of arguments fits the arity. It returns
// the command, or the error reply Redis gives, in Redis's words: "unknown subcommand
// 'x'. Try CLIENT HELP.", "wrong number of arguments for 'get' command". For a command
// the model does not know, c is nil and refusal is Redis's unknown-command error:
// whether the server knows the command after all is the caller's to decide (see
// [Learn] and [Known]). An empty args gets the nil Info and a zero refusal.
func Check(args [][]byte) (c *Info, refusal resp.Value) {
	if len(args) == 0 {
		return nil, resp.Value{}
	}
	c, ok := Lookup(args[0])
	if !ok {
		return nil, UnknownCommand(args)
	}
	if len(c.subs) > 0 && len(args) > 1 {
		s, ok := c.Subcommand(args[1])
		if !ok {
			return nil, UnknownSubcommand(args)
		}
		c = s
	}
	if !c.ArityOK(len(args)) {
		return nil, ArityError(c)
	}
	return c, resp.Value{}
}

// ArityOK reports whether a command of argc arguments (name included) fits c's arity.
func (c *Info) ArityOK(argc int) bool {
	if c.Arity >= 0 {
		return argc == c.Arity
	}
	return argc >= -c.Arity
}

// ArityError is Redis's reply to c with the wrong number of arguments.
func ArityError(c *Info) resp.Value {
	return resp.Error("ERR", "wrong number of arguments for '"+c.Name+"' command")
}

// UnknownCommand is Redis's reply to a command it does not know: the name as sent, and
// the first arguments quoted, up to 128 bytes.
func UnknownCommand(args [][]byte) resp.Value {
	var b []byte
	for _, a := range args[1:] {
		if len(b) >= 128 {
			break
		}
		b = append(b, '\'')
		b = append(b, a[:min(len(a), 128-len(b)+1)]...)
		b = append(b, "' "...)
	}
	msg := make([]byte, 0, 64+len(b))
	msg = append(msg, "unknown command '"...)
	msg = append(msg, args[0][:min(len(args[0]), 128)]...)
	msg = append(msg, "', with args beginning with: "...)
	msg = append(msg, b...)
	return resp.Error("ERR", string(msg))
}

// UnknownSubcommand is Redis's reply to a container command (CLIENT, OBJECT...) given a
// subcommand it does not have.
func UnknownSubcommand(args [][]byte) resp.Value {
	sub := args[1][:min(len(args[1]), 128)]
	return resp.Error("ERR", "unknown subcommand '"+string(sub)+"'. Try "+string(bytes.ToUpper(args[0]))+" HELP.")
}
