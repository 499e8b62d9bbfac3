package fsstore

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound reports that a handle, name or path names nothing in the
	// catalog or the tree.
	ErrNotFound = errors.New("fsstore: not found")
	// ErrInvalidHandle reports a malformed handle.
	ErrInvalidHandle = errors.New("fsstore: invalid handle")
	// ErrNameInUse reports that an asset name is taken in the company, by an
	// asset or by a live reservation, or that the target file exists. The
	// daemon's fault reason is "Asset ID '<name>' is already in use.".
	ErrNameInUse = errors.New("fsstore: name already in use")
	// ErrInvalidName reports an asset name or extension that cannot be used.
	ErrInvalidName = errors.New("fsstore: invalid name")
	// ErrReadOnly reports a write on a Store opened with Config.ReadOnly.
	ErrReadOnly = errors.New("fsstore: store is read-only")
	// ErrTooLarge reports an asset file over the size a reader allows.
	ErrTooLarge = errors.New("fsstore: file too large")
)

// assetRef is a parsed asset handle. imageID is 0 when the short form
// "a|<assetID>" was given.
type assetRef struct {
	assetID, imageID int64
}

// companyHandle formats a company handle: "c|6".
func companyHandle(id int64) string { return "c|" + strconv.FormatInt(id, 10) }

// assetHandle formats an asset handle: "a|739|1|537" (1 = Image).
func assetHandle(assetID, imageID int64) string {
	return "a|" + strconv.FormatInt(assetID, 10) + "|1|" + strconv.FormatInt(imageID, 10)
}

// parseID parses a positive decimal catalog number without sign or leading
// zeros.
func parseID(s string) (int64, bool) {
	if s == "" || s[0] == '0' || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseCompanyHandle parses "c|<n>".
func parseCompanyHandle(h string) (int64, error) {
	rest, ok := strings.CutPrefix(h, "c|")
	if !ok {
		return 0, fmt.Errorf("parsing company handle %q: %w", h, ErrInvalidHandle)
	}
	id, ok := parseID(rest)
	if !ok {
		return 0, fmt.Errorf("parsing company handle %q: %w", h, ErrInvalidHandle)
	}
	return id, nil
}

// parseAssetHandle parses "a|<assetID>|1|<imageID>" or "a|<assetID>".
func parseAssetHandle(h string) (assetRef, error) {
	bad := fmt.Errorf("parsing asset handle %q: %w", h, ErrInvalidHandle)
	parts := strings.Split(h, "|")
	if parts[0] != "a" || (len(parts) != 2 && len(parts) != 4) {
		return assetRef{}, bad
	}
	aid, ok := parseID(parts[1])
	if !ok {
		return assetRef{}, bad
	}
	if len(parts) == 2 {
		return assetRef{assetID: aid}, nil
	}
	if parts[2] != "1" {
		return assetRef{}, bad
	}
	iid, ok := parseID(parts[3])
	if !ok {
		return assetRef{}, bad
	}
	return assetRef{assetID: aid, imageID: iid}, nil
}

// validComponent reports whether name may be one component of a folder path
// in a handle: not empty, no dot-name, no separator or NUL.
func validComponent(name string) bool {
	return name != "" && name[0] != '.' && utf8.ValidString(name) &&
		!strings.ContainsAny(name, "/\x00")
}

// parseFolderHandle turns a folder handle into a path relative to the root
// ("Co/shoes", or "Co" for the company root). Accepted forms: "Co/shoes/",
// "Co/shoes", "f|Co/shoes/", and "/shoes/" (relative to company; only when
// company is not empty).
func parseFolderHandle(company, h string) (string, error) {
	bad := fmt.Errorf("parsing folder handle %q: %w", h, ErrInvalidHandle)
	p := strings.TrimPrefix(h, "f|")
	if strings.HasPrefix(p, "/") {
		if company == "" {
			return "", bad
		}
		p = company + p
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", bad
	}
	for c := range strings.SplitSeq(p, "/") {
		if !validComponent(c) {
			return "", bad
		}
	}
	return p, nil
}

// folderHandle formats the handle of the folder at rel ("Co/shoes" ->
// "Co/shoes/").
func folderHandle(rel string) string { return rel + "/" }

// companyOf returns the company part (first component) of a root-relative
// path.
func companyOf(rel string) string {
	c, _, _ := strings.Cut(rel, "/")
	return c
}

// ValidateName reports whether name may be used as a new asset name (Asset
// ID): not empty, at most 255 bytes, valid UTF-8, no leading "." or "~$", no
// "..", "/", "\\", "|", NUL or control characters. The error wraps
// ErrInvalidName.
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("checking asset name %q: %s: %w", name, why, ErrInvalidName)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > 255:
		return bad("longer than 255 bytes")
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.HasPrefix(name, "."):
		return bad("starts with a dot")
	case strings.HasPrefix(name, "~$"):
		return bad("starts with ~$")
	case strings.Contains(name, ".."):
		return bad("contains ..")
	case strings.ContainsAny(name, "/\\|"):
		return bad("contains a separator")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return bad("contains a control character")
		}
	}
	return nil
}

// validExt reports whether ext may end a new file's name: a dot followed by
// 1 to 16 ASCII letters or digits.
func validExt(ext string) bool {
	if len(ext) < 2 || len(ext) > 17 || ext[0] != '.' {
		return false
	}
	for i := 1; i < len(ext); i++ {
		c := ext[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// assetName is the asset name of a file: its base name without extension.
func assetName(rel string) string {
	base := path.Base(rel)
	return strings.TrimSuffix(base, path.Ext(base))
}
