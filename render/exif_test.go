package render

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOrientationCorpus(t *testing.T) {
	dir := filepath.Join(corpus, "orientation")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("corpus not available")
	}
	for n := 0; n <= 8; n++ {
		name := "Portrait_" + string(rune('0'+n)) + ".jpg"
		want := max(n, 1) // 0 is not a valid value: treated as none
		if got := orientation(readFile(t, filepath.Join(dir, name)), "jpeg"); got != want {
			t.Errorf("orientation(%s) = %d; want %d", name, got, want)
		}
	}
}

func TestTIFFOrientation(t *testing.T) {
	// big- and little-endian IFD0 with an Orientation SHORT among others
	be := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x02" +
		"\x01\x00\x00\x03\x00\x00\x00\x01\x00\x10\x00\x00" +
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x08\x00\x00")
	le := []byte("II\x2a\x00\x08\x00\x00\x00\x01\x00" +
		"\x12\x01\x03\x00\x01\x00\x00\x00\x05\x00\x00\x00")
	if got := tiffOrientation(be); got != 8 {
		t.Errorf("big-endian: %d; want 8", got)
	}
	if got := tiffOrientation(le); got != 5 {
		t.Errorf("little-endian: %d; want 5", got)
	}
	for i := range le { // every truncation is safe and finds nothing
		if got := tiffOrientation(le[:i]); got != 0 {
			t.Errorf("truncated to %d bytes: %d; want 0", i, got)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x1cExif\x00\x00II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0eeXIfMM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPEXIF\x08\x00\x00\x00II\x2a\x00\x08\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []string{"jpeg", "png", "webp", "tiff"} {
			if o := orientation(b, format); o < 1 || o > 8 {
				t.Fatalf("orientation(%q) = %d", format, o)
			}
		}
	})
}
