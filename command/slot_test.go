package command

import (
	"testing"
)

// The expected slots come from a real Redis Cluster's CLUSTER KEYSLOT.
func TestSlot(t *testing.T) {
	for _, tc := range []struct {
		key  string
		slot uint16
	}{
		{"", 0},
		{"foo", 12182},
		{"bar", 5061},
		{"123456789", 12739}, // the CRC-16/XMODEM check value 0x31C3
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"{}x", 10595},
		{"x{", 3596},
	} {
		if got := Slot([]byte(tc.key)); got != tc.slot {
			t.Errorf("Slot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

func BenchmarkSlot(b *testing.B) {
	key := []byte("{user1000}.following")
	for b.Loop() {
		Slot(key)
	}
}
