package router

import (
	"context"

	"github.com/redchain/redchain/proxy"
)

// SharedLane asks the session of client connection c for its fan-out lane
// (session.Shared), as the fan-out does before it sends a command's parts: for tests
// only, since nothing outside the package may touch a session. A connection that no
// Forward serves gets ctx and true.
func SharedLane(ctx context.Context, c *proxy.Conn) (context.Context, bool) {
	s := sessions.Get(c)
	if s == nil {
		return ctx, true
	}
	return s.Shared(ctx)
}
