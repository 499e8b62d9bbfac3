package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/ipsd/ipsd/daemon"
)

// copyRequest is one copyImageParam.
type copyRequest struct {
	XMLName  xml.Name `xml:"http://www.scene7.com/IpsApi/xsd/2008-01-15 copyImageParam"`
	Company  string   `xml:"companyHandle"`
	Asset    string   `xml:"assetHandle"`
	Folder   string   `xml:"folderHandle"`
	Name     string   `xml:"name"`
	Modifier string   `xml:"urlModifier"`
}

// client calls the daemon over its Unix socket.
type client struct {
	http           *http.Client
	socket         string
	user, password string
}

func newClient(socket string) *client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 16,
	}
	return &client{http: &http.Client{Transport: tr, Timeout: 10 * time.Minute}, socket: socket}
}

// A faultError is an IPS fault answered by the daemon.
type faultError struct {
	Kind   string
	Code   int
	Reason string
	Status int
}

func (e *faultError) Error() string { return fmt.Sprintf("%s %d: %s", e.Kind, e.Code, e.Reason) }

// copy sends one request and returns the new handle.
func (c *client) copy(ctx context.Context, r copyRequest) (string, error) {
	body, err := xml.Marshal(r)
	if err != nil {
		return "", err
	}
	return c.send(ctx, body)
}

// send posts one copyImage request body (bare or SOAP) and returns the new
// handle, or a *faultError.
func (c *client) send(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://ipsd/scene7/services/IpsApiService", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", "copyImage")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			hint := "is ipsd serve running?"
			if errors.Is(err, os.ErrPermission) {
				hint = "is your account in the socket's group?"
			}
			return "", fmt.Errorf("cannot connect to ipsd at %s: %w (%s)", c.socket, oe.Err, hint)
		}
		return "", fmt.Errorf("calling ipsd: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading reply: %w", err)
	}
	h, err := parseReply(data)
	var fe *faultError
	if errors.As(err, &fe) {
		fe.Status = resp.StatusCode
	}
	if err != nil {
		return "", fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
	}
	return h, nil
}

// parseReply finds the copyImageReturn or the fault element in a bare or
// SOAP reply.
func parseReply(data []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("unexpected reply %.200q: %v", data, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "copyImageReturn":
			var r struct {
				Handle string `xml:"assetHandle"`
			}
			if err := d.DecodeElement(&r, &se); err != nil || r.Handle == "" {
				return "", fmt.Errorf("unexpected reply %.200q", data)
			}
			return r.Handle, nil
		case "authenticationFault", "authorizationFault", "ipsApiFault":
			var r struct {
				Code   int    `xml:"code"`
				Reason string `xml:"reason"`
			}
			if err := d.DecodeElement(&r, &se); err != nil {
				return "", fmt.Errorf("unexpected reply %.200q: %v", data, err)
			}
			return "", &faultError{Kind: se.Name.Local, Code: r.Code, Reason: r.Reason}
		}
	}
}

// busy reports whether err is the daemon's busy fault (decisions.md §4).
func busy(err error) bool {
	var fe *faultError
	return errors.As(err, &fe) && fe.Kind == "ipsApiFault" && (fe.Status == http.StatusServiceUnavailable || fe.Reason == "Server busy, retry later.")
}

func cmdCopy(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("copy", stderr, `usage: ipsd copy [-config FILE | -socket PATH] -company H -asset H -folder H -name NAME [-modifier M] [-user EMAIL -password-file F]
       ipsd copy [-config FILE | -socket PATH] -batch DIR|FILE.csv [-parallel N] [-retries N]

Makes one copy through the running daemon and prints the new asset handle.

With -batch it sends many: every *.xml request file (bare copyImageParam or
SOAP) at the top of DIR, or every row of a CSV file with the columns
company,asset,folder,name,modifier (a header row naming them is skipped).
At most -parallel requests are in flight; busy faults are retried with
backoff. Each success prints "ITEM<TAB>HANDLE" on stdout, each failure a
line on stderr, then a summary; the exit status is 1 when anything failed.

Without -user the daemon identifies you by your local account; with -user the
password comes from -password-file or $IPSD_PASSWORD (never a flag).`)
	cfgPath := fs.String("config", defaultConfig, "config `file` to read the socket path from")
	socket := fs.String("socket", "", "socket `path` (overrides the config)")
	var r copyRequest
	fs.StringVar(&r.Company, "company", "", "company `handle`, e.g. c|1")
	fs.StringVar(&r.Asset, "asset", "", "source asset `handle`, e.g. a|1|1|1")
	fs.StringVar(&r.Folder, "folder", "", "destination folder `handle`, e.g. ApiTestCo/")
	fs.StringVar(&r.Name, "name", "", "`name` of the new asset, its Asset ID; the file gets the extension of its format (sneaker → sneaker.jpg)")
	fs.StringVar(&r.Modifier, "modifier", "", "Image Serving `commands`, e.g. wid=300&fmt=webp")
	user := fs.String("user", "", "ipsd user `email` to authenticate as")
	pwFile := fs.String("password-file", "", "`file` holding the password for -user")
	batch := fs.String("batch", "", "send every request in `DIR` (*.xml) or FILE.csv")
	parallel := fs.Int("parallel", 4, "with -batch: requests in flight at once")
	retries := fs.Int("retries", 8, "with -batch: retries of a request answered busy")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *pwFile != "" && *user == "" {
		return errors.New("-password-file needs -user, the email the password belongs to")
	}
	if *socket == "" {
		cfg, err := daemon.LoadConfig(*cfgPath)
		if err != nil {
			return fmt.Errorf("finding the socket (or pass -socket): %w", err)
		}
		*socket = cfg.API.Socket
	}
	c := newClient(*socket)
	if *user != "" {
		pw, err := readPassword(*pwFile)
		if err != nil {
			return err
		}
		c.user, c.password = *user, pw
	}
	if *batch != "" {
		if *parallel < 1 || *retries < 0 {
			return errors.New("-parallel must be at least 1 and -retries not negative")
		}
		// the bar only on a terminal, so that logs of scripted runs stay clean
		progress := false
		if f, ok := stderr.(*os.File); ok {
			progress = term.IsTerminal(int(f.Fd()))
		}
		o := batchOptions{parallel: *parallel, retries: *retries, progress: progress}
		return runBatch(context.Background(), c, *batch, o, stdout, stderr)
	}
	var missing []string
	for _, f := range []struct{ flag, v string }{{"-company", r.Company}, {"-asset", r.Asset}, {"-folder", r.Folder}, {"-name", r.Name}} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	h, err := c.copy(context.Background(), r)
	var fe *faultError
	if errors.As(err, &fe) {
		fmt.Fprintf(stderr, "ipsd copy: %v\n", fe)
		return exitError(1)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
