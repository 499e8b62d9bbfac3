package main

import (
	"strings"
	"testing"
)

func runCLI(args ...string) (stdout, stderr string, code int) {
	var o, e strings.Builder
	code = run(args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

func TestHelpGoesToStdout(t *testing.T) {
	for _, cmd := range []string{"serve", "copy", "ls", "hash-password", "check-config", "version"} {
		for _, flag := range []string{"-h", "-help", "--help"} {
			out, errs, code := runCLI(cmd, flag)
			if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: ipsd "+cmd) {
				t.Errorf("ipsd %s %s: exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout", cmd, flag, code, out, errs)
			}
		}
	}
	// a command without flags shows no empty flag list
	if out, _, _ := runCLI("hash-password", "-h"); strings.Contains(out, "Flags:") {
		t.Errorf("hash-password -h lists flags it does not have:\n%s", out)
	}
}

func TestBadFlagReportedOnce(t *testing.T) {
	out, errs, code := runCLI("ls", "-bogus")
	if code != 2 || out != "" {
		t.Errorf("ipsd ls -bogus: exit %d, stdout %q; want exit 2 and nothing on stdout", code, out)
	}
	if n := strings.Count(errs, "flag provided but not defined: -bogus"); n != 1 {
		t.Errorf("ipsd ls -bogus names the bad flag %d times; want once:\n%s", n, errs)
	}
	if !strings.Contains(errs, "usage: ipsd ls") {
		t.Errorf("ipsd ls -bogus shows no usage:\n%s", errs)
	}
	if _, errs, code := runCLI("version", "extra"); code != 2 || !strings.Contains(errs, "usage: ipsd version") {
		t.Errorf("ipsd version extra: exit %d, stderr %q; want exit 2 and the usage", code, errs)
	}
}

// A config file named without -config must not be ignored for the default
// one, nor any other stray argument of a command that takes none.
func TestStrayArgumentRefused(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "my.toml"},
		{"check-config", "my.toml"},
		{"copy", "-socket", "/nonexistent.sock", "-company", "c|1", "-asset", "a|1|1|1", "-folder", "A/", "-name", "my", "copy"},
		{"hash-password", "extra"},
		{"version", "extra"},
	} {
		out, errs, code := runCLI(args...)
		stray := args[len(args)-1]
		if code != 2 || out != "" || !strings.Contains(errs, "unexpected argument \""+stray+"\"") || !strings.Contains(errs, "usage: ipsd "+args[0]) {
			t.Errorf("ipsd %s: exit %d, stdout %q, stderr %q; want exit 2, the stray argument named and the usage", strings.Join(args, " "), code, out, errs)
		}
	}
	if _, errs, _ := runCLI("check-config", "my.toml"); !strings.Contains(errs, "-config my.toml") {
		t.Errorf("ipsd check-config my.toml does not point at -config:\n%s", errs)
	}
}

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"version", "-version", "--version"} {
		if out, errs, code := runCLI(arg); code != 0 || !strings.HasPrefix(out, "ipsd ") || errs != "" {
			t.Errorf("ipsd %s: exit %d, stdout %q, stderr %q; want exit 0 and the version", arg, code, out, errs)
		}
	}
}

func TestPasswordFileNeedsUser(t *testing.T) {
	_, errs, code := runCLI("copy", "-socket", "/nonexistent.sock", "-company", "c|1", "-asset", "a|1|1|1", "-folder", "A/", "-name", "n", "-password-file", "/nonexistent")
	if code != 1 || !strings.Contains(errs, "-password-file needs -user") {
		t.Errorf("ipsd copy -password-file without -user: exit %d, stderr %q; want exit 1 and the reason", code, errs)
	}
}
