package main

// Acceptance tests of the port rules, secrets from files and the
// environment, and the store lock (issue 14): real `jetflow` processes on
// loopback and free ports, each stopped by its PID at the end of its test.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// writeSecret writes a secret file (with the trailing newline editors and
// `openssl rand -hex 16 >` leave) and returns its path.
func writeSecret(t *testing.T, name, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every port beyond loopback without authentication is refused with exit
// status 2 and a message naming the flags that fix it, before the server
// binds anything or creates its store. The addresses name free ports, but
// nothing ever listens on them.
func TestServerRefusesOpenPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const nowhere = "nats://127.0.0.1:1"
	token := writeSecret(t, "token", "client-s3cret")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	route := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	any := fmt.Sprintf(":%d", freePort(t))
	all := fmt.Sprintf("0.0.0.0:%d", freePort(t))
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"routes on every interface", []string{"server", "--cluster-listen", any, "--routes", route},
			[]string{"refusing to accept routes on " + any + " without cluster authentication", "--cluster-password-file", "--insecure-cluster"}},
		{"client token does not cover routes", []string{"server", "--token-file", token, "--cluster-listen", all, "--routes", route},
			[]string{"refusing to accept routes on " + all + " without cluster authentication"}},
		{"monitoring on every interface", []string{"server", "--http", all},
			[]string{"refusing to serve monitoring on " + all, "--insecure-monitoring"}},
		{"monitoring with an empty host", []string{"server", "--token-file", token, "--http", any},
			[]string{"refusing to serve monitoring on " + any, "no authentication"}},
		{"cluster without routes", []string{"server", "--cluster-listen", route},
			[]string{"--cluster-listen needs --routes", "may list only its own address"}},
		{"cluster user without password", []string{"server", "--cluster-user", "r", "--cluster-listen", route, "--routes", route},
			[]string{"--cluster-user needs a cluster password"}},
		{"token twice", []string{"server", "--token", "x", "--token-file", token}, []string{"--token and --token-file: give one of them"}},
		{"token file missing", []string{"server", "--token-file", "/nonexistent/token"}, []string{"--token-file: open /nonexistent/token"}},
		{"token file empty", []string{"server", "--token-file", empty}, []string{"--token-file " + empty + ": the file is empty"}},
		{"password without user", []string{"server", "--password-file", token}, []string{"needs --user"}},
		{"metrics on every interface", []string{"worker", "--nats", nowhere, "--metrics-addr", any},
			[]string{"refusing to serve metrics on " + any + " without authentication", "--metrics-token-file", "--insecure-metrics"}},
		{"metrics on 0.0.0.0", []string{"worker", "--nats", nowhere, "--metrics-addr", all}, []string{"refusing to serve metrics on " + all}},
		{"client token file missing", []string{"worker", "--nats", nowhere, "--token-file", "/nonexistent/token"}, []string{"--token-file: open /nonexistent/token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "store")
			args := tc.args
			if args[0] == "server" {
				args = append(args, "--listen", "127.0.0.1:0", "--data", store)
			}
			out, errOut, code := cli(t, 20*time.Second, args...)
			if code != 2 {
				t.Errorf("jetflow %s: exit %d, want 2\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out+errOut, "client-s3cret") {
				t.Errorf("the token file's secret was printed:\n%s%s", out, errOut)
			}
			if _, err := os.Stat(store); err == nil {
				t.Errorf("the refused server created its store %s", store)
			}
		})
	}
}

// Acceptance 1: two `jetflow server` processes with a cluster password
// (one reads it from a file, the other from $JETFLOW_CLUSTER_PASSWORD) form
// a JetStream cluster on loopback. A rogue `jetflow server` without the
// password, --routes pointed at the first, is refused on every attempt: it
// never becomes one of the cluster's routes and its clients see none of the
// cluster's streams. The password appears in no output.
func TestAcceptanceRogueServerCannotRoute(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const password = "route-pa55word-x7"
	pwFile := writeSecret(t, "cluster-password", password)
	r1, r2, r3 := freePort(t), freePort(t), freePort(t)
	routes := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", r1, r2)
	member := func(name string, routePort int, env []string, extra ...string) (*testenv.Process, string) {
		t.Helper()
		c := freePort(t)
		args := append([]string{"server", "--name", name, "--cluster-name", "jf-sec", "--listen", fmt.Sprintf("127.0.0.1:%d", c),
			"--data", t.TempDir(), "--cluster-listen", fmt.Sprintf("127.0.0.1:%d", routePort), "--routes", routes}, extra...)
		return jetflowWithEnv(t, env, args...), fmt.Sprintf("nats://127.0.0.1:%d", c)
	}
	n1, url1 := member("n1", r1, nil, "--cluster-password-file", pwFile, "--http", "-1")
	n2, _ := member("n2", r2, []string{"JETFLOW_CLUSTER_PASSWORD=" + password})
	waitOutput(t, n1, readyRE, 20*time.Second)
	waitOutput(t, n2, readyRE, 20*time.Second)
	monitor := waitOutput(t, n1, regexp.MustCompile(`monitoring on (http://127\.0\.0\.1:\d+)`), 20*time.Second)[1]

	// The members with the password form a cluster: a stream with a
	// replica on each can be placed.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := processJetStream(t, url1)
	for {
		sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := js.CreateStream(sctx, jetstream.StreamConfig{Name: "RUNS", Subjects: []string{"runs.>"}, Replicas: 2})
		scancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the cluster with a password never placed a 2-replica stream: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if names := routeNames(t, monitor); !contains(names, "n2") {
		t.Fatalf("n1's routes %v lack n2", names)
	}

	c3 := freePort(t)
	rogue := jetflow(t, "server", "--name", "rogue", "--cluster-name", "jf-sec", "--listen", fmt.Sprintf("127.0.0.1:%d", c3),
		"--data", t.TempDir(), "--cluster-listen", fmt.Sprintf("127.0.0.1:%d", r3), "--routes", fmt.Sprintf("127.0.0.1:%d", r1))
	waitOutput(t, rogue, readyRE, 20*time.Second)
	// n1 answers each of the rogue's route attempts with an authorization
	// violation; wait for two.
	violation := regexp.MustCompile(`(?s)Authorization Violation.*Authorization Violation`)
	waitOutput(t, rogue, violation, 30*time.Second)

	if names := routeNames(t, monitor); contains(names, "rogue") {
		t.Fatalf("the rogue is one of n1's routes: %v", names)
	}
	rjs := processJetStream(t, fmt.Sprintf("nats://127.0.0.1:%d", c3))
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	if _, err := rjs.Stream(sctx, "RUNS"); err == nil {
		t.Fatal("a client of the rogue sees the cluster's stream")
	}
	for name, p := range map[string]*testenv.Process{"n1": n1, "n2": n2, "rogue": rogue} {
		if strings.Contains(p.Output(), password) {
			t.Errorf("%s printed the cluster password:\n%s", name, p.Output())
		}
	}
}

// processJetStream connects to a server process as an anonymous client.
func processJetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := natsConnect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// routeNames lists the names of the servers a monitoring endpoint's
// server has routes to.
func routeNames(t *testing.T, monitor string) []string {
	t.Helper()
	resp, err := http.Get(monitor + "/routez")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rz struct {
		Routes []struct {
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rz); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rz.Routes {
		names = append(names, r.RemoteName)
	}
	return names
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Acceptance 2: a second `jetflow server` on a store in use fails at once,
// before nats-server starts, naming the directory and the first server's
// PID, whether it asks for another port or the same one. After a kill -9 of
// the first, a new server starts on the store and finds its data.
func TestAcceptanceOneServerPerStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	store := t.TempDir()
	port := freePort(t)
	first := jetflow(t, "server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", store, "--quiet")
	url := waitOutput(t, first, readyRE, 20*time.Second)[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := processJetStream(t, url).CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep"}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, listen string }{
		{"another port", fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		{"the same port", fmt.Sprintf("127.0.0.1:%d", port)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := cli(t, 20*time.Second, "server", "--listen", tc.listen, "--data", store)
			if code != 1 {
				t.Errorf("second server: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			for _, w := range []string{"the store " + store + " is in use by process " + strconv.Itoa(first.PID()), "two servers on one store lose data"} {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out+errOut, "Starting nats-server") {
				t.Errorf("the second server started nats-server on the locked store:\n%s%s", out, errOut)
			}
		})
	}

	sendSignal(t, first, syscall.SIGKILL)
	waitExit(t, first, 10*time.Second)
	again := jetflow(t, "server", "--listen", "127.0.0.1:0", "--data", store, "--quiet")
	url = waitOutput(t, again, readyRE, 20*time.Second)[1]
	if _, err := processJetStream(t, url).Stream(ctx, "KEEP"); err != nil {
		t.Fatalf("after kill -9 and a new server on the store: %v", err)
	}
}

// Secrets from files and the environment work on both ends, and none of
// them is ever printed: not in logs, not in -h, not in a failed
// connection's error.
func TestSecretsFromFilesAndEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const token, password = "tok-Zq81-secret", "pw-Hk27-secret"
	tokenFile, passwordFile := writeSecret(t, "token", token), writeSecret(t, "password", password)

	// Server: token from a file; worker: token from $NATS_TOKEN.
	tokSrv, tokURL := startServerVerbose(t, nil, "--token-file", tokenFile)
	tokWorker := jetflowWithEnv(t, []string{"NATS_TOKEN=" + token}, "worker", "--nats", tokURL, "--name", "w-env", "--log-level", "debug")
	waitOutput(t, tokWorker, regexp.MustCompile(`msg="worker running"`), 30*time.Second)

	// Server: password from $JETFLOW_PASSWORD; worker: password from a file.
	pwSrv, pwURL := startServerVerbose(t, []string{"JETFLOW_PASSWORD=" + password}, "--user", "ops")
	pwWorker := jetflow(t, "worker", "--nats", pwURL, "--user", "ops", "--password-file", passwordFile, "--name", "w-file", "--log-level", "debug")
	waitOutput(t, pwWorker, regexp.MustCompile(`msg="worker running"`), 30*time.Second)

	// Without the secret, no way in.
	for _, url := range []string{tokURL, pwURL} {
		if nc, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Fatalf("%s: an anonymous client connected", url)
		}
	}
	// A wrong password in the URL: the error names the server, not the password.
	_, errOut, code := cli(t, 20*time.Second, "status", "x", "--nats", strings.Replace(pwURL, "nats://", "nats://ops:"+password+"-wrong@", 1))
	if code == 0 || !strings.Contains(errOut, "connecting to nats://ops:xxxxx@") {
		t.Errorf("wrong password: exit %d, stderr %q; want a failure naming the redacted URL", code, errOut)
	}
	// -h with every secret in the environment.
	help, helpErr, _ := cliWithEnv(t, 20*time.Second, []string{"NATS_TOKEN=" + token, "NATS_PASSWORD=" + password, "NATS_URL=nats://ops:" + password + "@127.0.0.1:1"}, "worker", "-h")
	outputs := map[string]string{"server (token file)": tokSrv.Output(), "server (password env)": pwSrv.Output(),
		"worker (token env)": tokWorker.Output(), "worker (password file)": pwWorker.Output(), "wrong password": errOut, "worker -h": help + helpErr}
	for name, out := range outputs {
		for _, s := range []string{token, password} {
			if strings.Contains(out, s) {
				t.Errorf("%s printed a secret:\n%s", name, out)
			}
		}
	}
}

// startServerVerbose is startServer with nats-server's own log lines (to
// look for secrets in them) and env added to the environment.
func startServerVerbose(t *testing.T, env []string, extra ...string) (*testenv.Process, string) {
	t.Helper()
	args := append([]string{"server", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir()}, extra...)
	p := jetflowWithEnv(t, env, args...)
	m := waitOutput(t, p, readyRE, 20*time.Second)
	return p, m[1]
}

// A worker's metrics with a bearer token: refused without it, served with it.
func TestWorkerMetricsToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const token = "metrics-T0ken-9"
	_, url := startServer(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w := startWorker(t, url, "w-metrics", "--metrics-addr", addr, "--metrics-token-file", writeSecret(t, "metrics-token", token))
	get := func(bearer string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(""); got != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", got)
	}
	if got := get("wrong"); got != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d, want 401", got)
	}
	if got := get(token); got != http.StatusOK {
		t.Errorf("the token: status %d, want 200", got)
	}
	if strings.Contains(w.Output(), token) {
		t.Errorf("the worker printed its metrics token:\n%s", w.Output())
	}
}

// A --config without a listen line and --listen on loopback: the server
// listens there (it used to be refused as "non-loopback", naming the
// loopback address).
func TestServerConfigWithoutListenLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	conf := filepath.Join(t.TempDir(), "server.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := jetflow(t, "server", "--config", conf, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir(), "--quiet", "--http", "-1")
	waitOutput(t, p, readyRE, 20*time.Second)
	waitOutput(t, p, regexp.MustCompile(`monitoring on http://127\.0\.0\.1:\d+`), 20*time.Second)
}
