package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/ipsd/ipsd/daemon"
	"github.com/ipsd/ipsd/fsstore"
)

func cmdServe(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr, "usage: ipsd serve [-config FILE] [-log.level LEVEL] [-log.format FORMAT] [-cpuprofile FILE] [-memprofile FILE]\n\nRuns the daemon until SIGINT or SIGTERM.")
	cfgPath := fs.String("config", defaultConfig, "config `file`")
	level := fs.String("log.level", "", "log level: debug, info, warn, error (default from the config, else info)")
	format := fs.String("log.format", "", "log format: text or json (default from the config, else text)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) to `file` until the daemon stops")
	memProfile := fs.String("memprofile", "", "write an allocation profile (pprof) to `file` when the daemon stops")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			f, err := os.Create(*memProfile)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(stderr, "ipsd serve: -memprofile:", err)
			}
		}()
	}
	cfg, err := daemon.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *level != "" {
		cfg.Log.Level = *level
	}
	if *format != "" {
		cfg.Log.Format = *format
	}
	logger, err := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// renders allocate large pointer-free buffers that are cheap to
		// collect: collecting at 50% heap growth instead of 100% costs
		// little CPU and keeps the peak RSS of two workers on 12 MP JPEGs
		// near 110 MiB instead of 140 (bench/run.sh)
		debug.SetGCPercent(50)
	}
	ctx, stop := signalContext()
	defer stop()
	return daemon.Run(ctx, cfg, logger)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log.format: want text or json, got %q", format)
}

func cmdCheckConfig(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", stderr, "usage: ipsd check-config [-config FILE]\n\nValidates the config file; reports every problem found.")
	cfgPath := fs.String("config", defaultConfig, "config `file`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := daemon.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *cfgPath, w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
	return nil
}

func cmdVersion(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr, "usage: ipsd version\n\nPrints the version of this binary.")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ipsd %s\n", daemon.Version)
	return nil
}

func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("hash-password", stderr, "usage: ipsd hash-password < password-file\n\nReads one password line on stdin and prints its bcrypt hash for [[user]] password_hash.")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("empty password on stdin")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(h))
	return nil
}

func cmdLs(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("ls", stderr, "usage: ipsd ls [-config FILE] [FOLDER]\n\nWith no FOLDER lists the companies; with a folder handle (ApiTestCo/ or ApiTestCo/shoes/)\nlists everything below it, recursively. One line each: handle, tab, path relative to root.")
	cfgPath := fs.String("config", defaultConfig, "config `file`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	folder := fs.Arg(0)
	if fs.NArg() > 1 {
		// flags may also follow FOLDER: ipsd ls ApiTestCo/ -config FILE
		if err := parseFlags(fs, fs.Args()[1:], stdout); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "ipsd ls: one FOLDER at most, got %q and %q\n\n", folder, fs.Arg(0))
			fs.Usage()
			return exitError(2)
		}
	}
	cfg, err := daemon.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := fsstore.Open(context.Background(), fsstore.Config{
		Root: cfg.Root, StateDir: cfg.StateDir, ReadOnly: true,
	}, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := st.List(folder)
	if err != nil {
		return lsProblem(st, folder, err)
	}
	w := bufio.NewWriter(stdout)
	var clashes []string
	for _, e := range entries {
		fmt.Fprintf(w, "%s\t%s\n", oneLineName(e.Handle), oneLineName(e.Path))
		if e.Clash {
			clashes = append(clashes, e.Path)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, p := range clashes {
		fmt.Fprintf(stderr, "ipsd ls: %s: its asset name is used by another file in the company; new copies to that name are refused\n", p)
	}
	return nil
}

// oneLineName shows the control characters of a name from the tree (a
// file name may hold any byte but '/' and NUL) as '?', as ls -q does, so
// that every entry of ipsd ls stays one line of handle, tab, path.
func oneLineName(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// lsProblem explains why folder could not be listed.
func lsProblem(st *fsstore.Store, folder string, err error) error {
	hint := "folder handles look like ApiTestCo/ or ApiTestCo/shoes/; ipsd ls with no FOLDER lists the companies"
	if strings.HasPrefix(folder, "c|") {
		if cs, cerr := st.List(""); cerr == nil {
			for _, c := range cs {
				if c.Handle == folder {
					return fmt.Errorf("%s is a company handle; list that company with: ipsd ls %s/", folder, c.Path)
				}
			}
		}
	}
	switch {
	case errors.Is(err, fsstore.ErrInvalidHandle) || strings.HasPrefix(folder, "c|"):
		return fmt.Errorf("%q is not a folder handle (%s)", folder, hint)
	case errors.Is(err, fsstore.ErrNotFound):
		return fmt.Errorf("no folder %s in the catalog", folder)
	}
	return err
}

// readPassword takes the password for -user from a file or $IPSD_PASSWORD,
// never from a flag.
func readPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if pw, ok := os.LookupEnv("IPSD_PASSWORD"); ok {
		return pw, nil
	}
	return "", errors.New("-user needs a password: set -password-file or IPSD_PASSWORD")
}
