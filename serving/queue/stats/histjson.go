package stats

// scanHistogram decodes the canonical JSON form of a histogram,
//
//	{"offset":I,"counts":[C,...],"sumMicros":S}
//
// with any whitespace, any key order and keys left out or repeated (the
// last one wins, as with encoding/json), into w. It reports false for
// anything else (other keys, keys in other cases, null, signs, fractions,
// exponents, leading zeros, overflow, invalid JSON), which the caller
// then hands to encoding/json for its exact answer or error.
func scanHistogram(data []byte) (w wireHistogram, ok bool) {
	s := scanner{b: data}
	if !s.byte('{') {
		return w, false
	}
	if s.byte('}') {
		return w, s.end()
	}
	for {
		key, ok := s.key()
		if !ok || !s.byte(':') {
			return w, false
		}
		switch key {
		case "offset":
			s.space()
			neg := s.i < len(s.b) && s.b[s.i] == '-'
			if neg {
				s.i++ // no whitespace may follow the sign
			}
			n, ok := s.uint()
			if !ok || n > 1<<62 {
				return w, false
			}
			w.Offset = int(n)
			if neg {
				w.Offset = -w.Offset
			}
		case "counts":
			if w.Counts, ok = s.uints(); !ok {
				return w, false
			}
		case "sumMicros":
			s.space()
			if w.SumMicros, ok = s.uint(); !ok {
				return w, false
			}
		default:
			return w, false
		}
		if s.byte('}') {
			return w, s.end()
		}
		if !s.byte(',') {
			return w, false
		}
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c, after whitespace, if it comes next.
func (s *scanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end tells whether only whitespace is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// key reads a string without escapes.
func (s *scanner) key() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return string(s.b[start : s.i-1]), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		s.i++
	}
	return "", false
}

// uint reads, at the current position, a JSON integer without sign,
// fraction or exponent that fits in a uint64.
func (s *scanner) uint() (uint64, bool) {
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 1 && s.b[start] == '0' {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// uints reads an array of uints.
func (s *scanner) uints() ([]uint64, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []uint64{}
	if s.byte(']') {
		return out, true
	}
	for {
		s.space()
		n, ok := s.uint()
		if !ok {
			return nil, false
		}
		out = append(out, n)
		if s.byte(']') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}
