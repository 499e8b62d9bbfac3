package render

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "golang.org/x/image/tiff"
)

// badMod renders at full size into an alpha-keeping, uncompressed format,
// so that a decodable file can be compared pixel by pixel.
const badMod = "fmt=tif-alpha"

// TestBadCorpus renders every file of the corpus's bad/ folder (malformed,
// truncated and fuzzed GIF, JPEG, PNG and TIFF files). Each must give
// either a fault (one line, not a panic, not a modifier error, nothing
// written) or a render that matches libvips's decode of the same file.
// None may take longer than a generous deadline (a hang), and the memory
// bound is asserted by TestBadCorpusMemory.
func TestBadCorpus(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(corpus, "bad", "*.*"))
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	r, err := Parse(badMod)
	if err != nil {
		t.Fatal(err)
	}
	faults, renders := 0, 0
	for _, f := range files {
		base := filepath.Base(f)
		src := readFile(t, f)
		type result struct {
			out  []byte
			info Info
			err  error
		}
		done := make(chan result, 1)
		go func() {
			var out bytes.Buffer
			info, err := Render(context.Background(), src, r, testLimits, &out)
			done <- result{out.Bytes(), info, err}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(2 * time.Minute): // each takes milliseconds; a loaded -race run well under a second
			t.Fatalf("%s: no result after 2 minutes: a hang", base)
		}
		if res.err != nil {
			faults++
			msg := res.err.Error()
			var ce *CommandError
			switch {
			case strings.Contains(msg, "internal error"):
				t.Errorf("%s: %v (a panic in a decoder)", base, res.err)
			case errors.As(res.err, &ce):
				t.Errorf("%s: %v; a bad source is not a modifier error", base, res.err)
			case msg == "" || strings.Contains(msg, "\n"):
				t.Errorf("%s: fault %q; want one line", base, msg)
			case len(res.out) != 0:
				t.Errorf("%s: %v, yet %d bytes were written", base, res.err, len(res.out))
			}
			continue
		}
		renders++
		got := decodeAny(t, res.out)
		if got.Bounds().Dx() != res.info.Width || got.Bounds().Dy() != res.info.Height {
			t.Errorf("%s: info %dx%d for a %v image", base, res.info.Width, res.info.Height, got.Bounds().Size())
		}
		want := vipsDecode(t, f)
		if got.Bounds().Size() != want.Bounds().Size() {
			t.Errorf("%s: rendered %v; libvips decodes %v", base, got.Bounds().Size(), want.Bounds().Size())
			continue
		}
		if d := meanAbsDiffPremul(got, want); d > 1 {
			t.Errorf("%s: mean abs diff %.2f from libvips's decode; want ≤ 1", base, d)
		}
	}
	t.Logf("%d faults, %d renders", faults, renders)
	if faults == 0 || renders == 0 {
		t.Errorf("%d faults and %d renders: the corpus is not what this test expects", faults, renders)
	}
}

// Memory bound for one file of bad/: the process's peak resident memory
// while rendering it grows by at most badMemBase plus badMemPerPixel bytes
// per pixel its header declares (the source, its conversion, the TIFF
// written and the decoders' buffers), never by what a corrupt header could
// make a decoder reserve. The race detector multiplies memory use.
const badMemBase = 64 << 20

func badMemPerPixel() int64 {
	if raceEnabled {
		return 160
	}
	return 40
}

// TestBadCorpusMemory runs TestBadCorpusMemoryChild in a child process (so
// that parallel tests do not count) and checks the bound above for every
// file. The child measures the growth of VmHWM (Linux peak RSS, reset
// through /proc/self/clear_refs) over the resident size before the file.
func TestBadCorpusMemory(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(corpus, "bad")); err != nil {
		t.Skip("corpus not available")
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBadCorpusMemoryChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "IPSD_RENDER_MEMCHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var name string
		var pixels, grew int64
		if _, err := fmt.Sscanf(sc.Text(), "MEM %s %d %d", &name, &pixels, &grew); err != nil {
			continue
		}
		n++
		if bound := badMemBase + badMemPerPixel()*pixels; grew > bound {
			t.Errorf("%s (%d header pixels): peak RSS grew by %d MiB; bound %d MiB", name, pixels, grew>>20, bound>>20)
		}
	}
	if n == 0 {
		t.Fatalf("child reported nothing:\n%s", out)
	}
}

// TestBadCorpusMemoryChild is the child of TestBadCorpusMemory: for each
// file of bad/ it prints "MEM name headerPixels growthBytes".
func TestBadCorpusMemoryChild(t *testing.T) {
	if os.Getenv("IPSD_RENDER_MEMCHILD") == "" {
		t.Skip("run by TestBadCorpusMemory")
	}
	files, _ := filepath.Glob(filepath.Join(corpus, "bad", "*.*"))
	r, err := Parse(badMod)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src := readFile(t, f)
		var pixels int64
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(src)); err == nil {
			pixels = int64(cfg.Width) * int64(cfg.Height)
		}
		debug.FreeOSMemory()
		before := procStatus(t, "VmRSS")
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = Render(context.Background(), src, r, testLimits, &out)
		fmt.Printf("MEM %s %d %d\n", filepath.Base(f), pixels, procStatus(t, "VmHWM")-before)
	}
}

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == field+":" && f[2] == "kB" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
