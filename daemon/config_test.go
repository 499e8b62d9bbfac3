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
		if !strings.Contains(line, "does not exist") {
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
	for _, want := range []string{
		"colour: unknown key",
		"store.file_mode: not an octal mode",
		"root: directory",
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

func TestLoadConfigBadValuesReportedTogether(t *testing.T) {
	// values of the wrong type are each reported with their key (and line),
	// together with unknown keys and validation problems
	p := writeConfig(t, `root = "root"
state_dir = "state"
shutdown_timeout = "soon"
[api]
max_queue = "many"
socket_group = "no-such-group-ipsd-test"
[metrics]
listen = "9464"
[render]
workers = 1.5
[[watch]]
dir = "inbox"
setle = "2s"
settle = "-1s"
[[watch]]
dir = "missing"
poll = 5
[[user]]
email = "a@example.com"
unix = "alice"
ips_admin = "yes"
[[user.membership]]
company = "ApiTestCo"
`)
	_, err := LoadConfig(p)
	if err == nil {
		t.Fatal("LoadConfig accepted a bad config")
	}
	msg := err.Error()
	for _, want := range []string{
		`shutdown_timeout: not a duration like "2s" or "10m": "soon" (line 3)`,
		"api.max_queue: want an integer, got a string (line 5)",
		`api.socket_group: no group "no-such-group-ipsd-test"`,
		`metrics.listen: want host:port`,
		"render.workers: want an integer, got a float (line 10)",
		"watch[0].setle: unknown key",
		"watch[0].settle: must not be negative",
		"watch[1].dir: directory " + filepath.Join(filepath.Dir(p), "missing") + " does not exist",
		"watch[1].poll: not a duration",
		"user[0].unix: want a list like",
		"user[0].ips_admin: want true or false, got a string",
		"user[0].membership[0].role: required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

func TestLoadConfigTableOfWrongShape(t *testing.T) {
	p := writeConfig(t, "root = \"root\"\nstate_dir = \"state\"\napi = 5\nwatch = \"inbox\"\n")
	_, err := LoadConfig(p)
	if err == nil {
		t.Fatal("LoadConfig accepted api = 5")
	}
	for _, want := range []string{"api: want a table [api], got an integer", "watch: want tables [[watch]], got a string"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestConfigWarnsOfUnknownAccountsAndCompanies(t *testing.T) {
	p := writeConfig(t, `root = "root"
state_dir = "state"
[[user]]
email = "a@example.com"
unix = ["root", "0", "no-such-account-ipsd-test"]
[[user.membership]]
company = "NoSuchCo"
role = "IpsUser"
[[user.membership]]
company = "Here"
role = "IpsUser"
`)
	if err := os.Mkdir(filepath.Join(filepath.Dir(p), "root", "Here"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], `user[0].unix`) || !strings.Contains(w[0], `"no-such-account-ipsd-test"`) ||
		!strings.Contains(w[1], `user[0].membership[0].company`) || !strings.Contains(w[1], `"NoSuchCo"`) {
		t.Errorf("warnings = %q; want one naming user[0].unix and the unknown account, one naming the missing company", w)
	}
}

func TestConfigRefusesEmailsDifferingInCase(t *testing.T) {
	p := writeConfig(t, `root = "root"
state_dir = "state"
[[user]]
email = "a@example.com"
[[user]]
email = "A@Example.com"
`)
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), "user[1].email") {
		t.Errorf("LoadConfig = %v; want an error naming user[1].email", err)
	}
}
