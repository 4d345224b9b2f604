package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// KeyError is a problem with one key. Key is the dotted path
// ("mqtt.tls.ca_file"); Line is the YAML line when it came from a file.
type KeyError struct {
	Key  string
	Line int
	Err  error
}

func (e *KeyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %v", e.Line, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

func keyErr(key string, format string, a ...any) *KeyError {
	return &KeyError{Key: key, Err: fmt.Errorf(format, a...)}
}

// ByteSize is a size in bytes, written as an integer or with a unit: B, KB,
// MB, GB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
type ByteSize int64

// Binary size units.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first so "MiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseByteSize reads "2GiB", "64 KiB", "1500000" or "1.5MB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || (n > 0 && mult > (1<<63-1)/n) {
			return 0, fmt.Errorf("size %q out of range", s)
		}
		return ByteSize(n * mult), nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) >= 1<<63 {
		return 0, fmt.Errorf("bad size %q (want e.g. 64KiB, 2GiB or a byte count)", s)
	}
	return ByteSize(f * float64(mult)), nil
}

// String writes the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b != 0 && b%u.m == 0 {
			return strconv.FormatInt(int64(b/u.m), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// formatDuration writes "168h", "10s" or "1m30s" rather than time's
// "168h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[ByteSize]()
)

// setString parses s into the field v, the same way for YAML scalars, the
// environment and Set.
func setString(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("bad duration %q (want e.g. 500ms, 5s, 168h)", s)
		}
		v.SetInt(int64(d))
		return nil
	case v.Type() == sizeType:
		n, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("bad boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 0)
		if err != nil {
			return fmt.Errorf("bad integer %q", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("bad number %q", s)
		}
		v.SetFloat(f)
	case reflect.Slice: // []string: a YAML flow list, or comma-separated
		var list []string
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
			if err := yaml.Unmarshal([]byte(t), &list); err != nil {
				return fmt.Errorf("bad list %q: %v", s, err)
			}
		} else if t != "" {
			for _, e := range strings.Split(t, ",") {
				list = append(list, strings.TrimSpace(e))
			}
		}
		if len(list) == 0 {
			list = nil
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("config: unsupported field kind %s", v.Kind()) // a programming error
	}
	return nil
}

// field is one settable key of Config.
type field struct {
	key string // dotted path
	env string // EDGECLIP_...
	idx []int  // reflect index path
}

// fields lists the leaf keys of Config in declaration order.
func fields() []field {
	var out []field
	var walk func(t reflect.Type, prefix string, idx []int)
	walk = func(t reflect.Type, prefix string, idx []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := prefix + f.Tag.Get("yaml")
			path := append(append([]int(nil), idx...), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".", path)
				continue
			}
			out = append(out, field{key: key, env: EnvName(key), idx: path})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// Keys lists every key's dotted path, in the order of the example file.
func Keys() []string {
	var ks []string
	for _, f := range fields() {
		ks = append(ks, f.key)
	}
	return ks
}

// EnvName is the environment variable that overrides key:
// "mqtt.tls.ca_file" → "EDGECLIP_MQTT_TLS_CA_FILE".
func EnvName(key string) string {
	return "EDGECLIP_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Set parses value into the key named by its dotted path, as the
// environment would. cmd/edgeclip uses it for flags and --set key=value.
func (c *Config) Set(key, value string) error {
	for _, f := range fields() {
		if f.key == key {
			if err := setString(reflect.ValueOf(c).Elem().FieldByIndex(f.idx), value); err != nil {
				return &KeyError{Key: key, Err: err}
			}
			return nil
		}
	}
	return keyErr(key, "unknown key%s", suggest(key, Keys()))
}

// Get returns the key's value as the example file would write it.
func (c *Config) Get(key string) (string, bool) {
	for _, f := range fields() {
		if f.key == key {
			return scalar(reflect.ValueOf(c).Elem().FieldByIndex(f.idx)), true
		}
	}
	return "", false
}

// suggest returns ` (did you mean "x"?)` for the closest known key.
func suggest(key string, known []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "") }
	best, bestD := "", 3
	for _, k := range known {
		d := editDistance(norm(key), norm(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
