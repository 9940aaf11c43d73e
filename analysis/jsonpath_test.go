package analysis

import (
	"strings"
	"testing"
)

const pathDoc = `{
  "data": {"ok": 1, "rate": "0.25", "up": true, "down": false, "none": null, "big": 1e400, "words": "fast",
           "results": [{"value": 3}, {"value": 4.5}], "app.version": 7, "it's": 8, "obj": {}},
  "list": [10, 20, 30]
}`

func TestJSONPathFind(t *testing.T) {
	doc, err := decodeJSON([]byte(pathDoc))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]float64{
		"$.data.ok":                1,
		"{$.data.ok}":              1,
		"{.data.ok}":               1,
		".data.ok":                 1,
		"$.data.rate":              0.25,
		"$.data.up":                1,
		"$.data.down":              0,
		"$.data.results[0].value":  3,
		"$.data.results[1].value":  4.5,
		"$.data.results[-1].value": 4.5,
		"$.list[2]":                30,
		"$.list[-3]":               10,
		"$['data']['app.version']": 7,
		`$.data["app.version"]`:    7,
		`$.data['it\'s']`:          8,
	} {
		p, err := ParseJSONPath(path)
		if err != nil {
			t.Errorf("ParseJSONPath(%q): %v", path, err)
			continue
		}
		v, err := p.Find(doc)
		if err != nil {
			t.Errorf("%s: Find: %v", path, err)
			continue
		}
		got, err := jsonNumber(v)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", path, got, err, want)
		}
	}
}

func TestJSONPathTrimsSpace(t *testing.T) {
	p, err := ParseJSONPath("  $.data.ok\t")
	if err != nil || p.String() != "  $.data.ok\t" || len(p.segments) != 2 {
		t.Errorf("ParseJSONPath with spaces = %+v, %v", p, err)
	}
}

func TestJSONPathRoot(t *testing.T) {
	doc, err := decodeJSON([]byte(" 0.5 \n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseJSONPath("$")
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Find(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := jsonNumber(v); err != nil || got != 0.5 {
		t.Errorf("$ of 0.5 = %v, %v", got, err)
	}
}

func TestJSONPathErrors(t *testing.T) {
	doc, err := decodeJSON([]byte(pathDoc))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"$.data.missing":     `$.data has no field "missing"`,
		"$.list[3]":          `$.list has 3 elements, no [3]`,
		"$.list[-4]":         `$.list has 3 elements, no [-4]`,
		"$.data.ok.deeper":   `$.data.ok is a number, not an object with field "deeper"`,
		"$.data[0]":          `$.data is an object, not an array to index with [0]`,
		"$.data.none":        `the value is null: want a number`,
		"$.data.obj":         `the value is an object: want a number`,
		"$.list":             `the value is an array: want a number`,
		"$.data.words":       `the string "fast" is not a number`,
		"$.data.big":         `number 1e400 is out of range`,
		`$['data']['app.x']`: `$.data has no field "app.x"`,
	} {
		p, err := ParseJSONPath(path)
		if err != nil {
			t.Errorf("ParseJSONPath(%q): %v", path, err)
			continue
		}
		v, err := p.Find(doc)
		if err == nil {
			_, err = jsonNumber(v)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", path, err, want)
		}
	}
}

func TestParseJSONPathRefuses(t *testing.T) {
	for path, want := range map[string]string{
		"":               "is empty",
		"{}":             "is empty",
		"{$.a":           "needs its closing }",
		"data.ok":        `want . or [ at "data.ok"`,
		"$.":             "want a field name after . at the end",
		"$..ok":          `want a field name after . at ".ok"`,
		"$.a.*":          `want a field name after . at "*"`,
		"$.a[*]":         "want an array index or a quoted key in [*]",
		"$.a[0:2]":       "want an array index or a quoted key in [0:2]",
		"$.a[?(@.x==1)]": "want an array index or a quoted key",
		"$.a[0":          "unterminated [",
		"$['a":           "unterminated quoted key",
		"$['a'x]":        "want ] after the quoted key 'a'",
		"$.a b":          `want . or [ at " b"`,
	} {
		_, err := ParseJSONPath(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseJSONPath(%q) error %v, want it to say %q", path, err, want)
		}
	}
}

func TestDecodeJSONRefusesTrailingData(t *testing.T) {
	for _, body := range []string{`{"a":1} {"a":2}`, `1 2`, `{"a":`, ``, `<html>`} {
		if _, err := decodeJSON([]byte(body)); err == nil {
			t.Errorf("decodeJSON(%q) accepted it", body)
		}
	}
}

// FuzzJSONPath: no path a user writes may panic, and one that parses
// finds a value in any document without panicking.
func FuzzJSONPath(f *testing.F) {
	for _, s := range []string{"$.data.ok", "{$.a[0]}", "$['x\\'y']", "$[-1]", "$..a", "$[", "{", ".a.b[2]['c']"} {
		f.Add(s, pathDoc)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		p, err := ParseJSONPath(path)
		if err != nil {
			return
		}
		doc, err := decodeJSON([]byte(body))
		if err != nil {
			return
		}
		if v, err := p.Find(doc); err == nil {
			_, _ = jsonNumber(v)
		}
	})
}
