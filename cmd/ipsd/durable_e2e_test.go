package main

// The durability of what ipsd writes (R4, R5), checked on the system calls
// of the real daemon, traced with strace.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// traceDaemon attaches strace to every thread of e's daemon, recording the
// system calls that create, sync, link, rename and remove files into the
// returned file. stop detaches strace and waits for it.
func traceDaemon(t *testing.T, e *env) (trace string, stop func()) {
	t.Helper()
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed")
	}
	pid := e.cmd.Process.Pid
	trace = filepath.Join(t.TempDir(), "trace.txt")
	var stderr syncBuffer
	cmd := exec.Command(straceBin, "-f", "-y", "-s", "512", "-o", trace,
		"-e", "trace=openat,fsync,fdatasync,linkat,unlinkat,rename,renameat,renameat2",
		"-p", fmt.Sprint(pid))
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("starting strace: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT) // strace detaches and exits
		cmd.Wait()
	}
	t.Cleanup(stop)

	// strace reports "Process N attached with M threads" once it traces
	// every thread the daemon has; threads started later are followed (-f)
	attached := "Process " + fmt.Sprint(pid) + " attached"
	waitFor(t, time.Minute, "strace attached", func() bool {
		s := stderr.String()
		if strings.Contains(s, "Operation not permitted") {
			t.Skipf("strace may not trace here: %s", s)
		}
		return strings.Contains(s, attached)
	})
	return trace, stop
}

// joinTrace returns the calls of an strace -f log one per line: a call
// interrupted by another thread's ("<unfinished ...>") is joined with its
// "<... resumed>" rest and placed where it completed.
func joinTrace(raw string) []string {
	unfinished := map[string]string{}                                   // pid -> start of its pending call
	resumed := regexp.MustCompile(`^(\d+)\s+<\.\.\. \w+ resumed>(.*)$`) // strace pads short pids
	spaces := regexp.MustCompile(`\)\s+= `)
	var out []string
	for l := range strings.Lines(raw) {
		l = strings.TrimRight(l, "\n")
		if head, ok := strings.CutSuffix(l, " <unfinished ...>"); ok {
			pid, _, _ := strings.Cut(strings.TrimSpace(head), " ")
			unfinished[pid] = head
			continue
		}
		if m := resumed.FindStringSubmatch(l); m != nil {
			l = unfinished[m[1]] + m[2]
			delete(unfinished, m[1])
		}
		out = append(out, spaces.ReplaceAllString(l, ") = "))
	}
	return out
}

// callOrder finds, in trace, the first line matching each pattern in turn,
// each after the previous one, and fails the test naming the first step
// that is missing or out of order.
func callOrder(t *testing.T, trace []string, what string, steps ...string) {
	t.Helper()
	from := 0
	for _, step := range steps {
		re := regexp.MustCompile(step)
		found := -1
		for i := from; i < len(trace); i++ {
			if re.MatchString(trace[i]) {
				found = i
				break
			}
		}
		if found < 0 {
			t.Errorf("%s: no %q after line %d of the trace", what, step, from)
			return
		}
		from = found + 1
	}
}

// TestWritesAreDurableAndNeverInPlace traces the daemon while it makes a
// rendered copy and a byte copy over the socket and files a watch-folder
// request, and checks the order of the system calls: every image goes to
// a dot-temp file in its folder, is synced, linked to its final name (never
// opened for writing under it), the temp name removed and the folder
// synced; every result is synced in .work/ before it is linked into done/,
// and done/ is synced after the request is moved beside it.
func TestWritesAreDurableAndNeverInPlace(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")
	tracePath, stop := traceDaemon(t, e)

	for _, c := range []struct{ name, mod string }{{"rendered", "wid=64"}, {"bytecopy", ""}} {
		if status, body := e.post(requestXML(company, src, c.name, c.mod)); status != 200 || handleRE.FindString(body) == "" {
			t.Fatalf("copy %s: HTTP %d %s", c.name, status, body)
		}
	}
	dropAll(t, e.inbox, map[string]string{"durable.xml": requestXML(company, src, "fromWatch", "wid=32")})
	o := waitResults(t, e.inbox, 1, time.Minute)
	if _, ok := o.done["durable"]; !ok {
		t.Fatalf("durable.xml: done %v failed %v", o.done, o.failed)
	}
	stop()

	raw, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := joinTrace(string(raw))
	q := regexp.QuoteMeta
	out := filepath.Join(e.root, "ApiTestCo/out")
	for _, final := range []string{"rendered.jpg", "bytecopy.jpg", "fromWatch.jpg"} {
		// the temp file this image was written through: the one linked to it
		linkRE := regexp.MustCompile(`linkat\(\d+<` + q(out) + `>, "(\.ipsd-tmp-[^"]+)", \d+<` + q(out) + `>, "` + q(final) + `", 0\) = 0`)
		var tmp string
		for _, l := range lines {
			if m := linkRE.FindStringSubmatch(l); m != nil {
				tmp = m[1]
			}
		}
		if tmp == "" {
			t.Errorf("%s: not linked from a .ipsd-tmp- file in its folder", final)
			continue
		}
		callOrder(t, lines, final,
			`openat\(\d+<`+q(out)+`>, "`+q(tmp)+`", O_WRONLY\|O_CREAT\|O_EXCL`,
			`fsync\(\d+<`+q(filepath.Join(out, tmp))+`>\) = 0`,
			linkRE.String(),
			`unlinkat\(\d+<`+q(out)+`>, "`+q(tmp)+`", 0\) = 0`,
			`fsync\(\d+<`+q(out)+`>\) = 0`,
		)
		for _, l := range lines {
			if strings.Contains(l, `"`+final+`", O_`) && strings.Contains(l, "O_WRONLY") {
				t.Errorf("%s opened for writing under its final name: %s", final, l)
			}
		}
	}

	// the result: stored in .work/, synced, linked into done/, then the
	// request renamed beside it and done/ synced
	work := filepath.Join(e.inbox, ".work")
	done := filepath.Join(e.inbox, "done")
	callOrder(t, lines, "durable.result.xml",
		`rename\w*\(.*"`+q(e.inbox)+`/durable\.xml", .*"`+q(work)+`/durable\.xml\.[^"]+"`,
		`openat\(AT_FDCWD(<[^>]*>)?, "`+q(work)+`/\.tmp\.[^"]+", O_WRONLY\|O_CREAT\|O_EXCL`,
		`fsync\(\d+<`+q(work)+`/\.tmp\.[^>]+>\) = 0`,
		`rename\w*\(.*"`+q(work)+`/\.tmp\.[^"]+", .*"`+q(work)+`/durable\.xml\.[^"]+\.ok"`,
		`fsync\(\d+<`+q(work)+`>\) = 0`,
		`linkat\(.*"`+q(work)+`/durable\.xml\.[^"]+\.ok", .*"`+q(done)+`/durable\.result\.xml", 0\) = 0`,
		`renameat2\(.*"`+q(work)+`/durable\.xml\.[^"]+", .*"`+q(done)+`/durable\.xml", RENAME_NOREPLACE\) = 0`,
		`fsync\(\d+<`+q(done)+`>\) = 0`,
	)
	if bytes.Contains(raw, []byte(`"`+done+`/durable.result.xml", O_`)) {
		t.Error("the result was written in place in done/")
	}
	if t.Failed() {
		t.Logf("trace:\n%s", strings.Join(lines, "\n"))
	}
}

func TestJoinTrace(t *testing.T) {
	raw := "4472  fsync(21</x/out> <unfinished ...>\n" +
		"12345 openat(5</x>, \"a\", O_RDONLY) = 7</x/a>\n" +
		"4472  <... fsync resumed>)           = 0\n"
	got := joinTrace(raw)
	want := []string{`12345 openat(5</x>, "a", O_RDONLY) = 7</x/a>`, `4472  fsync(21</x/out>) = 0`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("joinTrace = %q; want %q", got, want)
	}
}
