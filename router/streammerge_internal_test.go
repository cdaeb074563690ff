package router

import "testing"

func TestRDBHasData(t *testing.T) {
	t.Parallel()
	const head = "REDIS0010"
	aux := "\xFA\x09redis-ver\x067.0.15" + // a string of 6-bit length
		"\xFA\x0Aredis-bits\xC0\x40" + // an 8-bit integer
		"\xFA\x05ctime\xC2\x01\x02\x03\x04" + // a 32-bit integer
		"\xFA\x03aof\xC3\x02\x05ab" + // LZF: compressed length 2, length 5
		"\xFA\x02lp\x40\x03abc" // a string of 14-bit length
	function := "\xF5\x04code"
	sum := "\x00\x00\x00\x00\x00\x00\x00\x00"
	for _, tc := range []struct {
		name    string
		rdb     string
		data    bool
		invalid bool
	}{
		{"empty", head + aux + "\xFF" + sum, false, false},
		{"functions only", head + aux + function + "\xFF" + sum, false, false},
		{"keys", head + aux + "\xFE\x00\xFB\x01\x00\x00\x01k\x01v\xFF" + sum, true, false},
		{"module aux", head + "\xF7\x01", true, false},
		{"truncated", head + "\xFA\x09redis", true, true},
		{"no end", head + aux, true, true},
		{"not an RDB", "hello", true, true},
	} {
		data, err := rdbHasData([]byte(tc.rdb))
		if data != tc.data || (err != nil) != tc.invalid {
			t.Errorf("%s: rdbHasData = %v, %v; want %v, invalid %v", tc.name, data, err, tc.data, tc.invalid)
		}
	}
}
