package node

import (
	"fmt"
	"net/netip"
	"sync"
)

// ipPool hands out loopback addresses to pods: the lowest free address of the
// range, skipping .0, .1 and .255 octets (127.0.0.1 stays the host's). An
// address returns to the pool when its pod is gone.
type ipPool struct {
	mu     sync.Mutex
	prefix netip.Prefix
	owner  map[netip.Addr]string // address -> pod key
}

func newIPPool(cidr string) (*ipPool, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	if !p.Addr().Is4() || !netip.MustParsePrefix("127.0.0.0/8").Contains(p.Addr()) || p.Bits() < 8 {
		return nil, fmt.Errorf("pod CIDR %q must be inside 127.0.0.0/8: pods only ever get loopback addresses", cidr)
	}
	return &ipPool{prefix: p.Masked(), owner: map[netip.Addr]string{}}, nil
}

func usable(a netip.Addr) bool {
	b := a.As4()
	return b[3] != 0 && b[3] != 255 && a != netip.MustParseAddr("127.0.0.1")
}

// allocate gives key an address, preferring want (the pod's previous IP, so a
// restarted agent keeps addresses stable). A key that already owns an address
// gets the same one back.
func (p *ipPool) allocate(key, want string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, k := range p.owner {
		if k == key {
			return a.String(), nil
		}
	}
	if w, err := netip.ParseAddr(want); err == nil && p.prefix.Contains(w) && usable(w) {
		if _, taken := p.owner[w]; !taken {
			p.owner[w] = key
			return w.String(), nil
		}
	}
	for a := p.prefix.Addr(); p.prefix.Contains(a); a = a.Next() {
		if !usable(a) {
			continue
		}
		if _, taken := p.owner[a]; !taken {
			p.owner[a] = key
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("no free pod IP left in %s", p.prefix)
}

// release returns key's address to the pool.
func (p *ipPool) release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, k := range p.owner {
		if k == key {
			delete(p.owner, a)
		}
	}
}
