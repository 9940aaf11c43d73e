// Package cli holds the commands of the ramp CLI.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// Run executes the CLI with args, writing to out and errOut. A command that
// ends with an *ExitError (rollout status, rollout watch) exits the process
// with its code, after printing its error the way main does.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	err := execute(ctx, newRootCommand(displayName(os.Args[0])), args, out, errOut)
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintf(errOut, "Error: %v\n", exit.Err)
		}
		os.Exit(exit.Code)
	}
	return err
}

func execute(ctx context.Context, root *cobra.Command, args []string, out, errOut io.Writer) error {
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

// newRootCommand builds the command tree; name is how help texts call the
// binary: "ramp", or "kubectl ramp" for the kubectl plugin.
func newRootCommand(name string) *cobra.Command {
	root := &cobra.Command{
		Use:           "ramp",
		Short:         "Ramp: progressive delivery for Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newLocalCommand(), newRolloutCommand(&kubeOptions{}), newWaitCommand(), newTelemetryCommand(), newAnalysisCommand(), newDashboardCommand())
	if name != "ramp" {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
		renameExamples(root, name)
	}
	return root
}

// displayName is "kubectl ramp" when the binary runs as the kubectl plugin
// kubectl-ramp, else "ramp".
func displayName(argv0 string) string {
	base := filepath.Base(argv0)
	if rest, ok := strings.CutPrefix(base, "kubectl-"); ok && rest != "" {
		return "kubectl " + strings.ReplaceAll(rest, "-", " ")
	}
	return "ramp"
}

var exampleCommand = regexp.MustCompile(`(?m)(^\s*|&& )ramp `)

// renameExamples makes the examples of cmd and its children call the
// binary by name.
func renameExamples(cmd *cobra.Command, name string) {
	cmd.Example = exampleCommand.ReplaceAllString(cmd.Example, "${1}"+name+" ")
	for _, c := range cmd.Commands() {
		renameExamples(c, name)
	}
}
