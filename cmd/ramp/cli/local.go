package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampdev/ramp/test/localcluster"
)

func newLocalCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run Ramp's local Kubernetes cluster (real control plane, pods as local processes)",
	}
	cmd.AddCommand(newLocalUpCommand(), newLocalDownCommand(), newLocalForwardCommand())
	return cmd
}

// newLocalForwardCommand is the real node's port forward, which `local up`
// runs in the background.
func newLocalForwardCommand() *cobra.Command {
	var (
		netns string
		maps  []string
	)
	cmd := &cobra.Command{
		Use:    "forward",
		Short:  "Carry host loopback ports into the real node's network namespace (started by local up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var fs []localcluster.Forward
			for _, m := range maps {
				f, err := localcluster.ParseForward(m)
				if err != nil {
					return err
				}
				fs = append(fs, f)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return localcluster.RunForwards(ctx, netns, fs)
		},
	}
	cmd.Flags().StringVar(&netns, "netns", "", "path of the network namespace (/run/netns/NAME)")
	cmd.Flags().StringArrayVar(&maps, "map", nil, "LISTEN=TARGET: a host loopback address and where it goes inside the namespace (repeatable)")
	return cmd
}

func newLocalUpCommand() *cobra.Command {
	var opts localcluster.Options
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start etcd, kube-apiserver, kube-controller-manager and the node agent",
		Long: `Start the local cluster in the background and wait until it can run pods.

Everything binds to loopback only. State (certificates, etcd data, logs, PID
files and pod sandboxes) lives in --dir; the admin kubeconfig is DIR/kubeconfig.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			opts.Out = out
			c, err := localcluster.New(opts)
			if err != nil {
				return err
			}
			rel := relative(c.Dir())
			fmt.Fprintf(out, "Starting the Ramp local cluster in %s\n", rel)
			start := time.Now()
			if err := c.Up(cmd.Context()); err != nil {
				if errors.Is(err, localcluster.ErrAlreadyRunning) {
					fmt.Fprintf(out, "The local cluster in %s is already running.\n", rel)
					printUsage(out, c)
					return nil
				}
				return err
			}
			fmt.Fprintf(out, "The local cluster is up (%s).\n", time.Since(start).Round(100*time.Millisecond))
			printUsage(out, c)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Dir, "dir", localcluster.DefaultDir, "state directory of the cluster")
	f.StringVar(&opts.BinDir, "bin-dir", "", "directory with ramp-node, the image binaries and k8s/ (default: the directory of this binary)")
	f.IntVar(&opts.APIServerPort, "apiserver-port", 0, "kube-apiserver port on 127.0.0.1 (default 6443, or the port used last time)")
	f.IntVar(&opts.EtcdPort, "etcd-port", 0, "etcd client port on 127.0.0.1 (default 2379)")
	f.IntVar(&opts.EtcdPeerPort, "etcd-peer-port", 0, "etcd peer port on 127.0.0.1 (default 2380)")
	f.IntVar(&opts.KubeletPort, "kubelet-port", 0, "node agent's kubelet API port on 127.0.0.1, for kubectl logs (default 10250)")
	f.StringVar(&opts.PodCIDR, "pod-cidr", "", "loopback range for pod IPs (default 127.0.0.0/16)")
	f.DurationVar(&opts.ReadyTimeout, "timeout", 2*time.Minute, "how long to wait for each component")
	f.StringVar(&opts.Node, "node", "", "the node: process (Ramp's node agent, the default) or real (kubelet, containerd, runc, CNI, kube-proxy in a network namespace; root)")
	f.StringSliceVar(&opts.Images, "images", nil, "OCI image layouts the real node imports into containerd (make images-node)")
	f.IntVar(&opts.GatewayPort, "gateway-port", 0, "host loopback port of the real node's gateway hostPort (default 8080)")
	return cmd
}

func printUsage(out interface{ Write([]byte) (int, error) }, c *localcluster.Cluster) {
	kc := relative(c.Kubeconfig())
	fmt.Fprintf(out, "  kubeconfig  %s\n", kc)
	fmt.Fprintf(out, "  try         bin/k8s/kubectl --kubeconfig %s get nodes\n", kc)
	fmt.Fprintf(out, "  logs        %s/logs/ (components), %s/pods/ (pods)\n", relative(c.Dir()), relative(c.Dir()))
	fmt.Fprintf(out, "  stop        bin/ramp local down\n")
}

func newLocalDownCommand() *cobra.Command {
	var (
		dir   string
		purge bool
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster (pods first, gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			c, err := localcluster.New(localcluster.Options{Dir: dir, Out: out})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Stopping the Ramp local cluster in %s\n", relative(c.Dir()))
			if err := c.Down(purge); err != nil {
				return err
			}
			fmt.Fprintln(out, "The local cluster is stopped.")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", localcluster.DefaultDir, "state directory of the cluster")
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the state directory (certificates, etcd data, logs)")
	return cmd
}

func relative(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
