package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSocketHostile sends broken requests to the real daemon: each gets its
// fault (or, for headers sent too slowly, a closed connection), nothing is
// written, and the daemon keeps serving.
func TestSocketHostile(t *testing.T) {
	e := startEnv(t, "")
	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/DSCN0010.jpg"]
	before := snapshot(t, e.root)
	serving := func(t *testing.T) {
		t.Helper()
		if status, body := e.post(`<getCompanyInfoParam xmlns="` + ns + `"><companyName>ApiTestCo</companyName></getCompanyInfoParam>`); status != 200 {
			t.Fatalf("daemon no longer serves: HTTP %d %s", status, body)
		}
	}
	cp := copyXML(ns, company, src, "ApiTestCo/out/", "hostile", "")
	tests := []struct{ name, body, code, reason string }{
		{"body over max_body_bytes", strings.Replace(cp, "<urlModifier></urlModifier>", "<urlModifier>"+strings.Repeat("x", 3<<20)+"</urlModifier>", 1), "30003", "larger than 1048576 bytes"},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` + strings.Replace(cp, "<urlModifier></urlModifier>", "<urlModifier>&c;</urlModifier>", 1), "30003", "DTD"},
		{"10,000-deep nesting", strings.Replace(cp, "<urlModifier></urlModifier>", strings.Repeat("<x>", 10000)+strings.Repeat("</x>", 10000), 1), "30003", "deeper"},
		{"invalid UTF-8", strings.Replace(cp, "hostile", "ho\xc3\x28stile", 1), "30003", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post(tt.body)
			if status != 500 || !strings.Contains(body, "<code>"+tt.code+"</code>") || !strings.Contains(body, tt.reason) {
				t.Errorf("HTTP %d %.400s; want 500, %s, %q", status, body, tt.code, tt.reason)
			}
			serving(t)
		})
	}
	t.Run("headers sent slowly", func(t *testing.T) {
		c, err := net.Dial("unix", e.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /scene7/services/IpsApiService HTTP/1.1\r\nHost: ipsd\r\n") // and no end of headers
		serving(t)
		c.SetReadDeadline(time.Now().Add(time.Minute))
		got, err := io.ReadAll(c) // the daemon hangs up (its read_header timeout)
		if err != nil {
			t.Fatalf("connection not closed by the daemon: %v", err)
		}
		if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 4")) {
			t.Errorf("slow headers answered %q", got)
		}
		serving(t)
	})
	if after := snapshot(t, e.root); after != before {
		t.Errorf("hostile requests changed the tree:\n%s", after)
	}
}

// TestSocketModeAndActivation: the socket file has the configured mode
// (default 0660), and ipsd serves a socket handed over by systemd.
func TestSocketModeAndActivation(t *testing.T) {
	e := startEnv(t, "")
	fi, err := os.Stat(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v; want a socket with 0660", fi.Mode())
	}
	e.cmd.Process.Kill()
	e.cmd.Wait()
	os.Remove(e.socket) // left by the kill

	// systemd passes fd 3 with LISTEN_FDS=1 and LISTEN_PID of the service;
	// sh execs ipsd, so its $$ is ipsd's pid
	act := filepath.Join(e.dir, "activated.sock")
	ln, err := net.Listen("unix", act)
	if err != nil {
		t.Fatal(err)
	}
	ul := ln.(*net.UnixListener)
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false) // the file stays for the daemon's fd
	ul.Close()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, binPath, "serve", "-config", e.config)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=ipsd.socket")
	cmd.ExtraFiles = []*os.File{f}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", act)
	}}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("activated daemon log:\n%s", logs.String())
		}
	})
	waitFor(t, 30*time.Second, "the activated socket to answer", func() bool {
		resp, err := hc.Get("http://ipsd/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := hc.Post("http://ipsd/scene7/services/IpsApiService", "text/xml",
		strings.NewReader(`<getCompanyInfoParam xmlns="`+ns+`"><companyName>ApiTestCo</companyName></getCompanyInfoParam>`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("<name>ApiTestCo</name>")) {
		t.Errorf("activated socket: HTTP %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(e.socket); err == nil {
		t.Errorf("ipsd created %s although systemd handed it a socket", e.socket)
	}
}

// TestSocketConfiguredModeAndGroup: [api] socket_mode and socket_group set
// the socket file's permission bits and group.
func TestSocketConfiguredModeAndGroup(t *testing.T) {
	e := startEnv(t, "")
	e.cmd.Process.Kill()
	e.cmd.Wait()
	os.Remove(e.socket) // left by the kill

	// a group other than the daemon's own, so that the chown is visible
	gid := os.Getegid()
	if os.Geteuid() == 0 {
		gid = 4242 // root may give the socket any group, named or not
	} else if gs, _ := os.Getgroups(); len(gs) > 0 {
		for _, g := range gs {
			if g != gid {
				gid = g
				break
			}
		}
	}
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("[api]\nsocket = \"ipsd.sock\"\nsocket_mode = \"0640\"\nsocket_group = \"%d\"\n", gid)
	if !bytes.Contains(cfg, []byte("[api]\nsocket = \"ipsd.sock\"\n")) {
		t.Fatalf("config has no [api] table to change:\n%s", cfg)
	}
	cfg = bytes.Replace(cfg, []byte("[api]\nsocket = \"ipsd.sock\"\n"), []byte(api), 1)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	e.start()
	fi, err := os.Stat(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o640 || int(st.Gid) != gid {
		t.Errorf("socket mode %v group %d; want a socket with 0640 and group %d", fi.Mode(), st.Gid, gid)
	}
	if status, body := e.post(`<getCompanyInfoParam xmlns="` + ns + `"><companyName>ApiTestCo</companyName></getCompanyInfoParam>`); status != 200 {
		t.Errorf("HTTP %d %s", status, body)
	}
}
