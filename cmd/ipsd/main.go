// Command ipsd is the image copy daemon and its command-line client.
//
// Usage:
//
//	ipsd serve [-config FILE] [-log.level LEVEL] [-log.format text|json] [-cpuprofile FILE] [-memprofile FILE]
//	ipsd copy [-config FILE | -socket PATH] -company H -asset H -folder H -name NAME [-modifier M] [-user EMAIL -password-file F]
//	ipsd copy [-config FILE | -socket PATH] -batch DIR|FILE.csv [-parallel N] [-retries N]
//	ipsd ls [-config FILE] [FOLDER]
//	ipsd hash-password < password
//	ipsd check-config [-config FILE]
//	ipsd version
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const defaultConfig = "/etc/ipsd/ipsd.toml"

const usage = `ipsd implements Adobe Scene7 IPS copyImage over a directory tree.

Usage:
  ipsd serve          run the daemon
  ipsd copy           make one copy (or a batch) through the daemon's socket
  ipsd ls             list companies, or everything below a folder, from the catalog
  ipsd hash-password  read a password on stdin, print its bcrypt hash for ipsd.toml
  ipsd check-config   validate a config file and exit
  ipsd version        print the version

Run 'ipsd COMMAND -h' for the flags of a command.
The config file defaults to ` + defaultConfig + `.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Reader, io.Writer, io.Writer) error{
		"serve":         cmdServe,
		"copy":          cmdCopy,
		"ls":            cmdLs,
		"hash-password": cmdHashPassword,
		"check-config":  cmdCheckConfig,
		"version":       cmdVersion,
	}
	name := args[0]
	if name == "-version" || name == "--version" {
		name = "version"
	}
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	f, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "ipsd: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := f(args[1:], stdin, stdout, stderr)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return int(ee)
	}
	fmt.Fprintf(stderr, "ipsd %s: %v\n", name, err)
	return 1
}

// exitError ends the program with a status after the command has already
// said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newFlags(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("ipsd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "%s\n", help)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args like fs.Parse. Help asked for with -h or -help goes
// to stdout (so it can be paged or grepped); a usage error and the usage
// after it go to the flag set's output (stderr).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		out = stdout
	}
	buf.WriteTo(out)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return exitError(2) // the flag package has said why
	}
	return err
}

// noArgs refuses positional arguments for a command that takes none, rather
// than ignoring them: "ipsd serve my.toml" would otherwise run with the
// default config instead of the file named.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() == 0 {
		return nil
	}
	hint := ""
	if fs.Lookup("config") != nil && strings.HasSuffix(fs.Arg(0), ".toml") {
		hint = fmt.Sprintf(" (a config file is named with -config %s)", fs.Arg(0))
	}
	fmt.Fprintf(fs.Output(), "%s: unexpected argument %q%s\n\n", fs.Name(), fs.Arg(0), hint)
	fs.Usage()
	return exitError(2)
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}
