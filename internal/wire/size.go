package wire

import (
	"fmt"
	"strconv"
	"strings"
)

var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

// ParseBytes reads a size: a number of bytes, or a number with a unit
// (KiB, MiB, GiB, TiB in powers of 1024; KB, MB, GB, TB in powers of 1000),
// as in "1GiB" or "256 MiB".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes or a number with a unit such as 256MiB or 1GiB", s)
	}
	n := f * float64(mult)
	if n >= 1<<62 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(n), nil
}

// FormatBytes prints a size in the largest binary unit that divides it, or
// in bytes.
func FormatBytes(n int64) string {
	for _, u := range byteUnits[:4] {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
