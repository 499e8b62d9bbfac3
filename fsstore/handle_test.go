package fsstore

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAssetHandle(t *testing.T) {
	tests := []struct {
		in      string
		want    assetRef
		wantErr bool
	}{
		{"a|739|1|537", assetRef{739, 537}, false},
		{"a|739", assetRef{739, 0}, false},
		{"a|1|1|1", assetRef{1, 1}, false},
		{"a|739|2|537", assetRef{}, true},
		{"a|739|1", assetRef{}, true},
		{"a|0", assetRef{}, true},
		{"a|07", assetRef{}, true},
		{"a|-7", assetRef{}, true},
		{"a|+7", assetRef{}, true},
		{"a|7x", assetRef{}, true},
		{"a|", assetRef{}, true},
		{"c|7", assetRef{}, true},
		{"A|7", assetRef{}, true},
		{"a|739|1|537|", assetRef{}, true},
		{"a|99999999999999999999", assetRef{}, true},
		{"", assetRef{}, true},
	}
	for _, tt := range tests {
		got, err := parseAssetHandle(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseAssetHandle(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidHandle) {
			t.Errorf("parseAssetHandle(%q) error %v does not wrap ErrInvalidHandle", tt.in, err)
		}
		if err == nil && tt.want.imageID != 0 && assetHandle(got.assetID, got.imageID) != tt.in {
			t.Errorf("assetHandle round trip of %q = %q", tt.in, assetHandle(got.assetID, got.imageID))
		}
	}
}

func TestParseCompanyHandle(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"c|6", 6, true},
		{"c|123", 123, true},
		{"c|", 0, false},
		{"c|0", 0, false},
		{"c|6|", 0, false},
		{"C|6", 0, false},
		{"a|6", 0, false},
		{"ApiTestCo", 0, false},
	}
	for _, tt := range tests {
		got, err := parseCompanyHandle(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseCompanyHandle(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && companyHandle(got) != tt.in {
			t.Errorf("companyHandle(%d) = %q; want %q", got, companyHandle(got), tt.in)
		}
	}
}

func TestParseFolderHandle(t *testing.T) {
	tests := []struct {
		company, in, want string
		ok                bool
	}{
		{"Co", "Co/", "Co", true},
		{"Co", "Co", "Co", true},
		{"Co", "Co/shoes/", "Co/shoes", true},
		{"Co", "Co/shoes/red", "Co/shoes/red", true},
		{"Co", "f|Co/shoes/", "Co/shoes", true},
		{"Co", "/shoes/", "Co/shoes", true},
		{"Co", "/", "Co", true},
		{"Co", "f|/shoes", "Co/shoes", true},
		{"", "/shoes/", "", false},
		{"Co", "", "", false},
		{"Co", "f|", "", false},
		{"Co", "Co//shoes/", "", false},
		{"Co", "Co/../Other/", "", false},
		{"Co", "Co/./x/", "", false},
		{"Co", "Co/.hidden/", "", false},
		{"Co", "Co/a\x00b/", "", false},
		{"Co", "//", "", false},
	}
	for _, tt := range tests {
		got, err := parseFolderHandle(tt.company, tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseFolderHandle(%q, %q) = %q, %v; want %q, ok %v", tt.company, tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidHandle) {
			t.Errorf("parseFolderHandle(%q) error %v does not wrap ErrInvalidHandle", tt.in, err)
		}
	}
	if got := (Folder{Path: "ApiTestCo/shoes"}).Handle(); got != "ApiTestCo/shoes/" {
		t.Errorf("Folder.Handle() = %q; want ApiTestCo/shoes/", got)
	}
}

func TestValidateName(t *testing.T) {
	good := []string{"red", "Red-2", "a.b", "über", "x y", strings.Repeat("n", 255)}
	bad := []string{"", ".red", "a/b", `a\b`, "a..b", "..", "a|b", "a\x00b", "a\nb", "a\x7fb", "~$x",
		strings.Repeat("n", 256), "\xff"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v; want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v; want ErrInvalidName", n, err)
		}
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		head, format string
		short        bool
	}{
		{"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", "jpeg", false},
		{"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d", "png", false},
		{"GIF87a\x01\x00", "gif", false},
		{"GIF89a\x01\x00", "gif", false},
		{"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp", false},
		{"RIFF\x10\x00\x00\x00WAVEfmt ", "", false},
		{"II*\x00\x08\x00\x00\x00", "tiff", false},
		{"MM\x00*\x00\x00\x00\x08", "tiff", false},
		{"BM\x36\x00\x00\x00", "bmp", false},
		{"", "", true},
		{"\xff\xd8", "", true},
		{"\x89PN", "", true},
		{"RIFF\x10\x00", "", true},
		{"hello world!", "", false},
		{"<?xml", "", false},
	}
	for _, tt := range tests {
		f, short := sniff([]byte(tt.head))
		if f != tt.format || short != tt.short {
			t.Errorf("sniff(%q) = %q, %v; want %q, %v", tt.head, f, short, tt.format, tt.short)
		}
	}
}

func TestIgnoredFile(t *testing.T) {
	for _, n := range []string{".ipsd-tmp-x", ".hidden.jpg", "a.tmp", "a.JPG.part", "a.partial", "a.crdownload",
		"a.download", "~$a.jpg", "a.jpg~", ".a.jpg.swp", "a.swp"} {
		if !ignoredFile(n) {
			t.Errorf("ignoredFile(%q) = false; want true", n)
		}
	}
	for _, n := range []string{"a.jpg", "tmp.jpg", "part", "a~b.png"} {
		if ignoredFile(n) {
			t.Errorf("ignoredFile(%q) = true; want false", n)
		}
	}
}
