package embedded

import (
	"crypto/tls"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/netaddr"
	"github.com/nats-io/nats-server/v2/server"
)

// checkPorts applies the one rule to every port the server will open: on
// loopback anything goes; anywhere else the port needs authentication or
// the matching Insecure field. An empty host binds every interface.
func (s *Server) checkPorts(o *server.Options) error {
	if !o.DontListen && !s.opts.Insecure && !netaddr.IsLoopback(o.Host) && !clientAuth(o) {
		return fmt.Errorf("%w (%s); set a token or user, or pass Insecure", ErrInsecureListen, netaddr.Describe(o.Host))
	}
	if clusterOn(o) && !s.opts.InsecureCluster && !netaddr.IsLoopback(o.Cluster.Host) && !routeAuth(o) {
		return fmt.Errorf("%w (%s); set ClusterUsername and ClusterPassword, cluster TLS with verify in the config file, or pass InsecureCluster",
			ErrInsecureCluster, netaddr.Describe(o.Cluster.Host))
	}
	if (o.HTTPPort != 0 || o.HTTPSPort != 0) && !s.opts.InsecureMonitoring && !netaddr.IsLoopback(o.HTTPHost) {
		return fmt.Errorf("%w (%s); the monitoring endpoint has no authentication: keep it on loopback or pass InsecureMonitoring",
			ErrInsecureMonitoring, netaddr.Describe(o.HTTPHost))
	}
	return nil
}

// clientAuth reports whether clients must authenticate.
func clientAuth(o *server.Options) bool {
	return o.Authorization != "" || o.Username != "" || len(o.Users) > 0 || len(o.Nkeys) > 0 ||
		o.TrustedOperators != nil || len(o.TrustedKeys) > 0 || o.AuthCallout != nil || o.CustomClientAuthentication != nil ||
		(o.TLSConfig != nil && o.TLSVerify)
}

func clusterOn(o *server.Options) bool {
	return o.Cluster.Port != 0 || o.Cluster.ListenStr != ""
}

// routeAuth reports whether servers routing in must authenticate: a
// cluster user (nats-server then checks every route's login) or cluster TLS
// that verifies the peer's certificate.
func routeAuth(o *server.Options) bool {
	return o.Cluster.Username != "" || o.CustomRouterAuthentication != nil ||
		(o.Cluster.TLSConfig != nil && o.Cluster.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert)
}
