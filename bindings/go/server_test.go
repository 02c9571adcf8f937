package redcore_test

// The servers the tests run against: a redis-server started here on a free loopback port,
// in a temp dir, stopped when the tests end.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"redcore"
)

// testServer is a redis-server the tests started.
type testServer struct {
	cmd     *exec.Cmd
	dir     string
	port    int
	tlsPort int // 0 without TLS
}

var server *testServer

func TestMain(m *testing.M) {
	var extra []string
	tlsDir, err := os.MkdirTemp("", "redcore-go-tls")
	if err == nil && generateCerts(tlsDir) == nil {
		tls = &tlsFiles{
			ca: filepath.Join(tlsDir, "ca.crt"), cert: filepath.Join(tlsDir, "client.crt"),
			key: filepath.Join(tlsDir, "client.key"),
		}
		extra = []string{"--tls-cert-file", filepath.Join(tlsDir, "server.crt"),
			"--tls-key-file", filepath.Join(tlsDir, "server.key"),
			"--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "optional"}
	}
	s, err := startServer(extra...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start redis-server:", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	s.stop()
	os.RemoveAll(tlsDir)
	os.Exit(code)
}

// tlsFiles are the CA and client certificate of the server's TLS port; nil when openssl is
// missing (the TLS test is then skipped).
type tlsFiles struct{ ca, cert, key string }

var tls *tlsFiles

// generateCerts makes an EC P-256 CA, and server (localhost, 127.0.0.1) and client
// certificates signed by it, in dir.
func generateCerts(dir string) error {
	if _, err := exec.LookPath("openssl"); err != nil {
		return err
	}
	steps := [][]string{
		{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"},
		{"req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=redcore-go-test-ca", "-out", "ca.crt"},
	}
	for _, who := range []string{"server", "client"} {
		steps = append(steps,
			[]string{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", who + ".key"},
			[]string{"req", "-new", "-key", who + ".key", "-subj", "/CN=redcore-go-test-" + who, "-out", who + ".csr"},
			[]string{"x509", "-req", "-in", who + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
				"-days", "2", "-sha256", "-extfile", who + ".ext", "-out", who + ".crt"})
	}
	exts := map[string]string{
		"server.ext": "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
		"client.ext": "extendedKeyUsage=clientAuth\n",
	}
	for name, text := range exts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	for _, args := range steps {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %v: %v: %s", args, err, out)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts redis-server on a free port, trying a few ports in case another
// process takes the one chosen before the server binds it.
func startServer(extra ...string) (*testServer, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := tryStart(extra)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStart(extra []string) (*testServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redcore-go-test")
	if err != nil {
		return nil, err
	}
	tlsPort := 0
	if len(extra) > 0 {
		if tlsPort, err = freePort(); err != nil {
			return nil, err
		}
		extra = append([]string{"--tls-port", fmt.Sprint(tlsPort)}, extra...)
	}
	args := append([]string{
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--unixsocket", filepath.Join(dir, "redis.sock"), "--unixsocketperm", "700",
		"--enable-debug-command", "local",
	}, extra...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &testServer{cmd: cmd, dir: dir, port: port, tlsPort: tlsPort}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() {
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	s.stop()
	return nil, fmt.Errorf("redis-server on port %d did not answer within 5 s: %s", port, log)
}

// ping asks the server over a plain socket, without the library under test.
func (s *testServer) ping() bool {
	conn, err := net.DialTimeout("tcp", s.addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func (s *testServer) addr() string    { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *testServer) url() string     { return "redis://" + s.addr() }
func (s *testServer) unixURL() string { return "unix://" + filepath.Join(s.dir, "redis.sock") }

// restart kills the server and starts it again on the same port and dir, as a crash and a
// supervisor's restart would: every connection drops, and the data (never saved) is gone.
func (s *testServer) restart() error {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on port %d did not come back within 10 s", s.port)
}

func (s *testServer) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// open opens a client on the shared server, closed when the test ends.
func open(t testing.TB, opts ...redcore.Option) *redcore.Client {
	t.Helper()
	return openURL(t, server.url(), opts...)
}

func openURL(t testing.TB, url string, opts ...redcore.Option) *redcore.Client {
	t.Helper()
	c, err := redcore.Open(url, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// key gives each test its own keys on the shared server.
func key(t testing.TB, name string) string { return t.Name() + ":" + name }
