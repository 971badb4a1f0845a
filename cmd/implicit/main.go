// Command implicit runs, trains and analyses implicit (deep-equilibrium) models,
// and loops a local LLM to a fixed point.
//
// Run "implicit help" for the list of commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	switch {
	case errors.Is(err, errInterrupted):
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "implicit:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var (
		quick        scaleFlags
		quickRuntime string
	)
	root := &cobra.Command{
		Use:   "implicit",
		Short: "Run, train and analyse implicit (deep-equilibrium) models",
		Long: `implicit runs, trains and analyses implicit (deep-equilibrium) models, and
loops a local LLM to a fixed point. With no command it runs the quick start:
the embedded digits model, sandboxed in WebAssembly, and its test-time compute
table.`,
		Args: unknownCommand,
		// cobra's own default, which only its Args-less path sets.
		SuggestionsMinimumDistance: 2,
		SilenceUsage:               true,
		SilenceErrors:              true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return quickStart(cmd, &quick, quickRuntime)
		},
	}
	quick.register(root)
	registerRuntime(root, &quickRuntime, "wasm")
	// Each subcommand lives in its own file as newXxxCmd.
	root.AddCommand(newInferCmd(), newTrainCmd(), newEvalCmd(), newScaleCmd(), newBenchCmd(), newServeCmd(), newReasonCmd(), newRestoreCmd())
	return root
}

// unknownCommand refuses arguments to the root, whose own work (the quick
// start) takes none, with cobra's "did you mean" suggestions, which
// cobra.NoArgs would drop.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return errors.New(msg + "\n\nRun 'implicit help' for the commands.")
}
