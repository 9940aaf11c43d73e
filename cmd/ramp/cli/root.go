// Package cli holds the commands of the ramp CLI.
package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// Run executes the CLI with args, writing to out and errOut.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ramp",
		Short:         "Ramp: progressive delivery for Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newLocalCommand())
	return root
}
