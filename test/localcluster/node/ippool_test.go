package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewIPPool(t *testing.T) {
	cases := map[string]struct {
		cidr       string
		wantPrefix string
		wantErr    bool
	}{
		"private 10/8 is rejected":         {cidr: "10.0.0.0/8", wantErr: true},
		"private 192.168/16 is rejected":   {cidr: "192.168.0.0/16", wantErr: true},
		"IPv6 ULA prefix is rejected":      {cidr: "fd00::/64", wantErr: true},
		"IPv6 loopback is rejected":        {cidr: "::1/128", wantErr: true},
		"wider than 127/8 is rejected":     {cidr: "127.0.0.0/7", wantErr: true},
		"garbage is rejected":              {cidr: "not-a-cidr", wantErr: true},
		"127.0.0.0/16 is accepted":         {cidr: "127.0.0.0/16", wantPrefix: "127.0.0.0/16"},
		"127.5.0.0/16 is accepted":         {cidr: "127.5.0.0/16", wantPrefix: "127.5.0.0/16"},
		"whole loopback range is accepted": {cidr: "127.0.0.0/8", wantPrefix: "127.0.0.0/8"},
		"host bits are masked":             {cidr: "127.5.3.4/16", wantPrefix: "127.5.0.0/16"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := newIPPool(tc.cidr)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("newIPPool(%q) error = %v, want error %v", tc.cidr, err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.cidr) {
					t.Errorf("error %q does not name the CIDR %q", err, tc.cidr)
				}
				return
			}
			if diff := cmp.Diff(tc.wantPrefix, p.prefix.String()); diff != "" {
				t.Errorf("prefix (-want +got):\n%s", diff)
			}
		})
	}
}

// poolOp is one step against a pool: allocate key (preferring want) or, with
// release set, give key's address back.
type poolOp struct {
	release bool
	key     string
	want    string
	wantIP  string
	wantErr string
}

func TestIPPoolAllocate(t *testing.T) {
	cases := map[string]struct {
		cidr string
		fill int // keys allocated before ops, named fill-0, fill-1, ...
		ops  []poolOp
	}{
		"lowest usable address first": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", wantIP: "127.0.0.2"},
				{key: "b", wantIP: "127.0.0.3"},
				{key: "c", wantIP: "127.0.0.4"},
			},
		},
		"first address of a range without the host IP": {
			cidr: "127.5.0.0/16",
			ops:  []poolOp{{key: "a", wantIP: "127.5.0.1"}, {key: "b", wantIP: "127.5.0.2"}},
		},
		"crossing an octet skips .255 and .0": {
			cidr: "127.0.0.0/16",
			fill: 253, // 127.0.0.2 .. 127.0.0.254
			ops:  []poolOp{{key: "a", wantIP: "127.0.1.1"}, {key: "b", wantIP: "127.0.1.2"}},
		},
		"same key gets the same address back": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", wantIP: "127.0.0.2"},
				{key: "b", wantIP: "127.0.0.3"},
				{key: "a", wantIP: "127.0.0.2"},
				{key: "a", want: "127.0.0.77", wantIP: "127.0.0.2"},
			},
		},
		"free preferred address is honoured": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", want: "127.0.3.9", wantIP: "127.0.3.9"},
				{key: "b", wantIP: "127.0.0.2"},
			},
		},
		"taken preferred address is ignored": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", wantIP: "127.0.0.2"},
				{key: "b", want: "127.0.0.2", wantIP: "127.0.0.3"},
			},
		},
		"preferred address out of range is ignored": {
			cidr: "127.5.0.0/16",
			ops:  []poolOp{{key: "a", want: "127.0.0.9", wantIP: "127.5.0.1"}},
		},
		"unusable preferred addresses are ignored": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", want: "127.0.0.1", wantIP: "127.0.0.2"},
				{key: "b", want: "127.0.1.255", wantIP: "127.0.0.3"},
				{key: "c", want: "127.0.2.0", wantIP: "127.0.0.4"},
				{key: "d", want: "not-an-ip", wantIP: "127.0.0.5"},
			},
		},
		"released addresses are reused lowest first": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", wantIP: "127.0.0.2"},
				{key: "b", wantIP: "127.0.0.3"},
				{key: "c", wantIP: "127.0.0.4"},
				{release: true, key: "b"},
				{release: true, key: "a"},
				{release: true, key: "unknown"},
				{key: "d", wantIP: "127.0.0.2"},
				{key: "e", wantIP: "127.0.0.3"},
				{key: "f", wantIP: "127.0.0.5"},
			},
		},
		"released address can be preferred again": {
			cidr: "127.0.0.0/16",
			ops: []poolOp{
				{key: "a", want: "127.0.0.40", wantIP: "127.0.0.40"},
				{release: true, key: "a"},
				{key: "a", want: "127.0.0.40", wantIP: "127.0.0.40"},
			},
		},
		"tiny pool exhausts": {
			cidr: "127.0.0.0/30",
			ops: []poolOp{
				{key: "a", wantIP: "127.0.0.2"},
				{key: "b", wantIP: "127.0.0.3"},
				{key: "c", wantErr: "no free pod IP"},
				{key: "a", wantIP: "127.0.0.2"},
				{release: true, key: "b"},
				{key: "c", wantIP: "127.0.0.3"},
			},
		},
		"tiny pool away from the host IP": {
			cidr: "127.5.0.0/30",
			ops: []poolOp{
				{key: "a", wantIP: "127.5.0.1"},
				{key: "b", wantIP: "127.5.0.2"},
				{key: "c", wantIP: "127.5.0.3"},
				{key: "d", wantErr: "no free pod IP"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := newIPPool(tc.cidr)
			if err != nil {
				t.Fatalf("newIPPool(%q): %v", tc.cidr, err)
			}
			for i := range tc.fill {
				if _, err := p.allocate(fmt.Sprintf("fill-%d", i), ""); err != nil {
					t.Fatalf("filling address %d: %v", i, err)
				}
			}
			for i, op := range tc.ops {
				if op.release {
					p.release(op.key)
					continue
				}
				got, err := p.allocate(op.key, op.want)
				if op.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), op.wantErr) {
						t.Fatalf("op %d: allocate(%q, %q) = %q, %v; want error containing %q", i, op.key, op.want, got, err, op.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("op %d: allocate(%q, %q): %v", i, op.key, op.want, err)
				}
				if diff := cmp.Diff(op.wantIP, got); diff != "" {
					t.Fatalf("op %d: allocate(%q, %q) (-want +got):\n%s", i, op.key, op.want, diff)
				}
			}
		})
	}
}
