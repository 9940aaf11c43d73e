package stats

import (
	"encoding/json"
	"reflect"
	"testing"
)

var histogramDocs = map[string]struct {
	doc      string
	wantScan bool
}{
	"canonical":              {`{"offset":96,"counts":[1,0,25],"sumMicros":20099919}`, true},
	"whitespace and order":   {" {\n \"sumMicros\" : 7 ,\t\"counts\" : [ 1 , 2 ] , \"offset\" : 3 } ", true},
	"empty object":           {`{}`, true},
	"empty counts":           {`{"offset":0,"counts":[],"sumMicros":0}`, true},
	"repeated key":           {`{"offset":1,"offset":2,"counts":[1]}`, true},
	"negative offset":        {`{"offset":-1,"counts":[1]}`, true},
	"minus zero":             {`{"offset":-0,"counts":[1]}`, true},
	"max uint64":             {`{"counts":[18446744073709551615]}`, true},
	"space after minus":      {`{"offset":- 1}`, false},
	"overflow":               {`{"counts":[18446744073709551616]}`, false},
	"fraction":               {`{"counts":[1.0]}`, false},
	"exponent":               {`{"sumMicros":1e3}`, false},
	"leading zero":           {`{"offset":01}`, false},
	"negative count":         {`{"counts":[-1]}`, false},
	"null":                   {`{"counts":null}`, false},
	"other case":             {`{"Offset":1,"counts":[1]}`, false},
	"escaped key":            {`{"off\u0073et":1}`, false},
	"unknown key":            {`{"offset":1,"extra":true}`, false},
	"trailing comma":         {`{"offset":1,}`, false},
	"trailing garbage":       {`{"offset":1} x`, false},
	"missing comma in array": {`{"counts":[1 2]}`, false},
	"not an object":          {`[1,2]`, false},
	"out of range offset":    {`{"offset":190,"counts":[1,2,3,4]}`, true},
}

// TestScanHistogram: the scanner takes the canonical form, with any
// whitespace, order and repetition, and leaves everything else to
// encoding/json, with the same result either way.
func TestScanHistogram(t *testing.T) {
	for name, tc := range histogramDocs {
		t.Run(name, func(t *testing.T) {
			if _, ok := scanHistogram([]byte(tc.doc)); ok != tc.wantScan {
				t.Fatalf("scanned %v, want %v", ok, tc.wantScan)
			}
			checkScanMatchesJSON(t, []byte(tc.doc))
		})
	}
}

func checkScanMatchesJSON(t *testing.T, data []byte) {
	t.Helper()
	w, ok := scanHistogram(data)
	if !ok {
		return
	}
	var want wireHistogram
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("scanned %q, which encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("scanned %q as %+v, encoding/json reads %+v", data, w, want)
	}
}

// FuzzScanHistogram: whatever the scanner accepts, encoding/json reads
// the same way.
func FuzzScanHistogram(f *testing.F) {
	for _, tc := range histogramDocs {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanMatchesJSON(t, data)
	})
}
