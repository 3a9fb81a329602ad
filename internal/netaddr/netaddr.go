// Package netaddr holds the one rule every listening port of jetflow
// follows: an address is private to this host only when it is loopback.
// Everything else (an empty host, 0.0.0.0, ::, a name other than
// localhost, a routable address) may be reached from other hosts and so
// needs authentication.
package netaddr

import "net"

// IsLoopback reports whether a listener on host is reachable from this host
// only: "localhost" or a loopback IP (127.0.0.0/8, ::1). An empty host binds
// every interface and is not loopback. Other names are not resolved: a name
// may point anywhere, so it is treated as reachable.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Describe names a listen host for a message: an empty or unspecified host
// is said to bind every interface.
func Describe(host string) string {
	if host == "" {
		return "every interface"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return host + " (every interface)"
	}
	return host
}

// HostOf is the host part of a host:port address ("" for ":9090").
func HostOf(hostport string) (string, error) {
	host, _, err := net.SplitHostPort(hostport)
	return host, err
}
