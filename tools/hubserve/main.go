// Command hubserve serves local directories (Hub exports of LabCore models,
// or any files) as Hugging Face Hub model repos on localhost, so that a Hub
// flow can be tried without the network or an account:
//
//	go run ./tools/hubserve -addr 127.0.0.1:8765 -repo LabCoreAI/base-char=outputs/hf_export
//	HF_ENDPOINT=http://127.0.0.1:8765 go run ./tools/benchinfer --source hf --repo-id LabCoreAI/base-char ...
//
// It speaks the endpoints huggingface_hub's downloads use (see package
// weights/hub/hubtest): resolve URLs with X-Repo-Commit and ETag, LFS files
// (*.safetensors, *.bin, ... and files of 10 MiB or more) redirected to a
// second port playing the CDN, /api/models/ORG/NAME/revision/REV, and the
// Hub's error codes. Each directory becomes one commit on branch main (the
// files are read at start: restart to publish changes). With -token the
// repos are private: requests must send "Authorization: Bearer TOKEN"
// (HF_TOKEN). It prints the HF_ENDPOINT to use, logs one line per request
// on stderr, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/labcoreai/tokbench/tools/internal/cli"
	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// repoFlag collects -repo ORG/NAME=DIR values.
type repoFlag []repoSpec

type repoSpec struct{ id, dir string }

func (r *repoFlag) String() string { return "" }

func (r *repoFlag) Set(v string) error {
	id, dir, ok := strings.Cut(v, "=")
	if !ok || dir == "" {
		return fmt.Errorf("want ORG/NAME=DIR, got %q", v)
	}
	if !hubtest.ValidRepoID(id) {
		return fmt.Errorf("repo id %q: want ORG/NAME (letters, digits, '-', '_', '.')", id)
	}
	for _, s := range *r {
		if s.id == id {
			return fmt.Errorf("repo %s given twice", id)
		}
	}
	*r = append(*r, repoSpec{id, dir})
	return nil
}

type options struct {
	addr, cdnAddr, token string
	repos                repoFlag
	quiet                bool
}

const synopsis = "usage: hubserve [-addr HOST:PORT] -repo ORG/NAME=DIR [-repo ...] [-token TOKEN]\n\nServes local directories as Hugging Face Hub model repos (HF_ENDPOINT)."

// parse reads the command line; -h/--help and --version are answered on
// stdout and give cli.ErrDone.
func parse(args []string, stdout io.Writer) (*options, error) {
	fs := flag.NewFlagSet("hubserve", flag.ContinueOnError)
	op := &options{}
	fs.StringVar(&op.addr, "addr", "127.0.0.1:8765", "Hub address to listen on (HF_ENDPOINT); port 0 picks a free one")
	fs.StringVar(&op.cdnAddr, "cdn-addr", "", "address of the CDN large files are redirected to (default: the -addr host, a free port)")
	fs.Var(&op.repos, "repo", "ORG/NAME=DIR: serve the files under DIR as repo ORG/NAME, branch main (repeatable)")
	fs.StringVar(&op.token, "token", "", "make every repo private: only this token (HF_TOKEN) gives access")
	fs.BoolVar(&op.quiet, "quiet", false, "do not log requests")
	if err := cli.Parse(fs, synopsis, args, stdout); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(op.repos) == 0 {
		return nil, errors.New("at least one -repo ORG/NAME=DIR is required")
	}
	if op.cdnAddr == "" {
		host, _, err := net.SplitHostPort(op.addr)
		if err != nil {
			return nil, fmt.Errorf("-addr %q: %v", op.addr, err)
		}
		op.cdnAddr = net.JoinHostPort(host, "0")
	}
	return op, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	op, err := parse(args, stdout)
	if errors.Is(err, cli.ErrDone) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hubserve: %v\n%s\n", err, cli.Hint("hubserve"))
		return 2
	}
	if err := serve(ctx, op, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "hubserve: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the Hub until ctx is done.
func serve(ctx context.Context, op *options, stdout, stderr io.Writer) error {
	hubLn, err := net.Listen("tcp", op.addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	cdnLn, err := net.Listen("tcp", op.cdnAddr)
	if err != nil {
		hubLn.Close()
		return fmt.Errorf("-cdn-addr: %w", err)
	}
	s := hubtest.NewServerOn(hubLn, cdnLn)
	defer s.Close()
	s.SetToken(op.token)
	for _, r := range op.repos {
		commit, err := s.AddDir(r.id, r.dir)
		if err != nil {
			return fmt.Errorf("-repo %s=%s: %w", r.id, r.dir, err)
		}
		if op.token != "" {
			if err := s.SetPrivate(r.id, true); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "repo %s (main = %s) from %s\n", r.id, commit, r.dir)
	}
	if !op.quiet {
		s.SetLog(stderr)
	}
	fmt.Fprintf(stdout, "CDN at %s\n", s.CDNURL)
	fmt.Fprintf(stdout, "HF_ENDPOINT=%s\n", s.URL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "hubserve: stopped")
	return nil
}
