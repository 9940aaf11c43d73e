// Command ramp-images builds Ramp's OCI images without a daemon and pushes
// them to a registry (`make images`, `make push`).
//
//	ramp-images build [--out _out/images] [--registry ghcr.io/rampdev] [--platforms linux/amd64,linux/arm64] [--only controller,...]
//	ramp-images push --registry host[:port]/path [--from _out/images] [--insecure]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rampdev/ramp/cmd/internal/images"
	"github.com/rampdev/ramp/cmd/internal/version"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ramp-images: %v\n", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: ramp-images build|push [flags] (ramp-images <command> -h lists the flags)")
}

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "build":
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		var o images.BuildOptions
		var platforms, only string
		fs.StringVar(&o.Root, "root", ".", "the module root")
		fs.StringVar(&o.Out, "out", "_out/images", "the OCI image layout to write")
		fs.StringVar(&o.Registry, "registry", version.Registry, "registry path that names the images: <registry>/<name>:<version>")
		fs.StringVar(&o.Version, "version", "", "tag and version label (default: the chart's appVersion)")
		fs.StringVar(&o.Revision, "revision", "", "source revision label (default: git HEAD, -dirty if tracked files changed)")
		fs.Int64Var(&o.Created, "created", -1, "unix seconds of every timestamp (default: $SOURCE_DATE_EPOCH, else HEAD's commit time)")
		fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
		fs.StringVar(&only, "only", "", "comma-separated images to build (default: all)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		o.Platforms = split(platforms)
		o.Only = split(only)
		return images.RunBuild(ctx, o, os.Stdout)
	case "push":
		fs := flag.NewFlagSet("push", flag.ContinueOnError)
		var o images.PushOptions
		from := fs.String("from", "_out/images", "the OCI image layout to push")
		timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
		fs.StringVar(&o.Registry, "registry", "", "host[:port]/path to push to (required)")
		fs.BoolVar(&o.Insecure, "insecure", false, "allow plain HTTP to a registry that is not on loopback")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		entries, err := images.ReadLayout(*from)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		fmt.Printf(">> pushing %d images from %s to %s\n", len(entries), *from, o.Registry)
		return images.Push(ctx, entries, o, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
	default:
		return usage()
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
