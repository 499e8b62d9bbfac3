package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes through the whole decode path (sniff,
// header limits, decoders, EXIF, ICC and XMP readers, colour conversion)
// and a small render. It must never panic (Render turns a panic into an
// "internal error", which fails here) and never exceed the source limit.
// Seeded from the corpus: bad/ and a sample of every good folder.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"bad", "png", "tiff", "orientation"} {
		files, _ := filepath.Glob(filepath.Join(corpus, dir, "*.*"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Add(encodePNG(f, testImage(8, 8)))
	r, err := Parse("wid=16&fmt=png-alpha&xmpEmbed=1&iccEmbed=1")
	if err != nil {
		f.Fatal(err)
	}
	lim := Limits{MaxSourcePixels: 1 << 20, MaxOutputPixels: 1 << 20}
	f.Fuzz(func(t *testing.T, src []byte) {
		_ = sourceICC(src, Sniff(src))
		_ = sourceXMP(src, Sniff(src))
		var out bytes.Buffer
		if _, err := Render(t.Context(), src, r, lim, &out); err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Render panicked: %v", err)
		}
	})
}
