// Package systemd_test checks the systemd units and configuration snippets
// shipped in this directory: the sandbox rating of ipsd.service, that systemd
// accepts every file, that sysusers and tmpfiles produce the user and
// directories the unit expects, and that the units agree with the example
// config. The tests need the tools of Debian's systemd package: they skip
// without them, except in CI, where they fail.
package systemd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/BurntSushi/toml"
)

// maxExposure is the highest `systemd-analyze security` rating accepted for
// ipsd.service (0 is fully locked down, 10 is unprotected).
const maxExposure = 2.0

// needTool returns the path of a tool. Without it the test is skipped on a
// developer's machine, but fails in CI (CI set, as .ci/run runs), which
// installs Debian's systemd package: a check that silently never runs
// would hide a unit that no longer passes.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found in CI (.ci/run installs systemd): %v", name, err)
		}
		t.Skipf("%s not found (apt-get install systemd): %v", name, err)
	}
	return p
}

// run runs a command and returns its stdout and stderr separately.
func run(t *testing.T, dir, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "LC_ALL=C.UTF-8")
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func abs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var overallRE = regexp.MustCompile(`Overall exposure level for ipsd\.service: ([0-9]+(?:\.[0-9]+)?)`)

// parseExposure extracts the overall rating from `systemd-analyze security`.
func parseExposure(out string) (float64, error) {
	m := overallRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no overall exposure line in output")
	}
	return strconv.ParseFloat(m[1], 64)
}

func TestParseExposure(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"→ Overall exposure level for ipsd.service: 1.1 OK 🙂\n", 1.1, true},
		{"→ Overall exposure level for ipsd.service: 9.6 UNSAFE 😨", 9.6, true},
		{"→ Overall exposure level for ipsd.service: 2 OK", 2, true},
		{"Overall exposure level for other.service: 1.0 OK", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseExposure(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseExposure(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestSecurityExposure rates the sandbox of ipsd.service the way an operator
// would (systemd-analyze security), offline, from the file itself.
func TestSecurityExposure(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	unit := abs(t, "ipsd.service")
	out, stderr, err := run(t, ".", sa, "security", "--offline=true", "--no-pager", unit)
	// the command exits non-zero when the rating is above its own
	// threshold; the number decides here, so err alone is not fatal
	got, perr := parseExposure(out)
	if perr != nil {
		t.Fatalf("systemd-analyze security: %v (err %v)\nstdout:\n%s\nstderr:\n%s", perr, err, out, stderr)
	}
	t.Logf("systemd-analyze security rates ipsd.service at %.1f", got)
	if got > maxExposure {
		t.Errorf("exposure of ipsd.service = %.1f; want <= %.1f\n%s", got, maxExposure, out)
	}
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("systemd-analyze security warned:\n%s", stderr)
	}
}

// TestSecurityChecks requires the individual protections the rating is made
// of that ipsd must never lose, even if the total stayed under maxExposure.
func TestSecurityChecks(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	out, stderr, err := run(t, ".", sa, "security", "--offline=true", "--no-pager", "--json=short", abs(t, "ipsd.service"))
	var checks []struct {
		Set       bool   `json:"set"`
		JSONField string `json:"json_field"`
	}
	if jerr := json.Unmarshal([]byte(out), &checks); jerr != nil {
		t.Fatalf("decoding systemd-analyze security --json: %v (err %v)\n%s\n%s", jerr, err, out, stderr)
	}
	set := make(map[string]bool, len(checks))
	for _, c := range checks {
		set[c.JSONField] = c.Set
	}
	if len(set) < 50 {
		t.Fatalf("systemd-analyze security reported %d checks; want the full list (>= 50)", len(set))
	}
	for _, f := range []string{
		"UserOrDynamicUser", "NoNewPrivileges", "ProtectSystem", "ProtectHome",
		"PrivateTmp", "PrivateDevices", "CapabilityBoundingSet_CAP_SYS_ADMIN",
		"CapabilityBoundingSet_CAP_DAC_FOWNER_IPC_OWNER", "AmbientCapabilities",
		"MemoryDenyWriteExecute", "RestrictSUIDSGID", "SystemCallArchitectures",
		"SystemCallFilter_mount", "SystemCallFilter_module", "SystemCallFilter_raw_io", "RestrictNamespaces_user",
		"RestrictAddressFamilies_AF_PACKET", "RestrictAddressFamilies_AF_NETLINK",
		"RestrictAddressFamilies_OTHER", "ProtectKernelTunables", "ProtectControlGroups",
		"ProtectProc", "NotifyAccess",
	} {
		v, ok := set[f]
		if !ok {
			t.Errorf("systemd-analyze security has no check %q", f)
		} else if !v {
			t.Errorf("check %s is not satisfied by ipsd.service", f)
		}
	}
}

// TestVerify runs systemd-analyze verify on both units. verify requires the
// ExecStart binary to exist and be executable, and the install path
// (/usr/local/bin/ipsd) does not exist on a build machine, so the test
// checks a copy whose ExecStart points at a stand-in executable. Everything
// else, including ExecReload's /bin/kill, is checked as shipped.
func TestVerify(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	dir := t.TempDir()
	bin := filepath.Join(dir, "ipsd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svc, err := os.ReadFile("ipsd.service")
	if err != nil {
		t.Fatal(err)
	}
	const execPrefix = "ExecStart=/usr/local/bin/ipsd "
	if !bytes.Contains(svc, []byte("\n"+execPrefix)) {
		t.Fatalf("ipsd.service has no line starting %q", execPrefix)
	}
	svc = bytes.Replace(svc, []byte("\n"+execPrefix), []byte("\nExecStart="+bin+" "), 1)
	sock, err := os.ReadFile("ipsd.socket")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"ipsd.service": svc, "ipsd.socket": sock} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, err := run(t, dir, sa, "verify", "--man=no",
		filepath.Join(dir, "ipsd.service"), filepath.Join(dir, "ipsd.socket"))
	// verify exits 0 on mere warnings such as unknown keys, so any output
	// at all is a failure
	if err != nil || strings.TrimSpace(out+stderr) != "" {
		t.Errorf("systemd-analyze verify ipsd.service ipsd.socket: err %v\n%s%s", err, out, stderr)
	}
}

// TestVerifyCatchesMistakes makes sure TestVerify's check can fail: a
// misspelt key and a missing binary must both be reported.
func TestVerifyCatchesMistakes(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	dir := t.TempDir()
	unit := "[Service]\nExecStart=" + filepath.Join(dir, "missing") + "\nUMsk=0027\n"
	path := filepath.Join(dir, "bad.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, _ := run(t, dir, sa, "verify", "--man=no", path)
	for _, want := range []string{"UMsk", "missing"} {
		if !strings.Contains(out+stderr, want) {
			t.Errorf("systemd-analyze verify of a broken unit does not mention %q:\n%s%s", want, out, stderr)
		}
	}
}

// TestSysusersTmpfiles applies ipsd.sysusers and ipsd.tmpfiles to an empty
// root in a temp dir and checks the user and the directories they create.
// Setting owners needs root, so it skips for other users.
func TestSysusersTmpfiles(t *testing.T) {
	sysusers := needTool(t, "systemd-sysusers")
	tmpfiles := needTool(t, "systemd-tmpfiles")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root, but this test is not: systemd-tmpfiles --root can set owners only as root")
		}
		t.Skip("systemd-tmpfiles --root can set owners only as root")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := run(t, root, sysusers, "--root="+root, abs(t, "ipsd.sysusers")); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s%s", err, out, stderr)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for line := range strings.Lines(string(passwd)) {
		if strings.HasPrefix(line, "ipsd:") {
			fields = strings.Split(strings.TrimSpace(line), ":")
		}
	}
	if len(fields) != 7 {
		t.Fatalf("no ipsd entry in the passwd written by systemd-sysusers:\n%s", passwd)
	}
	uid, _ := strconv.Atoi(fields[2])
	gid, _ := strconv.Atoi(fields[3])
	if uid == 0 || uid >= 1000 {
		t.Errorf("ipsd uid = %d; want a system uid (1..999)", uid)
	}
	if fields[5] != "/var/lib/ipsd" || fields[6] != "/usr/sbin/nologin" {
		t.Errorf("ipsd home, shell = %q, %q; want /var/lib/ipsd, /usr/sbin/nologin", fields[5], fields[6])
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(group), fmt.Sprintf("ipsd:x:%d:", gid)) {
		t.Errorf("etc/group has no group ipsd with gid %d:\n%s", gid, group)
	}

	if out, stderr, err := run(t, root, tmpfiles, "--root="+root, "--create", abs(t, "ipsd.tmpfiles")); err != nil {
		t.Fatalf("systemd-tmpfiles --create: %v\n%s%s", err, out, stderr)
	}
	tests := []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{"/run/ipsd", os.ModeDir | 0o750, uid, gid},
		{"/var/lib/ipsd", os.ModeDir | 0o750, uid, gid},
		{"/srv/ipsd", os.ModeDir | 0o755, 0, 0},
		{"/srv/ipsd/tree", os.ModeDir | os.ModeSetgid | 0o775, uid, gid},
		{"/srv/ipsd/inbox", os.ModeDir | os.ModeSetgid | 0o770, uid, gid},
	}
	for _, tt := range tests {
		fi, err := os.Stat(filepath.Join(root, tt.path))
		if err != nil {
			t.Errorf("after systemd-tmpfiles: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != tt.mode || int(st.Uid) != tt.uid || int(st.Gid) != tt.gid {
			t.Errorf("%s = %v %d:%d; want %v %d:%d", tt.path, fi.Mode(), st.Uid, st.Gid, tt.mode, tt.uid, tt.gid)
		}
	}
}

// unit is a parsed unit or tmpfiles-like file: key to values per section.
type unit map[string]map[string][]string

// parseUnit reads the settings of a unit file. It does not handle line
// continuations, which these units do not use.
func parseUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: cannot parse %q", name, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one returns the single value of a key, failing if it is not set exactly once.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s set %d times; want once", section, key, len(v))
	}
	return v[0]
}

// exampleConfig is the part of ../ipsd.toml the units depend on.
type exampleConfig struct {
	Root     string `toml:"root"`
	StateDir string `toml:"state_dir"`
	API      struct {
		Socket     string `toml:"socket"`
		SocketMode string `toml:"socket_mode"`
	} `toml:"api"`
	Metrics struct {
		Listen string `toml:"listen"`
	} `toml:"metrics"`
	Watch []struct {
		Dir string `toml:"dir"`
	} `toml:"watch"`
}

// tmpfilesDirs returns path to mode, user, group of the d lines of a
// tmpfiles.d file.
func tmpfilesDirs(t *testing.T, name string) map[string][3]string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string][3]string{}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 5 || f[0] != "d" {
			t.Fatalf("%s: unexpected line %q", name, line)
		}
		dirs[f[1]] = [3]string{f[2], f[3], f[4]}
	}
	return dirs
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// TestUnitsMatchConfig checks that the units, tmpfiles and sysusers agree
// with each other and with the defaults in the example config ../ipsd.toml:
// an install that follows the README must not need edits to start.
func TestUnitsMatchConfig(t *testing.T) {
	var cfg exampleConfig
	if _, err := toml.DecodeFile("../ipsd.toml", &cfg); err != nil {
		t.Fatalf("reading example config: %v", err)
	}
	svc := parseUnit(t, "ipsd.service")
	sock := parseUnit(t, "ipsd.socket")
	dirs := tmpfilesDirs(t, "ipsd.tmpfiles")

	if got, want := svc.one(t, "Service", "ExecStart"), "/usr/local/bin/ipsd serve -config /etc/ipsd/ipsd.toml"; got != want {
		t.Errorf("ExecStart = %q; want %q", got, want)
	}
	if got := svc.one(t, "Service", "Type"); got != "notify" {
		t.Errorf("Type = %q; want notify", got)
	}
	if got := svc.one(t, "Service", "ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q; want a SIGHUP to the main process", got)
	}
	if _, ok := svc["Service"]["WatchdogSec"]; !ok {
		t.Error("WatchdogSec is not set, but ipsd sends WATCHDOG=1")
	}
	// fsstore and the socket setup call fchown; @privileged would deny it
	if f := svc["Service"]["SystemCallFilter"]; !slices.Contains(f, "@chown") {
		t.Errorf("SystemCallFilter = %q; want @chown allowed again after ~@privileged", f)
	}
	if _, ok := svc["Service"]["RuntimeDirectory"]; ok {
		t.Error("RuntimeDirectory= would delete the socket of ipsd.socket whenever ipsd stops")
	}

	// the user: one name in the service, the socket, sysusers and tmpfiles
	users, err := os.ReadFile("ipsd.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^u ipsd - `).Match(users) {
		t.Errorf("ipsd.sysusers does not create user ipsd:\n%s", users)
	}
	for _, kv := range [][3]string{
		{"ipsd.service", "User", svc.one(t, "Service", "User")},
		{"ipsd.service", "Group", svc.one(t, "Service", "Group")},
		{"ipsd.socket", "SocketUser", sock.one(t, "Socket", "SocketUser")},
		{"ipsd.socket", "SocketGroup", sock.one(t, "Socket", "SocketGroup")},
	} {
		if kv[2] != "ipsd" {
			t.Errorf("%s: %s = %q; want ipsd", kv[0], kv[1], kv[2])
		}
	}

	// the API socket: same path and mode as the config, in the tmpfiles dir
	if got := sock.one(t, "Socket", "ListenStream"); got != cfg.API.Socket {
		t.Errorf("ipsd.socket ListenStream = %q; config [api] socket = %q", got, cfg.API.Socket)
	}
	if got := sock.one(t, "Socket", "SocketMode"); got != cfg.API.SocketMode {
		t.Errorf("ipsd.socket SocketMode = %q; config [api] socket_mode = %q", got, cfg.API.SocketMode)
	}
	runDir := filepath.Dir(cfg.API.Socket)
	if d, ok := dirs[runDir]; !ok || d != [3]string{"0750", "ipsd", "ipsd"} {
		t.Errorf("ipsd.tmpfiles: %s = %v; want 0750 ipsd ipsd", runDir, d)
	}

	// the catalog: StateDirectory= is state_dir
	if got := "/var/lib/" + svc.one(t, "Service", "StateDirectory"); got != cfg.StateDir {
		t.Errorf("StateDirectory gives %s; config state_dir = %s", got, cfg.StateDir)
	}

	// everything ipsd writes outside StateDirectory= is writable in the
	// sandbox and created by tmpfiles
	if got := svc.one(t, "Service", "ProtectSystem"); got != "strict" {
		t.Errorf("ProtectSystem = %q; want strict", got)
	}
	rw := strings.Fields(strings.Join(svc["Service"]["ReadWritePaths"], " "))
	// check-config needs state_dir before StateDirectory= first creates it
	if d, ok := dirs[cfg.StateDir]; !ok || d != [3]string{svc.one(t, "Service", "StateDirectoryMode"), "ipsd", "ipsd"} {
		t.Errorf("ipsd.tmpfiles: %s = %v; want StateDirectoryMode ipsd ipsd", cfg.StateDir, d)
	}
	writable := []string{cfg.Root, runDir}
	for _, w := range cfg.Watch {
		writable = append(writable, w.Dir)
	}
	for _, p := range writable {
		if !slices.ContainsFunc(rw, func(d string) bool { return within(p, d) }) {
			t.Errorf("%s is not below any ReadWritePaths %v", p, rw)
		}
		if _, ok := dirs[p]; !ok {
			t.Errorf("ipsd.tmpfiles does not create %s", p)
		}
	}

	// metrics on loopback TCP: the address families and IP allow-list
	// must let it through
	if host := strings.Split(cfg.Metrics.Listen, ":")[0]; host != "127.0.0.1" {
		t.Errorf("config [metrics] listen = %q; the unit's IPAddressAllow=localhost assumes 127.0.0.1", cfg.Metrics.Listen)
	}
	fams := svc.one(t, "Service", "RestrictAddressFamilies")
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6"} {
		if !slices.Contains(strings.Fields(fams), f) {
			t.Errorf("RestrictAddressFamilies = %q lacks %s", fams, f)
		}
	}
	if got := svc.one(t, "Service", "IPAddressAllow"); got != "localhost" {
		t.Errorf("IPAddressAllow = %q; want localhost", got)
	}
}

// TestCommented holds the files to the house rule that every setting is
// explained: in sysusers and tmpfiles every line has a comment right above
// it; in the units every group of settings starts with one.
func TestCommented(t *testing.T) {
	for _, tt := range []struct {
		name      string
		perLine   bool
		exemptKey []string
	}{
		{"ipsd.sysusers", true, nil},
		{"ipsd.tmpfiles", true, nil},
		{"ipsd.service", false, []string{"Description"}},
		{"ipsd.socket", false, []string{"Description"}},
	} {
		data, err := os.ReadFile(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		prev := "" // "comment", "setting" or "" (blank or section)
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "#"):
				prev = "comment"
			case line == "" || strings.HasPrefix(line, "["):
				prev = ""
			default:
				key, _, _ := strings.Cut(line, "=")
				ok := prev == "comment" || !tt.perLine && prev == "setting" || slices.Contains(tt.exemptKey, key)
				if !ok {
					t.Errorf("%s:%d: %q has no comment above it", tt.name, i+1, line)
				}
				prev = "setting"
			}
		}
	}
}
