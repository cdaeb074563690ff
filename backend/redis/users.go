package redis

import (
	"sync"
	"time"

	"github.com/redchain/redchain/backend"
)

// userLinger is how long the backend of a user outlives the last share given back, so
// that the clients that log in, send a command and leave, one after another, find its
// connections up.
const userLinger = time.Minute

// userKey names the backend of a user: who logs in, and with what.
type userKey struct{ user, password string }

// userBackend is the backend of a user, and how many share it. Guarded by the parent's
// usersMu.
type userBackend struct {
	b     *Backend
	refs  int
	timer *time.Timer // closes b once refs has stayed 0 for userLinger
}

// AsUser returns the backend whose connections log in as user with password: the
// backend's configuration but for Username and Password, with connections of its own,
// made on first use and shared by every caller that asks for the same user and
// password (see backend.Users). release gives the caller's share back; the backend of
// the user closes a minute after the last share is given back, or when b closes. It
// never blocks. Safe from any goroutine.
func (b *Backend) AsUser(user, password string) (backend.Backend, func()) {
	if b.parent != nil {
		b = b.parent // one backend per user, whoever asks
	}
	k := userKey{user, password}
	b.usersMu.Lock()
	defer b.usersMu.Unlock()
	u := b.users[k]
	if u == nil {
		cfg := b.cfg
		cfg.Username, cfg.Password = user, password
		c, _ := start(cfg, b.log.With("user", user))
		c.parent = b
		if b.ctx.Err() != nil {
			c.Close() // b is closed: so is the user's
		}
		u = &userBackend{b: c}
		if b.users == nil {
			b.users = map[userKey]*userBackend{}
		}
		b.users[k] = u
	}
	if u.timer != nil {
		u.timer.Stop()
		u.timer = nil
	}
	u.refs++
	var once sync.Once
	return u.b, func() { once.Do(func() { b.releaseUser(k, u) }) }
}

// releaseUser gives back a share of u, the backend of k.
func (b *Backend) releaseUser(k userKey, u *userBackend) {
	b.usersMu.Lock()
	defer b.usersMu.Unlock()
	if u.refs--; u.refs > 0 || b.users[k] != u {
		return
	}
	u.timer = time.AfterFunc(userLinger, func() {
		b.usersMu.Lock()
		if u.refs > 0 || b.users[k] != u {
			b.usersMu.Unlock()
			return
		}
		delete(b.users, k)
		b.usersMu.Unlock()
		u.b.Close()
	})
}

// closeUsers closes the backends of users, for Close.
func (b *Backend) closeUsers() {
	b.usersMu.Lock()
	users := b.users
	b.users = nil
	for _, u := range users {
		if u.timer != nil {
			u.timer.Stop()
		}
	}
	b.usersMu.Unlock()
	for _, u := range users {
		u.b.Close()
	}
}
