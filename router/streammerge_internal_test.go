package router

import "testing"

func TestRDBBody(t *testing.T) {
	t.Parallel()
	const head = "REDIS0010"
	aux := "\xFA\x09redis-ver\x067.0.15" + // a string of 6-bit length
		"\xFA\x0Aredis-bits\xC0\x40" + // an 8-bit integer
		"\xFA\x05ctime\xC2\x01\x02\x03\x04" + // a 32-bit integer
		"\xFA\x03aof\xC3\x02\x05ab" + // LZF: compressed length 2, length 5
		"\xFA\x02lp\x40\x03abc" // a string of 14-bit length
	function := "\xF5\x04code"
	keys := "\xFE\x00\xFB\x01\x00\x00\x01k\x01v"
	trailer := "\xFF\x00\x00\x00\x00\x00\x00\x00\x00"
	for _, tc := range []struct {
		name string
		rdb  string
		body int // -1: unreadable
	}{
		{"empty", head + aux + trailer, len(head + aux)},
		{"functions", head + aux + function + trailer, len(head + aux + function)},
		{"keys", head + aux + function + keys + trailer, len(head + aux + function)},
		{"module aux", head + aux + "\xF7\x01" + trailer, len(head + aux)},
		{"truncated aux", head + "\xFA\x09redis" + trailer, -1},
		{"no trailer", head + aux + keys, -1},
		{"not an RDB", "hello, world, this is not one", -1},
	} {
		body, err := rdbBody([]byte(tc.rdb))
		if tc.body < 0 && err == nil || tc.body >= 0 && (err != nil || body != tc.body) {
			t.Errorf("%s: rdbBody = %d, %v; want %d", tc.name, body, err, tc.body)
		}
	}
}

func TestRedisCRC64(t *testing.T) {
	t.Parallel()
	// Redis's own test vector (src/crc64.c).
	if got := redisCRC64(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Errorf("redisCRC64(123456789) = %x, want e9c6d914c4b8d9ca", got)
	}
	// Computed in pieces, as the merged snapshot's is.
	if got := redisCRC64(redisCRC64(0, []byte("1234")), []byte("56789")); got != 0xe9c6d914c4b8d9ca {
		t.Errorf("redisCRC64(123456789) = %x, want e9c6d914c4b8d9ca", got)
	}
}
