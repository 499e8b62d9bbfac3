package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"root", "state", "inbox"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "ipsd.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigDefaults(t *testing.T) {
	p := writeConfig(t, "root = \"root\"\nstate_dir = \"state\"\n")
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if cfg.Root != filepath.Join(dir, "root") || cfg.StateDir != filepath.Join(dir, "state") {
		t.Errorf("paths not resolved against the config's dir: root %q state %q", cfg.Root, cfg.StateDir)
	}
	if cfg.API.Socket != "/run/ipsd/ipsd.sock" || cfg.API.SocketMode != 0o660 || cfg.API.MaxBodyBytes != 1<<20 {
		t.Errorf("api defaults = %+v", cfg.API)
	}
	if cfg.MetricsListen() != "127.0.0.1:9464" {
		t.Errorf("metrics listen = %q; want 127.0.0.1:9464", cfg.MetricsListen())
	}
	if cfg.Render.MaxSourcePixels != 100_000_000 || cfg.Render.MaxOutputPixels != 25_000_000 || cfg.Render.Workers < 1 {
		t.Errorf("render defaults = %+v", cfg.Render)
	}
	if cfg.Store.FileMode != 0o644 || cfg.RescanInterval() != 10*time.Minute || cfg.Store.Poll.Duration != 0 {
		t.Errorf("store defaults = %+v", cfg.Store)
	}
}

func TestLoadConfigExampleFile(t *testing.T) {
	// the annotated example must at least parse with no unknown keys; its
	// directories do not exist here, so only path errors are allowed
	_, err := LoadConfig("../ipsd.toml")
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n")[1:] {
		if !strings.Contains(line, "no such file or directory") {
			t.Errorf("example config: unexpected problem %q", line)
		}
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	p := writeConfig(t, `root = "nope"
state_dir = "state"
colour = "blue"
[api]
max_body_bytes = -1
[render]
max_source_pixels = 0
[store]
file_mode = "999"
[[watch]]
dir = "inbox"
user = "ghost@example.com"
[[user]]
email = "a@example.com"
password_hash = "plain"
[[user.membership]]
company = "ApiTestCo"
role = "Superuser"
`)
	_, err := LoadConfig(p)
	if err == nil {
		t.Fatal("LoadConfig accepted a bad config")
	}
	msg := err.Error()
	// a decode error stops TOML early, so the bad file_mode is reported alone
	if !strings.Contains(msg, "file_mode") {
		t.Fatalf("error does not name file_mode: %v", msg)
	}

	p = writeConfig(t, strings.Replace(string(mustRead(t, p)), `file_mode = "999"`, `file_mode = "0640"`, 1))
	_, err = LoadConfig(p)
	if err == nil {
		t.Fatal("LoadConfig accepted a bad config")
	}
	msg = err.Error()
	for _, want := range []string{
		"colour: unknown key",
		"root: stat",
		"api.max_body_bytes",
		"render.max_source_pixels",
		"watch[0].user",
		"user[0].password_hash",
		"user[0].membership[0].role",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWatchInsideRootRefused(t *testing.T) {
	p := writeConfig(t, "root = \"root\"\nstate_dir = \"state\"\n[[watch]]\ndir = \"root\"\n")
	if err := os.Mkdir(filepath.Join(filepath.Dir(p), "root", "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), "watch[0].dir") {
		t.Fatalf("watch dir equal to root: err = %v; want a watch[0].dir problem", err)
	}
}
