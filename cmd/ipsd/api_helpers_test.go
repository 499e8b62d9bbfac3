package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// userTOML is a [[user]] block with a password and memberships given as
// "Company=Role" pairs.
func userTOML(t *testing.T, email, password string, admin bool, memberships ...string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[[user]]\nemail = %q\npassword_hash = %q\nips_admin = %v\n", email, h, admin)
	for _, m := range memberships {
		co, role, _ := strings.Cut(m, "=")
		fmt.Fprintf(&b, "[[user.membership]]\ncompany = %q\nrole = %q\n", co, role)
	}
	return b.String()
}

// call posts body with the given headers and returns status, headers and
// the reply.
func (e *env) call(body string, hdr map[string]string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	for k, v := range hdr {
		if v == "<absent>" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// debianPython returns Debian's interpreter when it has the modules; in CI
// their absence fails the test, elsewhere it skips.
func debianPython(t *testing.T, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	args := []string{"-c", "import " + strings.Join(modules, ", ")}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("%s cannot import %v (apt-get install python3-zeep python3-requests-unixsocket): %v\n%s", py, modules, err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

// envelope wraps a body in a SOAP 1.1 envelope with header inside
// soapenv:Header.
func envelope(header, body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` +
		header + `</soapenv:Header><soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
}
