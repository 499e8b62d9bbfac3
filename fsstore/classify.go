package fsstore

import (
	"bytes"
	"strings"
)

// sniffLen is how many leading bytes sniff needs to decide.
const sniffLen = 12

// ignoredDir reports whether a directory entry called name is never a
// company or folder.
func ignoredDir(name string) bool {
	return name == "" || name[0] == '.'
}

// ignoredFile reports whether a file called name is never an asset: dotfiles
// (ipsd's temp files among them), partial downloads and editor droppings.
func ignoredFile(name string) bool {
	if name == "" || name[0] == '.' || strings.HasPrefix(name, "~$") || strings.HasSuffix(name, "~") {
		return true
	}
	lower := strings.ToLower(name)
	for _, suf := range []string{".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", ".swo", ".swx"} {
		if strings.HasSuffix(lower, suf) {
			return true
		}
	}
	return false
}

// sniff returns the image format of a file starting with head ("jpeg",
// "png", "gif", "webp", "tiff", "bmp"), or "". short reports that head is too
// short to rule out an image: the file may still be being written.
func sniff(head []byte) (format string, short bool) {
	type magic struct {
		format string
		prefix string
		need   int // bytes needed to decide
	}
	for _, m := range []magic{
		{"jpeg", "\xff\xd8\xff", 3},
		{"png", "\x89PNG\r\n\x1a\n", 8},
		{"gif", "GIF87a", 6},
		{"gif", "GIF89a", 6},
		{"tiff", "II*\x00", 4},
		{"tiff", "MM\x00*", 4},
		{"bmp", "BM", 2},
	} {
		if len(head) >= m.need && bytes.HasPrefix(head, []byte(m.prefix)) {
			return m.format, false
		}
	}
	if len(head) >= 12 && bytes.HasPrefix(head, []byte("RIFF")) && string(head[8:12]) == "WEBP" {
		return "webp", false
	}
	// could a longer file still match?
	for _, p := range []string{"\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "GIF87a", "GIF89a", "II*\x00", "MM\x00*", "BM", "RIFF"} {
		n := min(len(head), len(p))
		if len(head) < len(p) && string(head[:n]) == p[:n] {
			return "", true
		}
	}
	if len(head) < 12 && len(head) >= 4 && string(head[:4]) == "RIFF" {
		return "", true
	}
	return "", false
}
