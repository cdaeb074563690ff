package command

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// Slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of the key modulo
// 16384, or of its hash tag when it has one. The hash tag is what lies between the
// first '{' and the first '}' after it, when that is not empty: "{user1}.name" and
// "{user1}.mail" share a slot; "{}x" and "x{" hash whole.
func Slot(key []byte) uint16 {
	return crc16(HashTag(key)) & (SlotCount - 1)
}

// HashTag returns the part of key that Redis Cluster hashes: the hash tag, or the
// whole key when it has none. See [Slot].
func HashTag(key []byte) []byte {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key // "{}": no tag
				}
				return key[i+1 : j]
			}
		}
		return key // no closing brace
	}
	return key
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster
// hashes keys with.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^c]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
