package daemon

import (
	"encoding"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is ipsd.toml. The zero value of a field means "use the default"
// unless its comment says otherwise; Default returns the defaults.
type Config struct {
	Root     string `toml:"root"`      // the tree: one directory per company; required
	StateDir string `toml:"state_dir"` // catalog and work area on a local disk; required
	// ShutdownTimeout is how long copies in flight may run after SIGTERM;
	// what is unfinished then stays claimed for the next start.
	ShutdownTimeout Duration      `toml:"shutdown_timeout"`
	API             APIConfig     `toml:"api"`
	Metrics         MetricsConfig `toml:"metrics"`
	Render          RenderConfig  `toml:"render"`
	Store           StoreConfig   `toml:"store"`
	Log             LogConfig     `toml:"log"`
	Watch           []WatchConfig `toml:"watch"`
	Users           []UserConfig  `toml:"user"`

	path string // the file it was read from
}

// APIConfig is the [api] table: the Unix socket.
type APIConfig struct {
	Socket       string   `toml:"socket"`         // path of the Unix socket
	SocketMode   FileMode `toml:"socket_mode"`    // permission bits of the socket file
	SocketGroup  string   `toml:"socket_group"`   // group name or gid of the socket file; empty keeps the daemon's group
	MaxBodyBytes int64    `toml:"max_body_bytes"` // largest request body accepted
	MaxQueue     int      `toml:"max_queue"`      // copies waiting for a worker before the socket answers busy
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	Listen *string `toml:"listen"` // TCP address for /metrics; empty disables
}

// RenderConfig is the [render] table.
type RenderConfig struct {
	Workers         int   `toml:"workers"`           // parallel renders
	MaxSourcePixels int64 `toml:"max_source_pixels"` // largest source accepted, in pixels
	MaxOutputPixels int64 `toml:"max_output_pixels"` // largest output rendered, in pixels
}

// StoreConfig is the [store] table.
type StoreConfig struct {
	FileMode FileMode  `toml:"file_mode"` // mode of new image files
	Rescan   *Duration `toml:"rescan"`    // periodic full rescan of the tree; "0" disables
	Poll     Duration  `toml:"poll"`      // poll the tree at this interval instead of inotify; 0 = inotify
}

// LogConfig is the [log] table; the -log.* flags override it.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// WatchConfig is one [[watch]] hot folder.
type WatchConfig struct {
	Dir    string   `toml:"dir"`    // the folder request files are dropped into
	User   string   `toml:"user"`   // the ipsd user (email) its requests act as; empty = the file's owner
	Settle Duration `toml:"settle"` // how long a file must stay unchanged before it is taken
	Poll   Duration `toml:"poll"`   // poll interval instead of inotify; 0 = inotify
	// Rescan is the periodic full listing of the folder, on top of events.
	Rescan Duration `toml:"rescan"`
	// Incomplete is how long a request file that is not yet well-formed XML
	// is waited for before it is failed.
	Incomplete Duration `toml:"incomplete"`
}

// UserConfig is one [[user]].
type UserConfig struct {
	Email        string             `toml:"email"`
	Unix         []string           `toml:"unix"`          // local accounts (names or uids) acting as this user
	PasswordHash string             `toml:"password_hash"` // bcrypt hash from `ipsd hash-password`
	IPSAdmin     bool               `toml:"ips_admin"`     // member of every company with full rights
	Memberships  []MembershipConfig `toml:"membership"`
}

// MembershipConfig is one [[user.membership]].
type MembershipConfig struct {
	Company string `toml:"company"` // company name (directory under root) or handle
	Role    string `toml:"role"`    // IPS role, e.g. IpsUser
}

// Duration is a time.Duration written as a string ("1s", "10m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"2s\" or \"10m\": %q", b)
	}
	d.Duration = v
	return nil
}

// FileMode is an octal permission string ("0644").
type FileMode uint32

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *FileMode) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("not an octal mode like \"0644\": %q", b)
	}
	*m = FileMode(v)
	return nil
}

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	listen := "127.0.0.1:9464"
	rescan := Duration{10 * time.Minute}
	return Config{
		ShutdownTimeout: Duration{30 * time.Second},
		API: APIConfig{
			Socket:       "/run/ipsd/ipsd.sock",
			SocketMode:   0o660,
			MaxBodyBytes: 1 << 20,
			MaxQueue:     64,
		},
		Metrics: MetricsConfig{Listen: &listen},
		Render: RenderConfig{
			Workers:         runtime.NumCPU(),
			MaxSourcePixels: 100_000_000,
			MaxOutputPixels: 25_000_000,
		},
		Store: StoreConfig{FileMode: 0o644, Rescan: &rescan},
		Log:   LogConfig{Level: "info", Format: "text"},
	}
}

// LoadConfig reads the TOML file at path over the defaults and validates it.
// Every problem found is reported, joined, with key names as written in the
// file.
func LoadConfig(path string) (*Config, error) {
	cfg := Default()
	cfg.path = path
	var top map[string]toml.Primitive
	md, err := toml.DecodeFile(path, &top)
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	d := keyDecoder{md: md, order: map[string]int{}}
	for i, k := range md.Keys() {
		if _, ok := d.order[k.String()]; !ok {
			d.order[k.String()] = i
		}
	}
	d.table(top, reflect.ValueOf(&cfg).Elem(), "", "")
	errs := d.errs
	if err := cfg.resolve(filepath.Dir(path)); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config %s:\n%w", path, errors.Join(errs...))
	}
	return &cfg, nil
}

// keyDecoder decodes a parsed TOML document into Config one key at a time,
// so that a value of the wrong type is reported with its key and does not
// hide the problems in the keys after it (toml.Decode stops at the first).
type keyDecoder struct {
	md    toml.MetaData
	order map[string]int // dotted key (no indexes) -> position in the file
	errs  []error
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// isTable reports whether t is decoded from a TOML table: a struct that is
// not itself a value written as a string (Duration, FileMode).
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// table decodes tbl into the struct v. name is the table's key as the user
// reads it, with indexes for arrays of tables (watch[0],
// user[1].membership[0]); dotted is the same without indexes.
func (d *keyDecoder) table(tbl map[string]toml.Primitive, v reflect.Value, name, dotted string) {
	fields := map[string]reflect.Value{}
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = v.Field(i)
		}
	}
	keys := make([]string, 0, len(tbl))
	for k := range tbl {
		keys = append(keys, k)
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		return a + "." + b
	}
	sort.Slice(keys, func(i, j int) bool {
		return d.order[join(dotted, keys[i])] < d.order[join(dotted, keys[j])]
	})
	for _, k := range keys {
		key, dk, p := join(name, k), join(dotted, k), tbl[k]
		f, ok := fields[k]
		if !ok {
			d.errs = append(d.errs, fmt.Errorf("%s: unknown key", key))
			continue
		}
		var raw any
		if err := d.md.PrimitiveDecode(p, &raw); err != nil {
			d.errs = append(d.errs, fmt.Errorf("%s: %s", key, valueProblem(err)))
			continue
		}
		switch {
		case isTable(f.Type()):
			var sub map[string]toml.Primitive
			if _, ok := raw.(map[string]any); !ok {
				d.errs = append(d.errs, fmt.Errorf("%s: want a table [%s], got %s", key, key, tomlKind(raw)))
				continue
			}
			if err := d.md.PrimitiveDecode(p, &sub); err != nil {
				d.errs = append(d.errs, fmt.Errorf("%s: %s", key, valueProblem(err)))
				continue
			}
			d.table(sub, f, key, dk)
		case f.Kind() == reflect.Slice && isTable(f.Type().Elem()):
			var subs []map[string]toml.Primitive
			if !isTableArray(raw) {
				d.errs = append(d.errs, fmt.Errorf("%s: want tables [[%s]], got %s", key, k, tomlKind(raw)))
				continue
			}
			if err := d.md.PrimitiveDecode(p, &subs); err != nil {
				d.errs = append(d.errs, fmt.Errorf("%s: %s", key, valueProblem(err)))
				continue
			}
			f.Set(reflect.MakeSlice(f.Type(), len(subs), len(subs)))
			for i, sub := range subs {
				d.table(sub, f.Index(i), fmt.Sprintf("%s[%d]", key, i), dk)
			}
		default:
			if err := d.md.PrimitiveDecode(p, f.Addr().Interface()); err != nil {
				d.errs = append(d.errs, fmt.Errorf("%s: %s", key, valueProblem(err)))
			}
		}
	}
}

func isTableArray(raw any) bool {
	switch a := raw.(type) {
	case []map[string]any:
		return true
	case []any:
		for _, e := range a {
			if _, ok := e.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// tomlKind names the TOML type of a decoded value, for messages.
func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

var (
	decodeErrPrefix = regexp.MustCompile(`^toml: (?:line (\d+) )?(?:\(last key "[^"]*"\): )?`)
	incompatible    = regexp.MustCompile(`^incompatible types: TOML value has type (\S+); destination has type (.+)$`)
)

// valueProblem rewords a decode error of one value: without the toml prefix
// and the key (the caller names it), with the line at the end.
func valueProblem(err error) string {
	msg := err.Error()
	line := ""
	if m := decodeErrPrefix.FindStringSubmatch(msg); m != nil {
		msg, line = msg[len(m[0]):], m[1]
	}
	if m := incompatible.FindStringSubmatch(msg); m != nil {
		got := map[string]string{
			"int64": "an integer", "float64": "a float", "string": "a string", "bool": "a boolean",
			"[]any": "an array", "[]interface {}": "an array", "map[string]any": "a table",
			"map[string]interface {}": "a table", "time.Time": "a date",
		}[m[1]]
		if got == "" {
			got = m[1]
		}
		want := map[string]string{
			"integer": "an integer", "string": "a string", "boolean": "true or false",
			"slice": `a list like ["a", "b"]`, "float": "a number",
		}[m[2]]
		if want == "" {
			want = m[2]
		}
		msg = "want " + want + ", got " + got
	}
	if line != "" {
		msg += " (line " + line + ")"
	}
	return msg
}

// resolve makes relative paths relative to the config file's directory and
// fills per-watch defaults.
func (c *Config) resolve(base string) error {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Root)
	abs(&c.StateDir)
	abs(&c.API.Socket)
	for i := range c.Watch {
		abs(&c.Watch[i].Dir)
		w := &c.Watch[i]
		if w.Settle.Duration == 0 {
			w.Settle.Duration = time.Second
		}
		if w.Rescan.Duration == 0 {
			w.Rescan.Duration = 30 * time.Second
		}
		if w.Incomplete.Duration == 0 {
			w.Incomplete.Duration = time.Minute
		}
	}
	if c.Render.Workers == 0 {
		c.Render.Workers = runtime.NumCPU()
	}
	return nil
}

// Validate reports every problem in c, not just the first.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
	}
	checkDir := func(key, dir string) {
		if dir == "" {
			bad(key, "required")
			return
		}
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			bad(key, "directory %s does not exist", dir)
		case err != nil:
			bad(key, "%v", err)
		case !fi.IsDir():
			bad(key, "%s is not a directory", dir)
		}
	}
	checkDir("root", c.Root)
	checkDir("state_dir", c.StateDir)
	if c.API.Socket == "" {
		bad("api.socket", "required")
	}
	if g := c.API.SocketGroup; g != "" {
		if _, err := lookupGID(g); err != nil {
			bad("api.socket_group", "no group %q on this system", g)
		}
	}
	if c.API.MaxBodyBytes <= 0 {
		bad("api.max_body_bytes", "must be positive, got %d", c.API.MaxBodyBytes)
	}
	if c.API.MaxQueue < 0 {
		bad("api.max_queue", "must not be negative, got %d", c.API.MaxQueue)
	}
	if addr := c.MetricsListen(); addr != "" {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad("metrics.listen", "want host:port like \"127.0.0.1:9464\", got %q", addr)
		} else if _, err := net.LookupPort("tcp", port); err != nil {
			bad("metrics.listen", "bad port %q in %q", port, addr)
		}
	}
	if c.Render.Workers < 0 {
		bad("render.workers", "must not be negative, got %d", c.Render.Workers)
	}
	if c.Render.MaxSourcePixels <= 0 {
		bad("render.max_source_pixels", "must be positive, got %d", c.Render.MaxSourcePixels)
	}
	if c.Render.MaxOutputPixels <= 0 {
		bad("render.max_output_pixels", "must be positive, got %d", c.Render.MaxOutputPixels)
	}
	if c.Store.Rescan != nil && c.Store.Rescan.Duration < 0 {
		bad("store.rescan", "must not be negative")
	}
	if c.ShutdownTimeout.Duration <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	if c.Store.Poll.Duration < 0 {
		bad("store.poll", "must not be negative")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	emails := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("user[%d]", i)
		if u.Email == "" {
			bad(key+".email", "required")
		} else if emails[strings.ToLower(u.Email)] {
			bad(key+".email", "%q is used by another [[user]] (emails are compared without case)", u.Email)
		}
		emails[strings.ToLower(u.Email)] = true
		if u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$2") {
			bad(key+".password_hash", "not a bcrypt hash (make one with `ipsd hash-password`)")
		}
		for j, m := range u.Memberships {
			mk := fmt.Sprintf("%s.membership[%d]", key, j)
			if m.Company == "" {
				bad(mk+".company", "required")
			}
			if m.Role == "" {
				bad(mk+".role", "required (one of %s)", strings.Join(allRoles, ", "))
			} else if !knownRole(m.Role) {
				bad(mk+".role", "unknown role %q (one of %s)", m.Role, strings.Join(allRoles, ", "))
			}
		}
	}
	dirs := map[string]bool{}
	for i, w := range c.Watch {
		key := fmt.Sprintf("watch[%d]", i)
		checkDir(key+".dir", w.Dir)
		if dirs[w.Dir] {
			bad(key+".dir", "%s is watched twice", w.Dir)
		}
		dirs[w.Dir] = true
		if w.User != "" && !emails[w.User] {
			bad(key+".user", "no [[user]] has email %q", w.User)
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"settle", w.Settle.Duration}, {"poll", w.Poll.Duration}, {"rescan", w.Rescan.Duration}, {"incomplete", w.Incomplete.Duration}} {
			if d.v < 0 {
				bad(key+"."+d.name, "must not be negative, got %s", d.v)
			}
		}
		if c.Root != "" && w.Dir != "" && isWithin(w.Dir, c.Root) {
			bad(key+".dir", "%s is inside root; keep watch folders out of the tree", w.Dir)
		}
	}
	return errors.Join(errs...)
}

func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

// MetricsListen is the metrics address, or "" when metrics are disabled.
func (c *Config) MetricsListen() string {
	if c.Metrics.Listen == nil {
		return ""
	}
	return *c.Metrics.Listen
}

// RescanInterval is the periodic full rescan of the tree; 0 disables it.
func (c *Config) RescanInterval() time.Duration {
	if c.Store.Rescan == nil {
		return 0
	}
	return c.Store.Rescan.Duration
}
