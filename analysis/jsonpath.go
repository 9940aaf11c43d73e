package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// JSONPath is a parsed path to one value of a JSON document: a subset of
// JSONPath without wildcards, filters, slices or recursive descent, so
// that it names at most one value.
//
//	path     = [ "{" ] [ "$" ] { segment } [ "}" ]
//	segment  = "." name | "[" index "]" | "[" quoted "]"
//	name     = one or more of A-Z a-z 0-9 _ -
//	index    = an integer; a negative one counts from the end ([-1] is the last)
//	quoted   = a key in single or double quotes; \ escapes the quote and \
//
// For example $.data.ok, $.data.result[0].value, $['app.version'],
// {$.data.ok} and .data.ok (the last two as in kubectl and Argo Rollouts).
// "$" alone is the whole document.
type JSONPath struct {
	text     string
	segments []pathSegment
}

type pathSegment struct {
	key   string
	index int
	isKey bool
}

// String is the path as written.
func (p JSONPath) String() string { return p.text }

// ParseJSONPath parses a path (see JSONPath).
func ParseJSONPath(s string) (JSONPath, error) {
	p := JSONPath{text: s}
	in := strings.TrimSpace(s)
	if strings.HasPrefix(in, "{") {
		if !strings.HasSuffix(in, "}") {
			return p, fmt.Errorf("json path %q: a { needs its closing }", s)
		}
		in = strings.TrimSpace(in[1 : len(in)-1])
	}
	if in == "" {
		return p, fmt.Errorf("json path %q is empty: want a path such as $.data.value", s)
	}
	in = strings.TrimPrefix(in, "$")
	for i := 0; i < len(in); {
		switch in[i] {
		case '.':
			j := i + 1
			for j < len(in) && isNameByte(in[j]) {
				j++
			}
			if j == i+1 {
				return p, pathError(s, in, i+1, "a field name after .")
			}
			p.segments = append(p.segments, pathSegment{key: in[i+1 : j], isKey: true})
			i = j
		case '[':
			seg, n, err := parseBracket(in[i:])
			if err != nil {
				return p, fmt.Errorf("json path %q: %w", s, err)
			}
			p.segments = append(p.segments, seg)
			i += n
		default:
			return p, pathError(s, in, i, ". or [")
		}
	}
	return p, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// pathError says what was expected at in[i] and that the rest of JSONPath
// is not supported.
func pathError(s, in string, i int, want string) error {
	got := "the end"
	if i < len(in) {
		got = strconv.Quote(in[i:])
	}
	return fmt.Errorf("json path %q: want %s at %s (supported: $, .name, [index], ['key'];"+
		" no wildcards, filters, slices or ..)", s, want, got)
}

// parseBracket parses "[...]" at the start of in and returns its length.
func parseBracket(in string) (pathSegment, int, error) {
	if len(in) > 1 && (in[1] == '\'' || in[1] == '"') {
		quote := in[1]
		var key strings.Builder
		for i := 2; i < len(in); i++ {
			switch c := in[i]; {
			case c == '\\' && i+1 < len(in) && (in[i+1] == quote || in[i+1] == '\\'):
				key.WriteByte(in[i+1])
				i++
			case c == quote:
				if i+1 >= len(in) || in[i+1] != ']' {
					return pathSegment{}, 0, fmt.Errorf("want ] after the quoted key %s", in[1:i+1])
				}
				return pathSegment{key: key.String(), isKey: true}, i + 2, nil
			default:
				key.WriteByte(c)
			}
		}
		return pathSegment{}, 0, fmt.Errorf("unterminated quoted key %s", in)
	}
	end := strings.IndexByte(in, ']')
	if end < 0 {
		return pathSegment{}, 0, fmt.Errorf("unterminated [ in %s", in)
	}
	n, err := strconv.Atoi(strings.TrimSpace(in[1:end]))
	if err != nil {
		return pathSegment{}, 0, fmt.Errorf("want an array index or a quoted key in %s (no wildcards, filters or slices)", in[:end+1])
	}
	return pathSegment{index: n}, end + 1, nil
}

// Find returns the value of the document doc (as decoded by encoding/json
// with UseNumber) at the path; a path that matches nothing is an error
// saying where it stopped.
func (p JSONPath) Find(doc any) (any, error) {
	v := doc
	at := "$"
	for _, seg := range p.segments {
		if seg.isKey {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an object with field %q", at, jsonKind(v), seg.key)
			}
			next, ok := obj[seg.key]
			if !ok {
				return nil, fmt.Errorf("%s has no field %q", at, seg.key)
			}
			v, at = next, at+formatKey(seg.key)
			continue
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s is %s, not an array to index with [%d]", at, jsonKind(v), seg.index)
		}
		i := seg.index
		if i < 0 {
			i += len(arr)
		}
		if i < 0 || i >= len(arr) {
			return nil, fmt.Errorf("%s has %d elements, no [%d]", at, len(arr), seg.index)
		}
		v, at = arr[i], fmt.Sprintf("%s[%d]", at, seg.index)
	}
	return v, nil
}

func formatKey(k string) string {
	for i := 0; i < len(k); i++ {
		if !isNameByte(k[i]) {
			return "[" + strconv.Quote(k) + "]"
		}
	}
	return "." + k
}

// jsonKind names the JSON type of a decoded value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

// errNotANumber is the error of a value that is not a number.
var errNotANumber = errors.New("want a number, a string holding a number, or a boolean")

// jsonNumber reads a decoded JSON value as a number: a JSON number, a
// string holding a finite number ("0.5", " 42 "), or a boolean (true is 1,
// false is 0). Anything else, and a number that is not finite, is an
// error.
func jsonNumber(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(x.String(), 64); err != nil {
			return 0, fmt.Errorf("number %s is out of range", x)
		}
	case float64:
		f = x
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, fmt.Errorf("the string %q is not a number: %w", truncate(x, 64), errNotANumber)
		}
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	default:
		return 0, fmt.Errorf("the value is %s: %w", jsonKind(v), errNotANumber)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("the value %v is not a finite number", f)
	}
	return f, nil
}

// truncate shortens s to at most n bytes (on a rune boundary), marking the
// cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
