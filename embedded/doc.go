// Package embedded runs a NATS server with JetStream inside the current
// process, so that jetflow can ship as one binary and tests can talk to a real
// JetStream without installing anything.
//
// The server listens on loopback only unless told otherwise, or not at all
// (DontListen) when every client lives in the same process and connects with
// [Server.Connect]. Every port follows one rule: beyond loopback it needs
// authentication — clients a token, user or accounts (ErrInsecureListen),
// routes a cluster user and password (ErrInsecureCluster) — and the
// monitoring port, which has none, needs InsecureMonitoring
// (ErrInsecureMonitoring).
//
// One server per store: Start locks the store directory (flock on
// jetflow.lock inside, released by Shutdown and by the kernel when the
// process dies), and a second server on it fails at once with
// ErrStoreLocked. Restart stops the server and starts it again on the same
// store directory, which is what crash tests need.
//
//	srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true})
//	if err != nil { ... }
//	defer srv.Shutdown()
//	nc, err := srv.Connect()
package embedded
