package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileBytes bounds a config file; a real one is a few KiB.
const maxFileBytes = 1 << 20

// Load returns Default() overlaid with the YAML file at path (skipped when
// path is empty) and then with the EDGECLIP_* environment. Every problem
// found is reported in one joined error of *KeyError values (see
// errors.As); the returned Config is never nil and holds what did decode, so
// a --check can go on to report Check's problems too.
func Load(path string) (*Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		if err := c.decodeFile(path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.ApplyEnv(os.Environ()); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func (c *Config) decodeFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if st.Size() > maxFileBytes {
		return fmt.Errorf("config: %s: %d bytes is over the %d-byte limit", path, st.Size(), maxFileBytes)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if err := c.Decode(data); err != nil {
		return prefixErrors(err, "config: "+path+": ")
	}
	return nil
}

// prefixErrors puts p before each joined error, keeping them unwrappable.
func prefixErrors(err error, p string) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s%w", p, e)
	}
	return errors.Join(out...)
}

// Decode overlays YAML onto c: keys present replace their values, absent
// keys keep theirs. Unknown keys, wrong types and bad values are all
// reported, joined, each a *KeyError with its line.
func (c *Config) Decode(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file
		return nil
	}
	var errs []error
	decodeNode(reflect.ValueOf(c).Elem(), doc.Content[0], "", &errs)
	return errors.Join(errs...)
}

func decodeNode(v reflect.Value, n *yaml.Node, key string, errs *[]error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	bad := func(format string, a ...any) {
		name := key
		if name == "" {
			name = "(top level)"
		}
		*errs = append(*errs, &KeyError{Key: name, Line: n.Line, Err: fmt.Errorf(format, a...)})
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	switch {
	case v.Kind() == reflect.Struct:
		if isNull {
			return // "mqtt:" with nothing under it
		}
		if n.Kind != yaml.MappingNode {
			bad("want a mapping of keys, got %s", kindName(n))
			return
		}
		decodeMapping(v, n, key, errs)
	case v.Kind() == reflect.Slice:
		switch {
		case isNull:
			v.SetZero()
		case n.Kind == yaml.SequenceNode:
			var list []string
			for _, e := range n.Content {
				for e.Kind == yaml.AliasNode {
					e = e.Alias
				}
				if e.Kind != yaml.ScalarNode {
					bad("list items must be strings, got %s", kindName(e))
					return
				}
				list = append(list, e.Value)
			}
			v.Set(reflect.ValueOf(list))
		default:
			bad("want a list, got %s", kindName(n))
		}
	default:
		switch {
		case isNull:
			v.SetZero()
		case n.Kind != yaml.ScalarNode:
			bad("want a single value, got %s", kindName(n))
		default:
			if err := setString(v, n.Value); err != nil {
				bad("%v", err)
			}
		}
	}
}

func decodeMapping(v reflect.Value, n *yaml.Node, key string, errs *[]error) {
	t := v.Type()
	var known []string
	for i := range t.NumField() {
		known = append(known, t.Field(i).Tag.Get("yaml"))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		path := k.Value
		if key != "" {
			path = key + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			*errs = append(*errs, &KeyError{Key: key, Line: k.Line, Err: errors.New("keys must be plain names")})
			continue
		}
		j := slices.Index(known, k.Value)
		if j < 0 {
			*errs = append(*errs, &KeyError{Key: path, Line: k.Line, Err: fmt.Errorf("unknown key%s", suggest(k.Value, known))})
			continue
		}
		if seen[k.Value] {
			*errs = append(*errs, &KeyError{Key: path, Line: k.Line, Err: errors.New("key given twice")})
			continue
		}
		seen[k.Value] = true
		decodeNode(v.Field(j), val, path, errs)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// sections are the first words after EDGECLIP_ that belong to config keys;
// an unknown variable under one of them is a typo worth reporting, while
// other EDGECLIP_* variables (EDGECLIP_MODEL, test switches) are left alone.
func sections() []string {
	var s []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if t.Field(i).Type.Kind() == reflect.Struct {
			s = append(s, "EDGECLIP_"+strings.ToUpper(t.Field(i).Tag.Get("yaml"))+"_")
		}
	}
	return s
}

// ApplyEnv overlays EDGECLIP_<SECTION>_<KEY> variables from environ (in
// os.Environ form). An unknown variable under a known section
// (EDGECLIP_MQTT_BROKR) is an error; other EDGECLIP_* names are ignored.
func (c *Config) ApplyEnv(environ []string) error {
	fs := fields()
	byEnv := map[string]field{}
	var envNames []string
	for _, f := range fs {
		byEnv[f.env] = f
		envNames = append(envNames, f.env)
	}
	secs := sections()
	var errs []error
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "EDGECLIP_") {
			continue
		}
		f, ok := byEnv[name]
		if !ok {
			if slices.ContainsFunc(secs, func(s string) bool { return strings.HasPrefix(name, s) }) {
				errs = append(errs, &KeyError{Key: "$" + name, Err: fmt.Errorf("unknown variable%s", suggest(name, envNames))})
			}
			continue
		}
		if err := setString(reflect.ValueOf(c).Elem().FieldByIndex(f.idx), val); err != nil {
			errs = append(errs, &KeyError{Key: f.key, Err: fmt.Errorf("from $%s: %w", name, err)})
		}
	}
	return errors.Join(errs...)
}
