package render

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// lastScan returns where the last scan (SOS segment and its entropy-coded
// data) of the JPEG b starts and ends, walking the marker segments.
func lastScan(t *testing.T, b []byte) (start, end int) {
	t.Helper()
	start, end = -1, -1
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			t.Fatalf("no marker at %d", i)
		}
		m := b[i+1]
		if m == 0xd9 {
			break
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		j := i + 2 + n
		if m == 0xda {
			for j+1 < len(b) && (b[j] != 0xff || b[j+1] == 0 || b[j+1] >= 0xd0 && b[j+1] <= 0xd7) {
				j++
			}
			start, end = i, j
		}
		i = j
	}
	if start < 0 {
		t.Fatal("no scan")
	}
	return start, end
}

// TestManyScansRefused: a progressive JPEG whose last scan is repeated a
// thousand times is a few hundred KB that libjpeg and image/jpeg decode
// scan by scan, each a pass over every block: a 16 MP one kept a render
// worker busy for minutes. Such a source is refused before decoding; the
// same JPEG with its few real scans renders.
func TestManyScansRefused(t *testing.T) {
	prog, _ := render(t, encodePNG(t, testImage(64, 48)), "fmt=pjpeg&pscan=5")
	if _, info := render(t, prog, "wid=32"); info.Width != 32 {
		t.Fatalf("the progressive JPEG itself does not render: %+v", info)
	}
	s, e := lastScan(t, prog)
	bomb := append(append([]byte{}, prog[:e]...), bytes.Repeat(prog[s:e], 1000)...)
	bomb = append(bomb, prog[e:]...)
	for _, mod := range []string{"wid=32", "fmt=png"} {
		r, err := Parse(mod)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Render(context.Background(), bomb, r, Limits{}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "scans") {
			t.Errorf("Render(%s) of a JPEG with 1000 repeated scans = %v; want an error about its scans", mod, err)
		}
	}
}

// TestManyScansWithJunkRefused: a stray byte before each repeated scan
// (libjpeg skips it with a warning and reads on) does not hide the scans.
func TestManyScansWithJunkRefused(t *testing.T) {
	prog, _ := render(t, encodePNG(t, testImage(64, 48)), "fmt=pjpeg&pscan=5")
	s, e := lastScan(t, prog)
	scan := append([]byte{'x'}, prog[s:e]...)
	bomb := append(append([]byte{}, prog[:e]...), bytes.Repeat(scan, 1000)...)
	bomb = append(bomb, prog[e:]...)
	if n := countJPEGScans(bomb, maxJPEGScans); n <= maxJPEGScans {
		t.Errorf("countJPEGScans = %d; want more than %d", n, maxJPEGScans)
	}
	if n, want := countJPEGScans(prog, maxJPEGScans), first(jpegScans(t, prog)); n != want || n < 5 {
		t.Errorf("countJPEGScans of the progressive JPEG = %d; want %d", n, want)
	}
}

func first(n int, _ bool) int { return n }
